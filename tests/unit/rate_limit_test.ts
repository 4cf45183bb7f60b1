import assert from "node:assert/strict";
import {
  actionClass,
  DEFAULT_RATE_LIMITS,
  Ec2RateLimiter,
  TokenBucket,
} from "../../src/aws/rate_limit.ts";

function fakeClock() {
  let t = 1000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

Deno.test("TokenBucket.reserve() lets a full burst through, then spaces calls at the rate", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 2, burst: 3 }, clock);
  assert.deepEqual([bucket.reserve(), bucket.reserve(), bucket.reserve()], [0, 0, 0]);
  // Queued callers wait 0.5 s, 1 s, 1.5 s: exactly the configured 2/s, in arrival order.
  assert.deepEqual([bucket.reserve(), bucket.reserve(), bucket.reserve()], [500, 1000, 1500]);
});

Deno.test("TokenBucket refills with time but never above the burst", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 1, burst: 2 }, clock);
  bucket.reserve();
  bucket.reserve();
  assert.equal(bucket.available(), 0);
  clock.advance(1500);
  assert.equal(bucket.available(), 1.5);
  clock.advance(60_000);
  assert.equal(bucket.available(), 2);
});

Deno.test("TokenBucket.drain() makes the next caller wait for a refill", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 4, burst: 10 }, clock);
  bucket.drain();
  assert.equal(bucket.reserve(), 250);
});

Deno.test("TokenBucket rejects a zero rate and a burst below one", () => {
  assert.throws(() => new TokenBucket({ ratePerSecond: 0, burst: 1 }), RangeError);
  assert.throws(() => new TokenBucket({ ratePerSecond: 1, burst: 0.5 }), RangeError);
});

Deno.test("actionClass() meters Describe* apart from mutating calls", () => {
  assert.equal(actionClass("DescribeNetworkInterfaces"), "describe");
  assert.equal(actionClass("AssignPrivateIpAddresses"), "mutating");
  assert.equal(actionClass("CreateTags"), "mutating");
});

Deno.test("Ec2RateLimiter.acquire() sleeps for exactly the reserved wait, per class", async () => {
  const clock = fakeClock();
  const sleeps: number[] = [];
  const limiter = new Ec2RateLimiter(
    { describe: { ratePerSecond: 10, burst: 1 }, mutating: { ratePerSecond: 1, burst: 1 } },
    { now: clock.now, sleep: (ms) => (sleeps.push(ms), Promise.resolve()) },
  );
  assert.equal(await limiter.acquire("AttachNetworkInterface"), 0);
  assert.equal(await limiter.acquire("AssignPrivateIpAddresses"), 1000);
  // The describe bucket is untouched by mutating calls.
  assert.equal(await limiter.acquire("DescribeSubnets"), 0);
  assert.equal(await limiter.acquire("DescribeSubnets"), 100);
  assert.deepEqual(sleeps, [1000, 100]);
});

Deno.test("Ec2RateLimiter.penalize() drains only the throttled class", async () => {
  const clock = fakeClock();
  const limiter = new Ec2RateLimiter(DEFAULT_RATE_LIMITS, {
    now: clock.now,
    sleep: () => Promise.resolve(),
  });
  limiter.penalize("CreateNetworkInterface");
  assert.equal(limiter.available("mutating"), 0);
  assert.equal(limiter.available("describe"), DEFAULT_RATE_LIMITS.describe.burst);
  assert.equal(await limiter.acquire("CreateNetworkInterface"), 1000);
});

Deno.test("DEFAULT_RATE_LIMITS let a node start up without waiting", async () => {
  const clock = fakeClock();
  let slept = 0;
  const limiter = new Ec2RateLimiter(DEFAULT_RATE_LIMITS, {
    now: clock.now,
    sleep: (ms) => (slept += ms, Promise.resolve()),
  });
  // Start-up plus a first ENI: ~6 describes and ~6 mutating calls.
  for (let i = 0; i < 6; i++) await limiter.acquire("DescribeNetworkInterfaces");
  for (
    const a of [
      "CreateNetworkInterface",
      "AttachNetworkInterface",
      "ModifyNetworkInterfaceAttribute",
      "CreateTags",
      "AssignPrivateIpAddresses",
      "AssignPrivateIpAddresses",
    ]
  ) {
    await limiter.acquire(a);
  }
  assert.equal(slept, 0);
  // ...but a runaway loop of 100 mutating calls is spread over 96 s, not sent at once.
  let total = 0;
  for (let i = 0; i < 100; i++) total = await limiter.acquire("AssignPrivateIpAddresses");
  assert.equal(total, 96_000);
});
