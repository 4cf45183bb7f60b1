/**
 * The pool manager (src/ipam/manager.ts) with a real Datastore, a clock the test moves, and a
 * small fake of the EC2 side (the EniOps methods the manager calls). A fake rather than the
 * simulator in-process: these tests are about the manager's own decisions — when an ADD waits,
 * is served or fails; backing off after a failed EC2 step instead of retrying in a loop;
 * putting CIDRs back when EC2 refuses to release them; pacing and ENI age — so they need to
 * fail EC2 calls on demand, hold them open, and jump the clock by a minute, none of which the
 * simulator does cheaply. The lab tests (tests/integration/ipamd_*_test.ts) cover the real EC2
 * path. Each test drives the loop with runOnce(), so nothing depends on timers.
 */
import assert from "node:assert/strict";
import type { EniMetadata } from "../../src/aws/imds_metadata.ts";
import { Ec2Error } from "../../src/aws/ec2_errors.ts";
import { Datastore } from "../../src/ipam/datastore.ts";
import type { EniOps } from "../../src/ipam/eni_ops.ts";
import { NoAddressError, PoolManager } from "../../src/ipam/manager.ts";
import type { PoolSettings } from "../../src/ipam/pool.ts";
import { silentLogger } from "../../src/ops/log.ts";
import { Metrics } from "../../src/ops/metrics.ts";

/** The EC2 side, in memory: every call logged; failures and holds on demand. */
class FakeEniOps {
  calls: string[] = [];
  #next = 10;
  #enis = 1;
  /** Thrown by the next calls of that kind while set. */
  fail: { assign?: Error; allocate?: Error; release?: Error } = {};
  /** While set, assign() waits for it. */
  hold?: Promise<void>;

  #ips(count: number): string[] {
    return Array.from({ length: count }, () => `10.0.0.${this.#next++}`);
  }

  async assign(eniId: string, options: { unit: string; count: number }): Promise<string[]> {
    this.calls.push(`assign ${eniId} ${options.count}`);
    if (this.hold) await this.hold;
    if (this.fail.assign) throw this.fail.assign;
    return this.#ips(options.count).map((ip) => `${ip}/32`);
  }

  cidrsOf(): Promise<string[]> {
    return Promise.resolve([]);
  }

  allocateEni(options: { unit: string; count: number }): Promise<EniMetadata> {
    this.calls.push(`allocate ${options.count}`);
    if (this.fail.allocate) return Promise.reject(this.fail.allocate);
    const n = this.#enis++;
    return Promise.resolve({
      eniId: `eni-${n}`,
      mac: `02:00:00:00:00:0${n}`,
      deviceNumber: n,
      networkCard: 0,
      subnetId: "subnet-1",
      vpcId: "vpc-1",
      subnetCidr: "10.0.0.0/16",
      ipv4s: [`10.0.1.${n}`, ...this.#ips(options.count)],
      ipv4Prefixes: [],
      securityGroupIds: [],
      vpcCidrs: ["10.0.0.0/16"],
    });
  }

  release(eniId: string, cidrs: readonly string[]): Promise<void> {
    this.calls.push(`release ${eniId} ${cidrs.length}`);
    return this.fail.release ? Promise.reject(this.fail.release) : Promise.resolve();
  }

  freeEni(eniId: string): Promise<void> {
    this.calls.push(`free ${eniId}`);
    return Promise.resolve();
  }

  count(kind: string): number {
    return this.calls.filter((c) => c.startsWith(kind)).length;
  }
}

const SLOTS = 3; // a t3.small: 3 secondary IPs per ENI

