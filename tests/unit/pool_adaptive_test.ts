/**
 * The adaptive warm pool (src/ipam/pool_adaptive.ts): the rate and latency estimates, the
 * watermarks and their bounds, hysteresis, cooldown accounting, the ENI headroom; then the
 * planner with the policy, and the manager on virtual time (tests/lab/virtual_node.ts).
 */

import assert from "node:assert/strict";
import {
  ADAPTIVE_DEFAULTS,
  type AdaptiveInput,
  adaptivePolicy,
  DemandEstimator,
  type DemandSnapshot,
  watermarks,
} from "../../src/ipam/pool_adaptive.ts";
import { planPool, type PoolSettings } from "../../src/ipam/pool.ts";
import type { GrowthRoom } from "../../src/ipam/pool_policy.ts";
import type { CidrView, PoolCounts, PoolView } from "../../src/ipam/view.ts";
import { Rng } from "../../src/sim/rand.ts";
import { VirtualNode, withSeededRandom } from "../lab/virtual_node.ts";

const counts = (c: Partial<PoolCounts>): PoolCounts => ({
  total: 0,
  assigned: 0,
  cooling: 0,
  available: 0,
  prefixes: 0,
  freePrefixes: 0,
  ...c,
});

/** A steady demand of `rate` ADDs/s, assigns of 0.5 s, attaches of 4 s. */
const demand = (rate: number, more: Partial<DemandSnapshot> = {}): DemandSnapshot => ({
  fastRate: rate,
  slowRate: rate,
  heldRate: rate,
  assignMs: 500,
  eniMs: 4_000,
  sinceGrowMs: Infinity,
  ...more,
});

const input = (d: DemandSnapshot, more: Partial<AdaptiveInput> = {}): AdaptiveInput => ({
  demand: d,
  targets: { warmIpTarget: 0, minimumIpTarget: 0 },
  cooldownMs: 30_000,
  perSlot: 1,
  slotsPerEni: 29,
  maxPods: 234,
  ...more,
});

/** Plenty of free slots on the attached ENIs, no more ENIs: the ENI rules stay quiet. */
const ROOMY: GrowthRoom = { slots: 100, attachable: 0 };

// ---- estimates --------------------------------------------------------------------------

Deno.test("DemandEstimator rates converge to a steady ADD rate and decay once ADDs stop", () => {
  const estimator = new DemandEstimator();
  let t = 0;
  for (; t < 20 * 60_000; t += 4_000) estimator.observeAdd(t); // 0.25 ADDs/s
  const steady = estimator.snapshot(t);
  assert.ok(Math.abs(steady.slowRate - 0.25) < 0.02, `slow ${steady.slowRate}`);
  assert.ok(Math.abs(steady.fastRate - 0.25) < 0.1, `fast ${steady.fastRate}`);
  const quiet = estimator.snapshot(t + ADAPTIVE_DEFAULTS.slowWindowMs);
  assert.ok(Math.abs(quiet.slowRate - steady.slowRate / Math.E) < 0.005, `${quiet.slowRate}`);
  assert.ok(quiet.fastRate < 0.001);
});

Deno.test("DemandEstimator answers a burst within seconds and holds it for the release window", () => {
  const estimator = new DemandEstimator();
  let t = 0;
  for (; t < 10 * 60_000; t += 4_000) estimator.observeAdd(t);
  for (let i = 0; i < 20; i++) estimator.observeAdd(t + i * 250); // 4 ADDs/s for 5 s
  const end = t + 19 * 250;
  const burst = estimator.snapshot(end);
  assert.ok(burst.fastRate > 1.5, `fast ${burst.fastRate}`);
  assert.ok(burst.slowRate < 0.5, `slow ${burst.slowRate}`);
  const later = estimator.snapshot(end + ADAPTIVE_DEFAULTS.holdWindowMs);
  assert.ok(Math.abs(later.heldRate - burst.heldRate / Math.E) < 0.01, `held ${later.heldRate}`);
  assert.ok(later.fastRate < later.heldRate);
});

