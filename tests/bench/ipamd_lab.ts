/**
 * What the ipamd benchmarks share: a simulator lab whose namespaces carry the bench prefix,
 * ipamd started in one of its nodes with bench settings, fast readiness polling, the daemon's
 * memory, a reference server process in a node, and the RPC load generator (aws-cni's own
 * client, src/rpc/client.ts, one connection per call as aws-cni makes them).
 */
import { callIpamd, IpamdUnreachableError } from "../../src/rpc/client.ts";
import { RpcError, type StatusResult } from "../../src/rpc/protocol.ts";
import { type Ipamd, startIpamd } from "../lab/ipamd.ts";
import { type Netns, nsArgv, nsExec } from "../lab/namespaces.ts";
import { trackChild, untrackChild } from "../lab/owner.ts";
import { REPO_ROOT } from "../lab/paths.ts";
import type { TestScope } from "../lab/scope.ts";
import { type LabNode, type Sim, startSim } from "../lab/sim.ts";
import { terminate } from "../lab/terminate.ts";
import { processMemoryKib } from "./bench_api.ts";

export const PREFIX = "tbch";

/**
 * Settings every benchmark ipamd gets: no leaked-ENI sweep (its first run is at a random time
 * in the first 5 minutes and would add EC2 calls to whatever is being counted).
 */
export const BENCH_ENV: Record<string, string> = {
  DISABLE_LEAKED_ENI_CLEANUP: "true",
};

export async function startBenchSim(
  scope: TestScope,
  options: { nodes: number; instanceType: string; args?: string[] },
): Promise<Sim> {
  return await startSim({
    nodes: options.nodes,
    instanceType: options.instanceType,
    args: ["--prefix", PREFIX, ...options.args ?? []],
    cleanup: scope.cleanup,
    timeoutMs: 120_000,
  });
}

export interface StartedIpamd {
  ipamd: Ipamd;
  /** Spawn to the first ipam.status that says ready (polled every 20 ms). */
  readyMs: number;
  /** Epoch ms just before the spawn (for startupTimeline). */
  spawnedAt: number;
  status: StatusResult;
}

/** Starts ipamd in a node and waits until it is ready. */
export async function launchIpamd(
  scope: TestScope,
  node: LabNode,
  env: Record<string, string> = {},
): Promise<StartedIpamd> {
  const spawnedAt = Date.now();
  const t0 = performance.now();
  const ipamd = await startIpamd(node, { env: { ...BENCH_ENV, ...env }, cleanup: scope.cleanup });
  const status = await ipamd.waitReady({ timeoutMs: 120_000, intervalMs: 20 });
  return { ipamd, readyMs: performance.now() - t0, spawnedAt, status };
}

/** Polls ipam.status until `done` holds; throws with the last status after timeoutMs. */
export async function waitForStatus(
  ipamd: Ipamd,
  done: (s: StatusResult) => boolean,
  options: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<{ status: StatusResult; ms: number }> {
  const t0 = performance.now();
  let last: StatusResult | undefined;
  while (performance.now() - t0 < options.timeoutMs) {
    last = await ipamd.status(5_000).catch(() => last);
    if (last && done(last)) return { status: last, ms: performance.now() - t0 };
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
  }
  throw new Error(
    `ipamd: ${options.what} not reached within ${options.timeoutMs} ms; last status ${
      JSON.stringify(last)
    }\n${await ipamd.logTail(15)}`,
  );
}

/** ipamd's resident memory now and at its peak, in MiB (the Deno process, not the launcher). */
export function ipamdMemoryMiB(ipamd: Ipamd): { rssMiB: number; peakMiB: number } {
  const pid = ipamd.pid;
  if (pid === undefined) throw new Error("ipamd is not running");
  const comm = Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
  // The launcher execs deno (ip netns exec and sh both exec), so the pid is Deno's.
  if (comm !== "deno") throw new Error(`ipamd pid ${pid} is "${comm}", not the deno process`);
  const mem = processMemoryKib(pid);
  if (!mem) throw new Error(`cannot read /proc/${pid}/status`);
  return { rssMiB: mem.rssKib / 1024, peakMiB: mem.hwmKib / 1024 };
}

export interface StartupTimeline {
  /** Info and warn messages of the last start until "ipamd ready", ms since the spawn. */
  events: Array<{ atMs: number; msg: string }>;
  /** Debug messages in the same window, counted by text (retries show up here). */
  debugCounts: Record<string, number>;
}

/** ipamd's last start as its own log tells it; `spawnedAt` is epoch ms just before the spawn. */
export async function startupTimeline(
  logFile: string,
  spawnedAt: number,
): Promise<StartupTimeline> {
  const lines = (await Deno.readTextFile(logFile)).trim().split("\n");
  const entries = lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as { ts: string; level: string; msg: string }];
    } catch {
      return [];
    }
  });
  const start = entries.findLastIndex((e) => e.msg === "ipamd starting");
  const out: StartupTimeline = { events: [], debugCounts: {} };
  for (const e of entries.slice(Math.max(0, start))) {
    if (e.level === "debug") {
      out.debugCounts[e.msg] = (out.debugCounts[e.msg] ?? 0) + 1;
      continue;
    }
    out.events.push({ atMs: Date.parse(e.ts) - spawnedAt, msg: e.msg });
    if (e.msg === "ipamd ready") break;
  }
  return out;
}

