/**
 * The planner's rules beyond the worked examples (pool_examples_test.ts): max-pods cap,
 * prefix fallback to /32s, cooldown, pending ADDs, back-off, holds, custom networking,
 * excluded subnets, mode switches, ENI freeing, policies.
 */

import assert from "node:assert/strict";
import {
  CAPACITY_BACKOFF_MS,
  describeAction,
  MIN_ENI_AGE_MS,
  planPool,
  type PoolSettings,
  poolSettings,
  recordCapacityError,
  recordRelease,
} from "../../src/ipam/pool.ts";
import type { PoolPolicy } from "../../src/ipam/pool_policy.ts";
import type { EniView, PoolView } from "../../src/ipam/view.ts";
import { M4_4XLARGE, P3DN_24XLARGE, PoolWorld, T3_SMALL } from "../lab/pool_world.ts";

const NOW = Date.UTC(2026, 0, 1);

const SETTINGS: PoolSettings = {
  warmEniTarget: 1,
  warmIpTarget: 0,
  minimumIpTarget: 0,
  warmPrefixTarget: 1,
  maxEnis: 3,
  slotsPerEni: 9,
  maxPods: 110,
  skipPrimary: false,
  unmanagedEnis: 0,
  reservedEniSlots: 0,
};

function eni(id: string, options: Partial<EniView> & { ips?: number[] } = {}): EniView {
  const device = Number(id.replace(/\D/g, "")) || 0;
  return {
    id,
    deviceNumber: device,
    isPrimary: device === 0,
    isTrunk: false,
    isEfa: false,
    excluded: false,
    createdAt: NOW - 10 * MIN_ENI_AGE_MS,
    cidrs: (options.ips ?? []).map((assigned, i) => ({
      cidr: `10.0.${device}.${i + 1}/32`,
      isPrefix: false,
      size: 1,
      assigned,
      cooling: 0,
    })),
    ...options,
  };
}

// ---- max pods (pain #5) ---------------------------------------------------------------------

Deno.test("planPool() never grows the pool past max pods (WARM_ENI_TARGET=1, max pods 20)", () => {
  const world = new PoolWorld({ instance: M4_4XLARGE, maxPods: 20 });
  world.settle();
  assert.deepEqual([world.summary().enis, world.summary().total], [1, 20]); // upstream: 29
  world.addPods(20);
  world.settle();
  assert.deepEqual([world.summary().enis, world.summary().total], [1, 20]); // upstream: 58
  const plan = world.step();
  assert.deepEqual([plan.low, plan.canGrow, plan.blocked?.code], [false, false, "max-pods"]);
});

Deno.test("planPool() caps prefix mode at ceil(max pods / 16) prefixes", () => {
  const world = new PoolWorld({
    instance: M4_4XLARGE,
    mode: "prefix-delegation",
    targets: { warmPrefixTarget: 2 },
    maxPods: 20,
  });
  world.addPods(20);
  world.settle();
  assert.deepEqual(world.summary().prefixes, [2]);
});

Deno.test("planPool() gives back what is above max pods when max pods shrinks", () => {
  const world = new PoolWorld({ instance: M4_4XLARGE });
  world.addPods(5);
  world.settle();
  assert.equal(world.summary().total, 58);
  world.settings = { ...world.settings, maxPods: 20 };
  world.settle();
  assert.deepEqual([world.summary().enis, world.summary().total], [1, 20]);
  assert.equal(world.ds.stats().pods, 5);
});

// ---- prefix mode without free /28s (pain #2) -------------------------------------------------

Deno.test("planPool() falls back to /32s on InsufficientCidrBlocks and still reaches the target", () => {
  const world = new PoolWorld({
    instance: M4_4XLARGE,
    mode: "prefix-delegation",
    targets: { warmPrefixTarget: 1 },
    maxPods: 110,
  });
  world.noFreePrefixes = true;
  world.step(); // asks for a prefix, EC2 says InsufficientCidrBlocks
  assert.ok(world.state.noPrefixesAt !== undefined);
  const plan = world.step();
  assert.deepEqual(plan.actions, [{ kind: "assign", eniId: "eni-0000", unit: "ip", count: 16 }]);
  assert.match(plan.reason, /no free \/28/);
  world.addPods(10);
  world.settle();
  const s = world.summary();
  assert.equal(s.available, 16); // WARM_PREFIX_TARGET=1 means 16 free addresses
  assert.deepEqual(s.prefixes, [0]);
  assert.equal(world.ds.stats().pods, 10);
});

