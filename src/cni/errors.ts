/**
 * aws-cni's typed errors and the one table that turns any error into a CNI error (code, msg,
 * details). Codes are the spec's well-known ones; 999 is kept for bugs (ours or ipamd's), and
 * 100 is our one plugin-specific code: CHECK found the pod's network not as ADD left it.
 * This module must not import ffi/ (VERSION and config errors should not load netlink code):
 * pod_network.ts wraps netlink failures in PodNetworkError.
 */
import { type ErrorKind, RpcError } from "../rpc/protocol.ts";
import { IpamdUnreachableError } from "../rpc/client.ts";

export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  /** STATUS: the plugin cannot service ADD requests. */
  NotAvailable: 50,
  /** STATUS: not available, and existing pods may have limited connectivity. */
  NotAvailableLimited: 51,
  /** CHECK: the pod's network differs from what ADD set up (plugin-specific range, >= 100). */
  CheckFailed: 100,
  Internal: 999,
} as const;

/** An error that already carries its CNI code. */
export class CniError extends Error {
  readonly code: number;
  readonly details?: string;
  constructor(code: number, message: string, options?: ErrorOptions & { details?: string }) {
    super(message, options);
    this.name = "CniError";
    this.code = code;
    this.details = options?.details;
  }
}

export type ConfigProblem = "decode" | "invalid" | "unsupported-field" | "version";

/** The network configuration on stdin is unreadable, invalid, or of an unsupported version. */
export class ConfigError extends Error {
  readonly problem: ConfigProblem;
  readonly field?: string;
  constructor(
    problem: ConfigProblem,
    message: string,
    options?: ErrorOptions & { field?: string },
  ) {
    super(message, options);
    this.name = "ConfigError";
    this.problem = problem;
    this.field = options?.field;
  }
}

/** CNI_* environment variables are missing or malformed. */
export class EnvError extends Error {
  readonly variables: string[];
  constructor(variables: string[], message: string) {
    super(message);
    this.name = "EnvError";
    this.variables = variables;
  }
}

/** stdin could not be read, or was over the size limit. */
export class StdinError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StdinError";
  }
}

/** The pod's network namespace (CNI_NETNS) does not exist. */
export class NetnsNotFoundError extends Error {
  readonly netns: string;
  constructor(netns: string, options?: ErrorOptions) {
    super(
      `network namespace ${netns} does not exist: the pod sandbox is gone; the runtime ` +
        "should create a new one",
      options,
    );
    this.name = "NetnsNotFoundError";
    this.netns = netns;
  }
}

/** A netlink or sysctl step of wiring the pod failed; what was done has been rolled back. */
export class PodNetworkError extends Error {
  /** What was being done: "create veth eni1234 / eth0", "add rule to 10.0.0.5/32 prio 512". */
  readonly step: string;
  /** errno name from the kernel ("EEXIST", "EPERM", ...), when there is one. */
  readonly errno?: string;
  constructor(step: string, message: string, options?: ErrorOptions & { errno?: string }) {
    super(message, options);
    this.name = "PodNetworkError";
    this.step = step;
    this.errno = options?.errno;
  }
}

/** CHECK found differences between the pod's network and what ADD set up. */
export class CheckFailedError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`pod network check failed: ${problems.join("; ")}`);
    this.name = "CheckFailedError";
    this.problems = problems;
  }
}

interface Mapped {
  code: number;
  msg: string;
  details?: string;
}

const RPC_CODES: Record<ErrorKind, { code: number; hint: string }> = {
  NoAvailableAddress: {
    code: CniCode.TryAgainLater,
    hint: "ipamd has no free address on this node yet; it is growing the pool, the runtime " +
      "will retry (check ENI/IP limits and subnet space if this persists)",
  },
  NotReady: { code: CniCode.TryAgainLater, hint: "ipamd is starting or stopping; retry shortly" },
  Overloaded: { code: CniCode.TryAgainLater, hint: "ipamd is busy; retry shortly" },
  StorageFailure: {
    code: CniCode.TryAgainLater,
    hint: "ipamd could not save its checkpoint (disk full or read-only?); nothing was changed",
  },
  VersionMismatch: {
    code: CniCode.TryAgainLater,
    hint: "aws-cni and ipamd come from different releases; restarting the aws-node pod " +
      "reinstalls the matching aws-cni",
  },
  UnknownAttachment: {
    code: CniCode.UnknownContainer,
    hint: "ipamd holds no address for this container",
  },
  ParseError: { code: CniCode.Internal, hint: "a bug: ipamd could not parse aws-cni's request" },
  InvalidRequest: { code: CniCode.Internal, hint: "a bug: ipamd rejected aws-cni's request" },
  MethodNotFound: { code: CniCode.Internal, hint: "a bug: ipamd does not know the method" },
  InvalidParams: { code: CniCode.Internal, hint: "a bug: ipamd rejected the request's params" },
  Internal: { code: CniCode.Internal, hint: "ipamd hit an internal error; see the ipamd log" },
};

const CONFIG_CODES: Record<ConfigProblem, number> = {
  "decode": CniCode.DecodingFailure,
  "invalid": CniCode.InvalidConfig,
  "unsupported-field": CniCode.UnsupportedField,
  "version": CniCode.IncompatibleVersion,
};

/** The table: every error aws-cni can meet, mapped to a CNI code and a message. */
const TABLE: Array<[(e: unknown) => boolean, (e: never) => Mapped]> = [
  [
    (e) => e instanceof CniError,
    (e: CniError) => ({ code: e.code, msg: e.message, details: e.details }),
  ],
  [
    (e) => e instanceof ConfigError,
    (e: ConfigError) => ({ code: CONFIG_CODES[e.problem], msg: e.message }),
  ],
  [
    (e) => e instanceof EnvError,
    (e: EnvError) => ({ code: CniCode.InvalidEnvironment, msg: e.message }),
  ],
  [
    (e) => e instanceof StdinError,
    (e: StdinError) => ({ code: CniCode.IoFailure, msg: e.message }),
  ],
  [
    (e) => e instanceof NetnsNotFoundError,
    (e: NetnsNotFoundError) => ({ code: CniCode.UnknownContainer, msg: e.message }),
  ],
  [
    (e) => e instanceof IpamdUnreachableError,
    (e: IpamdUnreachableError) => ({
      code: CniCode.TryAgainLater,
      msg: e.message,
      details: `reason: ${e.reason}`,
    }),
  ],
  [(e) => e instanceof RpcError, (e: RpcError) => {
    const { code, hint } = RPC_CODES[e.kind];
    return { code, msg: `ipamd: ${e.message}`, details: `${e.kind}: ${hint}` };
  }],
  [(e) => e instanceof PodNetworkError, (e: PodNetworkError) => ({
    code: CniCode.TryAgainLater,
    msg: e.message,
    details: `step: ${e.step}${e.errno ? ` (${e.errno})` : ""}; the changes were rolled back and ` +
      "the address released, so the runtime can retry",
  })],
  [(e) => e instanceof CheckFailedError, (e: CheckFailedError) => ({
    code: CniCode.CheckFailed,
    msg: e.message,
    details: "recreate the pod to rewire it",
  })],
];

/** Maps any error to the CNI error fields. Unknown errors are bugs: code 999. */
export function toCniError(error: unknown): Mapped {
  for (const [matches, map] of TABLE) {
    if (matches(error)) return map(error as never);
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    code: CniCode.Internal,
    msg: `aws-cni internal error: ${message}`,
    details: "this is a bug in aws-cni; please report it with the plugin log",
  };
}
