/**
 * The checkpoint file (`vpc-cni-ipam/1`, upstream's format and field names): which
 * attachment holds which address, so a restarted ipamd does not hand out addresses that pods
 * still use. We add one optional field, `coolingAddresses`, so cooldowns survive a restart;
 * it is omitted when empty, and older readers ignore it. Saving is atomic (temp file in the
 * same directory, write, fsync, rename, fsync the directory); a missing file is a fresh node;
 * anything unreadable is a CheckpointError that says what to do.
 */

import { basename, dirname } from "node:path";
import type { AllocationRecord, CoolingRecord, DatastoreSnapshot } from "./datastore_types.ts";
import { parseIpv4 } from "../ipv4.ts";
import { CheckpointError } from "./errors.ts";

export { CheckpointError, type CheckpointProblem } from "./errors.ts";

export {
  planRestore,
  type RestoreInput,
  type RestorePlan,
  type StaleRule,
} from "./checkpoint_restore.ts";

export const CHECKPOINT_VERSION = "vpc-cni-ipam/1";

/** A decoded checkpoint; IPv6 entries (an IPv6 node's file) are kept apart, unused. */
export interface LoadedCheckpoint extends DatastoreSnapshot {
  readonly ipv6: readonly AllocationRecord[];
}

// ---- encoding ----------------------------------------------------------------------------

