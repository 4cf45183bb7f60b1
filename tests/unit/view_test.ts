import assert from "node:assert/strict";
import { countEni, countPool, type EniView, isCounted } from "../../src/ipam/view.ts";

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

Deno.test("isCounted() counts /32s in both modes and prefixes only in prefix mode", () => {
  const eni = { ...base, cidrs: [] };
  assert.deepEqual(
    [isCounted("secondary-ip", eni, ip("a")), isCounted("secondary-ip", eni, prefix("b"))],
    [true, false],
  );
  assert.deepEqual(
    [
      isCounted("prefix-delegation", eni, ip("a")),
      isCounted("prefix-delegation", eni, prefix("b")),
    ],
    [true, true],
  );
  assert.equal(isCounted("secondary-ip", { ...eni, excluded: true }, ip("a")), false);
  assert.equal(isCounted("secondary-ip", { ...eni, isTrunk: true }, ip("a")), false);
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