Deno.test("planPool() returns to prefixes after the back-off and gives fallback /32s back first", () => {
  const world = new PoolWorld({
    instance: M4_4XLARGE,
    mode: "prefix-delegation",
    targets: { warmIpTarget: 8 },
    maxPods: 110,
    cooldownSeconds: 0,
  });
  world.noFreePrefixes = true;
  world.settle(60_000);
  assert.deepEqual([world.summary().ips, world.summary().prefixes], [[8], [0]]);
  world.noFreePrefixes = false;
  world.now += CAPACITY_BACKOFF_MS;
  world.addPods(8); // the /32s fill up, growth now takes a prefix
  world.settle();
  assert.ok(world.summary().prefixes[0]! >= 1);
  world.deletePods(8);
  world.settle();
  // Surplus goes back as /32s first: one /28 (16 free) covers WARM_IP_TARGET=8.
  assert.deepEqual([world.summary().ips, world.summary().prefixes], [[0], [1]]);
});

Deno.test("planPool() with WARM_IP_TARGET in prefix mode falls back to exactly the short /32s", () => {
  const view: PoolView = { mode: "prefix-delegation", enis: [eni("eni-0")] };
  const settings = { ...SETTINGS, warmIpTarget: 5 };
  const state = recordCapacityError({}, { code: "InsufficientCidrBlocks", now: NOW - 1000 });
  const plan = planPool({ view, settings, state, now: NOW });
  assert.deepEqual(plan.actions, [{ kind: "assign", eniId: "eni-0", unit: "ip", count: 5 }]);
});

// ---- cooldown (pain #11) ---------------------------------------------------------------------

Deno.test("planPool() does not count addresses in cooldown as available", () => {
  const world = new PoolWorld({ instance: P3DN_24XLARGE, targets: { warmIpTarget: 2 } });
  world.addPods(3);
  world.settle();
  assert.equal(world.summary().total, 5);
  world.deletePods(3);
  const plan = world.step(); // 5 total, 0 assigned, 3 cooling: 2 available
  assert.deepEqual([plan.counts.available, plan.counts.cooling, plan.low], [2, 3, false]);
  world.addPods(1); // upstream would see 4 available; here 1 < 2, so the pool grows
  assert.equal(world.summary().total, 6);
});

Deno.test("planPool() neither releases addresses nor frees an ENI while they cool down", () => {
  const view: PoolView = {
    mode: "secondary-ip",
    enis: [
      eni("eni-0", { ips: [1, 1, 1] }),
      {
        ...eni("eni-1", { ips: [0, 0] }),
        cidrs: [
          { cidr: "10.0.1.1/32", isPrefix: false, size: 1, assigned: 0, cooling: 1 },
          { cidr: "10.0.1.2/32", isPrefix: false, size: 1, assigned: 0, cooling: 1 },
        ],
      },
    ],
  };
  const settings = { ...SETTINGS, warmIpTarget: 0, minimumIpTarget: 1 };
  assert.deepEqual(
    planPool({ view, settings, now: NOW }).actions.filter((a) => a.kind !== "assign"),
    [],
  );
  const cooled: PoolView = { ...view, enis: [view.enis[0]!, eni("eni-1", { ips: [0, 0] })] };
  const after = planPool({ view: cooled, settings, now: NOW }).actions;
  assert.deepEqual(after.map((a) => a.kind), ["release"]);
});

// ---- demand ------------------------------------------------------------------------------------

Deno.test("planPool() grows past MINIMUM_IP_TARGET when WARM_IP_TARGET=0 and the pool is empty (#2650)", () => {
  const world = new PoolWorld({ instance: P3DN_24XLARGE, targets: { minimumIpTarget: 5 } });
  world.settle();
  assert.equal(world.summary().total, 5);
  world.addPods(7); // upstream stops at 5 and pods 6 and 7 fail
  assert.equal(world.ds.stats().pods, 7);
});

Deno.test("planPool() sizes growth for ADDs waiting for an address", () => {
  const view: PoolView = { mode: "secondary-ip", enis: [eni("eni-0", { ips: [1, 1] })] };
  const settings = { ...SETTINGS, warmIpTarget: 1 };
  const plan = planPool({ view, settings, now: NOW, pending: 6 });
  assert.deepEqual(plan.actions, [{ kind: "assign", eniId: "eni-0", unit: "ip", count: 6 }]);
});

// ---- pauses -------------------------------------------------------------------------------------

Deno.test("planPool() pauses growth for 120 s after InsufficientFreeAddressesInSubnet", () => {
  const world = new PoolWorld({ instance: M4_4XLARGE });
  world.subnetFull = true;
  world.step();
  world.subnetFull = false;
  world.now += CAPACITY_BACKOFF_MS - 1;
  const paused = world.step();
  assert.deepEqual([paused.actions, paused.blocked?.code, paused.canGrow], [
    [],
    "subnet-full",
    false,
  ]);
  world.now += 1;
  assert.equal(world.step().actions[0]?.kind, "assign");
});

