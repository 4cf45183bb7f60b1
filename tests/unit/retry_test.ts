import assert from "node:assert/strict";
import { backoffDelay, sleep, withTimeout } from "../../src/aws/retry.ts";

Deno.test("backoffDelay() doubles from the base up to the cap without jitter", () => {
  const options = { baseMs: 100, maxMs: 1000, jitter: 0 };
  const delays = [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, options, () => 0.9));
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
});

Deno.test("backoffDelay() with full jitter spans [0, ceiling]", () => {
  const options = { baseMs: 500, maxMs: 20_000, jitter: 1 };
  assert.equal(backoffDelay(3, options, () => 0), 2000);
  assert.equal(backoffDelay(3, options, () => 0.5), 1000);
  assert.equal(backoffDelay(3, options, () => 0.999999), 0);
});

Deno.test("backoffDelay() with partial jitter keeps the lower share of the delay", () => {
  const options = { baseMs: 200, maxMs: 60_000, jitter: 0.15 };
  assert.equal(backoffDelay(1, options, () => 0), 200);
  assert.equal(backoffDelay(1, options, () => 1), 170);
});

Deno.test("backoffDelay() honours a custom multiplier", () => {
  const options = { baseMs: 10, maxMs: 10_000, multiplier: 3, jitter: 0 };
  assert.deepEqual([1, 2, 3].map((n) => backoffDelay(n, options)), [10, 30, 90]);
});

Deno.test("backoffDelay() rejects retry numbers below 1", () => {
  assert.throws(() => backoffDelay(0, { baseMs: 1, maxMs: 1 }), RangeError);
});

Deno.test("sleep() rejects with the abort reason when aborted", async () => {
  const controller = new AbortController();
  const pending = sleep(60_000, controller.signal);
  controller.abort(new Error("stop"));
  await assert.rejects(pending, /stop/);
});

Deno.test("withTimeout() reports timedOut only when its own deadline fired", async () => {
  const late = await withTimeout(
    5,
    (signal) =>
      new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
  );
  assert.equal(late.timedOut, true);
  const failed = await withTimeout(60_000, () => Promise.reject(new Error("boom")));
  assert.equal(failed.timedOut, false);
  assert.ok("error" in failed);
  const ok = await withTimeout(60_000, () => Promise.resolve(7));
  assert.deepEqual(ok, { value: 7, timedOut: false });
});
