import assert from "node:assert/strict";
import { staticPolicy } from "../../src/ipam/pool_policy.ts";
import type { PoolCounts } from "../../src/ipam/view.ts";

const counts = (c: Partial<PoolCounts>): PoolCounts => ({
  total: 0,
  assigned: 0,
  cooling: 0,
  available: 0,
  prefixes: 0,
  freePrefixes: 0,
  ...c,
});
const targets = { warmEniTarget: 1, warmIpTarget: 0, minimumIpTarget: 0, warmPrefixTarget: 1 };

Deno.test("staticPolicy() uses WARM_IP_TARGET/MINIMUM_IP_TARGET when either is set, in both modes", () => {
  const policy = staticPolicy({ ...targets, warmIpTarget: 5, minimumIpTarget: 10 }, {
    mode: "prefix-delegation",
    ipsPerEni: 48,
  });
  assert.equal(policy.name, "warm-ip(warm=5,min=10)");
  const c = counts({ total: 20, assigned: 17, available: 3 });
  assert.equal(policy.isLow(c), true);
  assert.deepEqual([policy.growBy(c, "ip"), policy.growBy(c, "prefix")], [2, 1]);
  const over = counts({ total: 20, assigned: 7, available: 13 });
  assert.equal(policy.isLow(over), false);
  assert.equal(policy.mayRelease(over, { size: 1, isPrefix: false }), true);
  assert.equal(policy.mayRelease(over, { size: 16, isPrefix: true }), false);
});

Deno.test("staticPolicy() in prefix mode keeps WARM_PREFIX_TARGET free prefixes", () => {
  const policy = staticPolicy(targets, { mode: "prefix-delegation", ipsPerEni: 48 });
  assert.equal(policy.name, "warm-prefix(1)");
  assert.equal(policy.isLow(counts({ total: 16, assigned: 5, available: 11, prefixes: 1 })), true);
  assert.equal(policy.growBy(counts({ available: 11, prefixes: 1 }), "prefix"), 1);
  assert.equal(policy.growBy(counts({ available: 11, prefixes: 1 }), "ip"), 5);
  const twoFree = counts({ total: 48, assigned: 16, available: 32, prefixes: 3, freePrefixes: 2 });
  assert.equal(policy.mayRelease(twoFree, { size: 16, isPrefix: true }), true);
  assert.equal(
    policy.mayRelease({ ...twoFree, freePrefixes: 1 }, { size: 16, isPrefix: true }),
    false,
  );
});

Deno.test("staticPolicy() with WARM_ENI_TARGET keeps whole ENIs and never releases single IPs", () => {
  const policy = staticPolicy({ ...targets, warmEniTarget: 2 }, {
    mode: "secondary-ip",
    ipsPerEni: 29,
  });
  assert.equal(policy.name, "warm-eni(2)");
  assert.equal(policy.isLow(counts({ available: 57 })), true);
  assert.equal(policy.isLow(counts({ available: 58 })), false);
  assert.equal(policy.growBy(counts({}), "ip"), 29);
  assert.equal(
    policy.mayRelease(counts({ total: 200, available: 200 }), { size: 1, isPrefix: false }),
    false,
  );
  const zero = staticPolicy({ ...targets, warmEniTarget: 0 }, {
    mode: "secondary-ip",
    ipsPerEni: 29,
  });
  assert.deepEqual([zero.isLow(counts({ available: 0 })), zero.isLow(counts({ available: 1 }))], [
    true,
    false,
  ]);
});
