/** Network configs for Debian's reference plugins, the baseline aws-cni is compared with. */
import type { Conflist } from "./cnitool.ts";

export interface PtpOptions {
  name: string;
  /** host-local range, e.g. "10.250.7.0/24"; lab namespaces are private, so any range fits. */
  subnet: string;
  /** host-local's lease dir: keep it in the test's temp dir (default /var/lib/cni/networks). */
  dataDir: string;
  mtu?: number;
  cniVersion?: string;
}

/** ptp + host-local, no masquerade (so no iptables rules), default route via the node. */
export function ptpHostLocalConflist(options: PtpOptions): Conflist {
  return {
    cniVersion: options.cniVersion ?? "1.0.0",
    name: options.name,
    plugins: [{
      type: "ptp",
      ipMasq: false,
      ...(options.mtu ? { mtu: options.mtu } : {}),
      ipam: {
        type: "host-local",
        dataDir: options.dataDir,
        ranges: [[{ subnet: options.subnet }]],
        routes: [{ dst: "0.0.0.0/0" }],
      },
    }],
  };
}

/** Addresses host-local still holds for a network (its lease files are named by address). */
export async function hostLocalLeases(dataDir: string, network: string): Promise<string[]> {
  const leases: string[] = [];
  try {
    for await (const entry of Deno.readDir(`${dataDir}/${network}`)) {
      if (/^[0-9a-f.:]+$/.test(entry.name) && /[.:]/.test(entry.name)) leases.push(entry.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return leases.sort();
}
