/**
 * The lab's state directory: `lab.json` records the owner process and every namespace the lab
 * is about to create (written before each creation), so that a lab whose owner died (SIGKILL,
 * crash) can be swept by the next run. Only namespaces listed there, and named like the lab's
 * own, are ever removed.
 */

import { deleteNetns, NETNS_RUN_DIR, processStartTime } from "../../ffi/mod.ts";
import { type Logger, silentLogger } from "../ops/log.ts";

export interface LabRecord {
  prefix: string;
  id: string;
  /** Owner process and its start time (clock ticks since boot), to survive pid reuse. */
  pid: number;
  pidStart: string;
  namespaces: string[];
}

export const STATE_FILE = "lab.json";

/** /run/<prefix>: the default parent of every lab's state directory. */
export function defaultRunDir(prefix: string): string {
  return `/run/${prefix}`;
}

/** The owner's start time, "" when unknown (then only the pid is compared). */
export function processStart(pid: number): string {
  return processStartTime(pid) ?? "";
}

/** True while the process that created the lab runs (never true for a reused pid). */
export function ownerAlive(record: LabRecord): boolean {
  const start = processStartTime(record.pid);
  if (start === undefined) return false;
  return record.pidStart === "" || start === record.pidStart;
}

export function writeRecord(stateDir: string, record: LabRecord): void {
  const tmp = `${stateDir}/${STATE_FILE}.tmp`;
  Deno.writeTextFileSync(tmp, JSON.stringify(record, null, 2) + "\n");
  Deno.renameSync(tmp, `${stateDir}/${STATE_FILE}`);
}

export function readRecord(stateDir: string): LabRecord | undefined {
  try {
    const value = JSON.parse(Deno.readTextFileSync(`${stateDir}/${STATE_FILE}`));
    if (
      typeof value?.id === "string" && typeof value.prefix === "string" &&
      Number.isInteger(value.pid) && Array.isArray(value.namespaces)
    ) {
      return value as LabRecord;
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound || e instanceof SyntaxError)) throw e;
  }
  return undefined;
}

/** Names under /var/run/netns starting with `prefix`. */
export function existingNamespaces(prefix: string): string[] {
  try {
    return [...Deno.readDirSync(NETNS_RUN_DIR)].map((e) => e.name).filter((n) =>
      n.startsWith(prefix)
    );
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/**
 * Namespaces of the lab: those recorded, plus any /var/run/netns/<prefix>-<id>-* left over
 * (Lab.create refuses an id whose names are taken, so those are the lab's own).
 */
export function labNamespaces(record: LabRecord): string[] {
  const own = `${record.prefix}-${record.id}-`;
  const recorded = record.namespaces.filter((n) => n.startsWith(own));
  return [...new Set([...recorded, ...existingNamespaces(own)])];
}

/** Deletes the lab's namespaces and state directory; returns what could not be removed. */
export function removeLab(stateDir: string, record: LabRecord, logger: Logger): unknown[] {
  const failures: unknown[] = [];
  for (const name of labNamespaces(record)) {
    try {
      deleteNetns(name);
    } catch (e) {
      failures.push(e);
      logger.warn("lab: could not delete namespace", { namespace: name, error: e });
    }
  }
  try {
    Deno.removeSync(stateDir, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) failures.push(e);
  }
  return failures;
}

/**
 * Removes labs under `runDir` whose owner process is gone; returns their ids. Labs of live
 * processes (other test runs, a running simulator) are left alone.
 */
export function sweepStale(
  prefix: string,
  options: { runDir?: string; logger?: Logger } = {},
): string[] {
  const runDir = options.runDir ?? defaultRunDir(prefix);
  const logger = options.logger ?? silentLogger;
  const swept: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(runDir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return swept;
    throw e;
  }
  for (const entry of entries) {
    if (!entry.isDirectory) continue;
    const dir = `${runDir}/${entry.name}`;
    const record = readRecord(dir);
    if (!record || record.prefix !== prefix || record.id !== entry.name || ownerAlive(record)) {
      continue;
    }
    logger.info("lab: sweeping a stale lab", { id: record.id, pid: record.pid });
    removeLab(dir, record, logger);
    swept.push(record.id);
  }
  return swept;
}
