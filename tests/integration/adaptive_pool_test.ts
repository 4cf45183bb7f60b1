/**
 * ipamd with WARM_POOL_MODE=adaptive in the lab (simulator with realistic EC2 latency): it
 * starts, says which policy it runs, serves a wave of pods over its socket (the pool grows
 * through ENI attaches on a t3.medium, 5 addresses per ENI) and releases them.
 */
import assert from "node:assert/strict";
import { startIpamd } from "../lab/ipamd.ts";
import { nsExec } from "../lab/namespaces.ts";
import { rpcCall } from "../lab/rpc_client.ts";
import { testScope } from "../lab/scope.ts";
import { startSim } from "../lab/sim.ts";

const PODS = 12;

Deno.test("ipamd with WARM_POOL_MODE=adaptive serves pods in the lab", async () => {
  await using scope = testScope("tadp");
  const sim = await startSim({
    nodes: 1,
    instanceType: "t3.medium",
    args: ["--latency", "realistic"],
    cleanup: scope.cleanup,
  });
  const ipamd = await startIpamd(sim.nodes[0]!, {
    env: { WARM_POOL_MODE: "adaptive" },
    cleanup: scope.cleanup,
  });
  const ready = await ipamd.waitReady({ timeoutMs: 60_000 });
  assert.equal(ready.ready, true);

  const keys = Array.from({ length: PODS }, (_, i) => ({
    networkName: "aws-cni",
    containerId: `tadp-${i}`,
    ifName: "eth0",
  }));
  // A wave of pods, a few at a time: more than one ENI holds, so the pool has to attach.
  const added: Array<{ ipv4: string; waitedMs: number }> = [];
  for (let i = 0; i < PODS; i += 4) {
    const batch = await Promise.all(
      keys.slice(i, i + 4).map((key) =>
        rpcCall(ipamd.socketPath, "ipam.add", {
          ...key,
          netns: `/var/run/netns/${key.containerId}`,
          podNamespace: "default",
          podName: key.containerId,
          waitMs: 30_000,
        }, { timeoutMs: 40_000 })
      ),
    );
    added.push(...batch.map((r) => ({ ipv4: r.allocations[0]!.ipv4, waitedMs: r.waitedMs ?? 0 })));
  }

  assert.equal(new Set(added.map((a) => a.ipv4)).size, PODS, "distinct addresses");
  const status = await ipamd.status();
  assert.equal(status.assignedIPs, PODS);
  assert.ok(status.enis >= 3, `ENIs: ${status.enis}`);
  // Introspection (loopback in the node's namespace) names the policy and its figures.
  const pool = JSON.parse(
    (await nsExec(sim.nodes[0]!.netns, ["curl", "-sf", "127.0.0.1:61679/v1/pool"])).stdout,
  ) as { plan: { policy: string } };
  assert.match(pool.plan.policy, /^adaptive\(rate=\d+\.\d+\/s,.*grow=\d+(ms|\.\ds)\//);

  for (const key of keys) {
    const del = await rpcCall(ipamd.socketPath, "ipam.del", { ...key, reason: "PodDeleted" });
    assert.equal(del.released.length, 1);
  }
  const after = await ipamd.status();
  assert.deepEqual([after.assignedIPs, after.cooldownIPs], [0, PODS]);

  const stopped = await ipamd.stop();
  assert.equal(stopped.status.code, 0);
  await sim.stop();
});
