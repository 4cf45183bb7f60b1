/**
 * 50 concurrent aws-cni ADDs, then 50 concurrent DELs, on one simulated EC2 node whose warm
 * pool (default targets) is far smaller than the burst: ipamd must attach ENIs while ADDs wait.
 */
import assert from "node:assert/strict";
import type { Netns } from "../lab/namespaces.ts";
import { testScope } from "../lab/scope.ts";
import { awsCniOnly, ipamdPods, nodeEnis, podResidue, startAwsCniLab } from "../lab/aws_cni_lab.ts";

const PODS = 50;

Deno.test("50 concurrent aws-cni ADDs through libcni grow the pool and get distinct VPC addresses; 50 concurrent DELs release them all", async () => {
  await using scope = testScope("tce2");
  // t3.xlarge: 4 ENIs x 14 secondary addresses; the default warm pool is one ENI's worth.
  const lab = await startAwsCniLab(scope, { nodes: 1, instanceType: "t3.xlarge" });
  const node = lab.nodes[0]!;
  // aws-cni alone: hostPorts are the traffic test's; portmap's iptables runs would double the
  // burst's CPU on a 2-core machine.
  const cni = await awsCniOnly(node, await scope.tempDir("burst"));
  const pods: Netns[] = [];
  for (let i = 0; i < PODS; i++) pods.push(await scope.netns(`b${i}`));
  const enisBefore = await nodeEnis(lab, node);
  const poolBefore = (await node.ipamd.status()).totalIPs;
  assert.ok(poolBefore < PODS, `the warm pool (${poolBefore}) must be smaller than the burst`);

  const report = await cni.parallel({
    n: PODS,
    netns: pods,
    del: false,
    idPrefix: "tce2-burst",
    args: { K8S_POD_NAMESPACE: "burst", K8S_POD_NAME: "pod-{i}" },
  });

  const failed = report.add.filter((op) => op.error);
  assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 3)));
  const addresses = report.add.map((op) => op.result?.ips?.[0]?.address.split("/")[0] ?? "");
  assert.equal(new Set(addresses).size, PODS, `duplicate addresses: ${addresses.sort().join(" ")}`);
  const held = await ipamdPods(node);
  assert.deepEqual(held.map((p) => p.ipv4).sort(), [...addresses].sort());
  const enis = await nodeEnis(lab, node);
  assert.ok(
    enis.length > enisBefore.length,
    `the pool did not grow: ${enisBefore.length} -> ${enis.length} ENIs`,
  );
  const secondary = new Map(enis.flatMap((e) => e.secondaryIps.map((ip) => [ip, e])));
  for (const p of held) {
    assert.equal(secondary.get(p.ipv4)?.networkInterfaceId, p.eniId, `${p.ipv4} on ${p.eniId}`);
  }
  const slowest = Math.max(...report.add.map((op) => op.ms));
  // deno-lint-ignore no-console -- the figures the report quotes
  console.log(
    `burst: ${PODS} ADDs in ${report.addWallMs.toFixed(0)} ms (slowest ${
      slowest.toFixed(0)
    } ms), ENIs ${enisBefore.length} -> ${enis.length}, pool ${poolBefore} -> ${
      (await node.ipamd.status()).totalIPs
    }`,
  );

  const started = performance.now();
  await Promise.all(pods.map((pod, i) =>
    cni.del(pod, `tce2-burst-${i}`, {
      args: { K8S_POD_NAMESPACE: "burst", K8S_POD_NAME: `pod-${i}` },
    })
  ));
  // deno-lint-ignore no-console -- the figures the report quotes
  console.log(`burst: ${PODS} concurrent DELs in ${(performance.now() - started).toFixed(0)} ms`);

  assert.deepEqual(await ipamdPods(node), []);
  assert.deepEqual(await podResidue(node), []);
});
