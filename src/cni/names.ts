/**
 * Upstream's naming rules (spec §4.2): host veth `<prefix><sha1("<ns>.<pod>")[:11]>`, container
 * interfaces, the bookkeeping "dummy" interface of the result, and the pod-side gateways.
 */

const encoder = new TextEncoder();

async function podHash(podNamespace: string, podName: string, index: number): Promise<string> {
  const name = index === 0 ? podName : `${podName}.${index}`;
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(`${podNamespace}.${name}`));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("")
    .slice(0, 11);
}

/** Host-side veth of the pod's interface `index` (0 = the pod's eth0). */
export async function hostVethName(
  prefix: string,
  pod: { podNamespace: string; podName: string },
  index = 0,
): Promise<string> {
  return prefix + await podHash(pod.podNamespace, pod.podName, index);
}

/** Name of the result's bookkeeping interface: never created, read back by DEL. */
export async function dummyInterfaceName(
  pod: { podNamespace: string; podName: string },
): Promise<string> {
  return "dummy" + await podHash(pod.podNamespace, pod.podName, 0);
}

/** Interface inside the pod: CNI_IFNAME for the first, `mNicIf<i>` for the others. */
export function containerIfName(ifName: string, index: number): string {
  return index === 0 ? ifName : `mNicIf${index}`;
}

/** The pod's gateway for interface `index`: 169.254.1.1, 169.254.1.2, ... */
export function podGateway(index: number): string {
  return `169.254.1.${index + 1}`;
}
