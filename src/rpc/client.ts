/**
 * aws-cni's side of the ipamd protocol (protocol.ts): one connection per plugin run, one or a
 * few requests on it. Failures are typed: RpcError is ipamd's answer, IpamdUnreachableError
 * means no answer could be had (socket missing, refused, timed out, closed early).
 */
import {
  MAX_MESSAGE_BYTES,
  type MethodName,
  type ParamsOf,
  type ResultOf,
  RpcError,
  type RpcErrorObject,
} from "./protocol.ts";
import { LineReader, MessageTooLargeError, writeAll } from "./framing.ts";
import { PROTOCOL_VERSION, VERSION } from "../version.ts";

export type UnreachableReason =
  | "missing"
  | "refused"
  | "permission"
  | "timeout"
  | "closed"
  | "error";

/** No answer from ipamd: the daemon is down, restarting, wedged, or the path is wrong. */
export class IpamdUnreachableError extends Error {
  readonly socketPath: string;
  readonly reason: UnreachableReason;

  constructor(
    socketPath: string,
    reason: UnreachableReason,
    options?: ErrorOptions & { timeoutMs?: number },
  ) {
    super(describe(socketPath, reason, options?.timeoutMs), options);
    this.name = "IpamdUnreachableError";
    this.socketPath = socketPath;
    this.reason = reason;
  }
}

export interface ClientOptions {
  /** Connecting may take this long (default 2 s). */
  connectTimeoutMs?: number;
  /** Default time to wait for each reply (default 10 s). */
  timeoutMs?: number;
  /** Release reported to ipamd for its logs (default this release). */
  clientVersion?: string;
}

export type CallParams<M extends MethodName> = Omit<
  ParamsOf[M],
  "protocolVersion" | "clientVersion"
>;

