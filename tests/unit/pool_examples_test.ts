/**
 * The warm-pool planner, iterated against an in-memory EC2 until the pool settles, reproduces
 * every worked example of spec §3.5 (t3.small in all modes, m4.4xlarge, p3dn.24xlarge incl.
 * scale-down, the README prefix example), then checks what this project does better.
 */

import assert from "node:assert/strict";
import {
  M4_4XLARGE,
  P3DN_24XLARGE,
  PoolWorld,
  T3_SMALL,
  type WorldOptions,
} from "../lab/pool_world.ts";

/** Pods arrive one by one on a fresh node, then the pool manager runs for 5 minutes. */
function scenario(options: WorldOptions, pods: number): PoolWorld {
  const world = new PoolWorld(options);
  world.settle();
  world.addPods(pods);
  world.settle();
  return world;
}

// ---- t3.small (3 ENIs × 4 IPv4: 3 usable per ENI; prefix mode 3 prefixes per ENI) ---------

const T3_PD = { instance: T3_SMALL, mode: "prefix-delegation", maxPods: 110 } as const;

Deno.test("planPool() t3.small WARM_ENI_TARGET=1 with 0 pods keeps 1 ENI with 3 IPs", () => {
  const s = scenario({ instance: T3_SMALL, targets: { warmEniTarget: 1 } }, 0).summary();
  assert.deepEqual([s.enis, s.ips, s.available], [1, [3], 3]);
});

Deno.test("planPool() t3.small WARM_ENI_TARGET=1 with 5 pods uses 3 ENIs (3,3,3), 4 free", () => {
  const s = scenario({ instance: T3_SMALL, targets: { warmEniTarget: 1 } }, 5).summary();
  assert.deepEqual([s.enis, s.ips, s.available], [3, [3, 3, 3], 4]);
});

Deno.test("planPool() t3.small WARM_ENI_TARGET=1 with 9 pods is full: 3 ENIs, 0 free", () => {
  const world = scenario({ instance: T3_SMALL, targets: { warmEniTarget: 1 } }, 9);
  const s = world.summary();
  assert.deepEqual([s.enis, s.ips, s.available], [3, [3, 3, 3], 0]);
  const plan = world.step();
  assert.equal(plan.blocked?.code, "no-room");
  assert.equal(plan.canGrow, false);
});

Deno.test("planPool() t3.small WARM_IP_TARGET=1 MINIMUM_IP_TARGET=1 with 0 pods keeps 1 IP", () => {
  const targets = { warmIpTarget: 1, minimumIpTarget: 1 };
  const s = scenario({ instance: T3_SMALL, targets }, 0).summary();
  assert.deepEqual([s.enis, s.ips, s.available], [1, [1], 1]);
});

Deno.test("planPool() t3.small WARM_IP_TARGET=1 MINIMUM_IP_TARGET=1 with 5 pods: 2 ENIs (3,3)", () => {
  const targets = { warmIpTarget: 1, minimumIpTarget: 1 };
  const s = scenario({ instance: T3_SMALL, targets }, 5).summary();
  assert.deepEqual([s.enis, s.ips, s.available], [2, [3, 3], 1]);
});

Deno.test("planPool() t3.small WARM_IP_TARGET=2 MINIMUM_IP_TARGET=5 with 0 pods: (3,2)", () => {
  const targets = { warmIpTarget: 2, minimumIpTarget: 5 };
  const world = new PoolWorld({ instance: T3_SMALL, targets });
  // First cycle: short = max(2, 5) = 5: 3 on the primary, then a new ENI with min(2, 3) = 2.
  const plan = world.step();
  assert.deepEqual(plan.actions, [
    { kind: "assign", eniId: "eni-0000", unit: "ip", count: 3 },
    { kind: "allocate-eni", unit: "ip", count: 2 },
  ]);
  world.settle();
  const s = world.summary();
  assert.deepEqual([s.enis, s.ips, s.available], [2, [3, 2], 5]);
});

Deno.test("planPool() t3.small WARM_IP_TARGET=2 MINIMUM_IP_TARGET=5 with 5 pods: (3,3,1)", () => {
  const targets = { warmIpTarget: 2, minimumIpTarget: 5 };
  const s = scenario({ instance: T3_SMALL, targets }, 5).summary();
  assert.deepEqual([s.enis, s.ips, s.available], [3, [3, 3, 1], 2]);
});

Deno.test("planPool() t3.small prefix mode WARM_PREFIX_TARGET=1 with 0 pods: 1 prefix, 16 free", () => {
  const s = scenario({ ...T3_PD, targets: { warmPrefixTarget: 1 } }, 0).summary();
  assert.deepEqual([s.enis, s.prefixes, s.available], [1, [1], 16]);
});

Deno.test("planPool() t3.small prefix mode WARM_PREFIX_TARGET=1 with 5 pods: 2 prefixes, 27 free", () => {
  const s = scenario({ ...T3_PD, targets: { warmPrefixTarget: 1 } }, 5).summary();
  assert.deepEqual([s.enis, s.prefixes, s.available], [1, [2], 27]);
});

Deno.test("planPool() t3.small prefix mode WARM_PREFIX_TARGET=1 with 17 pods: (16,1,0), 31 free", () => {
  const s = scenario({ ...T3_PD, targets: { warmPrefixTarget: 1 } }, 17).summary();
  assert.deepEqual([s.enis, s.prefixes, s.perPrefix, s.available], [1, [3], [16, 1, 0], 31]);
});