Deno.test("planPool() does not grow or free ENIs while held, and says why", () => {
  const view: PoolView = { mode: "secondary-ip", enis: [eni("eni-0")] };
  const plan = planPool({ view, settings: SETTINGS, now: NOW, hold: "terminating" });
  assert.deepEqual([plan.actions, plan.blocked?.code, plan.low], [[], "held", true]);
  const idle: PoolView = {
    mode: "secondary-ip",
    enis: [eni("eni-0", { ips: Array(9).fill(0) }), eni("eni-1")],
  };
  assert.deepEqual(
    planPool({ view: idle, settings: SETTINGS, now: NOW, hold: "unschedulable" }).actions,
    [],
  );
  assert.equal(planPool({ view: idle, settings: SETTINGS, now: NOW }).actions[0]?.kind, "free-eni");
});

// ---- ENIs ---------------------------------------------------------------------------------------

Deno.test("planPool() with custom networking gives the primary ENI no pod addresses", () => {
  const world = new PoolWorld({ instance: M4_4XLARGE, skipPrimary: true });
  assert.deepEqual(world.step().actions, [{ kind: "allocate-eni", unit: "ip", count: 29 }]);
  world.addPods(3); // 26 available < 29: one more ENI, still none of it on the primary
  world.settle();
  assert.deepEqual(world.summary().ips, [0, 29, 29]);
});

Deno.test("planPool() counts unmanaged ENIs and reserved slots against the ENI limit", () => {
  const view: PoolView = { mode: "secondary-ip", enis: [eni("eni-0", { ips: Array(9).fill(1) })] };
  const settings = { ...SETTINGS, unmanagedEnis: 1, reservedEniSlots: 1 };
  const plan = planPool({ view, settings, now: NOW });
  assert.deepEqual([plan.actions, plan.blocked?.code, plan.canGrow], [[], "no-room", false]);
  assert.equal(
    planPool({ view, settings: { ...settings, reservedEniSlots: 0 }, now: NOW }).actions.length,
    1,
  );
});

Deno.test("planPool() frees a pod-free ENI only once it is 60 s old", () => {
  const young = eni("eni-1", { ips: Array(9).fill(0), createdAt: NOW - MIN_ENI_AGE_MS + 1 });
  const view: PoolView = {
    mode: "secondary-ip",
    enis: [eni("eni-0", { ips: Array(9).fill(0) }), young],
  };
  assert.deepEqual(planPool({ view, settings: SETTINGS, now: NOW }).actions, []);
  const plan = planPool({ view, settings: SETTINGS, now: NOW + 1 });
  assert.deepEqual(plan.actions, [{ kind: "free-eni", eniId: "eni-1" }]);
});

Deno.test("planPool() never frees the primary, trunk or EFA ENI", () => {
  const spare = { ips: Array(9).fill(0) };
  const view: PoolView = {
    mode: "secondary-ip",
    enis: [
      eni("eni-0", spare),
      eni("eni-1", { ...spare, isTrunk: true }),
      eni("eni-2", { ...spare, isEfa: true }),
    ],
  };
  assert.deepEqual(
    planPool({ view, settings: { ...SETTINGS, warmEniTarget: 0 }, now: NOW }).actions,
    [],
  );
});

Deno.test("planPool() drains excluded ENIs, then frees them once their pods are gone", () => {
  const view: PoolView = {
    mode: "secondary-ip",
    enis: [
      eni("eni-0", { ips: Array(9).fill(0) }),
      eni("eni-1", { ips: [1, 0, 0], excluded: true }),
    ],
  };
  const plan = planPool({ view, settings: SETTINGS, now: NOW });
  assert.deepEqual(plan.actions, [
    { kind: "release", eniId: "eni-1", cidrs: ["10.0.1.2/32", "10.0.1.3/32"], cause: "excluded" },
  ]);
  assert.equal(plan.counts.total, 9); // excluded addresses are not in the pool
  const empty: PoolView = { ...view, enis: [view.enis[0]!, eni("eni-1", { excluded: true })] };
  assert.deepEqual(planPool({ view: empty, settings: SETTINGS, now: NOW }).actions, [
    { kind: "free-eni", eniId: "eni-1" },
  ]);
});

