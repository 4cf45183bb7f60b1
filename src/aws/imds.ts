/**
 * IMDSv2 transport: session token, per-request timeouts, retries. Plain `fetch`, no SDK, because
 * it sits on ipamd's start-up path. There is deliberately no IMDSv1 fallback: if the token PUT
 * fails, every read fails. The token is never logged nor exposed.
 */

import { type Logger, silentLogger } from "../ops/log.ts";
import { backoffDelay, type BackoffOptions, sleep, withTimeout } from "./retry.ts";

export const DEFAULT_IMDS_ENDPOINT = "http://169.254.169.254/";
const TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER = "X-aws-ec2-metadata-token";
const MAX_TOKEN_TTL_SECONDS = 21600;

/** A metadata read that failed; `status` is undefined for timeouts and connection errors. */
export class ImdsError extends Error {
  override name = "ImdsError";
  readonly path: string;
  readonly status?: number;

  constructor(path: string, status: number | undefined, options: { cause?: unknown } = {}) {
    const what = status === undefined ? "no response" : `HTTP ${status}`;
    super(
      `failed to retrieve ${path} from instance metadata (${what}); ${hint(status)}`,
      options,
    );
    this.path = path;
    this.status = status;
  }
}

function hint(status: number | undefined): string {
  if (status === undefined) {
    return "check that the IMDS endpoint is reachable from this network namespace " +
      "(and that the instance's metadata hop limit allows it)";
  }
  if (status === 404) return "the path does not exist for this instance";
  if (status === 401) return "the IMDSv2 session token was rejected twice";
  if (status === 403) return "instance metadata access is disabled for this instance";
  if (status >= 500) return "IMDS kept failing; retry later";
  return "the request was refused";
}

export interface ImdsClientOptions {
  /** Base URL; `AWS_EC2_METADATA_SERVICE_ENDPOINT` in the daemon. */
  endpoint?: string;
  /** Per-request deadline (connect + response body). */
  timeoutMs?: number;
  /** Attempts per read for 5xx, timeouts and connection errors (1 = no retry). */
  attempts?: number;
  backoff?: BackoffOptions;
  /** Requested token lifetime, 1..21600 s. */
  tokenTtlSeconds?: number;
  logger?: Logger;
  /** Test seams. */
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  fetch?: typeof fetch;
}

interface Token {
  value: string;
  refreshAt: number;
}

type Attempt =
  | { kind: "response"; status: number; body: string; ttl: string | null }
  | { kind: "failure"; cause: unknown; timedOut: boolean };

/** One IMDSv2 session. Safe for concurrent use: concurrent reads share one token request. */
export class ImdsClient {
  readonly endpoint: string;
  #timeoutMs: number;
  #attempts: number;
  #backoff: BackoffOptions;
  #ttl: number;
  #log: Logger;
  #now: () => number;
  #random: () => number;
  #sleep: (ms: number) => Promise<void>;
  #fetch: typeof fetch;
  #token?: Token;
  #pendingToken?: Promise<Token>;