/** ipamd's Prometheus text, fetched inside its node (metrics bind to the node's loopback). */
export async function ipamdMetrics(netns: Netns): Promise<string> {
  const out = await nsExec(netns, [
    "curl",
    "-sf",
    "--max-time",
    "5",
    "http://127.0.0.1:61678/metrics",
  ]);
  return out.stdout;
}

/** Sum and count of a Prometheus histogram or summary by one label value. */
export function metricSum(
  text: string,
  metric: string,
  label: string,
): Map<string, { sum: number; count: number }> {
  const out = new Map<string, { sum: number; count: number }>();
  const re = new RegExp(`^${metric}_(sum|count)\\{([^}]*)\\} ([0-9.e+-]+)$`, "gm");
  for (const m of text.matchAll(re)) {
    const value = new RegExp(`${label}="([^"]*)"`).exec(m[2]!)?.[1] ?? "";
    const entry = out.get(value) ?? { sum: 0, count: 0 };
    entry[m[1] as "sum" | "count"] += Number(m[3]);
    out.set(value, entry);
  }
  return out;
}

/** A Deno program run inside a node that prints "ready" when it serves; SIGTERM stops it. */
export async function startNodeProgram(
  scope: TestScope,
  netns: Netns,
  argv: string[],
): Promise<{ pid: number; stop: () => Promise<void> }> {
  const [program, ...args] = nsArgv(netns, [
    Deno.execPath(),
    "run",
    "-A",
    "--cached-only",
    "--quiet",
    ...argv,
  ]);
  const child = new Deno.Command(program!, {
    args,
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  trackChild(child.pid);
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      await terminate(child, { graceMs: 5_000 });
      untrackChild(child.pid);
    })();
  scope.defer(`stop ${argv[0]}`, stop);
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 30_000;
  while (!text.includes("ready\n") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  if (!text.includes("ready\n")) throw new Error(`${argv.join(" ")} did not print ready: ${text}`);
  void (async () => {
    while (!(await reader.read()).done);
  })().catch(() => {});
  return { pid: child.pid, stop };
}

// ---- load generator -------------------------------------------------------------------------

let unhandledClientRejections = 0;
let tolerating = false;

/**
 * src/rpc/client.ts rejects a call's reply promise before anything awaits it when ipamd refuses
 * the connection at once (Overloaded with id null arrives while the request is still being
 * written); Deno then reports an unhandled rejection and would end the process, as it ends an
 * aws-cni run. The call itself still throws the error to its caller, so the load generator
 * counts these events (a finding, reported) and carries on.
 */
export function tolerateEarlyClientRejections(): { count(): number } {
  if (!tolerating) {
    tolerating = true;
    globalThis.addEventListener("unhandledrejection", (event) => {
      if (event.reason instanceof RpcError || event.reason instanceof IpamdUnreachableError) {
        event.preventDefault();
        unhandledClientRejections++;
      }
    });
  }
  return { count: () => unhandledClientRejections };
}

export interface LoadResult {
  /** ipam.add then ipam.del for one attachment (two connections, like two aws-cni runs). */
  pairMs: number[];
  addMs: number[];
  delMs: number[];
  /** Failed calls by method, error name and kind (e.g. "add RpcError:Overloaded"). */
  errors: Record<string, number>;
  /** Calls made (an add and a del per pair). */
  calls: number;
  wallMs: number;
}

/** RpcError by kind, IpamdUnreachableError by reason, anything else by name. */
function errorKey(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const detail = (error as Error & { kind?: unknown; reason?: unknown }).kind ??
    (error as Error & { reason?: unknown }).reason;
  return detail === undefined ? error.name : `${error.name}:${String(detail)}`;
}

/**
 * `clients` concurrent loops, each doing `pairs` ipam.add + ipam.del with its own attachment
 * keys (`<idPrefix>-<client>-<n>`).
 */
export async function rpcLoad(
  socketPath: string,
  options: { clients: number; pairs: number; idPrefix: string },
): Promise<LoadResult> {
  const result: LoadResult = {
    pairMs: [],
    addMs: [],
    delMs: [],
    errors: {},
    calls: 2 * options.clients * options.pairs,
    wallMs: 0,
  };
  const fail = (method: string, e: unknown) => {
    const key = `${method} ${errorKey(e)}`;
    result.errors[key] = (result.errors[key] ?? 0) + 1;
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: options.clients }, async (_, c) => {
    for (let n = 0; n < options.pairs; n++) {
      const key = {
        networkName: "aws-cni",
        containerId: `${options.idPrefix}-${c}-${n}`,
        ifName: "eth0",
      };
      const pod = { podNamespace: "bench", podName: `${options.idPrefix}-${c}-${n}` };
      const a = performance.now();
      let added = true;
      try {
        await callIpamd(socketPath, "ipam.add", { ...key, ...pod, netns: "/var/run/netns/bench" });
      } catch (e) {
        added = false;
        fail("add", e);
      }
      const b = performance.now();
      try {
        await callIpamd(socketPath, "ipam.del", { ...key, ...pod, reason: "PodDeleted" });
      } catch (e) {
        // aws-cni takes UnknownAttachment on DEL as done (the ADD never got an address).
        const unknown = e instanceof RpcError && e.kind === "UnknownAttachment" && !added;
        if (!unknown) fail("del", e);
        continue;
      }
      const d = performance.now();
      if (!added) continue;
      result.addMs.push(b - a);
      result.delMs.push(d - b);
      result.pairMs.push(d - a);
    }
  }));
  result.wallMs = performance.now() - t0;
  return result;
}
