/**
 * The warm pool of a real ipamd on a simulated t3.small (3 ENIs × 4 IPv4: 3 usable per ENI;
 * prefix mode 3 prefixes per ENI) settles on the simulated EC2 at the numbers of spec §3.5's
 * t3.small table, in every mode: WARM_ENI_TARGET, WARM_IP_TARGET + MINIMUM_IP_TARGET, prefix
 * delegation with WARM_PREFIX_TARGET and with WARM_IP/MINIMUM. Pods arrive through ipam.add
 * as aws-cni sends them. One simulator, one node per case, the cases run side by side; each
 * step checks one case (the shape checked is what EC2 has attached to the instance, and ipamd
 * must agree and have nothing left to do).
 */
import assert from "node:assert/strict";
import { figure, type PoolCase, runPoolCase } from "../lab/pool_lab.ts";
import { testScope } from "../lab/scope.ts";
import { startSim } from "../lab/sim.ts";

const PD = { ENABLE_PREFIX_DELEGATION: "true" };

const CASES: PoolCase[] = [
  {
    name: "WARM_ENI_TARGET=1 (default)",
    env: {},
    unit: "ip",
    stages: [
      { pods: 0, shape: [3], row: "t3.small WARM_ENI_TARGET=1, 0 pods: 1 ENI, 3 IPs, 3 free" },
      { pods: 5, shape: [3, 3, 3], row: "WARM_ENI_TARGET=1, 5 pods: 3 ENIs, 9 (3,3,3), 4 free" },
      { pods: 9, shape: [3, 3, 3], row: "WARM_ENI_TARGET=1, 9 pods: 3 ENIs, 9, 0 free" },
    ],
  },
  {
    name: "WARM_IP_TARGET=1 MINIMUM_IP_TARGET=1",
    env: { WARM_IP_TARGET: "1", MINIMUM_IP_TARGET: "1" },
    unit: "ip",
    stages: [
      { pods: 0, shape: [1], row: "WARM_IP=1, MIN=1, 0 pods: 1 ENI, 1 IP, 1 free" },
      { pods: 5, shape: [3, 3], row: "WARM_IP=1, MIN=1, 5 pods: 2 ENIs, 6 (3,3), 1 free" },
    ],
  },
  {
    name: "WARM_IP_TARGET=2 MINIMUM_IP_TARGET=5",
    env: { WARM_IP_TARGET: "2", MINIMUM_IP_TARGET: "5" },
    unit: "ip",
    stages: [
      { pods: 0, shape: [3, 2], row: "WARM_IP=2, MIN=5, 0 pods: 2 ENIs, 5 (3 then 2), 5 free" },
      { pods: 5, shape: [3, 3, 1], row: "WARM_IP=2, MIN=5, 5 pods: 3 ENIs, 7 (3,3,1), 2 free" },
    ],
  },
  {
    name: "prefix delegation, WARM_PREFIX_TARGET=1",
    env: { ...PD, WARM_PREFIX_TARGET: "1" },
    unit: "prefix",
    stages: [
      { pods: 0, shape: [1], row: "WARM_PREFIX=1 (PD), 0 pods: 1 ENI, 1 prefix, 16 free" },
      { pods: 5, shape: [2], row: "WARM_PREFIX=1 (PD), 5 pods: 1 ENI, 2 prefixes, 27 free" },
      { pods: 17, shape: [3], row: "WARM_PREFIX=1 (PD), 17 pods: 1 ENI, 3 prefixes, 31 free" },
      { pods: 58, shape: [3, 2], row: "WARM_PREFIX=1 (PD), 58 pods: 2 ENIs, 5 (3,2), 22 free" },
    ],
  },
  {
    name: "prefix delegation, WARM_IP_TARGET=1 MINIMUM_IP_TARGET=1",
    env: { ...PD, WARM_IP_TARGET: "1", MINIMUM_IP_TARGET: "1" },
    unit: "prefix",
    stages: [
      // Formula: short = max(1 − 0, 1 − 0) = 1 → ceil(1/16) = 1 prefix.
      { pods: 0, shape: [1], row: "§3.5 formula: WARM_IP=1, MIN=1 (PD), 0 pods: 1 prefix" },
      { pods: 17, shape: [2], row: "WARM_IP=1, MIN=1 (PD), 17 pods: 1 ENI, 2 prefixes, 15 free" },
    ],
  },
  {
    name: "prefix delegation, WARM_IP_TARGET=7 MINIMUM_IP_TARGET=20",
    env: { ...PD, WARM_IP_TARGET: "7", MINIMUM_IP_TARGET: "20" },
    unit: "prefix",
    stages: [
      { pods: 0, shape: [2], row: "WARM_IP=7, MIN=20 (PD), 0 pods: 1 ENI, 2 prefixes, 32 free" },
    ],
  },
];

/** Free addresses the spec's table gives for each stage ("free" column). */
const FREE: Record<string, number[]> = {
  "WARM_ENI_TARGET=1 (default)": [3, 4, 0],
  "WARM_IP_TARGET=1 MINIMUM_IP_TARGET=1": [1, 1],
  "WARM_IP_TARGET=2 MINIMUM_IP_TARGET=5": [5, 2],
  "prefix delegation, WARM_PREFIX_TARGET=1": [16, 27, 31, 22],
  "prefix delegation, WARM_IP_TARGET=1 MINIMUM_IP_TARGET=1": [16, 15],
  "prefix delegation, WARM_IP_TARGET=7 MINIMUM_IP_TARGET=20": [32],
};

Deno.test({
  name: "ipamd on a t3.small settles at spec §3.5's numbers in every warm-pool mode",
  ignore: Deno.uid() !== 0,
  async fn(t) {
    await using scope = testScope("tipd");
    const sim = await startSim({
      nodes: CASES.length,
      instanceType: "t3.small",
      args: ["--prefix", "tipd"],
      cleanup: scope.cleanup,
    });
    const started = performance.now();
    // Every case runs now, side by side; the steps below wait for each in turn.
    const runs = CASES.map((poolCase, i) =>
      runPoolCase(sim, sim.nodes[i]!, { poolCase, cleanup: scope.cleanup })
    );
    runs.forEach((r) => r.catch(() => {}));
    for (const [i, poolCase] of CASES.entries()) {
      await t.step(poolCase.name, async () => {
        const { results } = await runs[i]!;
        for (const [s, result] of results.entries()) {
          figure(
            `t3.small ${poolCase.name}, ${result.stage.pods} pods: settled in ` +
              `${result.settledMs} ms (${JSON.stringify(result.stage.shape)})`,
          );
          assert.equal(result.available, FREE[poolCase.name]![s], result.stage.row);
        }
      });
    }
    const counters = await sim.control.counters();
    figure(
      `t3.small, ${CASES.length} nodes: ${Math.round(performance.now() - started)} ms, EC2 calls ${
        JSON.stringify((counters as { total: unknown }).total)
      }`,
    );
  },
});