function world(
  options: {
    settings?: Partial<PoolSettings>;
    cooldownMs?: number;
    /** CIDRs on the primary ENI at start. */
    primary?: string[];
    reconcile?: () => Promise<void>;
  } = {},
) {
  const clock = { now: 1_000_000 };
  const now = () => clock.now;
  const ds = new Datastore({ mode: "secondary-ip", cooldownMs: options.cooldownMs ?? 0, now });
  ds.addEni({ id: "eni-0", deviceNumber: 0, isPrimary: true, createdAt: 0 });
  for (const cidr of options.primary ?? []) ds.addCidr("eni-0", cidr);
  const ops = new FakeEniOps();
  const settings: PoolSettings = {
    warmEniTarget: 1,
    warmIpTarget: 0,
    minimumIpTarget: 0,
    warmPrefixTarget: 0,
    maxEnis: 3,
    slotsPerEni: SLOTS,
    maxPods: 11,
    skipPrimary: false,
    unmanagedEnis: 0,
    reservedEniSlots: 0,
    ...options.settings,
  };
  const metrics = new Metrics();
  const manager = new PoolManager({
    ds,
    ops: ops as unknown as EniOps,
    config: { provisioning: true },
    settings: () => settings,
    logger: silentLogger,
    metrics,
    adoptEni: (meta) => {
      ds.addEni({ id: meta.eniId, deviceNumber: meta.deviceNumber, createdAt: now() });
      for (const ip of meta.ipv4s.slice(1)) ds.addCidr(meta.eniId, `${ip}/32`);
      return Promise.resolve();
    },
    forgetEni: () => {},
    ...(options.reconcile ? { reconcile: options.reconcile } : {}),
    now,
  });
  return { clock, ds, ops, manager, settings, metrics };
}

const key = (name: string) => ({ networkName: "aws-cni", containerId: name, ifName: "eth0" });

