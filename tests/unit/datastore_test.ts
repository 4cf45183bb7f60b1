import assert from "node:assert/strict";
import {
  Datastore,
  type DatastoreSnapshot,
  LEGACY_IF_NAME,
  LEGACY_NETWORK_NAME,
} from "../../src/ipam/datastore.ts";
import {
  AddressInUseError,
  CidrConflictError,
  PersistError,
  PoolExhaustedError,
  UnknownAttachmentError,
  UnknownCidrError,
  UnknownEniError,
} from "../../src/ipam/errors.ts";
import type { PoolMode } from "../../src/ipam/view.ts";

const key = (containerId: string, ifName = "eth0") => ({
  networkName: "aws-cni",
  containerId,
  ifName,
});
const POD = { podNamespace: "default", podName: "web-0", interfacesCount: 1 };

function store(
  options: { mode?: PoolMode; cooldownMs?: number; persist?: (s: DatastoreSnapshot) => void } = {},
) {
  const clock = { now: 1_000_000 };
  const ds = new Datastore({
    mode: options.mode ?? "secondary-ip",
    cooldownMs: options.cooldownMs ?? 30_000,
    now: () => clock.now,
    ...(options.persist ? { persist: options.persist } : {}),
  });
  ds.addEni({ id: "eni-0", deviceNumber: 0, subnetId: "subnet-1" });
  ds.addEni({ id: "eni-1", deviceNumber: 1 });
  return { ds, clock };
}

Deno.test("assign() returns the same address for a repeated key", () => {
  const { ds } = store();
  ds.addCidr("eni-0", "10.0.0.5");
  ds.addCidr("eni-0", "10.0.0.6");
  const first = ds.assign(key("a"), POD);
  const again = ds.assign(key("a"), POD);
  assert.deepEqual(again, first);
  assert.equal(ds.assign(key("b")).ipv4, "10.0.0.6");
  assert.equal(ds.stats().assigned, 2);
});

Deno.test("assign() reports device number and route table: 254 for the primary, device + 1 otherwise", () => {
  const { ds } = store();
  ds.addCidr("eni-1", "10.0.1.5/32");
  ds.addCidr("eni-0", "10.0.0.5/32");
  const onPrimary = ds.assign(key("a")); // ENIs are used in the order they were added
  const onSecondary = ds.assign(key("b"));
  assert.deepEqual([onPrimary.ipv4, onPrimary.deviceNumber, onPrimary.routeTableId], [
    "10.0.0.5",
    0,
    254,
  ]);
  assert.deepEqual([onSecondary.ipv4, onSecondary.deviceNumber, onSecondary.routeTableId], [
    "10.0.1.5",
    1,
    2,
  ]);
  assert.equal(onSecondary.eniId, "eni-1");
});

Deno.test("assign() refuses an incomplete attachment key", () => {
  const { ds } = store();
  ds.addCidr("eni-0", "10.0.0.5");
  assert.throws(
    () => ds.assign({ networkName: "aws-cni", containerId: "", ifName: "eth0" }),
    TypeError,
  );
});

Deno.test("assign() throws PoolExhaustedError with the pool's counts when nothing is free", () => {
  const { ds } = store();
  ds.addCidr("eni-0", "10.0.0.5");
  ds.assign(key("a"));
  assert.throws(
    () => ds.assign(key("b")),
    (e) => e instanceof PoolExhaustedError && e.total === 1 && e.assigned === 1,
  );
});

Deno.test("assign() hands out a prefix from its network address upward, prefixes before /32s", () => {
  const { ds } = store({ mode: "prefix-delegation" });
  ds.addCidr("eni-0", "10.0.0.9"); // a fallback /32
  ds.addCidr("eni-0", "10.0.0.16/28");
  const ips = Array.from({ length: 17 }, (_, i) => ds.assign(key(`c${i}`)).ipv4);
  assert.deepEqual(ips.slice(0, 3), ["10.0.0.16", "10.0.0.17", "10.0.0.18"]);
  assert.equal(ips[15], "10.0.0.31");
  assert.equal(ips[16], "10.0.0.9");
});

Deno.test("assign() in secondary-IP mode ignores prefixes and excluded or trunk ENIs", () => {
  const { ds } = store();
  ds.addCidr("eni-0", "10.0.0.16/28");
  ds.addCidr("eni-1", "10.0.1.5");
  ds.setExcluded("eni-1", true);
  ds.addEni({ id: "eni-2", deviceNumber: 2, isTrunk: true });
  ds.addCidr("eni-2", "10.0.2.5");
  assert.throws(() => ds.assign(key("a")), PoolExhaustedError);
  ds.setExcluded("eni-1", false);
  assert.equal(ds.assign(key("a")).ipv4, "10.0.1.5");
  assert.deepEqual([ds.stats().total, ds.stats().available], [1, 0]);
});

