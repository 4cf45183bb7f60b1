/**
 * The JSON-RPC 2.0 protocol between aws-cni and ipamd, shared by both executables.
 *
 * Transport: a unix stream socket (default /var/run/aws-node/ipamd.sock), one JSON object per
 * line in each direction (newline-delimited). A connection may carry several requests; replies
 * carry the request's id. Every request's params carry `protocolVersion`; ipamd refuses a
 * different major version with VERSION_MISMATCH instead of guessing.
 *
 * The fields mirror upstream's gRPC messages (AddNetworkRequest/Reply, DelNetworkRequest/Reply)
 * in JSON form, without the bare `Success` flag: failure is always a typed JSON-RPC error.
 */

export const DEFAULT_SOCKET_PATH = "/var/run/aws-node/ipamd.sock";

/** Requests larger than this are refused before parsing (a pod ADD is well under 2 KiB). */
export const MAX_MESSAGE_BYTES = 64 * 1024;

export const Method = {
  add: "ipam.add",
  del: "ipam.del",
  /** Looks an assignment up without changing anything (CNI CHECK). */
  get: "ipam.get",
  /** Releases assignments of one network that the runtime no longer knows (CNI GC). */
  gc: "ipam.gc",
  /** Pool and readiness (CNI STATUS, health probes, `ipamd status`). */
  status: "ipam.status",
} as const;
export type MethodName = typeof Method[keyof typeof Method];

/** The CNI primary key of an attachment (CNI spec: network name, container id, ifname). */
export interface AttachmentKey {
  networkName: string;
  containerId: string;
  ifName: string;
}

export interface PodIdentity {
  podName: string;
  podNamespace: string;
  podInfraContainerId?: string;
  podUid?: string;
}

interface Versioned {
  protocolVersion: number;
  /** Release of the caller, for logs only. */
  clientVersion?: string;
}

export interface AddParams extends Versioned, AttachmentKey, PodIdentity {
  netns: string;
  /**
   * How long ipamd may hold the request while it allocates addresses when the pool is empty,
   * instead of failing at once (upstream fails and lets kubelet retry). 0 = fail at once.
   */
  waitMs?: number;
  /**
   * Pod annotation `k8s.amazonaws.com/nicConfig: multi-nic-attachment` (upstream field 9): one
   * address per managed network card instead of one address.
   */
  requiresMultiNICAttachment?: boolean;
}

export interface Allocation {
  ipv4: string;
  /** Device index of the ENI that holds the address (0 = primary ENI). */
  deviceNumber: number;
  /** Host route table for traffic from the pod: 254 (main) for the primary ENI. */
  routeTableId: number;
}

export interface AddResult {
  allocations: Allocation[];
  useExternalSnat: boolean;
  vpcCidrs: string[];
  /** Milliseconds the request waited for the pool to grow (0 on a warm-pool hit). */
  waitedMs: number;
}

export type DelReason = "PodDeleted" | "SetupNSFailed" | "GarbageCollected";

export interface DelParams extends Versioned, AttachmentKey, Partial<PodIdentity> {
  reason: DelReason;
}

export interface DelResult {
  /** Empty when the attachment was unknown (already released): DEL is idempotent. */
  released: Allocation[];
}

export interface GetParams extends Versioned, AttachmentKey {}

export interface GetResult {
  allocations: Allocation[];
  podName: string;
  podNamespace: string;
}

export interface GcParams extends Versioned {
  networkName: string;
  /** Attachments the runtime still knows; every other one of this network is released. */
  validAttachments: Array<{ containerId: string; ifName: string }>;
}

export interface GcResult {
  released: Array<AttachmentKey & Allocation>;
}

export interface StatusParams extends Versioned {}

export interface StatusResult {
  version: string;
  /** Node initialised, host network set up, serving. */
  ready: boolean;
  /** Shutting down: no new allocations. */
  terminating: boolean;
  mode: "secondary-ip" | "prefix-delegation";
  totalIPs: number;
  assignedIPs: number;
  /** Free and out of cooldown: what an ADD can get right now. */
  availableIPs: number;
  cooldownIPs: number;
  enis: number;
  maxENIs: number;
  /** Can the pool still grow (ENI slots, IP slots, no provisioning block)? */
  canGrow: boolean;
  /** Why the pool is where it is, or why it cannot grow (one line, for people). */
  reason?: string;
  /** ADDs waiting for the pool to grow right now. */
  waitingAdds?: number;
}

export interface ParamsOf {
  "ipam.add": AddParams;
  "ipam.del": DelParams;
  "ipam.get": GetParams;
  "ipam.gc": GcParams;
  "ipam.status": StatusParams;
}

export interface ResultOf {
  "ipam.add": AddResult;
  "ipam.del": DelResult;
  "ipam.get": GetResult;
  "ipam.gc": GcResult;
  "ipam.status": StatusResult;
}

// ---- JSON-RPC 2.0 envelope --------------------------------------------------------------

export interface RpcRequest<M extends MethodName = MethodName> {
  jsonrpc: "2.0";
  id: number | string;
  method: M;
  params: ParamsOf[M];
}

export interface RpcErrorObject {
  code: number;
  message: string;
  data?: { kind: ErrorKind; [key: string]: unknown };
}

export type RpcResponse<M extends MethodName = MethodName> =
  | { jsonrpc: "2.0"; id: number | string | null; result: ResultOf[M] }
  | { jsonrpc: "2.0"; id: number | string | null; error: RpcErrorObject };

/**
 * Application error kinds. The numeric codes live in the JSON-RPC server-error range; callers
 * branch on `data.kind` (or the code), never on the message text.
 */
export const ErrorCode = {
  // JSON-RPC 2.0 standard codes
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  Internal: -32603,
  // ipamd
  VersionMismatch: -32001,
  /** No address free now and none could be allocated within the wait budget. */
  NoAvailableAddress: -32002,
  /** DEL/GET of an attachment ipamd does not hold. */
  UnknownAttachment: -32003,
  /** ipamd is starting up or shutting down; retry later. */
  NotReady: -32004,
  /** The assignment could not be made durable (checkpoint write failed); nothing changed. */
  StorageFailure: -32005,
  /** Too many requests in flight or a request over the size/time limits. */
  Overloaded: -32006,
} as const;
export type ErrorKind = keyof typeof ErrorCode;

export const ERROR_KIND_BY_CODE: ReadonlyMap<number, ErrorKind> = new Map(
  (Object.entries(ErrorCode) as Array<[ErrorKind, number]>).map(([k, v]) => [v, k]),
);

/** An error that travels over the socket as a JSON-RPC error object. */
export class RpcError extends Error {
  readonly kind: ErrorKind;
  readonly data: Record<string, unknown>;

  constructor(
    kind: ErrorKind,
    message: string,
    options?: ErrorOptions & { data?: Record<string, unknown> },
  ) {
    super(message, options);
    this.name = "RpcError";
    this.kind = kind;
    this.data = options?.data ?? {};
  }

  get code(): number {
    return ErrorCode[this.kind];
  }

  toObject(): RpcErrorObject {
    return { code: this.code, message: this.message, data: { ...this.data, kind: this.kind } };
  }

  static fromObject(error: RpcErrorObject): RpcError {
    const kind = error.data?.kind && error.data.kind in ErrorCode
      ? error.data.kind
      : ERROR_KIND_BY_CODE.get(error.code) ?? "Internal";
    const { kind: _kind, ...data } = error.data ?? { kind };
    return new RpcError(kind, error.message, { data });
  }
}
