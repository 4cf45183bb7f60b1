/**
 * How the node CLI reaches a running ipamd: the JSON-RPC socket (`ipam.status`) and the
 * introspection HTTP API (`/v1/enis`, `/v1/pods`, `/v1/pool`), at the addresses given by
 * flags, else by the same environment variables ipamd reads, else upstream's defaults.
 * Failures become one typed error whose message says what to check.
 */
import { parseGoBool } from "../../config/go_parse.ts";
import { parseBindAddress } from "../http_server.ts";
import { callIpamd, IpamdUnreachableError } from "../../rpc/client.ts";
import { DEFAULT_SOCKET_PATH, type StatusResult } from "../../rpc/protocol.ts";
import { UsageError } from "./args.ts";

export const DEFAULT_INTROSPECTION_ADDRESS = "127.0.0.1:61679";

export interface Endpoints {
  socket: string;
  /** INTROSPECTION_BIND_ADDRESS form: host:port, :port or unix:/path. */
  introspection: string;
  /** DISABLE_INTROSPECTION=true in the environment and no --introspection flag. */
  introspectionDisabled: boolean;
}

/** Flags first, then IPAMD_SOCKET_PATH / INTROSPECTION_BIND_ADDRESS, then the defaults. */
export function resolveEndpoints(
  command: string,
  flags: { socket?: string; introspection?: string },
  env: Readonly<Record<string, string>>,
): Endpoints {
  const socket = flags.socket || env.IPAMD_SOCKET_PATH || DEFAULT_SOCKET_PATH;
  const introspection = flags.introspection || env.INTROSPECTION_BIND_ADDRESS ||
    DEFAULT_INTROSPECTION_ADDRESS;
  try {
    parseBindAddress(introspection);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new UsageError(command, error.message);
  }
  const disabled = parseGoBool(env.DISABLE_INTROSPECTION ?? "") === true;
  return { socket, introspection, introspectionDisabled: disabled && !flags.introspection };
}

/** ipamd could not be asked: what failed and what to check, in one line. */
export class IpamdApiError extends Error {
  /** "socket" (JSON-RPC) or "introspection" (HTTP). */
  readonly api: "socket" | "introspection";
  readonly address: string;
  /** missing, refused, permission, timeout, closed, disabled, http, invalid, error. */
  readonly reason: string;
  constructor(
    api: "socket" | "introspection",
    address: string,
    reason: string,
    options: ErrorOptions & { detail?: string } = {},
  ) {
    super(apiMessage(api, address, reason, options.detail), options);
    this.name = "IpamdApiError";
    this.api = api;
    this.address = address;
    this.reason = reason;
  }
}

function apiMessage(api: string, address: string, reason: string, detail?: string): string {
  if (reason === "disabled") {
    return "ipamd's introspection API is disabled (DISABLE_INTROSPECTION=true); unset it in " +
      "aws-node's environment, or pass --introspection ADDRESS";
  }
  const what = api === "socket" ? `ipamd at ${address}` : `ipamd's introspection API at ${address}`;
  const why: Record<string, string> = {
    missing: "no such socket",
    refused: "connection refused",
    permission: "permission denied; run as root",
    timeout: `no answer${detail ? ` within ${detail}` : ""}`,
    closed: "connection closed",
    http: `HTTP ${detail ?? "error"}`,
    invalid: "the answer is not the JSON ipamd serves",
  };
  const hint = api === "socket"
    ? "is aws-node running on this node?"
    : "is aws-node running on this node, with INTROSPECTION_BIND_ADDRESS set to this address?";
  return `cannot reach ${what}: ${hint} (${why[reason] ?? detail ?? reason})`;
}

/** `ipam.status` over the socket. Throws IpamdApiError, or RpcError when ipamd refused it. */
export async function fetchStatus(
  socket: string,
  timeouts: { connectMs?: number; rpcMs?: number } = {},
): Promise<StatusResult> {
  try {
    return await callIpamd(socket, "ipam.status", {}, {
      connectTimeoutMs: timeouts.connectMs ?? 2_000,
      timeoutMs: timeouts.rpcMs ?? 5_000,
    });
  } catch (error) {
    if (!(error instanceof IpamdUnreachableError)) throw error;
    const timeoutMs = error.reason === "timeout" ? (timeouts.rpcMs ?? timeouts.connectMs ?? 0) : 0;
    throw new IpamdApiError("socket", socket, error.reason, {
      cause: error,
      ...(timeoutMs ? { detail: `${timeoutMs} ms` } : {}),
    });
  }
}

/** A GET of the introspection API, parsed as JSON. Throws IpamdApiError. */
export async function fetchIntrospection<T>(
  endpoints: Pick<Endpoints, "introspection" | "introspectionDisabled">,
  path: string,
  options: { timeoutMs?: number } = {},
): Promise<T> {
  const address = endpoints.introspection;
  if (endpoints.introspectionDisabled) {
    throw new IpamdApiError("introspection", address, "disabled");
  }
  const bind = parseBindAddress(address);
  const timeoutMs = options.timeoutMs ?? 5_000;
  const client = bind.transport === "unix"
    ? Deno.createHttpClient({ proxy: { transport: "unix", path: bind.path } })
    : undefined;
  const url = bind.transport === "unix"
    ? `http://localhost${path}`
    : `http://${loopbackFor(bind.hostname)}:${bind.port}${path}`;
  try {
    let response: Response;
    try {
      response = await fetch(url, {
        signal: AbortSignal.timeout(timeoutMs),
        ...(client ? { client } : {}),
      });
    } catch (error) {
      if (error instanceof DOMException && error.name === "TimeoutError") {
        throw new IpamdApiError("introspection", address, "timeout", {
          cause: error,
          detail: `${timeoutMs} ms`,
        });
      }
      throw new IpamdApiError("introspection", address, await connectFailure(bind), {
        cause: error,
      });
    }
    const text = await response.text();
    if (!response.ok) {
      throw new IpamdApiError("introspection", address, "http", {
        detail: `${response.status} for ${path}`,
      });
    }
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw new IpamdApiError("introspection", address, "invalid", { cause });
    }
  } finally {
    client?.close();
  }
}

/** A daemon bound to every interface is asked on loopback. */
function loopbackFor(hostname: string): string {
  if (hostname === "0.0.0.0" || hostname === "") return "127.0.0.1";
  if (hostname === "::") return "[::1]";
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/** fetch() hides the errno: a plain connect says what went wrong, as a typed error. */
async function connectFailure(bind: ReturnType<typeof parseBindAddress>): Promise<string> {
  try {
    const conn = bind.transport === "unix"
      ? await Deno.connect({ transport: "unix", path: bind.path })
      : await Deno.connect({
        hostname: loopbackFor(bind.hostname).replace(/^\[|\]$/g, ""),
        port: bind.port,
      });
    conn.close();
    return "error";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "missing";
    if (error instanceof Deno.errors.ConnectionRefused) return "refused";
    if (error instanceof Deno.errors.PermissionDenied) return "permission";
    return "error";
  }
}