Deno.test("release() starts a cooldown: the address is reused only after IP_COOLDOWN_PERIOD", () => {
  const { ds, clock } = store();
  ds.addCidr("eni-0", "10.0.0.5");
  ds.assign(key("a"));
  const released = ds.release(key("a"));
  assert.equal(released.ipv4, "10.0.0.5");
  assert.deepEqual([ds.stats().cooling, ds.stats().available], [1, 0]);
  clock.now += 29_999;
  assert.throws(() => ds.assign(key("b")), PoolExhaustedError);
  clock.now += 1;
  assert.equal(ds.assign(key("b")).ipv4, "10.0.0.5");
});

Deno.test("release() with a cooldown of 0 frees the address at once", () => {
  const { ds } = store({ cooldownMs: 0 });
  ds.addCidr("eni-0", "10.0.0.5");
  ds.assign(key("a"));
  ds.release(key("a"));
  assert.equal(ds.assign(key("b")).ipv4, "10.0.0.5");
});

Deno.test("release() of an unknown attachment throws UnknownAttachmentError", () => {
  const { ds } = store();
  ds.addCidr("eni-0", "10.0.0.5");
  ds.assign(key("a"));
  ds.release(key("a"));
  assert.throws(
    () => ds.release(key("a")),
    (e) => e instanceof UnknownAttachmentError && e.key.containerId === "a",
  );
});

Deno.test("release() finds entries restored under upstream's legacy key", () => {
  const { ds } = store();
  ds.addCidr("eni-0", "10.0.0.5");
  const legacy = {
    networkName: LEGACY_NETWORK_NAME,
    containerId: "sandbox-1",
    ifName: LEGACY_IF_NAME,
  };
  ds.restore([{ key: legacy, ipv4: "10.0.0.5", assignedAt: 5 }]);
  assert.equal(ds.release(key("sandbox-1")).ipv4, "10.0.0.5");
});

Deno.test("persist() sees each change before it is acknowledged", () => {
  const snapshots: DatastoreSnapshot[] = [];
  const { ds, clock } = store({ persist: (s) => snapshots.push(s) });
  ds.addCidr("eni-0", "10.0.0.5");
  assert.equal(snapshots.length, 0); // adding a CIDR changes nothing the checkpoint records
  ds.assign(key("a"), POD);
  assert.deepEqual(snapshots.at(-1), {
    allocations: [{ key: key("a"), ipv4: "10.0.0.5", assignedAt: clock.now, pod: POD }],
    cooling: [],
  });
  ds.assign(key("a"), POD); // idempotent: nothing to write
  assert.equal(snapshots.length, 1);
  clock.now += 10;
  ds.release(key("a"));
  assert.deepEqual(snapshots.at(-1), {
    allocations: [],
    cooling: [{ ipv4: "10.0.0.5", unassignedAt: clock.now }],
  });
});

Deno.test("assign() rolls back and throws PersistError when persist() fails", () => {
  let fail = true;
  const { ds } = store({
    persist: () => {
      if (fail) throw new Error("disk full");
    },
  });
  ds.addCidr("eni-0", "10.0.0.5");
  assert.throws(
    () => ds.assign(key("a")),
    (e) => e instanceof PersistError && (e.cause as Error).message === "disk full",
  );
  assert.equal(ds.lookup(key("a")), undefined);
  assert.deepEqual([ds.stats().assigned, ds.stats().available], [0, 1]);
  fail = false;
  assert.equal(ds.assign(key("b")).ipv4, "10.0.0.5");
});

Deno.test("release() rolls back when persist() fails: the pod keeps its address", () => {
  let fail = false;
  const { ds } = store({
    persist: () => {
      if (fail) throw new Error("read-only file system");
    },
  });
  ds.addCidr("eni-0", "10.0.0.5");
  const held = ds.assign(key("a"));
  fail = true;
  assert.throws(() => ds.release(key("a")), PersistError);
  assert.deepEqual(ds.lookup(key("a")), held);
  assert.deepEqual([ds.stats().assigned, ds.stats().cooling], [1, 0]);
});

