/**
 * ipamd's JSON-RPC 2.0 server on a unix stream socket (see protocol.ts for the wire format).
 *
 * Defensive by construction: sizes are checked on raw bytes before parsing, every request has a
 * time limit, connections are bounded and idle ones are closed, and nothing a client sends can
 * crash the server or make it leak a stack trace. Requests on one connection are answered in
 * order; concurrency comes from several connections (aws-cni opens one per invocation).
 */
import {
  ErrorCode,
  MAX_MESSAGE_BYTES,
  Method,
  type MethodName,
  type ParamsOf,
  type ResultOf,
  RpcError,
  type RpcErrorObject,
} from "./protocol.ts";
import { checkParams } from "./params.ts";
import { LineReader, MessageTooLargeError, writeAll } from "./framing.ts";
import { PROTOCOL_VERSION, VERSION } from "../version.ts";
import { type Logger, silentLogger } from "../ops/log.ts";

export interface RequestContext {
  method: MethodName;
  id: number | string;
  /** Aborted when the request runs over its time limit or the server is force-closed. */
  signal: AbortSignal;
  logger: Logger;
}

export type Handler<M extends MethodName> = (
  params: ParamsOf[M],
  context: RequestContext,
) => ResultOf[M] | Promise<ResultOf[M]>;

export type Handlers = { [M in MethodName]?: Handler<M> };

export interface ServerOptions {
  /** Mode of the socket file (default 0o660: root and the socket's group may connect). */
  mode?: number;
  /**
   * Connections served at once (default 64). At the limit the connection that has waited
   * longest without sending a whole request is closed to make room; only when every
   * connection has a request in progress is a new one answered with Overloaded and closed.
   */
  maxConnections?: number;
  /** Time limit of one request, on top of an ADD's own waitMs (default 30 s). */
  requestTimeoutMs?: number;
  /** Upper bound honoured for an ADD's waitMs (default 120 s). */
  maxWaitMs?: number;
  /** A connection must complete its next request within this time or is closed (default 30 s). */
  idleTimeoutMs?: number;
  /** Requests over this size are refused before parsing (default MAX_MESSAGE_BYTES). */
  maxMessageBytes?: number;
  logger?: Logger;
  /** Maps the daemon's own typed errors to RPC errors; unmapped errors become Internal. */
  mapError?: (error: unknown) => RpcError | undefined;
}

/** The socket path is taken: a live server answers on it, or it is not a socket at all. */
export class SocketInUseError extends Error {
  readonly path: string;
  readonly occupant: "server" | "file";
  constructor(path: string, occupant: "server" | "file") {
    super(
      occupant === "server"
        ? `another server is already answering on ${path}: is a second ipamd running on this ` +
          "node? Stop it, or give this one another socket path"
        : `${path} exists and is not a socket; move it away or choose another socket path`,
    );
    this.name = "SocketInUseError";
    this.path = path;
    this.occupant = occupant;
  }
}

interface Connection {
  conn: Deno.Conn;
  busy: boolean;
  /** When it started waiting for its next request. */
  idleSince: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const PROBE_TIMEOUT_MS = 500;

export class RpcServer implements AsyncDisposable {
  readonly path: string;
  #listener: Deno.Listener;
  #handlers: Handlers;
  #options: Required<Omit<ServerOptions, "mapError" | "logger">>;
  #mapError?: (error: unknown) => RpcError | undefined;
  #log: Logger;
  #ino: number | null;
  #conns = new Set<Connection>();
  #inFlight = 0;
  #closing = false;
  #closed?: Promise<void>;
  #accepting: Promise<void>;
  #idle?: PromiseWithResolvers<void>;

  private constructor(
    path: string,
    listener: Deno.Listener,
    handlers: Handlers,
    options: ServerOptions & { ino: number | null },
  ) {
    this.path = path;
    this.#listener = listener;
    this.#handlers = handlers;
    this.#options = {
      mode: options.mode ?? 0o660,
      maxConnections: options.maxConnections ?? 64,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      maxWaitMs: options.maxWaitMs ?? 120_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
      maxMessageBytes: options.maxMessageBytes ?? MAX_MESSAGE_BYTES,
    };
    this.#mapError = options.mapError;
    this.#log = (options.logger ?? silentLogger).with({ component: "rpc" });
    this.#ino = options.ino;
    this.#accepting = this.#acceptLoop();
  }