Deno.test("planPool() drains prefixes in secondary-IP mode and, at startup, /32s in prefix mode", () => {
  const mixed = eni("eni-0", { ips: [1, 0] });
  const withPrefix: EniView = {
    ...mixed,
    cidrs: [...mixed.cidrs, {
      cidr: "10.9.0.0/28",
      isPrefix: true,
      size: 16,
      assigned: 0,
      cooling: 0,
    }],
  };
  const secondary = planPool({
    view: { mode: "secondary-ip", enis: [withPrefix] },
    settings: SETTINGS,
    now: NOW,
  });
  assert.deepEqual(secondary.actions[0], {
    kind: "release",
    eniId: "eni-0",
    cidrs: ["10.9.0.0/28"],
    cause: "wrong-kind",
  });
  const pd = { mode: "prefix-delegation", enis: [withPrefix] } as const;
  const steady = planPool({ view: pd, settings: SETTINGS, now: NOW }).actions;
  assert.ok(steady.every((a) => a.kind !== "release" || a.cause !== "wrong-kind"));
  const startup = planPool({ view: pd, settings: SETTINGS, now: NOW, startup: true });
  assert.deepEqual(startup.actions, [
    { kind: "release", eniId: "eni-0", cidrs: ["10.0.0.2/32"], cause: "wrong-kind" },
  ]);
});

// ---- policy and settings ---------------------------------------------------------------------

Deno.test("planPool() takes any PoolPolicy (the hook for an adaptive policy)", () => {
  const exactly7: PoolPolicy = {
    name: "exactly-7",
    isLow: (c) => c.total < 7,
    growBy: (c) => 7 - c.total,
    mayRelease: (c, cidr) => c.total - cidr.size >= 7,
  };
  const world = new PoolWorld({ instance: T3_SMALL, policy: exactly7 });
  world.settle();
  assert.deepEqual(world.summary().ips, [3, 3, 1]);
  assert.equal(world.step().policy, "exactly-7");
});

Deno.test("poolSettings() caps ENIs by MAX_ENI and derives slots from the IPv4 limit", () => {
  const config = {
    warmEniTarget: 1,
    warmIpTarget: 0,
    minimumIpTarget: 0,
    warmPrefixTarget: 1,
    maxEni: 2,
    customNetworking: true,
  };
  const limits = { eniLimit: 8, ipv4PerEni: 30, maxPods: 234 };
  const settings = poolSettings(config, limits);
  assert.deepEqual([settings.maxEnis, settings.slotsPerEni, settings.skipPrimary], [2, 29, true]);
  assert.equal(poolSettings({ ...config, maxEni: null }, limits).maxEnis, 8);
  assert.equal(poolSettings({ ...config, maxEni: 20 }, limits).maxEnis, 8);
});

Deno.test("recordCapacityError() and recordRelease() keep the other fields", () => {
  let state = recordRelease({}, 1);
  state = recordCapacityError(state, { code: "InsufficientFreeAddressesInSubnet", now: 2 });
  state = recordCapacityError(state, { code: "InsufficientCidrBlocks", now: 3 });
  assert.deepEqual(state, { lastReleaseAt: 1, subnetFullAt: 2, noPrefixesAt: 3 });
});

Deno.test("describeAction() says what an action does", () => {
  assert.equal(
    describeAction({ kind: "assign", eniId: "eni-1", unit: "prefix", count: 2 }),
    "assign 2 prefixes to eni-1",
  );
  assert.equal(
    describeAction({ kind: "allocate-eni", unit: "ip", count: 1 }),
    "allocate an ENI with 1 IP",
  );
  assert.equal(
    describeAction({ kind: "release", eniId: "eni-1", cidrs: ["10.0.0.1/32"], cause: "excluded" }),
    "release 1 CIDR from eni-1 (excluded)",
  );
});

Deno.test("planPool() drains a prefix left from prefix mode only after its last pod and cooldown", () => {
  const world = new PoolWorld({ instance: M4_4XLARGE });
  world.ds.addCidr("eni-0000", "10.9.0.0/28"); // from before prefix delegation was turned off
  world.ds.restore([{
    key: { networkName: "aws-cni", containerId: "old", ifName: "eth0" },
    ipv4: "10.9.0.0",
    assignedAt: world.now,
  }]);
  world.settle(60_000);
  assert.equal(world.summary().prefixes[0], 1); // a pod still uses it
  world.ds.release({ networkName: "aws-cni", containerId: "old", ifName: "eth0" });
  world.now += 29_000;
  assert.ok(world.step().actions.every((a) => a.kind !== "release"));
  world.now += 1_000;
  const plan = world.step();
  assert.deepEqual(plan.actions, [
    { kind: "release", eniId: "eni-0000", cidrs: ["10.9.0.0/28"], cause: "wrong-kind" },
  ]);
  assert.equal(world.summary().prefixes[0], 0);
});