Deno.test("removeCidr() refuses a CIDR that holds a pod or cools down, unless forced", () => {
  const { ds, clock } = store();
  ds.addCidr("eni-0", "10.0.0.5");
  ds.addCidr("eni-0", "10.0.0.6");
  ds.assign(key("a"));
  assert.throws(
    () => ds.removeCidr("eni-0", "10.0.0.5/32"),
    (e) => e instanceof AddressInUseError && e.reason === "assigned" && e.cidr === "10.0.0.5/32",
  );
  ds.assign(key("b"));
  ds.release(key("b"));
  assert.throws(
    () => ds.removeCidr("eni-0", "10.0.0.6"),
    (e) => e instanceof AddressInUseError && e.reason === "cooling",
  );
  clock.now += 30_000;
  assert.deepEqual(ds.removeCidr("eni-0", "10.0.0.6"), []);
  const forced = ds.removeCidr("eni-0", "10.0.0.5", { force: true });
  assert.deepEqual(forced.map((a) => [a.ipv4, a.key.containerId]), [["10.0.0.5", "a"]]);
  assert.equal(ds.lookup(key("a")), undefined);
  assert.deepEqual([ds.stats().total, ds.stats().assigned, ds.stats().pods], [0, 0, 0]);
});

Deno.test("removeCidr() and removeEni() name what is unknown", () => {
  const { ds } = store();
  assert.throws(
    () => ds.removeCidr("eni-9", "10.0.0.5"),
    (e) => e instanceof UnknownEniError && e.eniId === "eni-9",
  );
  assert.throws(
    () => ds.removeCidr("eni-0", "10.0.0.5"),
    (e) => e instanceof UnknownCidrError && e.eniId === "eni-0",
  );
  assert.throws(() => ds.removeEni("eni-9"), UnknownEniError);
});

Deno.test("removeCidr() with force rolls back when persist() fails, keeping CIDR order", () => {
  let fail = false;
  const { ds } = store({
    persist: () => {
      if (fail) throw new Error("EIO");
    },
  });
  for (const ip of ["10.0.0.5", "10.0.0.6", "10.0.0.7"]) ds.addCidr("eni-0", ip);
  ds.assign(key("a"));
  fail = true;
  assert.throws(() => ds.removeCidr("eni-0", "10.0.0.5", { force: true }), PersistError);
  assert.equal(ds.lookup(key("a"))?.ipv4, "10.0.0.5");
  assert.deepEqual(ds.view().enis[0]!.cidrs.map((c) => c.cidr), [
    "10.0.0.5/32",
    "10.0.0.6/32",
    "10.0.0.7/32",
  ]);
});

Deno.test("removeEni() with force releases its pods once and keeps the totals right", () => {
  const { ds } = store();
  ds.addCidr("eni-0", "10.0.0.5");
  ds.addCidr("eni-1", "10.0.1.5");
  ds.addCidr("eni-1", "10.0.1.6");
  ds.assign(key("a"));
  ds.assign(key("b"));
  assert.throws(
    () => ds.removeEni("eni-1"),
    (e) => e instanceof AddressInUseError && e.reason === "assigned",
  );
  const forced = ds.removeEni("eni-1", { force: true });
  assert.deepEqual(forced.map((a) => a.ipv4), ["10.0.1.5"]);
  // Upstream subtracts the ENI's CIDRs from the total twice on this path.
  const stats = ds.stats();
  assert.deepEqual([stats.total, stats.assigned, stats.available, stats.enis], [1, 1, 0, 1]);
  assert.equal(ds.hasEni("eni-1"), false);
  assert.deepEqual(ds.addCidr("eni-0", "10.0.1.5"), true); // the CIDR is free to move
});

Deno.test("removeEni() without pods needs no checkpoint write", () => {
  let writes = 0;
  const { ds } = store({ persist: () => writes++ });
  ds.addCidr("eni-1", "10.0.1.5");
  assert.deepEqual(ds.removeEni("eni-1"), []);
  assert.equal(writes, 0);
});

Deno.test("addCidr() is idempotent per ENI and refuses a CIDR another ENI holds", () => {
  const { ds } = store();
  assert.equal(ds.addCidr("eni-0", "10.0.0.5"), true);
  assert.equal(ds.addCidr("eni-0", "10.0.0.5/32"), false);
  assert.throws(
    () => ds.addCidr("eni-1", "10.0.0.5"),
    (e) => e instanceof CidrConflictError && e.existingEniId === "eni-0",
  );
  assert.throws(() => ds.addCidr("eni-0", "10.0.0.300"), RangeError);
  assert.equal(ds.addCidr("eni-0", "10.0.0.20/28"), true); // normalised to 10.0.0.16/28
  assert.deepEqual(ds.view().enis[0]!.cidrs.map((c) => [c.cidr, c.isPrefix, c.size]), [
    ["10.0.0.5/32", false, 1],
    ["10.0.0.16/28", true, 16],
  ]);
});