  /**
   * Binds the socket (replacing a stale one), and starts serving. Throws SocketInUseError when
   * another live server answers on the path.
   */
  static async listen(
    path: string,
    handlers: Handlers,
    options: ServerOptions = {},
  ): Promise<RpcServer> {
    const dir = parentOf(path);
    await ensureDir(dir);
    await refuseLiveSocket(path);
    // Bind in a private folder, set the mode, then rename into place: the socket is never
    // reachable with a wider mode, and a stale socket is replaced atomically.
    const tmpDir = await Deno.makeTempDir({ dir, prefix: ".rpc-bind-" });
    try {
      const tmpPath = `${tmpDir}/s`;
      const listener = Deno.listen({ transport: "unix", path: tmpPath });
      try {
        await Deno.chmod(tmpPath, options.mode ?? 0o660);
        await Deno.rename(tmpPath, path);
      } catch (e) {
        listener.close();
        throw e;
      }
      const { ino } = await Deno.stat(path);
      return new RpcServer(path, listener, handlers, { ...options, ino });
    } finally {
      await Deno.remove(tmpDir, { recursive: true });
    }
  }

  /** Connections open right now. */
  get connections(): number {
    return this.#conns.size;
  }

  /** Requests being handled right now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Stops accepting, lets requests in flight finish (up to the deadline), then closes every
   * connection and removes the socket file.
   */
  close(options: { deadlineMs?: number } = {}): Promise<void> {
    this.#closed ??= this.#shutdown(options.deadlineMs ?? 5_000);
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(deadlineMs: number): Promise<void> {
    this.#closing = true;
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    this.#removeSocketFile();
    for (const c of this.#conns) if (!c.busy) closeQuietly(c.conn);
    if (this.#conns.size > 0) {
      this.#idle = Promise.withResolvers<void>();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<void>((resolve) => timer = setTimeout(resolve, deadlineMs));
      await Promise.race([this.#idle.promise, deadline]);
      clearTimeout(timer);
      if (this.#conns.size > 0) {
        this.#log.warn("closing connections with requests still in flight", {
          connections: this.#conns.size,
          deadlineMs,
        });
        for (const c of this.#conns) closeQuietly(c.conn);
      }
    }
    await this.#accepting;
  }

  #removeSocketFile(): void {
    try {
      // Only our own socket: never unlink a file someone put there after us.
      if (Deno.lstatSync(this.path).ino === this.#ino) Deno.removeSync(this.path);
    } catch {
      // already gone
    }
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#closing) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (e) {
        if (this.#closing || e instanceof Deno.errors.BadResource) return;
        this.#log.warn("accept failed", { error: e });
        continue;
      }
      if (this.#closing) {
        closeQuietly(conn);
        return;
      }
      if (this.#conns.size >= this.#options.maxConnections && !this.#evictIdle()) {
        void this.#refuse(conn);
        continue;
      }
      void this.#serve(conn);
    }
  }

  /**
   * Closes the connection idle the longest (no request in progress), so that idle or
   * slow-loris clients cannot lock aws-cni out; false when every connection is busy.
   */
  #evictIdle(): boolean {
    let oldest: Connection | undefined;
    for (const c of this.#conns) {
      if (!c.busy && (!oldest || c.idleSince < oldest.idleSince)) oldest = c;
    }
    if (!oldest) return false;
    this.#log.warn("connection limit reached: closing the connection idle the longest", {
      limit: this.#options.maxConnections,
      idleMs: Math.round(performance.now() - oldest.idleSince),
    });
    this.#conns.delete(oldest);
    closeQuietly(oldest.conn);
    return true;
  }

  async #refuse(conn: Deno.Conn): Promise<void> {
    const limit = this.#options.maxConnections;
    this.#log.warn("connection refused: too many connections", { limit });
    const error = new RpcError("Overloaded", `ipamd is serving ${limit} connections; retry`, {
      data: { reason: "connections", limit },
    });
    await this.#send(conn, null, { error: error.toObject() }).catch(() => {});
    closeQuietly(conn);
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const state: Connection = { conn, busy: false, idleSince: performance.now() };
    this.#conns.add(state);
    const reader = new LineReader(conn, this.#options.maxMessageBytes);
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    try {
      while (!this.#closing) {
        state.idleSince = performance.now();
        idleTimer = setTimeout(() => closeQuietly(conn), this.#options.idleTimeoutMs);
        let line: Uint8Array | null;
        try {
          line = await reader.next();
        } catch (e) {
          if (e instanceof MessageTooLargeError) await this.#tooLarge(conn, e.limit);
          return; // closed by the idle timer, by close(), or by the peer
        } finally {
          clearTimeout(idleTimer);
        }
        if (line === null) return;
        if (isBlank(line)) continue;
        state.busy = true;
        this.#inFlight++;
        let reply: { id: number | string | null; body: Reply };
        try {
          reply = await this.#handle(line);
        } finally {
          this.#inFlight--;
        }
        try {
          await this.#send(conn, reply.id, reply.body);
        } catch {
          return; // the client went away
        }
        state.busy = false;
      }
    } finally {
      clearTimeout(idleTimer);
      closeQuietly(conn);
      this.#conns.delete(state);
      if (this.#conns.size === 0) this.#idle?.resolve();
    }
  }

  async #tooLarge(conn: Deno.Conn, limit: number): Promise<void> {
    this.#log.warn("request over the size limit; closing the connection", { limit });
    const error = new RpcError("Overloaded", `request larger than ${limit} bytes`, {
      data: { reason: "size", limit },
    });
    await this.#send(conn, null, { error: error.toObject() }).catch(() => {});
  }

  async #send(conn: Deno.Conn, id: number | string | null, body: Reply): Promise<void> {
    let text: string;
    try {
      text = JSON.stringify({ jsonrpc: "2.0", id, ...body });
    } catch (e) {
      this.#log.error("result is not serialisable", { id, error: e });
      text = JSON.stringify({ jsonrpc: "2.0", id, error: internal("reply encoding").toObject() });
    }
    await writeAll(conn, encoder.encode(text + "\n"));
  }

  async #handle(line: Uint8Array): Promise<{ id: number | string | null; body: Reply }> {
    let message: unknown;
    try {
      message = JSON.parse(decoder.decode(line));
    } catch {
      return failure(null, "ParseError", "request is not valid UTF-8 JSON");
    }
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      return failure(null, "InvalidRequest", "request must be one JSON object (no batches)");
    }
    const request = message as Record<string, unknown>;
    const rawId = request.id;
    const id = typeof rawId === "string" || (typeof rawId === "number" && Number.isFinite(rawId))
      ? rawId
      : null;
    if (request.jsonrpc !== "2.0") {
      return failure(id, "InvalidRequest", 'request must have "jsonrpc": "2.0"');
    }
    if (id === null) {
      return failure(null, "InvalidRequest", "request needs an id (a string or a number)");
    }
    if (typeof request.method !== "string") {
      return failure(id, "InvalidRequest", "request needs a method name");
    }
    const method = request.method as MethodName;
    const handler = Object.values(Method).includes(method) ? this.#handlers[method] : undefined;
    if (!handler) {
      return failure(id, "MethodNotFound", `unknown method ${JSON.stringify(request.method)}`);
    }
    const params = request.params;
    if (typeof params !== "object" || params === null || Array.isArray(params)) {
      return failure(id, "InvalidParams", "params must be an object");
    }
    const fields = params as Record<string, unknown>;
    const version = fields.protocolVersion;
    if (typeof version !== "number" || !Number.isSafeInteger(version)) {
      return failure(id, "InvalidParams", "params.protocolVersion must be an integer");
    }
    if (version !== PROTOCOL_VERSION) {
      return failure(
        id,
        "VersionMismatch",
        `aws-cni speaks protocol version ${version} (release ${String(fields.clientVersion)}) ` +
          `but ipamd ${VERSION} speaks version ${PROTOCOL_VERSION}: install the aws-cni of ` +
          "the same release as ipamd",
        { serverProtocolVersion: PROTOCOL_VERSION, clientProtocolVersion: version },
      );
    }
    const problem = checkParams(method, fields);
    if (problem) return failure(id, "InvalidParams", problem);
    try {
      const result = await this.#run(method, id, handler as Handler<MethodName>, fields);
      return { id, body: { result } };
    } catch (e) {
      return { id, body: { error: this.#errorObject(e, method, id) } };
    }
  }

  #run(
    method: MethodName,
    id: number | string,
    handler: Handler<MethodName>,
    params: Record<string, unknown>,
  ): Promise<unknown> {
    const wait = method === Method.add && typeof params.waitMs === "number"
      ? Math.min(params.waitMs, this.#options.maxWaitMs)
      : 0;
    const limitMs = this.#options.requestTimeoutMs + wait;
    const controller = new AbortController();
    const logger = this.#log.with({ method, id });
    const work = Promise.resolve().then(() =>
      handler(params as never, { method, id, signal: controller.signal, logger })
    );
    // The race below reports a late failure; this keeps it from being an unhandled rejection.
    work.catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(
          new RpcError("Overloaded", `ipamd did not finish ${method} within ${limitMs} ms`, {
            data: { reason: "timeout", limitMs },
          }),
        );
      }, limitMs);
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }

  #errorObject(error: unknown, method: MethodName, id: number | string): RpcErrorObject {
    if (error instanceof RpcError) return error.toObject();
    try {
      const mapped = this.#mapError?.(error);
      if (mapped) return mapped.toObject();
    } catch (e) {
      this.#log.error("mapError failed", { method, id, error: e });
    }
    this.#log.error("request failed with an unexpected error", {
      method,
      id,
      error,
      stack: error instanceof Error ? error.stack : undefined,
    });
    return internal(method).toObject();
  }
}