Deno.test("DemandEstimator uses the latency priors until it has measured, then an EWMA", () => {
  const estimator = new DemandEstimator();
  assert.deepEqual(
    [
      estimator.snapshot(0).assignMs,
      estimator.snapshot(0).eniMs,
      estimator.snapshot(0).sinceGrowMs,
    ],
    [1_000, 10_000, Infinity],
  );
  estimator.observeGrow({ kind: "assign", ms: 500, at: 1_000, addresses: 3 });
  estimator.observeGrow({ kind: "assign", ms: 1_000, at: 2_000, addresses: 3 });
  estimator.observeGrow({ kind: "allocate-eni", ms: 4_000, at: 9_000, addresses: 0 });
  const s = estimator.snapshot(5_000);
  assert.equal(s.assignMs, 0.7 * 500 + 0.3 * 1_000);
  assert.equal(s.eniMs, 4_000);
  // An ENI attached ahead adds no addresses: it does not count as growth.
  assert.equal(s.sinceGrowMs, 3_000);
});

// ---- watermarks and bounds ----------------------------------------------------------------

Deno.test("watermarks() follow the Poisson quantile of the growth latency and the batch", () => {
  const pick = (r: number) => {
    const w = watermarks(input(demand(r)));
    return [w.low, w.fill, w.high, w.lowEni];
  };
  assert.deepEqual(pick(0), [1, 1, 2, 1]);
  // μ = 0.125 → q = 1; batch = ⌈1.25⌉ = 2; attach: μ = 1 → q = 3.
  assert.deepEqual(pick(0.25), [2, 4, 6, 4]);
  // μ = 2 → q = 5; batch 20; attach: μ = 16 → q = 24.
  assert.deepEqual(pick(4), [6, 26, 46, 25]);
  // Slower growth, more to cover.
  assert.equal(watermarks(input(demand(4, { assignMs: 2_000 }))).low, 8 + 6 + 1);
});

Deno.test("adaptivePolicy() under WARM_IP_TARGET keeps at most that many free addresses", () => {
  const w = watermarks(input(demand(4), { targets: { warmIpTarget: 3, minimumIpTarget: 0 } }));
  assert.deepEqual([w.low, w.fill, w.high, w.lowEni], [3, 3, 3, 3]);
  const policy = adaptivePolicy(
    input(demand(4), { targets: { warmIpTarget: 3, minimumIpTarget: 0 } }),
  );
  assert.equal(policy.growBy(counts({ total: 10, assigned: 9, available: 1 }), "ip", ROOMY), 2);
  assert.equal(
    policy.mayRelease(counts({ total: 14, assigned: 10, available: 4 }), {
      size: 1,
      isPrefix: false,
    }, ROOMY),
    true,
  );
});

Deno.test("adaptivePolicy() keeps MINIMUM_IP_TARGET addresses on the node even when idle", () => {
  const policy = adaptivePolicy(
    input(demand(0), { targets: { warmIpTarget: 0, minimumIpTarget: 10 } }),
  );
  const five = counts({ total: 5, available: 5 });
  assert.equal(policy.isLow(five, ROOMY), true);
  assert.equal(policy.growBy(five, "ip", ROOMY), 5);
  assert.equal(policy.growBy(five, "prefix", ROOMY), 1);
  const ten = counts({ total: 10, available: 10 });
  assert.equal(policy.isLow(ten, ROOMY), false);
  assert.equal(policy.mayRelease(ten, { size: 1, isPrefix: false }, ROOMY), false);
  assert.equal(
    policy.mayRelease(counts({ total: 12, available: 12 }), { size: 1, isPrefix: false }, ROOMY),
    true,
  );
});

// ---- hysteresis and cooldown ----------------------------------------------------------------

Deno.test("adaptivePolicy() grows below low, fills to fill, releases only above high", () => {
  const policy = adaptivePolicy(input(demand(0.25))); // low 2, fill 4, high 6
  const ip = { size: 1, isPrefix: false };
  const at = (available: number) => counts({ total: 50 + available, assigned: 50, available });
  const low = [...Array(10).keys()].filter((a) => policy.isLow(at(a), ROOMY));
  const releasable = [...Array(10).keys()].filter((a) => policy.mayRelease(at(a), ip, ROOMY));
  assert.deepEqual(low, [0, 1]);
  assert.deepEqual(releasable, [7, 8, 9]);
  assert.equal(policy.growBy(at(1), "ip", ROOMY), 3); // to fill
  assert.equal(policy.filled!(at(3), ROOMY), false);
  assert.equal(policy.filled!(at(4), ROOMY), true);
});