/** JSON string as Go's encoder writes it (HTML-safe escapes). */
function goString(text: string): string {
  return JSON.stringify(text).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function nanoseconds(ms: number): string {
  return (BigInt(Math.trunc(ms)) * 1_000_000n).toString();
}

/** The file's bytes, exactly as upstream's Go encoder writes them (plus our optional field). */
export function encodeCheckpoint(snapshot: DatastoreSnapshot): string {
  const allocations = snapshot.allocations.map((a) => {
    const metadata: string[] = [];
    if (a.pod?.podNamespace) metadata.push(`"k8sPodNamespace":${goString(a.pod.podNamespace)}`);
    if (a.pod?.podName) metadata.push(`"k8sPodName":${goString(a.pod.podName)}`);
    if (a.pod?.interfacesCount) metadata.push(`"interfacesCount":${a.pod.interfacesCount}`);
    return `{"networkName":${goString(a.key.networkName)},"containerID":${
      goString(a.key.containerId)
    },"ifName":${goString(a.key.ifName)},"ipv4":${goString(a.ipv4)},"allocationTimestamp":${
      nanoseconds(a.assignedAt)
    },"metadata":{${metadata.join(",")}}}`;
  });
  const cooling = snapshot.cooling.map((c) =>
    `{"ipv4":${goString(c.ipv4)},"unassignedTimestamp":${nanoseconds(c.unassignedAt)}}`
  );
  return `{"version":"${CHECKPOINT_VERSION}","allocations":[${allocations.join(",")}]` +
    (cooling.length > 0 ? `,"coolingAddresses":[${cooling.join(",")}]` : "") + "}\n";
}

// ---- decoding ----------------------------------------------------------------------------

/** Nanosecond integers exceed 2^53: read them from the source text, keep milliseconds. */
function timestampReviver(key: string, value: unknown, context?: { source?: string }): unknown {
  if ((key === "allocationTimestamp" || key === "unassignedTimestamp") && context?.source) {
    const source = context.source;
    return /^-?[0-9]+$/.test(source) ? Number(BigInt(source) / 1_000_000n) : Number(source) / 1e6;
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses the file's text; unknown fields are ignored. */
export function decodeCheckpoint(text: string, path = "(checkpoint)"): LoadedCheckpoint {
  const corrupt = (detail: string, cause?: unknown) =>
    new CheckpointError(path, { problem: "corrupt", detail, cause });
  let data: unknown;
  try {
    data = JSON.parse(text, timestampReviver as (key: string, value: unknown) => unknown);
  } catch (cause) {
    throw corrupt(`not valid JSON (${cause instanceof Error ? cause.message : cause})`, cause);
  }
  if (!isObject(data)) throw corrupt("not a JSON object");
  if (data.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(path, {
      problem: "version",
      detail: `version ${JSON.stringify(data.version)}, this release reads ${CHECKPOINT_VERSION}`,
    });
  }
  const list = (field: string): unknown[] => {
    const value = data[field as keyof typeof data];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) throw corrupt(`"${field}" is not a list`);
    return value;
  };
  const allocations: AllocationRecord[] = [];
  const ipv6: AllocationRecord[] = [];
  list("allocations").forEach((entry, index) => {
    const where = `allocation #${index + 1}`;
    if (!isObject(entry)) throw corrupt(`${where} is not an object`);
    const key = {
      networkName: entry.networkName,
      containerId: entry.containerID,
      ifName: entry.ifName,
    };
    for (const [field, value] of Object.entries(key)) {
      if (typeof value !== "string" || value === "") {
        throw corrupt(`${where} has no ${field === "containerId" ? "containerID" : field}`);
      }
    }
    const assignedAt = entry.allocationTimestamp ?? 0;
    if (typeof assignedAt !== "number" || !Number.isFinite(assignedAt)) {
      throw corrupt(`${where} has an invalid allocationTimestamp`);
    }
    const metadata = isObject(entry.metadata) ? entry.metadata : {};
    const pod = {
      podNamespace: typeof metadata.k8sPodNamespace === "string" ? metadata.k8sPodNamespace : "",
      podName: typeof metadata.k8sPodName === "string" ? metadata.k8sPodName : "",
      ...(typeof metadata.interfacesCount === "number" && metadata.interfacesCount > 0
        ? { interfacesCount: metadata.interfacesCount }
        : {}),
    };
    const hasPod = pod.podNamespace !== "" || pod.podName !== "" || "interfacesCount" in pod;
    const base = { key: key as AllocationRecord["key"], assignedAt, ...(hasPod ? { pod } : {}) };
    if (typeof entry.ipv4 === "string" && entry.ipv4 !== "") {
      if (parseIpv4(entry.ipv4) === undefined) throw corrupt(`${where} has an invalid ipv4`);
      allocations.push({ ...base, ipv4: entry.ipv4 });
    } else if (typeof entry.ipv6 === "string" && entry.ipv6 !== "") {
      ipv6.push({ ...base, ipv4: entry.ipv6 });
    } else {
      throw corrupt(`${where} has neither ipv4 nor ipv6`);
    }
  });
  const cooling: CoolingRecord[] = [];
  list("coolingAddresses").forEach((entry, index) => {
    const where = `coolingAddresses #${index + 1}`;
    if (!isObject(entry) || typeof entry.ipv4 !== "string" || parseIpv4(entry.ipv4) === undefined) {
      throw corrupt(`${where} has no valid ipv4`);
    }
    if (typeof entry.unassignedTimestamp !== "number") {
      throw corrupt(`${where} has no unassignedTimestamp`);
    }
    cooling.push({ ipv4: entry.ipv4, unassignedAt: entry.unassignedTimestamp });
  });
  return { allocations, cooling, ipv6 };
}

// ---- files -------------------------------------------------------------------------------

const encoder = new TextEncoder();

function tempPath(path: string): string {
  return `${path}.tmp${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Writes the checkpoint atomically; synchronous so the datastore can persist a change
 * before acknowledging it without interleaving with other requests.
 */
export function saveCheckpointSync(path: string, snapshot: DatastoreSnapshot): void {
  const data = encoder.encode(encodeCheckpoint(snapshot));
  const tmp = tempPath(path);
  let file: Deno.FsFile | undefined;
  try {
    try {
      file = Deno.openSync(tmp, { write: true, createNew: true, mode: 0o600 });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      Deno.mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      file = Deno.openSync(tmp, { write: true, createNew: true, mode: 0o600 });
    }
    for (let offset = 0; offset < data.length;) offset += file.writeSync(data.subarray(offset));
    file.syncSync();
    file.close();
    file = undefined;
    Deno.renameSync(tmp, path);
  } catch (error) {
    file?.close();
    try {
      Deno.removeSync(tmp);
    } catch {
      // never created, or already renamed
    }
    throw error;
  }
  // The rename is durable only once the directory entry is.
  const dir = Deno.openSync(dirname(path), { read: true });
  try {
    dir.syncSync();
  } finally {
    dir.close();
  }
}

/** The async twin of saveCheckpointSync, for callers outside the datastore. */
export async function saveCheckpoint(path: string, snapshot: DatastoreSnapshot): Promise<void> {
  const data = encoder.encode(encodeCheckpoint(snapshot));
  const tmp = tempPath(path);
  await Deno.mkdir(dirname(path), { recursive: true, mode: 0o755 });
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    try {
      for (let offset = 0; offset < data.length;) offset += await file.write(data.subarray(offset));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
  const dir = await Deno.open(dirname(path), { read: true });
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}

/** A datastore `persist` function writing to `path`. */
export function checkpointPersister(path: string): (snapshot: DatastoreSnapshot) => void {
  return (snapshot) => saveCheckpointSync(path, snapshot);
}

/**
 * Reads the checkpoint: undefined when there is none (a fresh node). Temp files left by a
 * write that crashed are removed.
 */
export async function loadCheckpoint(path: string): Promise<LoadedCheckpoint | undefined> {
  await removeLeftovers(path);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (cause) {
    if (cause instanceof Deno.errors.NotFound) return undefined;
    throw new CheckpointError(path, {
      problem: "unreadable",
      detail: `cannot be read (${cause instanceof Error ? cause.message : cause})`,
      cause,
    });
  }
  return decodeCheckpoint(text, path);
}

async function removeLeftovers(path: string): Promise<void> {
  const prefix = `${basename(path)}.tmp`;
  try {
    for await (const entry of Deno.readDir(dirname(path))) {
      if (entry.isFile && entry.name.startsWith(prefix)) {
        await Deno.remove(`${dirname(path)}/${entry.name}`).catch(() => {});
      }
    }
  } catch {
    // no directory yet: nothing left over
  }
}
