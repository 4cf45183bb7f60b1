/**
 * Realism knobs for the simulated EC2 API: per-action latency, EC2-style throttling (token
 * buckets per category, RequestLimitExceeded), injected server errors and timeouts, and the
 * IMDS lag. Every random decision comes from the seeded fault stream.
 */
import type { Rng } from "./rand.ts";

export interface BucketSpec {
  capacity: number;
  refillPerSecond: number;
}

export type FaultKind =
  | "InternalError"
  | "Unavailable"
  | "RequestLimitExceeded"
  | "UnauthorizedOperation"
  | "timeout";
export const FAULT_KINDS: readonly FaultKind[] = [
  "InternalError",
  "Unavailable",
  "RequestLimitExceeded",
  "UnauthorizedOperation",
  "timeout",
];

export interface FaultRule {
  /** An action name or "*". */
  action: string;
  kind: FaultKind;
  /** Probability per call, 0..1 (default 1). */
  rate?: number;
  /** Only the next `count` matching calls (default: unlimited). */
  count?: number;
  /** timeout: how long the request is held before it runs (default 30000 ms). */
  holdMs?: number;
}

export interface FaultConfig {
  /** Base latency per call, by action; "*" is the default for actions not listed. */
  latencyMs: Record<string, number>;
  /** Latency varies by +-jitter (a fraction of the base). */
  latencyJitter: number;
  /** IMDS shows attach/assign/detach/unassign this long after EC2 answered. */
  imdsLagMs: number;
  /** Lifetime of the role credentials IMDS serves (real ones last about 6 h). */
  imdsCredentialsTtlSeconds: number;
  /** The next this many IMDSv2 token requests are answered with `imdsTokenFailureStatus`. */
  imdsTokenFailures: number;
  imdsTokenFailureStatus: number;
  throttle: {
    enabled: boolean;
    mutating: BucketSpec;
    describe: BucketSpec;
    perAction: Record<string, BucketSpec>;
  };
  faults: FaultRule[];
}

/**
 * "realistic" latency, anchored on spec/peers-and-pain.md §3.2: AssignPrivateIpAddresses ~0.5 s
 * (one sample, 510 ms), AttachNetworkInterface ~0.7-1 s, CreateNetworkInterface ~0.3 s,
 * Describe* 0.05-0.1 s. Values for the other actions are estimates in the same range.
 */
export const REALISTIC_LATENCY_MS: Readonly<Record<string, number>> = {
  "*": 80,
  AssignPrivateIpAddresses: 500,
  UnassignPrivateIpAddresses: 400,
  AttachNetworkInterface: 800,
  DetachNetworkInterface: 500,
  CreateNetworkInterface: 300,
  DeleteNetworkInterface: 300,
  ModifyNetworkInterfaceAttribute: 200,
  CreateTags: 150,
};

/** EC2's historic category defaults (ec2-api-throttling docs): mutating 200/5 s, non-mutating 100/20 s. */
export const DEFAULT_BUCKETS = {
  mutating: { capacity: 200, refillPerSecond: 5 },
  describe: { capacity: 100, refillPerSecond: 20 },
} as const;

export function defaultFaultConfig(): FaultConfig {
  return {
    latencyMs: {},
    latencyJitter: 0.2,
    imdsLagMs: 0,
    imdsCredentialsTtlSeconds: 6 * 3600,
    imdsTokenFailures: 0,
    imdsTokenFailureStatus: 503,
    throttle: {
      enabled: false,
      mutating: { ...DEFAULT_BUCKETS.mutating },
      describe: { ...DEFAULT_BUCKETS.describe },
      perAction: {},
    },
    faults: [],
  };
}

export class TokenBucket {
  readonly spec: BucketSpec;
  #tokens: number;
  #last: number;

  constructor(spec: BucketSpec, now: number) {
    this.spec = spec;
    this.#tokens = spec.capacity;
    this.#last = now;
  }

  get tokens(): number {
    return this.#tokens;
  }

  /** Takes one token; false (and nothing taken) when the bucket is empty. */
  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.#last) / 1000;
    this.#tokens = Math.min(this.spec.capacity, this.#tokens + elapsed * this.spec.refillPerSecond);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** What to do with one EC2 call. */
export interface Decision {
  delayMs: number;
  throttled: boolean;
  /** An injected error code (InternalError, Unavailable, RequestLimitExceeded, UnauthorizedOperation). */
  error?: Exclude<FaultKind, "timeout">;
  /** Injected timeout: hold the request this long before running it. */
  holdMs?: number;
}

export class Faults {
  #config: FaultConfig;
  #rng: Rng;
  #buckets = new Map<string, TokenBucket>();
  #remaining = new Map<FaultRule, number>();

  constructor(config: FaultConfig, rng: Rng) {
    this.#config = config;
    this.#rng = rng;
  }

  get config(): FaultConfig {
    return this.#config;
  }

  /** Replaces the configuration; buckets restart full. */
  configure(config: FaultConfig): void {
    this.#config = config;
    this.#buckets.clear();
    this.#remaining.clear();
  }

  /** An injected status for an IMDSv2 token request, or undefined (consumes one failure). */
  imdsTokenFault(): number | undefined {
    if (this.#config.imdsTokenFailures <= 0) return undefined;
    this.#config.imdsTokenFailures--;
    return this.#config.imdsTokenFailureStatus;
  }

  decide(action: string, category: "describe" | "mutating", now: number): Decision {
    const decision: Decision = { delayMs: this.#latency(action), throttled: false };
    if (this.#config.throttle.enabled) {
      const key = action in this.#config.throttle.perAction ? action : category;
      let bucket = this.#buckets.get(key);
      if (!bucket) {
        const spec = this.#config.throttle.perAction[action] ?? this.#config.throttle[category];
        bucket = new TokenBucket(spec, now);
        this.#buckets.set(key, bucket);
      }
      if (!bucket.take(now)) {
        decision.throttled = true;
        return decision;
      }
    }
    for (const rule of this.#config.faults) {
      if (rule.action !== "*" && rule.action !== action) continue;
      if (rule.count !== undefined) {
        const left = this.#remaining.get(rule) ?? rule.count;
        if (left <= 0) continue;
        if (this.#rng.next() >= (rule.rate ?? 1)) continue;
        this.#remaining.set(rule, left - 1);
      } else if (this.#rng.next() >= (rule.rate ?? 1)) {
        continue;
      }
      if (rule.kind === "timeout") decision.holdMs = rule.holdMs ?? 30_000;
      else decision.error = rule.kind;
      break;
    }
    return decision;
  }

  #latency(action: string): number {
    const base = this.#config.latencyMs[action] ?? this.#config.latencyMs["*"] ?? 0;
    if (base <= 0) return 0;
    const jitter = this.#config.latencyJitter;
    return Math.max(0, Math.round(base * (1 + jitter * (2 * this.#rng.next() - 1))));
  }
}
