/**
 * EC2 failures as one typed error with the AWS error code, and named predicates for the codes
 * ipamd acts on. Callers branch on `code` (through the predicates), never on message text.
 */

/** Code used when our own per-attempt deadline fired (no response from EC2). */
export const CLIENT_TIMEOUT = "ClientTimeout";
/** Code used for a transport failure without an errno-style code. */
export const NETWORK_ERROR = "NetworkError";

const THROTTLING_CODES = new Set([
  "RequestLimitExceeded",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "EC2ThrottledException",
  "SlowDown",
  "PriorRequestNotComplete",
]);

const TRANSIENT_CODES = new Set([
  "InternalError",
  "InternalFailure",
  "ServiceUnavailable",
  "Unavailable",
  "RequestTimeout",
  "RequestTimeoutException",
]);

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

const NOT_FOUND_CODES = new Set([
  "InvalidNetworkInterfaceID.NotFound",
  "InvalidAttachmentID.NotFound",
  "InvalidInstanceID.NotFound",
  "InvalidSubnetID.NotFound",
  "InvalidGroup.NotFound",
  "InvalidSecurityGroupID.NotFound",
  "InvalidAllocationID.NotFound",
]);

export class Ec2Error extends Error {
  override name = "Ec2Error";
  /** AWS error code (e.g. `RequestLimitExceeded`), or `ClientTimeout` / an errno like `ECONNREFUSED`. */
  readonly code: string;
  /** EC2 action, e.g. `AssignPrivateIpAddresses`. */
  readonly action: string;
  /** HTTP status; undefined when EC2 never answered. */
  readonly status?: number;
  readonly requestId?: string;
  /** Attempts made, the failing one included. */
  readonly attempts: number;
  /** Whether the failure was of a kind the client retries (it may have run out of attempts). */
  readonly retryable: boolean;

  constructor(fields: {
    code: string;
    action: string;
    status?: number;
    requestId?: string;
    attempts: number;
    retryable: boolean;
    cause?: unknown;
  }) {
    const status = fields.status === undefined ? "" : ` (HTTP ${fields.status})`;
    const detail = fields.cause instanceof Error ? `: ${fields.cause.message}` : "";
    const tries = fields.attempts > 1 ? ` after ${fields.attempts} attempts` : "";
    super(
      `EC2 ${fields.action} failed with ${fields.code}${status}${tries}${detail}`,
      { cause: fields.cause },
    );
    this.code = fields.code;
    this.action = fields.action;
    this.status = fields.status;
    this.requestId = fields.requestId;
    this.attempts = fields.attempts;
    this.retryable = fields.retryable;
  }
}

export interface Classified {
  code: string;
  status?: number;
  requestId?: string;
  throttled: boolean;
  retryable: boolean;
}

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

/** Maps whatever `EC2Client.send` threw to a code and a retry decision. */
export function classify(error: unknown, timedOut: boolean): Classified {
  if (timedOut) return { code: CLIENT_TIMEOUT, throttled: false, retryable: true };
  const e = (typeof error === "object" && error !== null ? error : {}) as SdkErrorShape;
  const status = e.$metadata?.httpStatusCode;
  const requestId = e.$metadata?.requestId;
  if (status !== undefined) {
    // EC2 answered: the SDK puts the AWS error code in `name`.
    const code = typeof e.name === "string" && e.name !== "" ? e.name : `HTTP${status}`;
    const throttled = THROTTLING_CODES.has(code) || status === 429;
    const retryable = throttled || status >= 500 || TRANSIENT_CODES.has(code);
    return { code, status, requestId, throttled, retryable };
  }
  if (typeof e.code === "string" && NETWORK_CODES.has(e.code)) {
    return { code: e.code, throttled: false, retryable: true };
  }
  if (e.name === "TimeoutError") {
    return { code: CLIENT_TIMEOUT, throttled: false, retryable: true };
  }
  if (error instanceof TypeError && e.name === "TypeError" && e.code === undefined) {
    // fetch-style transport failure.
    return { code: NETWORK_ERROR, throttled: false, retryable: true };
  }
  // Credential chain failures, request validation, bugs: retrying cannot help.
  const code = typeof e.name === "string" && e.name !== "" && e.name !== "Error"
    ? e.name
    : typeof e.code === "string"
    ? e.code
    : "ClientError";
  return { code, throttled: false, retryable: false };
}

function codeOf(error: unknown): string | undefined {
  return error instanceof Ec2Error ? error.code : undefined;
}

/** EC2 (or our own limiter's caller) was throttled: back off, never treat as a hard failure. */
export function isThrottled(error: unknown): boolean {
  const code = codeOf(error);
  return code !== undefined &&
    (THROTTLING_CODES.has(code) || (error as Ec2Error).status === 429);
}

/** The subnet has no free addresses for the ENI or IPs (pause allocation, try another subnet). */
export function isSubnetFull(error: unknown): boolean {
  return codeOf(error) === "InsufficientFreeAddressesInSubnet";
}

/** No contiguous /28 left in the subnet for a prefix. */
export function isInsufficientCidrBlocks(error: unknown): boolean {
  return codeOf(error) === "InsufficientCidrBlocks";
}

/** The ENI already holds as many private IPs (or prefixes) as its instance type allows. */
export function isIpLimitExceeded(error: unknown): boolean {
  return codeOf(error) === "PrivateIpAddressLimitExceeded";
}

/** The instance already has as many ENIs attached as its type allows. */
export function isAttachmentLimitExceeded(error: unknown): boolean {
  return codeOf(error) === "AttachmentLimitExceeded";
}

/** The ENI, attachment, instance, subnet or security group does not exist (any more). */
export function isNotFound(error: unknown): boolean {
  const code = codeOf(error);
  return code !== undefined && NOT_FOUND_CODES.has(code);
}

/** The node's IAM role lacks permission for the action (upstream emits MissingIAMPermissions). */
export function isUnauthorized(error: unknown): boolean {
  return codeOf(error) === "UnauthorizedOperation";
}

/** EC2 never answered: our deadline fired or the connection failed. */
export function isTransportFailure(error: unknown): boolean {
  return error instanceof Ec2Error && error.status === undefined && error.retryable;
}
