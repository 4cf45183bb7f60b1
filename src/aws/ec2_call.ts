/**
 * The policy around every EC2 request: client-side rate limit, per-attempt deadline, our own
 * jittered retries (the SDK's are off, so attempts are counted and bounded here), throttling
 * feedback into the limiter, and one `onCall` event per attempt for metrics.
 */

import type { Logger } from "../ops/log.ts";
import { classify, Ec2Error } from "./ec2_errors.ts";
import type { Ec2RateLimiter } from "./rate_limit.ts";
import { backoffDelay, type BackoffOptions } from "./retry.ts";

/** One attempt of one EC2 action, as reported to `onCall`. */
export interface Ec2CallEvent {
  action: string;
  /** Duration of the HTTP attempt, excluding the rate-limit wait. */
  ms: number;
  ok: boolean;
  /** AWS error code (or ClientTimeout / an errno) when `ok` is false. */
  code?: string;
  status?: number;
  /** 1 for the first attempt. */
  attempt: number;
  /** Whether the client-side rate limiter delayed this attempt. */
  throttledLocally: boolean;
  /** How long the limiter delayed it. */
  waitMs: number;
  /** Whether another attempt follows. */
  willRetry: boolean;
}

export interface CallPolicy {
  maxAttempts: number;
  timeoutMs: number;
  /** Backoff after 5xx, timeouts and connection errors. */
  backoff: BackoffOptions;
  /** Backoff after throttling (longer base, as in the AWS SDKs' standard retry mode). */
  throttleBackoff: BackoffOptions;
  limiter?: Ec2RateLimiter;
  onCall?: (event: Ec2CallEvent) => void;
  logger: Logger;
  random: () => number;
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Aborts waits and requests when the client is closed. */
  closing: AbortSignal;
}

/** Runs `send` under `policy`; throws `Ec2Error` for the last failure. */
export async function callEc2<T>(
  action: string,
  send: (signal: AbortSignal) => Promise<T>,
  policy: CallPolicy,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    if (policy.closing.aborted) throw closedError(action, attempt - 1);
    let waitMs = 0;
    try {
      if (policy.limiter) waitMs = await policy.limiter.acquire(action, policy.closing);
    } catch (cause) {
      throw closedError(action, attempt - 1, cause);
    }
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new DOMException(`no answer in ${policy.timeoutMs} ms`, "TimeoutError")),
      policy.timeoutMs,
    );
    const started = policy.now();
    let value: T | undefined;
    let failure: unknown;
    let ok = false;
    try {
      value = await send(AbortSignal.any([deadline.signal, policy.closing]));
      ok = true;
    } catch (error) {
      failure = error;
    } finally {
      clearTimeout(timer);
    }
    const ms = policy.now() - started;
    const event = { action, ms, attempt, throttledLocally: waitMs > 0, waitMs };
    if (ok) {
      report(policy, { ...event, ok: true, willRetry: false });
      return value as T;
    }
    if (policy.closing.aborted) throw closedError(action, attempt, failure);
    const c = classify(failure, deadline.signal.aborted);
    if (c.throttled) policy.limiter?.penalize(action);
    const willRetry = c.retryable && attempt < policy.maxAttempts;
    report(policy, { ...event, ok: false, code: c.code, status: c.status, willRetry });
    if (!willRetry) {
      throw new Ec2Error({ action, attempts: attempt, cause: failure, ...c });
    }
    const delay = backoffDelay(
      attempt,
      c.throttled ? policy.throttleBackoff : policy.backoff,
      policy.random,
    );
    policy.logger.warn("EC2 call failed; retrying", {
      action,
      code: c.code,
      status: c.status,
      attempt,
      maxAttempts: policy.maxAttempts,
      retryInMs: delay,
    });
    try {
      await policy.sleep(delay, policy.closing);
    } catch (cause) {
      throw closedError(action, attempt, cause);
    }
  }
}

function report(policy: CallPolicy, event: Ec2CallEvent): void {
  if (!policy.onCall) return;
  try {
    policy.onCall(event);
  } catch (error) {
    // A metrics bug must not fail an EC2 call.
    policy.logger.error("EC2 onCall hook threw", { action: event.action, error });
  }
}

function closedError(action: string, attempts: number, cause?: unknown): Ec2Error {
  return new Ec2Error({
    code: "ClientClosed",
    action,
    attempts,
    retryable: false,
    cause: cause ?? new Error("the EC2 client was closed"),
  });
}