Deno.test("adaptivePolicy() releases nothing within the hold window after a growth", () => {
  const ip = { size: 1, isPrefix: false };
  const plenty = counts({ total: 70, assigned: 50, available: 20 });
  const recent = adaptivePolicy(input(demand(0.25, { sinceGrowMs: 10_000 })));
  const old = adaptivePolicy(input(demand(0.25, { sinceGrowMs: 30_000 })));
  assert.equal(recent.mayRelease(plenty, ip, ROOMY), false);
  assert.equal(old.mayRelease(plenty, ip, ROOMY), true);
});

Deno.test("adaptivePolicy() after a burst releases along the held rate, not the current one", () => {
  const ip = { size: 1, isPrefix: false };
  const pool = counts({ total: 80, assigned: 60, available: 20 });
  const justAfter = adaptivePolicy(input(demand(0.25, { fastRate: 0.3, heldRate: 3 })));
  const calm = adaptivePolicy(input(demand(0.25, { fastRate: 0.3, heldRate: 0.3 })));
  assert.equal(justAfter.mayRelease(pool, ip, ROOMY), false);
  assert.equal(calm.mayRelease(pool, ip, ROOMY), true);
});

Deno.test("adaptivePolicy() counts the cooling addresses due back within the next growth", () => {
  // low 2 at 0.25/s; growth 0.5 s of a 30 s cooldown: 1/60 of the cooling addresses count.
  const policy = adaptivePolicy(input(demand(0.25)));
  const pool = (cooling: number) =>
    counts({ total: 60 + cooling + 1, assigned: 60, cooling, available: 1 });
  assert.equal(policy.isLow(pool(59), ROOMY), true);
  assert.equal(policy.isLow(pool(60), ROOMY), false);
  const noCooldown = adaptivePolicy(input(demand(0.25), { cooldownMs: 0 }));
  assert.equal(noCooldown.isLow(pool(60), ROOMY), true);
});

// ---- ENIs ---------------------------------------------------------------------------------

Deno.test("adaptivePolicy() attaches an ENI ahead when free slots fall below one ENI, within max pods", () => {
  const policy = adaptivePolicy(input(demand(0.25)));
  const pool = counts({ total: 60, assigned: 56, available: 4 });
  assert.equal(policy.eniAhead!(pool, { slots: 20, attachable: 2 }), true);
  assert.equal(policy.eniAhead!(pool, { slots: 29, attachable: 2 }), false);
  assert.equal(policy.eniAhead!(pool, { slots: 20, attachable: 0 }), false);
  const capped = adaptivePolicy(input(demand(0.25), { maxPods: 75 }));
  assert.equal(capped.eniAhead!(pool, { slots: 15, attachable: 2 }), false);
  // Freeing keeps a one-ENI band: only when the rest still has an ENI's worth of free slots.
  const after = counts({ total: 60, assigned: 50, available: 10 });
  assert.equal(policy.mayFreeEni!(after, { slots: 20, attachable: 3 }), false);
  assert.equal(policy.mayFreeEni!(after, { slots: 29, attachable: 3 }), true);
});

Deno.test("adaptivePolicy() grows and attaches early when a burst would outrun an attach", () => {
  const policy = adaptivePolicy(input(demand(3))); // lowEni = q(12) + 1 = 20
  const pool = counts({ total: 80, assigned: 70, available: 10 });
  assert.equal(policy.isLow(pool, { slots: 20, attachable: 2 }), false);
  assert.equal(policy.isLow(pool, { slots: 5, attachable: 2 }), true);
  assert.ok(policy.growBy(pool, "ip", { slots: 5, attachable: 2 }) >= 5);
  assert.equal(policy.isLow(pool, { slots: 5, attachable: 0 }), false); // nothing to attach
});

// ---- the planner with the policy --------------------------------------------------------------

