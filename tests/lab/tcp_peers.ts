/**
 * tcp_peer.ts as processes in lab namespaces: a server that answers each connection with the
 * address it saw the connection come from, and a probe that connects and reports that address.
 * This is how a test tells whether traffic was SNATed on its way.
 */
import { fileURLToPath } from "node:url";
import type { Cleanup } from "./cleanup.ts";
import { type Netns, nsArgv, nsExec } from "./namespaces.ts";
import { trackChild, untrackChild } from "./owner.ts";
import { terminate } from "./terminate.ts";

const PEER = fileURLToPath(new URL("./tcp_peer.ts", import.meta.url));

function peerArgv(args: string[]): string[] {
  return [Deno.execPath(), "run", "--cached-only", "--allow-net", PEER, ...args];
}

/** The peer process did not start, or its answer was not what tcp_peer.ts prints. */
export class TcpPeerError extends Error {
  readonly netns: string;
  constructor(message: string, netns: string, options?: ErrorOptions) {
    super(`tcp peer in ${netns}: ${message}`, options);
    this.name = "TcpPeerError";
    this.netns = netns;
  }
}

export interface TcpPeerServer extends AsyncDisposable {
  readonly netns: Netns;
  readonly port: number;
  /** Closes its stdin (it exits on EOF), SIGTERM after 5 s. */
  stop(): Promise<void>;
}

/** Starts `tcp_peer.ts serve PORT` in `ns` and waits for its "ready" (it exits by itself after 30 s). */
export async function serveTcpPeer(
  ns: Netns,
  port: number,
  options: { cleanup?: Cleanup; readyTimeoutMs?: number } = {},
): Promise<TcpPeerServer> {
  const [program, ...args] = nsArgv(ns, peerArgv(["serve", String(port)]));
  const child = new Deno.Command(program!, {
    args,
    env: { DENO_NO_UPDATE_CHECK: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  trackChild(child.pid);
  const stdin = child.stdin.getWriter();
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stderr = new Response(child.stderr).text();
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      await stdin.close().catch(() => {});
      const timer = setTimeout(() => void terminate(child, { graceMs: 2_000 }), 5_000);
      await child.status;
      clearTimeout(timer);
      await stdout.cancel().catch(() => {});
      await stderr.catch(() => "");
      untrackChild(child.pid);
    })();
  options.cleanup?.defer(`stop tcp peer in ${ns.name}`, stop);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const first = await Promise.race([
    stdout.read().then((r) => r.value ?? ""),
    new Promise<null>((r) => timer = setTimeout(() => r(null), options.readyTimeoutMs ?? 15_000)),
  ]);
  clearTimeout(timer);
  if (first === null || !first.startsWith("ready")) {
    await stop();
    const why = first === null ? "no ready line in time" : `it printed ${JSON.stringify(first)}`;
    throw new TcpPeerError(
      `server on port ${port} did not start (${why}): ${await stderr}`,
      ns.name,
    );
  }
  return { netns: ns, port, stop, [Symbol.asyncDispose]: stop };
}

/**
 * Connects from `ns` to each address on `port` (2 s limit each) and returns, per address, what
 * the server saw as the source address, or "error: ..." when the connection failed.
 */
export async function probeTcpPeer(
  ns: Netns,
  port: number,
  addresses: string[],
): Promise<Record<string, string>> {
  const out = await nsExec(ns, peerArgv(["probe", String(port), ...addresses]), {
    env: { DENO_NO_UPDATE_CHECK: "1" },
    timeoutMs: 15_000 + 3_000 * addresses.length,
  });
  try {
    return JSON.parse(out.stdout) as Record<string, string>;
  } catch (e) {
    throw new TcpPeerError(`probe printed no JSON: ${out.stdout.slice(0, 200)}`, ns.name, {
      cause: e,
    });
  }
}
