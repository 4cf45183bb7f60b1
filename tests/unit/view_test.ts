import assert from "node:assert/strict";
import {
  addCounts,
  countedCidrs,
  countEni,
  countPool,
  type EniView,
  subtractCounts,
} from "../../src/ipam/view.ts";

const base: Omit<EniView, "cidrs"> = {
  id: "eni-0",
  deviceNumber: 0,
  isPrimary: true,
  isTrunk: false,
  isEfa: false,
  excluded: false,
  createdAt: 0,
};
const ip = (cidr: string, assigned = 0, cooling = 0) => ({
  cidr,
  isPrefix: false,
  size: 1,
  assigned,
  cooling,
});
const prefix = (cidr: string, assigned = 0, cooling = 0) => ({
  cidr,
  isPrefix: true,
  size: 16,
  assigned,
  cooling,
});

Deno.test("countedCidrs() counts /32s in both modes and prefixes only in prefix mode", () => {
  const a = ip("a");
  const b = prefix("b");
  const eni = { ...base, cidrs: [a, b] };
  assert.deepEqual(countedCidrs("secondary-ip", eni), [a]);
  assert.deepEqual(countedCidrs("prefix-delegation", eni), [a, b]);
  assert.deepEqual(countedCidrs("prefix-delegation", { ...eni, excluded: true }), []);
  assert.deepEqual(countedCidrs("secondary-ip", { ...eni, isTrunk: true }), []);
});

Deno.test("countEni() keeps cooling addresses out of available and free prefixes", () => {
  const eni = {
    ...base,
    cidrs: [prefix("p1", 3, 1), prefix("p2", 0, 1), prefix("p3"), ip("i1", 0, 1), ip("i2")],
  };
  assert.deepEqual(countEni("prefix-delegation", eni), {
    total: 50,
    assigned: 3,
    cooling: 3,
    available: 44,
    prefixes: 3,
    freePrefixes: 1,
  });
});

Deno.test("countPool() sums the ENIs", () => {
  const view = {
    mode: "secondary-ip" as const,
    enis: [{ ...base, cidrs: [ip("a", 1), ip("b")] }, {
      ...base,
      id: "eni-1",
      cidrs: [ip("c", 0, 1)],
    }],
  };
  assert.deepEqual(countPool(view), {
    total: 3,
    assigned: 1,
    cooling: 1,
    available: 1,
    prefixes: 0,
    freePrefixes: 0,
  });
});

Deno.test("addCounts() and subtractCounts() are inverse", () => {
  const a = { total: 20, assigned: 5, cooling: 2, available: 13, prefixes: 1, freePrefixes: 0 };
  const b = { total: 16, assigned: 0, cooling: 0, available: 16, prefixes: 1, freePrefixes: 1 };
  assert.deepEqual(subtractCounts(addCounts(a, b), b), a);
});
