/**
 * Shape checks for JSON-RPC params, run by the server before a handler sees them, so handlers
 * can trust their types. Unknown fields are ignored: a newer client of the same protocol major
 * version may send more.
 */
import { Method, type MethodName } from "./protocol.ts";

type Check = (value: unknown) => string | undefined;

const text: Check = (v) => typeof v === "string" ? undefined : "must be a string";
const name: Check = (v) =>
  typeof v !== "string" || v === "" ? "must be a non-empty string" : undefined;
const optional = (check: Check): Check => (v) => v === undefined ? undefined : check(v);
const count: Check = (v) =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0
    ? undefined
    : "must be a non-negative integer";
const flag: Check = (v) => typeof v === "boolean" ? undefined : "must be true or false";
const oneOf = (...values: string[]): Check => (v) =>
  typeof v === "string" && values.includes(v) ? undefined : `must be one of ${values.join(", ")}`;
const attachments: Check = (v) => {
  if (!Array.isArray(v)) return "must be an array of {containerId, ifName}";
  for (const [i, a] of v.entries()) {
    if (typeof a !== "object" || a === null) return `[${i}] must be an object`;
    const entry = a as Record<string, unknown>;
    if (name(entry.containerId) || name(entry.ifName)) {
      return `[${i}] needs a non-empty containerId and ifName`;
    }
  }
  return undefined;
};

const KEY = { networkName: name, containerId: name, ifName: name };
const COMMON = { clientVersion: optional(text) };

const SCHEMA: Record<MethodName, Record<string, Check>> = {
  [Method.add]: {
    ...COMMON,
    ...KEY,
    podName: text,
    podNamespace: text,
    podInfraContainerId: optional(text),
    podUid: optional(text),
    netns: text,
    waitMs: optional(count),
    requiresMultiNICAttachment: optional(flag),
  },
  [Method.del]: {
    ...COMMON,
    ...KEY,
    reason: oneOf("PodDeleted", "SetupNSFailed", "GarbageCollected"),
    podName: optional(text),
    podNamespace: optional(text),
    podInfraContainerId: optional(text),
    podUid: optional(text),
  },
  [Method.get]: { ...COMMON, ...KEY },
  [Method.gc]: { ...COMMON, networkName: name, validAttachments: attachments },
  [Method.status]: { ...COMMON },
};

/** Returns what is wrong with the params of a known method, or undefined when they fit. */
export function checkParams(
  method: MethodName,
  params: Record<string, unknown>,
): string | undefined {
  for (const [field, check] of Object.entries(SCHEMA[method])) {
    const problem = check(params[field]);
    if (problem) return `params.${field} ${problem}`;
  }
  return undefined;
}