  constructor(options: ImdsClientOptions = {}) {
    this.endpoint = normalizeEndpoint(options.endpoint ?? DEFAULT_IMDS_ENDPOINT);
    this.#timeoutMs = options.timeoutMs ?? 1000;
    this.#attempts = Math.max(1, options.attempts ?? 4);
    this.#backoff = options.backoff ?? { baseMs: 100, maxMs: 1000, jitter: 0.5 };
    const ttl = options.tokenTtlSeconds ?? MAX_TOKEN_TTL_SECONDS;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL_SECONDS) {
      throw new RangeError(`IMDS token TTL must be an integer 1..21600 seconds, got ${ttl}`);
    }
    this.#ttl = ttl;
    this.#log = options.logger ?? silentLogger;
    this.#now = options.now ?? (() => performance.now());
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? sleep;
    this.#fetch = options.fetch ?? unpooledFetch();
  }

  /** Reads `latest/meta-data/<path>`; a 404 is an `ImdsError`. */
  async get(path: string): Promise<string> {
    return (await this.#read(`meta-data/${path}`, false)) as string;
  }

  /** Reads `latest/meta-data/<path>`; a 404 gives `undefined`. */
  getOptional(path: string): Promise<string | undefined> {
    return this.#read(`meta-data/${path}`, true);
  }

  /** A whitespace-separated list; entries ending in `/` (sub-folders) are trimmed. */
  async getList(path: string): Promise<string[]> {
    return splitList(await this.get(path));
  }

  /** Like `getList`, with 404 as an empty list. */
  async getOptionalList(path: string): Promise<string[]> {
    return splitList((await this.getOptional(path)) ?? "");
  }

  /** Reads `latest/<path>` outside meta-data, e.g. `dynamic/instance-identity/document`. */
  async getDocument(path: string): Promise<string> {
    return (await this.#read(path, false)) as string;
  }

  /** Forgets the session token (the next read fetches a new one). */
  resetToken(): void {
    this.#token = undefined;
  }

  async #read(path: string, optional: boolean): Promise<string | undefined> {
    let token = await this.#currentToken(path);
    let retriedAuth = false;
    for (;;) {
      const response = await this.#requestWithRetries("GET", path, {
        [TOKEN_HEADER]: token.value,
      });
      if (response.status === 200) return response.body;
      if (response.status === 404 && optional) return undefined;
      if (response.status === 401 && !retriedAuth) {
        // The token expired early or IMDS restarted: get a new one once, then give up.
        retriedAuth = true;
        this.#log.debug("IMDS rejected the session token; fetching a new one", { path });
        token = await this.#currentToken(path, token);
        continue;
      }
      throw new ImdsError(path, response.status);
    }
  }

  /** The cached token, or a fresh one if it is due for refresh or equals `rejected`. */
  async #currentToken(path: string, rejected?: Token): Promise<Token> {
    const cached = this.#token;
    if (cached && cached !== rejected && this.#now() < cached.refreshAt) return cached;
    if (!this.#pendingToken) {
      this.#pendingToken = this.#fetchToken(path).finally(() => {
        this.#pendingToken = undefined;
      });
    }
    return await this.#pendingToken;
  }

  async #fetchToken(forPath: string): Promise<Token> {
    const started = this.#now();
    const response = await this.#requestWithRetries("PUT", "api/token", {
      [TOKEN_TTL_HEADER]: String(this.#ttl),
    });
    if (response.status !== 200 || response.body === "") {
      // No IMDSv1 fallback: a node without IMDSv2 must fail loudly, not read unauthenticated.
      throw new ImdsError(forPath, response.status, {
        cause: new Error(
          `IMDSv2 token request (PUT /latest/api/token) returned ${response.status}`,
        ),
      });
    }
    const granted = Number(response.ttl ?? this.#ttl);
    const ttlMs = (Number.isFinite(granted) && granted > 0 ? granted : this.#ttl) * 1000;
    // Refresh one minute before expiry, or halfway through short test lifetimes.
    const token = {
      value: response.body,
      refreshAt: started + Math.max(ttlMs / 2, ttlMs - 60_000),
    };
    this.#token = token;
    this.#log.debug("IMDS session token obtained", { ttlSeconds: ttlMs / 1000 });
    return token;
  }

  /** One logical request: retries 5xx, timeouts and connection errors; returns anything else. */
  async #requestWithRetries(
    method: "GET" | "PUT",
    path: string,
    headers: Record<string, string>,
  ): Promise<{ status: number; body: string; ttl: string | null }> {
    const url = new URL(`latest/${path}`, this.endpoint).href;
    let last: Attempt | undefined;
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      if (attempt > 1) await this.#sleep(backoffDelay(attempt - 1, this.#backoff, this.#random));
      last = await this.#attempt(method, url, headers);
      if (last.kind === "response" && last.status < 500) return last;
      this.#log.debug("IMDS request failed; retrying", {
        path,
        attempt,
        status: last.kind === "response" ? last.status : undefined,
        timedOut: last.kind === "failure" ? last.timedOut : undefined,
        error: last.kind === "failure" ? last.cause : undefined,
      });
    }
    if (last?.kind === "response") return last;
    throw new ImdsError(path, undefined, { cause: last?.cause });
  }

  async #attempt(method: string, url: string, headers: Record<string, string>): Promise<Attempt> {
    const result = await withTimeout(this.#timeoutMs, async (signal) => {
      const response = await this.#fetch(url, { method, headers, signal, redirect: "error" });
      // Read the body under the same deadline: a stalled body is as bad as a stalled connect.
      const body = await response.text();
      return { status: response.status, body, ttl: response.headers.get(TOKEN_TTL_HEADER) };
    });
    if ("value" in result) return { kind: "response", ...result.value };
    return { kind: "failure", cause: result.error, timedOut: result.timedOut };
  }
}

function normalizeEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (cause) {
    throw new TypeError(
      `IMDS endpoint must be an http URL such as ${DEFAULT_IMDS_ENDPOINT}, got "${endpoint}"`,
      { cause },
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`IMDS endpoint must be an http URL, got "${endpoint}"`);
  }
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url.href;
}

function splitList(text: string): string[] {
  return text.split(/\s+/).filter((s) => s !== "").map((s) => s.replace(/\/$/, ""));
}

/**
 * fetch without keep-alive. IMDS is one hop away, so a new connection costs little, and an idle
 * pooled connection can be reset under us (seen when the node's SNAT rules are installed while
 * connections are idle): every retry then picked another dead connection.
 */
function unpooledFetch(): typeof fetch {
  let client: Deno.HttpClient | undefined;
  return (input, init) => {
    client ??= Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
    return fetch(input, { ...init, client } as RequestInit);
  };
}
