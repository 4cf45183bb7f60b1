import assert from "node:assert/strict";
import { callEc2, type CallPolicy, type Ec2CallEvent } from "../../src/aws/ec2_call.ts";
import { CLIENT_TIMEOUT, Ec2Error, isThrottled } from "../../src/aws/ec2_errors.ts";
import { Ec2RateLimiter } from "../../src/aws/rate_limit.ts";
import { silentLogger } from "../../src/ops/log.ts";

/** An error shaped like the ones `EC2Client.send` throws for an EC2 error response. */
function awsError(code: string, status: number): Error {
  return Object.assign(new Error(`${code} happened`), {
    name: code,
    $fault: status >= 500 ? "server" : "client",
    $metadata: { httpStatusCode: status, requestId: "req-1" },
  });
}

function policy(overrides: Partial<CallPolicy> = {}) {
  const sleeps: number[] = [];
  const events: Ec2CallEvent[] = [];
  let t = 0;
  const p: CallPolicy = {
    maxAttempts: 4,
    timeoutMs: 60_000,
    backoff: { baseMs: 100, maxMs: 1000, jitter: 0 },
    throttleBackoff: { baseMs: 500, maxMs: 20_000, jitter: 0 },
    logger: silentLogger,
    random: () => 0.5,
    now: () => (t += 7),
    sleep: (ms) => (sleeps.push(ms), Promise.resolve()),
    onCall: (e) => events.push(e),
    closing: new AbortController().signal,
    ...overrides,
  };
  return { p, sleeps, events };
}

function script(outcomes: (unknown | "ok")[]) {
  let calls = 0;
  const send = (_signal: AbortSignal) => {
    const o = outcomes[calls++];
    return o === "ok" ? Promise.resolve({ calls }) : Promise.reject(o);
  };
  return { send, calls: () => calls };
}

Deno.test("callEc2() retries throttling with the throttle backoff and then succeeds", async () => {
  const { p, sleeps, events } = policy();
  const s = script([
    awsError("RequestLimitExceeded", 503),
    awsError("RequestLimitExceeded", 503),
    "ok",
  ]);
  assert.deepEqual(await callEc2("AssignPrivateIpAddresses", s.send, p), { calls: 3 });
  assert.deepEqual(sleeps, [500, 1000]);
  assert.deepEqual(events.map((e) => [e.attempt, e.ok, e.code, e.status, e.willRetry]), [
    [1, false, "RequestLimitExceeded", 503, true],
    [2, false, "RequestLimitExceeded", 503, true],
    [3, true, undefined, undefined, false],
  ]);
  assert.ok(events.every((e) => e.ms === 7 && e.action === "AssignPrivateIpAddresses"));
});

Deno.test("callEc2() retries 5xx with the normal backoff", async () => {
  const { p, sleeps } = policy();
  const s = script([awsError("InternalError", 500), awsError("Unavailable", 503), "ok"]);
  await callEc2("DescribeSubnets", s.send, p);
  assert.deepEqual(sleeps, [100, 200]);
});

Deno.test("callEc2() does not retry a 4xx and throws an Ec2Error with its code", async () => {
  const { p, sleeps } = policy();
  const s = script([awsError("InvalidNetworkInterfaceID.NotFound", 400), "ok"]);
  const error = await callEc2("DeleteNetworkInterface", s.send, p).catch((e) => e);
  assert.ok(error instanceof Ec2Error);
  assert.equal(error.code, "InvalidNetworkInterfaceID.NotFound");
  assert.equal(error.status, 400);
  assert.equal(error.requestId, "req-1");
  assert.equal(error.action, "DeleteNetworkInterface");
  assert.equal(error.attempts, 1);
  assert.equal(error.retryable, false);
  assert.equal(s.calls(), 1);
  assert.deepEqual(sleeps, []);
});

Deno.test("callEc2() stops after maxAttempts and reports the last code", async () => {
  const { p, sleeps, events } = policy({ maxAttempts: 3 });
  const throttled = awsError("RequestLimitExceeded", 503);
  const s = script([throttled, throttled, throttled, "ok"]);
  const error = await callEc2("CreateNetworkInterface", s.send, p).catch((e) => e);
  assert.ok(isThrottled(error));
  assert.equal(error.attempts, 3);
  assert.equal(error.retryable, true);
  assert.equal(s.calls(), 3);
  assert.equal(sleeps.length, 2);
  assert.equal(events.at(-1)?.willRetry, false);
});

Deno.test("callEc2() retries connection errors and its own deadline", async () => {
  const { p, events } = policy({ timeoutMs: 5 });
  let calls = 0;
  const send = (signal: AbortSignal) => {
    calls++;
    if (calls === 1) {
      return Promise.reject(
        Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED", $metadata: {} }),
      );
    }
    if (calls === 2) {
      // Never answers: only the per-attempt deadline ends it.
      return new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason))
      );
    }
    return Promise.resolve("done");
  };
  assert.equal(await callEc2("DescribeInstances", send, p), "done");
  assert.deepEqual(events.map((e) => e.code), ["ECONNREFUSED", CLIENT_TIMEOUT, undefined]);
});

Deno.test("callEc2() does not retry credential or validation failures", async () => {
  const { p } = policy();
  const s = script([
    Object.assign(new Error("Could not load credentials"), { name: "CredentialsProviderError" }),
  ]);
  const error = await callEc2("DescribeSubnets", s.send, p).catch((e) => e);
  assert.equal(error.code, "CredentialsProviderError");
  assert.equal(error.retryable, false);
  assert.equal(s.calls(), 1);
});

Deno.test("callEc2() drains the rate limiter on throttling and reports local waits", async () => {
  const t = 0;
  const limiterSleeps: number[] = [];
  const limiter = new Ec2RateLimiter(
    { describe: { ratePerSecond: 10, burst: 5 }, mutating: { ratePerSecond: 2, burst: 5 } },
    { now: () => t, sleep: (ms) => (limiterSleeps.push(ms), Promise.resolve()) },
  );
  const { p, events } = policy({ limiter, now: () => t });
  const s = script([awsError("RequestLimitExceeded", 503), "ok"]);
  await callEc2("AttachNetworkInterface", s.send, p);
  // The throttle emptied the mutating bucket, so the retry waited for a token (1/2 s).
  assert.deepEqual(limiterSleeps, [500]);
  assert.deepEqual(events.map((e) => [e.throttledLocally, e.waitMs]), [[false, 0], [true, 500]]);
  assert.equal(limiter.available("describe"), 5);
});

Deno.test("callEc2() fails with ClientClosed once the client is closed", async () => {
  const closing = new AbortController();
  const { p } = policy({ closing: closing.signal });
  closing.abort();
  const error = await callEc2("DescribeSubnets", () => Promise.resolve(1), p).catch((e) => e);
  assert.equal(error.code, "ClientClosed");
});

Deno.test("callEc2() survives an onCall hook that throws", async () => {
  const { p } = policy({
    onCall: () => {
      throw new Error("metrics bug");
    },
  });
  assert.deepEqual(await callEc2("DescribeSubnets", script(["ok"]).send, p), { calls: 1 });
});
