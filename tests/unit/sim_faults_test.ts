import assert from "node:assert/strict";
import {
  defaultFaultConfig,
  type FaultConfig,
  Faults,
  REALISTIC_LATENCY_MS,
  TokenBucket,
} from "../../src/sim/faults.ts";
import { Rng } from "../../src/sim/rand.ts";

Deno.test("TokenBucket empties after its capacity and refills at its rate", () => {
  const b = new TokenBucket({ capacity: 3, refillPerSecond: 2 }, 0);
  assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
  assert.equal(b.take(400), false); // 0.8 token
  assert.equal(b.take(500), true); // 1.0 token
  assert.equal(b.take(10_000), true);
  assert.ok(b.tokens <= 2, "refill never exceeds capacity");
});

Deno.test("throttling uses separate buckets for mutating and describe calls, and per-action ones", () => {
  const config = defaultFaultConfig();
  config.throttle = {
    enabled: true,
    mutating: { capacity: 2, refillPerSecond: 0 },
    describe: { capacity: 5, refillPerSecond: 0 },
    perAction: { CreateTags: { capacity: 1, refillPerSecond: 0 } },
  };
  const f = new Faults(config, new Rng(1));
  const mutating = [1, 2, 3].map(() =>
    f.decide("AssignPrivateIpAddresses", "mutating", 0).throttled
  );
  assert.deepEqual(mutating, [false, false, true]);
  assert.equal(f.decide("DescribeNetworkInterfaces", "describe", 0).throttled, false);
  assert.deepEqual([
    f.decide("CreateTags", "mutating", 0).throttled,
    f.decide("CreateTags", "mutating", 0).throttled,
  ], [false, true]);
});

function decisions(config: FaultConfig, seed: number, n: number): string[] {
  const f = new Faults(config, new Rng(seed));
  return Array.from({ length: n }, () => {
    const d = f.decide("AssignPrivateIpAddresses", "mutating", 0);
    return d.error ?? (d.holdMs !== undefined ? "timeout" : `ok:${d.delayMs}`);
  });
}

Deno.test("fault injection and latency jitter are deterministic for a seed", () => {
  const config = defaultFaultConfig();
  config.latencyMs = { ...REALISTIC_LATENCY_MS };
  config.faults = [{ action: "AssignPrivateIpAddresses", kind: "InternalError", rate: 0.3 }];
  const a = decisions(config, 11, 200);
  assert.deepEqual(a, decisions(config, 11, 200));
  assert.notDeepEqual(a, decisions(config, 12, 200));
  const errors = a.filter((d) => d === "InternalError").length;
  assert.ok(errors > 30 && errors < 90, `about 30% of 200 calls fail (got ${errors})`);
  for (const d of a.filter((d) => d.startsWith("ok:"))) {
    const ms = Number(d.slice(3));
    assert.ok(ms >= 400 && ms <= 600, `realistic Assign latency is 500 ms +-20% (got ${ms})`);
  }
});

Deno.test("a fault rule with a count fires exactly that many times; * matches every action", () => {
  const config = defaultFaultConfig();
  config.faults = [{ action: "*", kind: "timeout", count: 2, holdMs: 50 }];
  assert.deepEqual(decisions(config, 1, 4), ["timeout", "timeout", "ok:0", "ok:0"]);
  const f = new Faults(
    { ...config, faults: [{ action: "CreateTags", kind: "Unavailable" }] },
    new Rng(1),
  );
  assert.equal(f.decide("CreateTags", "mutating", 0).error, "Unavailable");
  assert.equal(f.decide("DeleteNetworkInterface", "mutating", 0).error, undefined);
});
