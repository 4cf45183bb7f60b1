/**
 * Client-side token buckets for EC2 calls, so that one node can never hammer its account's
 * per-region EC2 budget, whatever its pool logic asks for. Describe* and mutating calls get
 * separate buckets because EC2 meters them separately.
 */

import { sleep } from "./retry.ts";

export interface BucketOptions {
  /** Sustained calls per second. */
  ratePerSecond: number;
  /** Calls allowed back to back after a quiet period. */
  burst: number;
}

export interface RateLimitOptions {
  describe: BucketOptions;
  mutating: BucketOptions;
}

/**
 * Per-node defaults. EC2 meters each account-region with token buckets; the documented
 * category defaults are non-mutating 100 burst / 20 per s and mutating 200 / 5 per s
 * (docs ec2-api-throttling; peers-and-pain §3.3), and Cilium limits a *whole cluster* to
 * 4 QPS / burst 20. Upstream ipamd has no client-side limit and users hit throttling at
 * ~500 nodes (#617, #887) and in node-recycling bursts (#2730, #3719).
 * - describe 2/s, burst 20: one node uses at most 10 % of the account's describe refill;
 *   the burst covers start-up (instance type, ENIs, subnets, SGs) without waiting.
 * - mutating 1/s, burst 10: at most 20 % of the account's mutating refill; the burst covers
 *   one full ENI allocation (create, describe-instance, attach, modify, tag, assign) plus a
 *   few assigns. Sustained pool growth is ~1 call per 5 s tick, far below 1/s.
 */
export const DEFAULT_RATE_LIMITS: Readonly<RateLimitOptions> = Object.freeze({
  describe: Object.freeze({ ratePerSecond: 2, burst: 20 }),
  mutating: Object.freeze({ ratePerSecond: 1, burst: 10 }),
});

export type ActionClass = keyof RateLimitOptions;

/** EC2 meters Describe* as non-mutating; everything ipamd calls otherwise changes state. */
export function actionClass(action: string): ActionClass {
  return action.startsWith("Describe") ? "describe" : "mutating";
}

/**
 * A token bucket with reservations: `reserve()` always takes the tokens, possibly into debt,
 * and returns how long the caller must wait. Callers therefore queue in arrival order, and a
 * burst of concurrent callers is spread at exactly the configured rate.
 */
export class TokenBucket {
  #ratePerMs: number;
  #burst: number;
  #tokens: number;
  #last: number;
  #now: () => number;

  constructor(options: BucketOptions, clock: { now?: () => number } = {}) {
    if (!(options.ratePerSecond > 0) || !Number.isFinite(options.ratePerSecond)) {
      throw new RangeError(
        `rate limit must be a positive number of calls per second, got ${options.ratePerSecond}`,
      );
    }
    if (!(options.burst >= 1) || !Number.isFinite(options.burst)) {
      throw new RangeError(`rate limit burst must be at least 1, got ${options.burst}`);
    }
    this.#ratePerMs = options.ratePerSecond / 1000;
    this.#burst = options.burst;
    this.#tokens = options.burst;
    this.#now = clock.now ?? (() => performance.now());
    this.#last = this.#now();
  }

  /** Takes `cost` tokens and returns the wait in ms before the caller may proceed (0 = now). */
  reserve(cost = 1): number {
    this.#refill();
    this.#tokens -= cost;
    return this.#tokens >= 0 ? 0 : Math.ceil(-this.#tokens / this.#ratePerMs);
  }

  /** Tokens available now (negative while callers are queued). */
  available(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Empties the bucket: EC2 said we are throttled, so everyone on this node slows down. */
  drain(): void {
    this.#refill();
    this.#tokens = Math.min(this.#tokens, 0);
  }

  #refill(): void {
    const now = this.#now();
    const elapsed = Math.max(0, now - this.#last);
    this.#last = now;
    this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#ratePerMs);
  }
}

/** The two EC2 buckets of one node. */
export class Ec2RateLimiter {
  #buckets: Record<ActionClass, TokenBucket>;
  #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(
    options: RateLimitOptions = DEFAULT_RATE_LIMITS,
    deps: {
      now?: () => number;
      sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
    } = {},
  ) {
    this.#buckets = {
      describe: new TokenBucket(options.describe, deps),
      mutating: new TokenBucket(options.mutating, deps),
    };
    this.#sleep = deps.sleep ?? sleep;
  }

  /** Waits for a token for `action`; returns the ms waited (0 when not limited). */
  async acquire(action: string, signal?: AbortSignal): Promise<number> {
    const wait = this.#buckets[actionClass(action)].reserve();
    if (wait > 0) await this.#sleep(wait, signal);
    return wait;
  }

  /** Called when EC2 throttled `action`: later calls of its class wait for a refill. */
  penalize(action: string): void {
    this.#buckets[actionClass(action)].drain();
  }

  available(cls: ActionClass): number {
    return this.#buckets[cls].available();
  }
}
