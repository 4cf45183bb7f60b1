import assert from "node:assert/strict";
import { formatIpv4, parseCidr, parseIpv4, SubnetAllocator } from "../../src/sim/addresses.ts";
import { Rng } from "../../src/sim/rand.ts";

Deno.test("parseCidr() rejects unaligned blocks and says which block was meant", () => {
  assert.throws(() => parseCidr("10.0.0.5/24"), /use 10\.0\.0\.0\/24/);
  assert.throws(() => parseCidr("10.0.0.0/33"), RangeError);
  assert.equal(formatIpv4(parseIpv4("10.10.255.254")), "10.10.255.254");
});

Deno.test("SubnetAllocator keeps AWS's five reserved addresses out of every allocation", () => {
  const a = new SubnetAllocator("10.0.0.0/28", new Rng(1));
  assert.equal(a.gateway, "10.0.0.1");
  assert.equal(a.available, 11);
  const ips = a.allocateIps(11)!;
  assert.equal(ips.length, 11);
  for (const reserved of ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.15"]) {
    assert.ok(!ips.includes(reserved), `${reserved} is reserved`);
  }
  assert.equal(a.available, 0);
  assert.equal(a.allocateIps(1), undefined);
});

Deno.test("allocateIps() takes nothing when the subnet cannot satisfy the whole request", () => {
  const a = new SubnetAllocator("10.0.0.0/28", new Rng(1));
  assert.equal(a.allocateIps(12), undefined);
  assert.equal(a.available, 11);
});

Deno.test("allocation is deterministic for a seed and differs between seeds", () => {
  const pick = (seed: number) => new SubnetAllocator("10.0.0.0/20", new Rng(seed)).allocateIps(5);
  assert.deepEqual(pick(42), pick(42));
  assert.notDeepEqual(pick(42), pick(43));
});

Deno.test("allocatePrefixes() returns aligned /28s clear of the reserved addresses", () => {
  const a = new SubnetAllocator("10.0.0.0/24", new Rng(3));
  assert.equal(a.freePrefixes, 14); // 16 blocks minus the first and last (reserved addresses)
  const prefixes = a.allocatePrefixes(14)!;
  for (const p of prefixes) {
    const c = parseCidr(p); // throws when unaligned
    assert.equal(c.prefixLen, 28);
    assert.notEqual(p, "10.0.0.0/28");
    assert.notEqual(p, "10.0.0.240/28");
  }
  assert.equal(new Set(prefixes).size, 14);
  assert.equal(a.allocatePrefixes(1), undefined);
  assert.equal(a.available, 256 - 5 - 14 * 16);
});

Deno.test("a fragmented subnet still has single addresses but no /28 prefix", () => {
  const a = new SubnetAllocator("10.0.0.0/24", new Rng(3));
  assert.equal(a.fragment(), 14);
  assert.equal(a.freePrefixes, 0);
  assert.equal(a.allocatePrefixes(1), undefined);
  assert.equal(a.allocateIps(10)?.length, 10);
});

Deno.test("claimPrefix() refuses a misaligned or partly used block", () => {
  const a = new SubnetAllocator("10.0.0.0/24", new Rng(3));
  assert.throws(() => a.claimPrefix("10.0.0.24/28"), RangeError);
  assert.ok(a.claimIp("10.0.0.40"));
  assert.equal(a.claimPrefix("10.0.0.32/28"), false);
  assert.ok(a.claimPrefix("10.0.0.48/28"));
  assert.equal(a.isFree("10.0.0.50"), false);
});

Deno.test("release() gives back addresses and prefixes, hold() takes a range out", () => {
  const a = new SubnetAllocator("10.0.0.0/24", new Rng(3));
  const before = a.available;
  const [p] = a.allocatePrefixes(1)!;
  a.release(p!);
  assert.equal(a.available, before);
  assert.equal(a.hold("10.0.0.128/25"), 127); // the broadcast address was already reserved
  assert.equal(a.available, before - 127);
  assert.equal(a.freePrefixes, 7);
  a.release("10.0.0.128/25");
  assert.equal(a.available, before);
});