/** Replies may list many addresses (GC); they are still bounded so a broken peer cannot hog us. */
const MAX_REPLY_BYTES = 16 * MAX_MESSAGE_BYTES;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export class RpcClient implements Disposable {
  readonly socketPath: string;
  #conn: Deno.Conn;
  #timeoutMs: number;
  #clientVersion: string;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #failure?: Error;
  #reading: Promise<void>;

  private constructor(socketPath: string, conn: Deno.Conn, options: ClientOptions) {
    this.socketPath = socketPath;
    this.#conn = conn;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#clientVersion = options.clientVersion ?? VERSION;
    this.#reading = this.#readLoop();
  }

  static async connect(socketPath: string, options: ClientOptions = {}): Promise<RpcClient> {
    const timeoutMs = options.connectTimeoutMs ?? 2_000;
    const attempt = Deno.connect({ transport: "unix", path: socketPath });
    const expiry = deadline(timeoutMs);
    try {
      const outcome = await Promise.race([attempt, expiry.expired]);
      if (outcome === "expired") {
        attempt.then((c) => c.close(), () => {});
        throw new IpamdUnreachableError(socketPath, "timeout", { timeoutMs });
      }
      return new RpcClient(socketPath, outcome, options);
    } catch (e) {
      if (e instanceof IpamdUnreachableError) throw e;
      throw new IpamdUnreachableError(socketPath, connectFailure(e), { cause: e });
    } finally {
      expiry.cancel();
    }
  }

  /** Sends one request and waits for its reply; ipamd's errors are thrown as RpcError. */
  async call<M extends MethodName>(
    method: M,
    params: CallParams<M>,
    options: { timeoutMs?: number } = {},
  ): Promise<ResultOf[M]> {
    if (this.#failure) throw this.#failure;
    const id = this.#nextId++;
    const request = {
      jsonrpc: "2.0",
      id,
      method,
      params: { ...params, protocolVersion: PROTOCOL_VERSION, clientVersion: this.#clientVersion },
    };
    const reply = Promise.withResolvers<unknown>();
    // The server may refuse (and the reader reject this) before we await it below: mark the
    // rejection handled now so it is never an unhandled rejection that kills the plugin.
    reply.promise.catch(() => {});
    this.#pending.set(id, reply);
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const expiry = deadline(timeoutMs, () => {
      // A late reply could no longer be matched reliably: give the connection up.
      this.#fail(new IpamdUnreachableError(this.socketPath, "timeout", { timeoutMs }));
    });
    try {
      await writeAll(this.#conn, encoder.encode(JSON.stringify(request) + "\n"));
    } catch (e) {
      this.#fail(new IpamdUnreachableError(this.socketPath, "closed", { cause: e }));
    }
    try {
      return await reply.promise as ResultOf[M];
    } finally {
      expiry.cancel();
      this.#pending.delete(id);
    }
  }

  close(): void {
    this.#fail(new IpamdUnreachableError(this.socketPath, "closed"));
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Resolves once the connection is fully closed (tests use it to leave no pending ops). */
  closed(): Promise<void> {
    return this.#reading;
  }

  #fail(error: Error): void {
    if (!this.#failure) {
      this.#failure = error;
      try {
        this.#conn.close();
      } catch {
        // already closed
      }
    }
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
  }

  async #readLoop(): Promise<void> {
    const reader = new LineReader(this.#conn, MAX_REPLY_BYTES);
    try {
      while (true) {
        const line = await reader.next();
        if (line === null) break;
        this.#deliver(line);
      }
      this.#fail(new IpamdUnreachableError(this.socketPath, "closed"));
    } catch (e) {
      this.#fail(
        e instanceof MessageTooLargeError
          ? new RpcError("Internal", `ipamd sent a reply larger than ${e.limit} bytes`)
          : this.#failure ?? new IpamdUnreachableError(this.socketPath, "closed", { cause: e }),
      );
    }
  }

  #deliver(line: Uint8Array): void {
    let reply: { id?: unknown; result?: unknown; error?: RpcErrorObject };
    try {
      reply = JSON.parse(decoder.decode(line));
    } catch {
      this.#fail(new RpcError("Internal", "ipamd sent a reply that is not JSON"));
      return;
    }
    const pending = typeof reply.id === "number" ? this.#pending.get(reply.id) : undefined;
    if (reply.error !== undefined) {
      const error = RpcError.fromObject(reply.error);
      // id null: ipamd could not tie the error to a request (overload, oversize): all fail.
      if (pending) pending.reject(error);
      else this.#fail(error);
    } else if (pending && "result" in reply) {
      pending.resolve(reply.result);
    }
  }
}

/** Connects, sends one request, closes. */
export async function callIpamd<M extends MethodName>(
  socketPath: string,
  method: M,
  params: CallParams<M>,
  options: ClientOptions = {},
): Promise<ResultOf[M]> {
  const client = await RpcClient.connect(socketPath, options);
  try {
    return await client.call(method, params);
  } finally {
    client.close();
    await client.closed();
  }
}

/**
 * A timeout without the global setTimeout: in Deno 2.9 the first setTimeout of a process costs
 * 25-60 ms (lazy initialisation), paid on every aws-cni run; AbortSignal.timeout costs < 1 ms.
 */
function deadline(ms: number, onExpiry?: () => void) {
  const signal = AbortSignal.timeout(ms);
  let cancelled = false;
  const expired = new Promise<"expired">((resolve) =>
    signal.addEventListener("abort", () => {
      if (cancelled) return;
      onExpiry?.();
      resolve("expired");
    }, { once: true })
  );
  return {
    expired,
    cancel: () => {
      cancelled = true;
    },
  };
}

function connectFailure(e: unknown): UnreachableReason {
  if (e instanceof Deno.errors.NotFound) return "missing";
  if (e instanceof Deno.errors.ConnectionRefused) return "refused";
  if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
    return "permission";
  }
  return "error";
}

function describe(path: string, reason: UnreachableReason, timeoutMs?: number): string {
  switch (reason) {
    case "missing":
      return `ipamd socket ${path} does not exist: ipamd (the aws-node pod) is not running on ` +
        "this node, or the conflist's ipamdSocket points elsewhere";
    case "refused":
      return `ipamd socket ${path} refused the connection: ipamd is not running or is ` +
        "restarting; check the aws-node pod";
    case "permission":
      return `no permission to connect to ${path}: aws-cni must run as root or in the ` +
        "socket's group";
    case "timeout":
      return `ipamd at ${path} did not answer within ${timeoutMs} ms; it may be overloaded ` +
        "or stuck (check the ipamd log)";
    case "closed":
      return `ipamd at ${path} closed the connection before answering; it may have restarted`;
    case "error":
      return `could not connect to ipamd at ${path}`;
  }
}