/** Whether a promise has settled, after pending callbacks have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(() => done = true, () => done = true);
  await new Promise((r) => setTimeout(r, 0));
  return done;
}

Deno.test("acquire() serves a free address at once, without waiting", async () => {
  const { manager, ops } = world({ primary: ["10.0.0.5/32"] });
  const { assignment, waitedMs } = await manager.acquire(key("a"), { waitMs: 30_000 });
  assert.equal(assignment.ipv4, "10.0.0.5");
  assert.equal(waitedMs, 0);
  assert.deepEqual(ops.calls, []);
});

Deno.test("acquire() on an empty pool waits, and the next turn grows the pool and serves it", async () => {
  const { manager, ops } = world({ settings: { warmIpTarget: 1, minimumIpTarget: 1 } });
  const pending = manager.acquire(key("a"), { waitMs: 30_000 });
  assert.equal(await settled(pending), false, "the ADD waits for the pool");
  assert.equal(manager.waiting, 1);
  await manager.runOnce();
  const { assignment } = await pending;
  assert.equal(assignment.eniId, "eni-0");
  // One address for the waiting ADD (served at once), then one for WARM_IP_TARGET=1.
  assert.deepEqual(ops.calls, ["assign eni-0 1", "assign eni-0 1"]);
  assert.equal(manager.waiting, 0);
});

Deno.test("acquire() fails with NoAddressError when EC2 does not deliver within waitMs", async () => {
  const { manager, ops } = world({ settings: { warmIpTarget: 1 } });
  let release = () => {};
  ops.hold = new Promise((r) => release = r);
  const pending = manager.acquire(key("a"), { waitMs: 50 });
  const turn = manager.runOnce(); // stuck in assign() until released
  const error = await pending.then(() => undefined, (e) => e);
  assert.ok(error instanceof NoAddressError, String(error));
  assert.match(error.message, /no address became free within 50 ms/);
  assert.equal(manager.waiting, 0, "the timed-out ADD no longer waits");
  release();
  await turn;
});

Deno.test("acquire() fails at once when the pool is full and cannot grow", async () => {
  const { manager } = world({
    settings: { maxEnis: 1 },
    primary: ["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"],
  });
  for (const name of ["a", "b", "c"]) await manager.acquire(key(name), { waitMs: 0 });
  // A wait of a minute would show up as a different message (and a minute-long test).
  const error = await manager.acquire(key("d"), { waitMs: 60_000 }).then(() => undefined, (e) => e);
  assert.ok(error instanceof NoAddressError, String(error));
  assert.match(error.message, /cannot grow/);
  assert.equal(error.waitedMs, 0);
});

Deno.test("a waiting ADD fails once the subnet is full and nothing cools down", async () => {
  const { manager, ops } = world({ primary: ["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"] });
  for (const name of ["a", "b", "c"]) await manager.acquire(key(name), { waitMs: 0 });
  ops.fail.allocate = new Ec2Error({
    code: "InsufficientFreeAddressesInSubnet",
    action: "CreateNetworkInterface",
    attempts: 1,
    retryable: false,
  });
  const pending = manager.acquire(key("d"), { waitMs: 60_000 });
  await manager.runOnce(); // allocate fails: the subnet is full
  assert.equal(ops.count("allocate"), 1);
  await manager.runOnce(); // the pool cannot grow for 120 s now: waiting is hopeless
  const error = await pending.then(() => undefined, (e) => e);
  assert.ok(error instanceof NoAddressError, String(error));
  assert.match(error.message, /subnet had no free addresses/);
  assert.equal(ops.count("allocate"), 1, "no growth during the 120 s pause");
});

Deno.test("a failing EC2 step backs off (1 s, 2 s, ... with jitter) instead of retrying in a loop", async () => {
  const { manager, ops, clock, metrics } = world({ settings: { warmIpTarget: 1 } });
  ops.fail.assign = new Error("EC2 is down");
  const pending = manager.acquire(key("a"), { waitMs: 600_000 });
  pending.catch(() => {});
  for (let i = 0; i < 20; i++) await manager.runOnce();
  assert.equal(ops.count("assign"), 1, "20 turns at the same instant: one attempt");
  clock.now += 1_250; // past the first backoff (1 s ± 20 %)
  for (let i = 0; i < 5; i++) await manager.runOnce();
  assert.equal(ops.count("assign"), 2);
  clock.now += 1_500; // the second backoff is 2 s ± 20 %: not over yet
  for (let i = 0; i < 5; i++) await manager.runOnce();
  assert.equal(ops.count("assign"), 2);
  clock.now += 1_000;
  await manager.runOnce();
  assert.equal(ops.count("assign"), 3);
  assert.match(await metrics.render(), /awscni_ipamd_error_count\{fn="increaseDatastorePool"\} 3/);
  // EC2 recovers: the next attempt after the backoff succeeds and serves the ADD.
  delete ops.fail.assign;
  clock.now += 5_000;
  await manager.runOnce();
  assert.equal((await pending).assignment.eniId, "eni-0");
});

Deno.test("a release that EC2 refuses puts the CIDRs back in the datastore", async () => {
  const primary = ["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"];
  const { manager, ops, ds, clock } = world({
    settings: { warmIpTarget: 1, minimumIpTarget: 1 },
    primary,
  });
  ops.fail.release = new Error("UnassignPrivateIpAddresses failed");
  await manager.runOnce();
  assert.deepEqual(ops.calls, ["release eni-0 2"]);
  const cidrs = () => ds.view().enis[0]!.cidrs.map((c) => c.cidr).sort();
  assert.deepEqual(cidrs(), primary, "all 3 still there");
  assert.equal(manager.released.size, 0, "nothing recorded as released");
  delete ops.fail.release;
  clock.now += 5_000; // past the backoff
  await manager.runOnce();
  assert.equal(ops.count("release"), 2);
  assert.equal(cidrs().length, 1, "over target by 2: 2 released");
  assert.equal(manager.released.size, 2, "reconcile will not re-adopt them for a minute");
});

Deno.test("over-target releases are paced 30 s apart", async () => {
  const { manager, ops, ds, clock } = world({
    settings: { warmIpTarget: 1, minimumIpTarget: 1 },
    primary: ["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"],
  });
  await manager.acquire(key("a"), { waitMs: 0 });
  await manager.acquire(key("b"), { waitMs: 0 });
  await manager.runOnce();
  assert.deepEqual(ops.calls, [], "2 assigned, 1 free: at target");
  ds.release(key("a")); // 2 free: over by 1; the first release goes at once
  await manager.runOnce();
  assert.deepEqual(ops.calls, ["release eni-0 1"]);
  const first = clock.now;
  ds.release(key("b")); // over by 1 again
  for (const at of [1_000, 10_000, 29_900]) {
    clock.now = first + at;
    await manager.runOnce();
    assert.equal(ops.count("release"), 1, `${at} ms after the first release: not yet`);
  }
  clock.now = first + 30_000;
  await manager.runOnce();
  assert.equal(ops.count("release"), 2, "30 s after the first release");
});

Deno.test("an ENI emptied by a release is freed only once it is 60 s old", async () => {
  const { manager, ops, ds, clock } = world({
    settings: { warmIpTarget: 1, minimumIpTarget: 1 },
    primary: ["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"],
  });
  for (const name of ["a", "b", "c"]) await manager.acquire(key(name), { waitMs: 0 });
  await manager.runOnce(); // primary full, 0 available: a new ENI with 1 IP
  assert.deepEqual(ops.calls, ["allocate 1"]);
  const created = clock.now;
  ds.release(key("a")); // 2 available: the new ENI's address goes back (newest first)
  await manager.runOnce();
  assert.deepEqual(ops.calls, ["allocate 1", "release eni-1 1"]);
  for (const at of [1_000, 30_000, 59_900]) {
    clock.now = created + at;
    await manager.runOnce();
    assert.equal(ops.count("free"), 0, `the empty ENI is ${at} ms old: kept`);
  }
  clock.now = created + 60_000;
  await manager.runOnce();
  assert.deepEqual(ops.calls.slice(2), ["free eni-1"]);
  assert.equal(ds.hasEni("eni-1"), false);
});

Deno.test("terminate() fails waiting ADDs and stops growth", async () => {
  const { manager, ops } = world({ settings: { warmIpTarget: 1 } });
  const pending = manager.acquire(key("a"), { waitMs: 60_000 });
  manager.terminate();
  const error = await pending.then(() => undefined, (e) => e);
  assert.ok(error instanceof NoAddressError, String(error));
  assert.match(error.message, /shutting down/);
  const later = await manager.acquire(key("b"), { waitMs: 60_000 }).then(() => undefined, (e) => e);
  assert.ok(later instanceof NoAddressError);
  assert.match(later.message, /shutting down/);
  await manager.runOnce();
  assert.deepEqual(ops.calls, [], "no EC2 call after terminate()");
  assert.equal(manager.terminating, true);
});

Deno.test("reconcile runs every 60 s, and at the next turn when requested (SIGHUP)", async () => {
  let reconciles = 0;
  const { manager, clock } = world({
    primary: ["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"],
    reconcile: () => {
      reconciles++;
      return Promise.resolve();
    },
  });
  await manager.runOnce();
  assert.equal(reconciles, 0, "not due yet");
  manager.requestReconcile();
  await manager.runOnce();
  assert.equal(reconciles, 1, "requested");
  await manager.runOnce();
  assert.equal(reconciles, 1, "a request runs once");
  clock.now += 60_000;
  await manager.runOnce();
  assert.equal(reconciles, 2, "due after 60 s");
});

Deno.test("acquire() names the EC2 step that failed when it gives up waiting", async () => {
  const { manager, ops } = world({ settings: { warmIpTarget: 1 } });
  ops.fail.assign = new Error("EC2 AssignPrivateIpAddresses failed with UnauthorizedOperation");
  const pending = manager.acquire(key("a"), { waitMs: 50 });
  await manager.runOnce();
  const error = await pending.then(() => undefined, (e) => e);
  assert.ok(error instanceof NoAddressError, String(error));
  assert.match(error.message, /within 50 ms/);
  assert.match(
    error.message,
    /assign 1 IP to eni-0 failed: EC2 AssignPrivateIpAddresses failed with UnauthorizedOperation/,
  );
});
