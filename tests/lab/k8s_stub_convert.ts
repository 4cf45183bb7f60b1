/**
 * Conversion between the two Event APIs. A real server stores one Event and serves it as
 * core/v1 and events.k8s.io/v1; the stub stores the events.k8s.io/v1 form, so `kubectl get
 * events` (core/v1) shows what ipamd recorded through events.k8s.io/v1.
 */
import type { JsonObject } from "./k8s_stub_patch.ts";

const RENAMES: [core: string, events: string][] = [
  ["involvedObject", "regarding"],
  ["message", "note"],
  ["source", "deprecatedSource"],
  ["firstTimestamp", "deprecatedFirstTimestamp"],
  ["lastTimestamp", "deprecatedLastTimestamp"],
  ["count", "deprecatedCount"],
  ["reportingComponent", "reportingController"],
];

export function eventToCore(event: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(event)) {
    const rename = RENAMES.find(([, e]) => e === k);
    out[rename ? rename[0] : k] = v;
  }
  out.apiVersion = "v1";
  out.kind = "Event";
  return out;
}

export function eventFromCore(event: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(event)) {
    const rename = RENAMES.find(([c]) => c === k);
    out[rename ? rename[1] : k] = v;
  }
  out.apiVersion = "events.k8s.io/v1";
  out.kind = "Event";
  return out;
}
