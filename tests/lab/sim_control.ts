/**
 * A client for the simulator's control API (JSON under the ready line's controlEndpoint; see
 * SIM_CONTRACT.md §2 and `ipamd sim --help`). Shapes the tests rely on are typed; the rest is
 * left as JSON for the test to look at.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** The control API answered with an error status. */
export class SimControlError extends Error {
  readonly status: number;
  readonly route: string;
  readonly body: string;
  constructor(route: string, status: number, body: string) {
    super(`simulator control ${route} answered ${status}: ${body.slice(0, 500)}`);
    this.name = "SimControlError";
    this.route = route;
    this.status = status;
    this.body = body;
  }
}

/**
 * A fault rule for POST /faults: kind InternalError | Unavailable | RequestLimitExceeded |
 * UnauthorizedOperation | timeout.
 */
export interface FaultRule {
  action: string;
  kind: string;
  rate?: number;
  count?: number;
  holdMs?: number;
}

/** One entry of the simulator's IMDS request log. */
export interface ImdsRequest {
  at: string;
  method: string;
  path: string;
  remote: string;
  instanceId?: string;
  token: "none" | "valid" | "invalid";
  status: number;
  issuedToken?: string;
  userAgent?: string;
}

export interface BucketSpec {
  capacity: number;
  refillPerSecond: number;
}

/** POST /faults merges this into the running configuration (faults replaces the list). */
export interface FaultsPatch {
  latency?: "none" | "realistic";
  latencyMs?: Record<string, number>;
  latencyJitter?: number;
  imdsLagMs?: number;
  /** Lifetime of the role credentials IMDS serves (default 6 h). */
  imdsCredentialsTtlSeconds?: number;
  /** The next this many IMDSv2 token requests fail with imdsTokenFailureStatus (default 503). */
  imdsTokenFailures?: number;
  imdsTokenFailureStatus?: number;
  throttle?: {
    enabled?: boolean;
    mutating?: BucketSpec;
    describe?: BucketSpec;
    perAction?: Record<string, BucketSpec>;
  };
  faults?: FaultRule[];
}

export interface ReserveRequest {
  subnetId: string;
  /** Take this many random free addresses. */
  count?: number;
  cidrs?: string[];
  /** Leave no free /28 (prefix delegation then fails with InsufficientCidrBlocks). */
  fragment?: boolean;
  release?: string[];
}

export class SimControl {
  readonly endpoint: string;

  constructor(endpoint: string) {
    this.endpoint = endpoint.replace(/\/$/, "");
  }

  /** The whole VPC model (vpc, subnets, instances, networkInterfaces...). */
  state(): Promise<JsonObject> {
    return this.#call("GET", "/state");
  }

  /** EC2 calls by action (ok, throttled, failed...). */
  counters(): Promise<JsonObject> {
    return this.#call("GET", "/counters");
  }

  resetCounters(): Promise<JsonObject> {
    return this.#call("POST", "/counters/reset");
  }

  faults(patch: FaultsPatch): Promise<JsonObject> {
    return this.#call("POST", "/faults", patch);
  }

  /** IMDS requests (method, path, source, token: none | valid | invalid, status), oldest first. */
  async imdsRequests(): Promise<ImdsRequest[]> {
    return (await this.#call("GET", "/imds/requests")).requests as unknown as ImdsRequest[];
  }

  addSubnet(
    subnet: { cidr: string; az?: string; tags?: Record<string, string> },
  ): Promise<JsonObject> {
    return this.#call("POST", "/subnets", subnet);
  }

  /** A security group in the VPC (for ENIConfigs and the like); answers {groupId, ...}. */
  addSecurityGroup(group: { name: string; description?: string }): Promise<JsonObject> {
    return this.#call("POST", "/security-groups", group);
  }

  reserve(request: ReserveRequest): Promise<JsonObject> {
    return this.#call("POST", "/reserve", request);
  }

  /** Adds an instance and its lab node; answers the node's entry of the ready line. */
  addInstance(request: { instanceType?: string; subnetId?: string } = {}): Promise<JsonObject> {
    return this.#call("POST", "/instances", request);
  }

  async #call(method: string, path: string, body?: unknown): Promise<JsonObject> {
    const response = await fetch(`${this.endpoint}${path}`, {
      method,
      headers: body === undefined ? undefined : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    if (!response.ok) throw new SimControlError(`${method} ${path}`, response.status, text);
    return JSON.parse(text) as JsonObject;
  }
}
