/**
 * Removes what killed test runs left behind. A run whose owner process is gone (see owner.ts)
 * loses its still-running children (SIGTERM, then SIGKILL), its containers (cgroups and shims
 * of containerd namespaces `*-<runId>`), its namespaces `*-<runId>-*`, its temp dirs
 * `/tmp/*-<runId>-*` (mounts under them first), its labs (src/sim/lab.ts), the host dirs it
 * made (while empty) and its record. Runs whose owner is
 * alive are never touched: other people test on the same machine at the same time.
 */
import { run } from "./command.ts";
import { unmountUnder } from "./mounts.ts";
import { OWNER_ROOT, processStartTime, recordAlive, RUN_ID } from "./owner.ts";

export interface SweepReport {
  runs: string[];
  stoppedPids: number[];
  netns: string[];
  tempDirs: string[];
  /** Ids of src/sim/lab.ts labs removed. */
  labs: string[];
}

const TMP = "/tmp";
/** A record without an owner file is a run that died while writing it, if it is this old. */
const ORPHAN_RECORD_AGE_MS = 60_000;

function list(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    return [];
  }
}

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

function isStale(runId: string): boolean {
  const dir = `${OWNER_ROOT}/${runId}`;
  const owner = readText(`${dir}/owner`);
  if (owner !== undefined) return !recordAlive(owner);
  try {
    return Date.now() - (Deno.statSync(dir).mtime?.getTime() ?? 0) > ORPHAN_RECORD_AGE_MS;
  } catch {
    return false; // another sweep removed it meanwhile
  }
}

async function stopChildren(runId: string): Promise<number[]> {
  const dir = `${OWNER_ROOT}/${runId}/pids`;
  const alive = list(dir).map(Number).filter((pid) =>
    processStartTime(pid) !== undefined && processStartTime(pid) === readText(`${dir}/${pid}`)
  );
  const signal = (pids: number[], sig: Deno.Signal) => {
    for (const pid of pids) {
      try {
        Deno.kill(pid, sig);
      } catch {
        // exited meanwhile
      }
    }
  };
  signal(alive, "SIGTERM");
  // Give a simulator time to destroy its lab before it is killed.
  for (let waited = 0; waited < 15_000; waited += 100) {
    if (alive.every((pid) => processStartTime(pid) === undefined)) return alive;
    await new Promise((r) => setTimeout(r, 100));
  }
  signal(alive.filter((pid) => processStartTime(pid) !== undefined), "SIGKILL");
  return alive;
}

/**
 * Containers of a killed run outlive containerd: their shims are daemons. Kill every process in
 * the run's cgroups (containerd namespace `*-<runId>` is the cgroup parent) and the shims of that
 * namespace, then remove the cgroups.
 */
async function stopContainers(runId: string): Promise<number[]> {
  const cgroups: string[] = [];
  for (const hierarchy of ["", ...list("/sys/fs/cgroup").map((h) => `/${h}`)]) {
    const root = `/sys/fs/cgroup${hierarchy}`;
    for (const name of list(root).filter((n) => n.endsWith(`-${runId}`))) {
      cgroups.push(...walk(`${root}/${name}`));
    }
  }
  const shims = list("/proc").filter((p) => /^\d+$/.test(p)).filter((pid) => {
    const argv = (readText(`/proc/${pid}/cmdline`) ?? "").split("\0");
    const ns = argv[argv.indexOf("-namespace") + 1] ?? "";
    return argv[0]?.includes("containerd-shim") && ns.endsWith(`-${runId}`);
  });
  const pids = new Set([...shims.map(Number)]);
  for (const cgroup of cgroups) {
    for (const pid of (readText(`${cgroup}/cgroup.procs`) ?? "").split("\n").filter((l) => l)) {
      pids.add(Number(pid));
    }
  }
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  await new Promise((r) => setTimeout(r, pids.size > 0 ? 500 : 0));
  for (const cgroup of cgroups.sort((a, b) => b.length - a.length)) {
    await Deno.remove(cgroup).catch(() => {});
  }
  return [...pids];
}

/** A directory and its subdirectories, parents first. */
function walk(dir: string): string[] {
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    // removed meanwhile
  }
  return [dir, ...entries.filter((e) => e.isDirectory).flatMap((e) => walk(`${dir}/${e.name}`))];
}

/** Sweeps every stale run now. */
export async function sweepStale(): Promise<SweepReport> {
  const report: SweepReport = { runs: [], stoppedPids: [], netns: [], tempDirs: [], labs: [] };
  for (const runId of list(OWNER_ROOT)) {
    if (runId === RUN_ID || !isStale(runId)) continue;
    report.runs.push(runId);
    report.stoppedPids.push(...await stopChildren(runId), ...await stopContainers(runId));
    for (const name of list("/var/run/netns").filter((n) => n.includes(`-${runId}-`))) {
      await run(["ip", "netns", "del", name], { allowFailure: true, timeoutMs: 30_000 });
      report.netns.push(name);
    }
    for (const name of list(TMP).filter((n) => n.includes(`-${runId}-`))) {
      await unmountUnder(`${TMP}/${name}`);
      await Deno.remove(`${TMP}/${name}`, { recursive: true }).catch(() => {});
      report.tempDirs.push(`${TMP}/${name}`);
    }
    const labPrefixes = (readText(`${OWNER_ROOT}/${runId}/lab-prefixes`) ?? "").split("\n").filter((
      l,
    ) => l);
    if (labPrefixes.length > 0) {
      // Loaded only when needed: it brings in the FFI netlink bindings.
      const { Lab } = await import("../../src/sim/lab.ts");
      for (const line of new Set(labPrefixes)) {
        const [prefix, runDir] = line.split(" ");
        report.labs.push(...Lab.sweepStale(prefix!, runDir ? { runDir } : {}));
      }
    }
    const madeDirs = (readText(`${OWNER_ROOT}/${runId}/made-dirs`) ?? "").split("\n").filter((l) =>
      l
    );
    for (const dir of madeDirs.reverse()) {
      await Deno.remove(dir).catch(() => {}); // only while empty
    }
    await Deno.remove(`${OWNER_ROOT}/${runId}`, { recursive: true }).catch(() => {});
  }
  return report;
}

let once: Promise<SweepReport> | undefined;

/** Sweeps once per process, before the first namespace of the run is made. */
export function sweepStaleOnce(): Promise<SweepReport> {
  once ??= sweepStale();
  return once;
}