Deno.test("planPool() t3.small prefix mode WARM_PREFIX_TARGET=1 with 58 pods: 2 ENIs (3,2), 22 free", () => {
  const s = scenario({ ...T3_PD, targets: { warmPrefixTarget: 1 } }, 58).summary();
  assert.deepEqual([s.enis, s.prefixes, s.available], [2, [3, 2], 22]);
});

Deno.test("planPool() t3.small prefix mode WARM_IP_TARGET=1 MINIMUM_IP_TARGET=1, 17 pods: 2 prefixes", () => {
  const targets = { warmIpTarget: 1, minimumIpTarget: 1 };
  const s = scenario({ ...T3_PD, targets }, 17).summary();
  assert.deepEqual([s.enis, s.prefixes, s.available], [1, [2], 15]);
});

Deno.test("planPool() t3.small prefix mode WARM_IP_TARGET=7 MINIMUM_IP_TARGET=20, 0 pods: 2 prefixes", () => {
  // The docs table shows "1 attached, 0,0"; the formulas (and the spec) give 2 prefixes.
  const targets = { warmIpTarget: 7, minimumIpTarget: 20 };
  const s = scenario({ ...T3_PD, targets }, 0).summary();
  assert.deepEqual([s.enis, s.prefixes, s.available], [1, [2], 32]);
});

// ---- m4.4xlarge (8 ENIs × 30: 29 usable per ENI), WARM_ENI_TARGET=1 -------------------------

for (const [pods, enis] of [[0, 1], [1, 2], [29, 2], [30, 3], [58, 3]] as const) {
  Deno.test(`planPool() m4.4xlarge WARM_ENI_TARGET=1 with ${pods} pods: ${enis} ENIs of 29`, () => {
    const s = scenario({ instance: M4_4XLARGE, targets: { warmEniTarget: 1 } }, pods).summary();
    assert.deepEqual([s.enis, s.total], [enis, enis * 29]);
    assert.ok(s.ips.every((n) => n === 29));
  });
}

Deno.test("planPool() m4.4xlarge frees an extra ENI only when 58 addresses are available", () => {
  const world = scenario({ instance: M4_4XLARGE, targets: { warmEniTarget: 1 } }, 58);
  assert.equal(world.summary().enis, 3);
  world.deletePods(1); // 57 pods: 30 available < 58, nothing to free
  world.settle();
  assert.deepEqual([world.summary().enis, world.summary().available], [3, 30]);
  world.deletePods(29); // 28 pods, all on the primary: 59 available ≥ 58
  world.settle();
  assert.deepEqual([world.summary().enis, world.summary().total], [2, 58]);
  world.deletePods(28); // no pods: back to one ENI, as on a fresh node
  world.settle();
  assert.deepEqual([world.summary().enis, world.summary().total], [1, 29]);
});

// ---- p3dn.24xlarge (15 ENIs × 50: 49 usable per ENI) ---------------------------------------

for (const [pods, total] of [[0, 49], [3, 98], [95, 147]] as const) {
  Deno.test(`planPool() p3dn.24xlarge WARM_ENI_TARGET=1 with ${pods} pods: ${total} IPs`, () => {
    const s = scenario({ instance: P3DN_24XLARGE, targets: { warmEniTarget: 1 } }, pods).summary();
    assert.equal(s.total, total);
  });
}

const P3DN_WARM_IP = { instance: P3DN_24XLARGE, targets: { warmIpTarget: 5, minimumIpTarget: 10 } };

for (const [pods, ips] of [[0, [10]], [7, [12]], [15, [20]], [45, [49, 1]]] as const) {
  Deno.test(`planPool() p3dn.24xlarge WARM_IP_TARGET=5 MINIMUM_IP_TARGET=10, ${pods} pods: ${ips}`, () => {
    assert.deepEqual(scenario(P3DN_WARM_IP, pods).summary().ips, ips);
  });
}

Deno.test("planPool() p3dn.24xlarge scale-down: 20 IPs, 7 pods releases 8 pod-free IPs at once", () => {
  const world = scenario(P3DN_WARM_IP, 15);
  assert.equal(world.summary().total, 20);
  world.deletePods(8);
  // In cooldown the 8 addresses are neither available nor released.
  const during = world.step();
  assert.deepEqual([during.counts.available, during.counts.cooling, during.actions], [5, 8, []]);
  world.now += 30_000;
  const plan = world.step();
  assert.equal(plan.actions.length, 1);
  const release = plan.actions[0]!;
  assert.ok(release.kind === "release" && release.cause === "over-target");
  assert.equal(release.cidrs.length, 8); // over = min(13 − 5, 20 − 10) = 8
  assert.deepEqual([world.summary().total, world.summary().available], [12, 5]);
});

Deno.test("planPool() paces over-target releases at one per 30 s", () => {
  const world = scenario({ ...P3DN_WARM_IP, cooldownSeconds: 0 }, 15);
  world.deletePods(4);
  assert.equal(world.step().actions[0]?.kind, "release");
  world.deletePods(4);
  world.now += 25_000;
  const plan = world.step();
  assert.deepEqual(plan.actions, []);
  assert.equal(plan.releaseDeferredUntil, world.now + 5_000);
  world.now += 5_000;
  assert.equal(world.step().actions[0]?.kind, "release");
});

// ---- README prefix example ------------------------------------------------------------------

Deno.test("planPool() README prefix example: WARM_IP_TARGET=16 takes a second /28 at the first pod", () => {
  const options = { ...T3_PD, targets: { warmIpTarget: 16 } };
  assert.deepEqual(scenario(options, 0).summary().prefixes, [1]); // short 0 with one /28
  assert.deepEqual(scenario(options, 1).summary().prefixes, [2]); // short 1 ⇒ ceil(1/16) = 1
});
