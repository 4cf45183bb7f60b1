/**
 * containerd (`ctr run --cni`) running aws-cni inside a simulated EC2 node, with the conflist and
 * plugin dir ipamd installed there: a busybox container gets its address from ipamd and reaches
 * a pod on the other node across the VPC. ctr never DELs `-d` containers; the test does.
 */
import assert from "node:assert/strict";
import { startContainerd } from "../lab/containerd.ts";
import { testScope } from "../lab/scope.ts";
import { ipamdPods, nodeEnis, podResidue, startAwsCniLab } from "../lab/aws_cni_lab.ts";

function eth0Address(ipOutput: string): string {
  const match = ipOutput.match(/inet (\d+\.\d+\.\d+\.\d+)\/32 /);
  assert.ok(match, `no /32 IPv4 address on eth0: ${ipOutput}`);
  return match[1]!;
}

Deno.test("ctr run --cni with aws-cni: the container gets an ipamd address and pings a pod on the other node", async () => {
  await using scope = testScope("tce2");
  const dir = await scope.tempDir("ctrd");
  const lab = await startAwsCniLab(scope, { nodes: 2, ipamdEnv: { WARM_IP_TARGET: "3" } });
  const [n1, n2] = lab.nodes as [typeof lab.nodes[0], typeof lab.nodes[0]];
  const containerd = await startContainerd({ dir, cleanup: scope.cleanup });
  await containerd.importImage();
  const podB = await scope.netns("pb");
  const argsB = { K8S_POD_NAMESPACE: "default", K8S_POD_NAME: "target-b" };
  const ipB = (await n2.cni.add(podB, "tce2-b", { args: argsB })).ips![0]!.address.split("/")[0]!;

  const container = await containerd.runWithCni({
    id: "web",
    node: n1.netns,
    conflistFile: n1.conflistFile,
    pluginDir: n1.pluginDir,
    command: ["sleep", "120"],
  });
  try {
    const shown = await containerd.exec("web", ["ip", "-4", "-o", "addr", "show", "eth0"]);
    const ip = eth0Address(shown.stdout);
    const held = (await ipamdPods(n1)).filter((p) => p.containerId === container.cniContainerId);
    assert.deepEqual(held.map((p) => p.ipv4), [ip], "ipamd on node1 holds the container's address");
    const eni = (await nodeEnis(lab, n1)).find((e) => e.networkInterfaceId === held[0]!.eniId);
    assert.ok(eni?.secondaryIps.includes(ip), `${ip} is not on an ENI of node1`);
    const route = await containerd.exec("web", ["ip", "-4", "route", "show"]);
    assert.match(route.stdout, /default via 169\.254\.1\.1 dev eth0/);

    await containerd.exec("web", ["ping", "-c", "1", "-W", "2", ipB], { timeoutMs: 15_000 });
    await containerd.exec("web", ["ping", "-c", "1", "-W", "2", n1.primaryIp], {
      timeoutMs: 15_000,
    });
  } finally {
    await containerd.delNetwork(container);
    await containerd.remove("web");
  }
  assert.deepEqual(
    (await ipamdPods(n1)).filter((p) => p.containerId === container.cniContainerId),
    [],
  );
  assert.deepEqual(await podResidue(n1), []);
  await n2.cni.del(podB, "tce2-b", { args: argsB });
  assert.deepEqual(await podResidue(n2), []);
});