Deno.test("addEni() is idempotent and defaults primary, route table and creation time", () => {
  const { ds, clock } = store();
  assert.equal(ds.addEni({ id: "eni-0", deviceNumber: 5 }), false);
  ds.addEni({ id: "eni-3", deviceNumber: 3, routeTableId: 77 });
  const details = ds.details();
  assert.deepEqual(details.map((e) => [e.id, e.isPrimary, e.routeTableId]), [
    ["eni-0", true, 254],
    ["eni-1", false, 2],
    ["eni-3", false, 77],
  ]);
  assert.equal(details[2]!.createdAt, clock.now);
  assert.equal(details[0]!.subnetId, "subnet-1");
});

Deno.test("stats() counts total, assigned, available and cooling per pool and per ENI", () => {
  const { ds } = store({ mode: "prefix-delegation" });
  ds.addCidr("eni-0", "10.0.0.16/28");
  ds.addCidr("eni-1", "10.0.1.5");
  for (const c of ["a", "b", "c"]) ds.assign(key(c));
  ds.release(key("c"));
  const stats = ds.stats();
  assert.deepEqual(
    [
      stats.mode,
      stats.total,
      stats.assigned,
      stats.cooling,
      stats.available,
      stats.prefixes,
      stats.freePrefixes,
    ],
    ["prefix-delegation", 17, 2, 1, 14, 1, 0],
  );
  assert.deepEqual(stats.perEni.map((e) => [e.id, e.total, e.available]), [["eni-0", 16, 13], [
    "eni-1",
    1,
    1,
  ]]);
});

Deno.test("view() reports each CIDR's assigned and cooling addresses at the current time", () => {
  const { ds, clock } = store();
  ds.addCidr("eni-0", "10.0.0.5");
  ds.assign(key("a"));
  ds.release(key("a"));
  assert.equal(ds.view().enis[0]!.cidrs[0]!.cooling, 1);
  clock.now += 30_000;
  assert.equal(ds.view().enis[0]!.cidrs[0]!.cooling, 0);
  assert.deepEqual(ds.snapshot(), { allocations: [], cooling: [] }); // expired cooldowns are not kept
});

Deno.test("restore() brings back assignments and cooldowns, all or nothing", () => {
  const { ds, clock } = store();
  ds.addCidr("eni-0", "10.0.0.5");
  ds.addCidr("eni-0", "10.0.0.6");
  ds.addCidr("eni-1", "10.0.1.16/28");
  ds.restore(
    [{ key: key("a"), ipv4: "10.0.1.20", assignedAt: 42, pod: POD }],
    [{ ipv4: "10.0.0.5", unassignedAt: clock.now - 10_000 }, {
      ipv4: "10.0.0.6",
      unassignedAt: clock.now - 60_000,
    }],
  );
  assert.deepEqual(ds.lookup(key("a")), {
    key: key("a"),
    ipv4: "10.0.1.20",
    eniId: "eni-1",
    cidr: "10.0.1.16/28",
    deviceNumber: 1,
    routeTableId: 2,
    pod: POD,
    assignedAt: 42,
  });
  assert.equal(ds.assign(key("b")).ipv4, "10.0.0.6"); // .5 still cools, .6 has cooled down
  assert.throws(
    () =>
      ds.restore([
        { key: key("c"), ipv4: "10.0.1.21", assignedAt: 1 },
        { key: key("d"), ipv4: "10.0.1.20", assignedAt: 1 },
      ]),
    (e) => e instanceof AddressInUseError && e.addresses[0] === "10.0.1.20",
  );
  assert.equal(ds.lookup(key("c")), undefined); // the first record was undone too
});

Deno.test("assignments() and snapshot() list addresses in ENI, CIDR and address order", () => {
  const { ds } = store({ cooldownMs: 0 });
  ds.addCidr("eni-1", "10.0.1.5");
  ds.addCidr("eni-0", "10.0.0.9");
  ds.addCidr("eni-0", "10.0.0.5");
  for (const c of ["a", "b", "c"]) ds.assign(key(c));
  assert.deepEqual(ds.assignments().map((a) => a.ipv4), ["10.0.0.9", "10.0.0.5", "10.0.1.5"]);
  assert.deepEqual(ds.snapshot().allocations.map((a) => a.key.containerId), ["a", "b", "c"]);
});
