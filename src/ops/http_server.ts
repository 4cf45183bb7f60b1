/**
 * The small HTTP servers of ipamd (introspection, metrics): bind to "host:port" or
 * "unix:/path", and keep retrying with capped exponential backoff when the bind fails (as
 * upstream does: 1 s → 60 s, ×2, 20 % jitter), so a busy port never takes the daemon down.
 */
import type { Logger } from "./log.ts";
import { pause } from "./timers.ts";

export type Handler = (request: Request) => Response | Promise<Response>;

export interface ServeOptions {
  name: string;
  /** "127.0.0.1:61679", ":61678" (all interfaces) or "unix:/run/aws-node/introspection.sock". */
  address: string;
  handler: Handler;
  logger: Logger;
  signal: AbortSignal;
  /** Called once the server listens (tests use it to learn an ephemeral port). */
  onListen?: (address: Deno.NetAddr | Deno.UnixAddr) => void;
}

export type BindAddress =
  | { transport: "tcp"; hostname: string; port: number }
  | { transport: "unix"; path: string };

/** Parses a bind address; throws a RangeError that names the accepted forms. */
export function parseBindAddress(address: string): BindAddress {
  if (address.startsWith("unix:")) {
    const path = address.slice("unix:".length);
    if (!path.startsWith("/")) {
      throw new RangeError(
        `Invalid bind address "${address}": a unix socket path must be absolute`,
      );
    }
    return { transport: "unix", path };
  }
  const colon = address.lastIndexOf(":");
  const port = Number(address.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `Invalid bind address "${address}": use host:port (e.g. 127.0.0.1:61679), :port or unix:/path`,
    );
  }
  const host = address.slice(0, colon).replace(/^\[|\]$/g, "");
  return { transport: "tcp", hostname: host === "" ? "0.0.0.0" : host, port };
}

/** Serves until the signal aborts; resolves when the server has stopped. */
export async function serveWithRetry(options: ServeOptions): Promise<void> {
  const bind = parseBindAddress(options.address);
  let delayMs = 1000;
  while (!options.signal.aborted) {
    try {
      if (bind.transport === "unix") {
        try {
          await Deno.remove(bind.path);
        } catch {
          // not there: fine
        }
      }
      const server = Deno.serve({
        ...(bind.transport === "unix" ? { path: bind.path } : bind),
        signal: options.signal,
        onListen: (addr) => {
          options.logger.info(`${options.name} server listening`, { address: options.address });
          options.onListen?.(addr);
        },
        onError: (error) => {
          options.logger.error(`${options.name} request failed`, { error });
          return new Response("internal error\n", { status: 500 });
        },
      }, withTimeout(options.handler, 5000));
      await server.finished;
      return;
    } catch (error) {
      if (options.signal.aborted) return;
      options.logger.warn(`${options.name} server cannot listen; retrying`, {
        address: options.address,
        error,
        retryInMs: delayMs,
      });
      await pause(delayMs * (0.8 + Math.random() * 0.4), options.signal);
      delayMs = Math.min(delayMs * 2, 60_000);
    }
  }
}

function withTimeout(handler: Handler, ms: number): Handler {
  return async (request) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<Response>((resolve) => {
      timer = setTimeout(() => resolve(new Response("timeout\n", { status: 503 })), ms);
    });
    try {
      return await Promise.race([Promise.resolve(handler(request)), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}