const SETTINGS: PoolSettings = {
  warmEniTarget: 1,
  warmIpTarget: 0,
  minimumIpTarget: 0,
  warmPrefixTarget: 0,
  maxEnis: 4,
  slotsPerEni: 5,
  maxPods: 17,
  skipPrimary: false,
  unmanagedEnis: 0,
  reservedEniSlots: 0,
};

function eni(id: string, device: number, cidrs: Array<{ assigned: boolean }>): PoolView["enis"][0] {
  return {
    id,
    deviceNumber: device,
    isPrimary: device === 0,
    isTrunk: false,
    isEfa: false,
    excluded: false,
    createdAt: 0,
    cidrs: cidrs.map((c, i): CidrView => ({
      cidr: `10.0.${device}.${i + 10}/32`,
      isPrefix: false,
      size: 1,
      assigned: c.assigned ? 1 : 0,
      cooling: 0,
    })),
  };
}

const smallInput = (rate: number) =>
  input(demand(rate), { slotsPerEni: 5, maxPods: SETTINGS.maxPods });

Deno.test("planPool() with the adaptive policy fills across ENIs and attaches the spare ENI with no addresses", () => {
  const view: PoolView = {
    mode: "secondary-ip",
    enis: [
      eni("eni-0", 0, [{ assigned: true }, { assigned: true }, { assigned: true }]),
      eni("eni-1", 1, []),
    ],
  };
  const plan = planPool({
    view,
    settings: SETTINGS,
    now: 100_000,
    policy: adaptivePolicy(smallInput(0.6)), // low 3, fill 6
  });
  assert.deepEqual(plan.actions, [
    { kind: "assign", eniId: "eni-0", unit: "ip", count: 2 },
    { kind: "assign", eniId: "eni-1", unit: "ip", count: 4 },
    { kind: "allocate-eni", unit: "ip", count: 0 },
  ]);
});

Deno.test("planPool() with the adaptive policy fills on attached ENIs only: no attach just to fill", () => {
  const used = (n: number, free: number) => [
    ...Array.from({ length: n }, () => ({ assigned: true })),
    ...Array.from({ length: free }, () => ({ assigned: false })),
  ];
  const view: PoolView = {
    mode: "secondary-ip",
    enis: [eni("eni-0", 0, used(2, 2)), eni("eni-1", 1, used(5, 0))],
  };
  // low 3, fill 6: one slot left brings the pool to low; the rest would need an attach
  // (fast attaches here, so the burst rule that attaches early stays out of it).
  const policy = adaptivePolicy(
    input(demand(0.6, { eniMs: 500 }), { slotsPerEni: 5, maxPods: SETTINGS.maxPods }),
  );
  const plan = planPool({ view, settings: SETTINGS, now: 0, policy });
  assert.deepEqual(plan.actions, [
    { kind: "assign", eniId: "eni-0", unit: "ip", count: 1 },
    { kind: "allocate-eni", unit: "ip", count: 0 },
  ]);
});

Deno.test("planPool() with the adaptive policy never grows past max pods", () => {
  const full = Array.from({ length: 5 }, () => ({ assigned: true }));
  const view: PoolView = {
    mode: "secondary-ip",
    enis: [eni("eni-0", 0, full), eni("eni-1", 1, full), eni("eni-2", 2, full)],
  };
  const settings = { ...SETTINGS, maxPods: 15 };
  const plan = planPool({ view, settings, now: 0, policy: adaptivePolicy(smallInput(5)) });
  assert.deepEqual(plan.actions, []);
  assert.equal(plan.blocked?.code, "max-pods");
});

// ---- the manager on virtual time --------------------------------------------------------------

const SMALL = { maxEnis: 4, ipv4PerEni: 6, maxPods: 21 };