type Reply = { result: unknown } | { error: RpcErrorObject };

function failure(
  id: number | string | null,
  kind: keyof typeof ErrorCode,
  message: string,
  data?: Record<string, unknown>,
): { id: number | string | null; body: Reply } {
  return { id, body: { error: new RpcError(kind, message, { data }).toObject() } };
}

function internal(what: string): RpcError {
  return new RpcError(
    "Internal",
    `ipamd hit an internal error while processing ${what}; the ipamd log has the details`,
  );
}

function isBlank(line: Uint8Array): boolean {
  return line.every((b) => b === 0x20 || b === 0x09 || b === 0x0d);
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

function parentOf(path: string): string {
  const at = path.lastIndexOf("/");
  return at > 0 ? path.slice(0, at) : at === 0 ? "/" : ".";
}

async function ensureDir(dir: string): Promise<void> {
  try {
    await Deno.stat(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
    await Deno.chmod(dir, 0o755); // the umask may have narrowed it
  }
}

/** Throws SocketInUseError when something live (or not a socket) holds the path. */
async function refuseLiveSocket(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (!info.isSocket) throw new SocketInUseError(path, "file");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const attempt = Deno.connect({ transport: "unix", path });
  const timeout = new Promise<"timeout">((resolve) =>
    timer = setTimeout(() => resolve("timeout"), PROBE_TIMEOUT_MS)
  );
  try {
    const outcome = await Promise.race([attempt, timeout]);
    if (outcome === "timeout") {
      attempt.then(closeQuietly, () => {});
      throw new SocketInUseError(path, "server"); // accepted but not answering: still alive
    }
    closeQuietly(outcome);
    throw new SocketInUseError(path, "server");
  } catch (e) {
    if (e instanceof Deno.errors.ConnectionRefused || e instanceof Deno.errors.NotFound) return;
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
