/**
 * The EC2 client's plumbing: builds the SDK client (region, endpoint, credentials, user agent,
 * no SDK retries) and runs every request through `callEc2` (rate limit, deadline, retries,
 * metrics hook). Operations live in `ec2.ts`.
 */

import { EC2Client, type EC2ClientConfig } from "@aws-sdk/client-ec2";
import { type Logger, silentLogger } from "../ops/log.ts";
import { VERSION } from "../version.ts";
import { callEc2, type CallPolicy, type Ec2CallEvent } from "./ec2_call.ts";
import { DEFAULT_RATE_LIMITS, Ec2RateLimiter, type RateLimitOptions } from "./rate_limit.ts";
import { type BackoffOptions, sleep } from "./retry.ts";

export interface Ec2ClientOptions {
  region: string;
  /**
   * EC2 endpoint URL; the daemon passes `AWS_ENDPOINT_URL_EC2`, else `AWS_EC2_ENDPOINT`.
   * Undefined: the SDK default (which itself honours AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL).
   */
  endpoint?: string;
  /** Static credentials or a provider; undefined: the SDK's default chain (env, profile, IMDS...). */
  credentials?: EC2ClientConfig["credentials"];
  /** Deadline per attempt (upstream `HTTP_TIMEOUT`, 10 s). */
  timeoutMs?: number;
  /** Attempts per call, the first included (upstream: 10). */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  throttleBackoff?: BackoffOptions;
  /** Token buckets (or a shared limiter); `false` disables client-side limiting. */
  rateLimit?: RateLimitOptions | Ec2RateLimiter | false;
  /** Upstream's `VPC_CNI_VERSION`, added to the user agent as `amazon-vpc-cni-k8s/<v>`. */
  vpcCniVersion?: string;
  onCall?: (event: Ec2CallEvent) => void;
  logger?: Logger;
  /** Test seams. */
  random?: () => number;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

type SendOptions = { abortSignal: AbortSignal };

export class Ec2Transport {
  readonly sdk: EC2Client;
  #policy: CallPolicy;
  #closing = new AbortController();

  constructor(options: Ec2ClientOptions) {
    const logger = options.logger ?? silentLogger;
    const timeoutMs = options.timeoutMs ?? 10_000;
    const userAgent: [string, string][] = [["vpc-cni-deno", VERSION]];
    if (options.vpcCniVersion) userAgent.push(["amazon-vpc-cni-k8s", options.vpcCniVersion]);
    const sdkLogger = {
      debug: () => {},
      info: () => {},
      warn: (...args: unknown[]) => logger.warn("AWS SDK warning", { detail: sdkDetail(args) }),
      // Every failed attempt is also reported by our own retry loop (with the AWS error code):
      // the SDK's copy is for debugging only.
      error: (...args: unknown[]) => logger.debug("AWS SDK error", { detail: sdkDetail(args) }),
    };
    if (!options.region) throw new TypeError("the EC2 client needs a region (e.g. us-west-2)");
    this.sdk = new EC2Client({
      region: options.region,
      endpoint: options.endpoint === undefined ? undefined : checkEndpoint(options.endpoint),
      credentials: options.credentials,
      // Our own loop retries (ec2_call.ts), so attempts are counted and bounded in one place.
      maxAttempts: 1,
      customUserAgent: userAgent,
      logger: sdkLogger,
      requestHandler: { connectionTimeout: timeoutMs, logger: sdkLogger },
      // Instance-profile credentials over IMDSv2 only: when the token request fails, the SDK
      // would otherwise read them with a token-less IMDSv1 GET (the default chain passes the
      // client's configuration to its IMDS provider).
      ...{ ec2MetadataV1Disabled: true },
    });
    const limiter = options.rateLimit === false
      ? undefined
      : options.rateLimit instanceof Ec2RateLimiter
      ? options.rateLimit
      : new Ec2RateLimiter(options.rateLimit ?? DEFAULT_RATE_LIMITS, {
        now: options.now,
        sleep: options.sleep,
      });
    this.#policy = {
      maxAttempts: Math.max(1, options.maxAttempts ?? 10),
      timeoutMs,
      backoff: options.backoff ?? { baseMs: 100, maxMs: 20_000, jitter: 1 },
      throttleBackoff: options.throttleBackoff ?? { baseMs: 500, maxMs: 20_000, jitter: 1 },
      limiter,
      onCall: options.onCall,
      logger,
      random: options.random ?? Math.random,
      now: options.now ?? (() => performance.now()),
      sleep: options.sleep ?? sleep,
      closing: this.#closing.signal,
    };
  }

  /** Aborts calls in flight (they fail with code `ClientClosed`) and frees sockets. */
  close(): void {
    this.#closing.abort();
    this.sdk.destroy();
  }

  /** One EC2 action under the client's policy; `send` gets the per-attempt abort signal. */
  call<T>(action: string, send: (options: SendOptions) => Promise<T>): Promise<T> {
    return callEc2(action, (abortSignal) => send({ abortSignal }), this.#policy);
  }

  /** Follows NextToken; each page is its own call (rate-limited and retried on its own). */
  async pages<O extends { NextToken?: string }, R>(
    action: string,
    send: (nextToken: string | undefined, o: SendOptions) => Promise<O>,
    items: (out: O) => R[],
  ): Promise<R[]> {
    const all: R[] = [];
    let nextToken: string | undefined;
    do {
      const token = nextToken;
      const out = await this.call(action, (o) => send(token, o));
      all.push(...items(out));
      nextToken = out.NextToken || undefined;
    } while (nextToken);
    return all;
  }
}

function checkEndpoint(endpoint: string): string {
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    // Reported below with the accepted form.
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new TypeError(
      `EC2 endpoint must be a full http(s) URL such as https://ec2.us-west-2.amazonaws.com, got "${endpoint}"`,
    );
  }
  return endpoint;
}

/**
 * What the SDK's logger was given, as short text: command names and error names/messages,
 * never request inputs or headers (they can be large, and headers carry signatures).
 */
function sdkDetail(args: unknown[]): string[] {
  return args.map((arg) => {
    if (typeof arg === "string") return arg.slice(0, 300);
    if (arg instanceof Error) return `${arg.name}: ${arg.message}`.slice(0, 300);
    if (arg && typeof arg === "object") {
      const o = arg as { commandName?: unknown; error?: { name?: unknown; message?: unknown } };
      const parts = [o.commandName, o.error?.name, o.error?.message].filter((p) =>
        typeof p === "string"
      );
      return parts.length > 0 ? parts.join(": ").slice(0, 300) : "(object)";
    }
    return String(arg).slice(0, 300);
  });
}
