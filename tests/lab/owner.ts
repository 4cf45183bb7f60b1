/**
 * The identity of this test run and its owner record. Every namespace, temp dir and
 * long-running child a run makes carries RUN_ID in its name or is listed under the run's record
 * dir, so that a later run can tell leftovers of a killed run (owner gone) from resources of a
 * run that is still going (other engineers test on the same machine at the same time).
 *
 *   /run/vpc-cni-deno-tests/<runId>/owner        "<pid> <start time>"
 *   /run/vpc-cni-deno-tests/<runId>/pids/<pid>   "<start time>" of a child to stop
 *   /run/vpc-cni-deno-tests/<runId>/made-dirs    host dirs the run made (removed while empty)
 *   /run/vpc-cni-deno-tests/<runId>/lab-prefixes "<prefix> [<runDir>]" of src/sim/lab.ts labs
 */

export const OWNER_ROOT = "/run/vpc-cni-deno-tests";

/** Six characters [a-z0-9], unique per test process. */
export const RUN_ID: string = randomId(6);

const RUN_DIR = `${OWNER_ROOT}/${RUN_ID}`;
let recorded = false;

function randomId(length: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

/** Start time of a process in clock ticks since boot, or undefined when it is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Field 22; the command name (field 2) may hold spaces, so count after its ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Is the process that wrote `record` ("<pid> <start time>") still running? */
export function recordAlive(record: string): boolean {
  const [pid, start] = record.trim().split(" ");
  const n = Number(pid);
  return Number.isInteger(n) && n > 0 && start !== undefined && processStartTime(n) === start;
}

/** Writes the owner record once per process, before the run makes anything. */
export function recordOwner(): void {
  if (recorded) return;
  Deno.mkdirSync(`${RUN_DIR}/pids`, { recursive: true });
  Deno.writeTextFileSync(`${RUN_DIR}/owner`, `${Deno.pid} ${processStartTime(Deno.pid)}\n`);
  recorded = true;
  globalThis.addEventListener("unload", removeOwnerRecordIfUnused);
}

/** Lists a long-running child (sim, ipamd, containerd) so a sweep can stop it if we die. */
export function trackChild(pid: number): void {
  recordOwner();
  const start = processStartTime(pid);
  if (start) Deno.writeTextFileSync(`${RUN_DIR}/pids/${pid}`, start);
}

export function untrackChild(pid: number): void {
  try {
    Deno.removeSync(`${RUN_DIR}/pids/${pid}`);
  } catch {
    // already gone
  }
}

/** Notes a host directory the run created (e.g. /etc/cni/net.d as a mount point). */
export function recordMadeDir(path: string): void {
  recordOwner();
  Deno.writeTextFileSync(`${RUN_DIR}/made-dirs`, `${path}\n`, { append: true });
}

/**
 * Notes the prefix of a lab (src/sim/lab.ts) the run made, and the directory holding its lab
 * records when that is not /run/<prefix> (the simulator's is /run/vpcsim whatever the prefix),
 * for Lab.sweepStale(prefix, { runDir }).
 */
export function recordLabPrefix(prefix: string, runDir?: string): void {
  recordOwner();
  const line = runDir ? `${prefix} ${runDir}` : prefix;
  Deno.writeTextFileSync(`${RUN_DIR}/lab-prefixes`, `${line}\n`, { append: true });
}

/** Keeps the record while anything of this run is left, so that a later sweep can find it. */
function removeOwnerRecordIfUnused(): void {
  const names = (dir: string) => {
    try {
      return [...Deno.readDirSync(dir)].map((e) => e.name);
    } catch {
      return [];
    }
  };
  if (names(`${RUN_DIR}/pids`).length > 0) return;
  if (names("/var/run/netns").some((n) => n.includes(`-${RUN_ID}-`))) return;
  try {
    Deno.removeSync(RUN_DIR, { recursive: true });
  } catch {
    // already gone
  }
}
