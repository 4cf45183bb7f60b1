/**
 * The warm pool of a real ipamd on a simulated m5.large (3 ENIs × 10 IPv4: 9 usable per ENI;
 * prefix mode 9 prefixes per ENI, max pods 110) settles on the simulated EC2 where spec §3.5's
 * formulas put it, growing and shrinking, in every mode. The spec has no m5.large table: each
 * stage names the formula or the worked example (m4.4xlarge, p3dn.24xlarge, README) it
 * transposes to 9 addresses per ENI. Pods come and go through ipam.add / ipam.del; released
 * addresses cool down for IP_COOLDOWN_PERIOD=2 s, so shrinking is quick.
 *
 * Not covered here because it takes a minute of wall time: an ENI emptied by a release is freed
 * only once it is 60 s old, and a second over-target release waits 30 s after the first. Both
 * rules are checked with a fake clock in tests/unit/pool_manager_test.ts; here the test checks
 * that the emptied ENI is kept (it is younger than 60 s) and that ipamd defers the second
 * release, as its plan reports.
 */
import assert from "node:assert/strict";
import {
  ec2Enis,
  figure,
  introspect,
  type PoolCase,
  type PoolReport,
  runPoolCase,
  shapeOf,
  waitFor,
} from "../lab/pool_lab.ts";
import { testScope } from "../lab/scope.ts";
import { startSim } from "../lab/sim.ts";

const PD = { ENABLE_PREFIX_DELEGATION: "true" };
const FAST_COOLDOWN = { IP_COOLDOWN_PERIOD: "2" };

const CASES: Array<PoolCase & { free: number[] }> = [
  {
    // m4.4xlarge example with 9 per ENI: available < 9 ⇒ one more ENI.
    name: "WARM_ENI_TARGET=1 (default)",
    env: {},
    unit: "ip",
    stages: [
      { pods: 0, shape: [9], row: "m4.4xlarge example: 0 pods ⇒ primary filled, 1 ENI" },
      { pods: 5, shape: [9, 9], row: "m4.4xlarge example: 1..9 pods ⇒ 2 ENIs" },
      { pods: 12, shape: [9, 9, 9], row: "m4.4xlarge example: 10..18 pods ⇒ 3 ENIs" },
    ],
    free: [9, 13, 15],
  },
  {
    // p3dn.24xlarge example (WARM_IP=5, MIN=10) with 9 per ENI instead of 49.
    name: "WARM_IP_TARGET=5 MINIMUM_IP_TARGET=10",
    env: { WARM_IP_TARGET: "5", MINIMUM_IP_TARGET: "10", ...FAST_COOLDOWN },
    unit: "ip",
    stages: [
      { pods: 0, shape: [9, 1], row: "p3dn example: 0 pods ⇒ short 10: primary 9, new ENI 1" },
      { pods: 7, shape: [9, 3], row: "p3dn example: 7 pods ⇒ available 3, short 2 ⇒ 12" },
      { pods: 15, shape: [9, 9, 2], row: "p3dn example: 15 pods ⇒ 20" },
      {
        pods: 7,
        shape: [9, 3, 0],
        row: "p3dn scale-down: 20 IPs, 7 pods ⇒ over = min(13−5, 20−10) = 8 released, " +
          "newest first; the emptied ENI is < 60 s old and stays",
      },
    ],
    free: [10, 5, 5, 5],
  },
  {
    name: "prefix delegation, WARM_PREFIX_TARGET=1",
    env: { ...PD, WARM_PREFIX_TARGET: "1", ...FAST_COOLDOWN },
    unit: "prefix",
    stages: [
      { pods: 0, shape: [1], row: "too low iff available < 16×1: 1 prefix" },
      { pods: 20, shape: [3], row: "20 pods: 16×3 − 20 = 28 ≥ 16 ⇒ 3 prefixes" },
      { pods: 0, shape: [1], row: "too high iff free prefixes > 1: release 3 − 1 = 2" },
    ],
    free: [16, 28, 16],
  },
  {
    name: "prefix delegation, WARM_IP_TARGET=16",
    env: { ...PD, WARM_IP_TARGET: "16" },
    unit: "prefix",
    stages: [
      { pods: 0, shape: [1], row: "README PD example: WARM_IP_TARGET=16, 0 pods: 1 prefix" },
      { pods: 1, shape: [2], row: "README PD example: 1 pod ⇒ short 1 ⇒ ceil(1/16) = 1 more" },
    ],
    free: [16, 31],
  },
];

Deno.test({
  name: "ipamd on an m5.large settles where spec §3.5 puts it, growing and shrinking",
  ignore: Deno.uid() !== 0,
  async fn(t) {
    await using scope = testScope("tipd");
    const sim = await startSim({
      nodes: CASES.length,
      instanceType: "m5.large",
      args: ["--prefix", "tipd"],
      cleanup: scope.cleanup,
    });
    const started = performance.now();
    const runs = CASES.map((poolCase, i) =>
      runPoolCase(sim, sim.nodes[i]!, { poolCase, cleanup: scope.cleanup })
    );
    // Right after the scale-down of the WARM_IP case (its first release), 4 more pods go:
    // 3 pods, available 9 after cooldown, over = min(9 − 5, 12 − 10) = 2, but paced.
    const pacing = runs[1]!.then(async ({ pods }) => {
      const node = sim.nodes[1]!;
      for (const name of ["p6", "p5", "p4", "p3"]) await pods.del(name);
      type Report = PoolReport & { plan: { releaseDeferredUntil?: string } };
      const pool = await waitFor(
        "ipamd defers the next release",
        () => introspect<Report>(node.netns, "/v1/pool"),
        (p) => p.plan.releaseDeferredUntil !== undefined,
      );
      const deferredMs = Date.parse(pool.plan.releaseDeferredUntil!) - Date.now();
      return { deferredMs, shape: shapeOf(await ec2Enis(sim, node.info.instanceId), "ip") };
    });
    [...runs, pacing].forEach((r) => r.catch(() => {}));
    for (const [i, poolCase] of CASES.entries()) {
      await t.step(poolCase.name, async () => {
        const { results } = await runs[i]!;
        for (const [s, result] of results.entries()) {
          figure(
            `m5.large ${poolCase.name}, ${result.stage.pods} pods: settled in ` +
              `${result.settledMs} ms (${JSON.stringify(result.stage.shape)})`,
          );
          assert.equal(result.available, poolCase.free[s], result.stage.row);
        }
      });
    }

    await t.step("a second over-target release waits 30 s after the first", async () => {
      const { deferredMs, shape } = await pacing;
      assert.ok(deferredMs > 0, `the release was not deferred (${deferredMs} ms)`);
      assert.ok(deferredMs <= 30_000, `deferred ${deferredMs} ms, more than the 30 s pacing`);
      // Still deferred when EC2 was read, so EC2 must still hold the 12 addresses.
      assert.deepEqual(shape, [9, 3, 0]);
    });

    const counters = await sim.control.counters();
    figure(
      `m5.large, ${CASES.length} nodes: ${Math.round(performance.now() - started)} ms, EC2 calls ${
        JSON.stringify((counters as { total: unknown }).total)
      }`,
    );
  },
});