Deno.test("PoolManager in adaptive mode feeds the estimator ADDs and measured latencies, and grows at once", async () => {
  const node = new VirtualNode({
    instance: SMALL,
    adaptive: {},
    targets: { minimumIpTarget: 4 },
    seed: 3,
  });
  const { clock, manager } = node;
  const t0 = clock.now();
  node.start();
  await clock.runUntil(t0 + 12_000);
  assert.equal(node.ds.stats().total, 4);
  const key = (i: number) => ({ networkName: "n", containerId: `c${i}`, ifName: "eth0" });
  for (let i = 0; i < 3; i++) {
    assert.equal((await manager.acquire(key(i), { waitMs: 30_000 })).waitedMs, 0);
  }
  // One address left, below `low` at the new rate: the pool grows now, not at the loop's
  // next tick (≥ 2 s away).
  await clock.runUntil(clock.now() + 1_000);
  assert.ok(node.ds.stats().total > 4, `total ${node.ds.stats().total}`);
  const policy = manager.lastPlan!.policy;
  assert.match(policy, /^adaptive\(rate=0\.[1-9]/);
  // Measured: an AssignPrivateIpAddresses takes 0.4-0.6 s in the realistic model.
  assert.match(policy, /grow=[456]\d\dms\//);
  await node.stop();
});

Deno.test("PoolManager in adaptive mode attaches the spare ENI beside the loop while ADDs are served", async () => {
  const node = new VirtualNode({ instance: SMALL, adaptive: {}, seed: 4 });
  const { clock, manager } = node;
  node.start();
  // Start-up: one address on the primary ENI leaves 4 free slots < 5: an ENI goes ahead.
  await clock.runUntil(clock.now() + 1_000);
  assert.equal(node.ds.view().enis.length, 1, "the attach takes seconds");
  const { waitedMs } = await manager.acquire(
    { networkName: "n", containerId: "c0", ifName: "eth0" },
    { waitMs: 30_000 },
  );
  assert.equal(waitedMs, 0);
  await clock.runUntil(clock.now() + 10_000);
  const enis = node.ds.view().enis;
  assert.equal(enis.length, 2);
  assert.equal(node.ec2.callCounts().byAction.AttachNetworkInterface, 1);
  assert.deepEqual(node.ec2.violations, []);
  await node.stop();
});

/** Steady Poisson churn for 20 simulated minutes; counts grow/release direction changes. */
async function steadyChurn(
  options: { adaptive?: object; targets?: object },
): Promise<{ reversals: number; waited: number; failed: number }> {
  const node = new VirtualNode({
    instance: { maxEnis: 8, ipv4PerEni: 30, maxPods: 234 },
    seed: 7,
    ...options,
  });
  const { clock, ds, manager } = node;
  const t0 = clock.now();
  const rng = new Rng(7);
  let waited = 0;
  let failed = 0;
  let t = 0;
  for (let i = 0; t < 1_200_000; i++) {
    t += -Math.log(1 - rng.next()) / 0.25 * 1000;
    const life = 60_000 + rng.next() * 180_000;
    const key = { networkName: "n", containerId: `c${i}`, ifName: "eth0" };
    clock.setTimer(() => {
      manager.acquire(key, { waitMs: 30_000 }).then(({ waitedMs }) => {
        if (waitedMs > 0) waited++;
        clock.setTimer(() => {
          ds.release(key);
          manager.wake();
        }, life);
      }, () => failed++);
    }, t);
  }
  const moves: string[] = [];
  let last = { grows: 0, releases: 0 };
  clock.onAdvance = () => {
    const grows = node.ec2.calls.get("AssignPrivateIpAddresses") ?? 0;
    const releases = node.ec2.calls.get("UnassignPrivateIpAddresses") ?? 0;
    if (grows > last.grows) moves.push("grow");
    if (releases > last.releases) moves.push("release");
    last = { grows, releases };
  };
  node.start();
  await clock.runUntil(t0 + 1_200_000);
  await node.stop();
  const reversals = moves.filter((m, i) => i > 0 && m !== moves[i - 1]).length;
  return { reversals, waited, failed };
}

Deno.test("PoolManager in adaptive mode flaps less under steady churn than WARM_IP_TARGET=8", async () => {
  const adaptive = await withSeededRandom(7, () => steadyChurn({ adaptive: {} }));
  const tuned = await withSeededRandom(7, () => steadyChurn({ targets: { warmIpTarget: 8 } }));
  assert.equal(adaptive.failed, 0);
  assert.ok(
    adaptive.reversals < tuned.reversals * 0.75,
    `grow/release reversals: adaptive ${adaptive.reversals}, tuned ${tuned.reversals}`,
  );
  assert.ok(adaptive.waited <= tuned.waited + 1, `waited ${adaptive.waited} vs ${tuned.waited}`);
});
