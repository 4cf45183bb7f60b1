/**
 * The EC2 latency floors of pod_burst_bench.ts, from the simulator's /counters and the latency
 * model's base values (src/sim/faults.ts). Pure, so that it is unit-tested.
 */
import { REALISTIC_LATENCY_MS } from "../../src/sim/faults.ts";
import type { JsonObject } from "../lab/sim_control.ts";

export const MUTATING = new Set([
  "AssignPrivateIpAddresses",
  "UnassignPrivateIpAddresses",
  "AttachNetworkInterface",
  "DetachNetworkInterface",
  "CreateNetworkInterface",
  "DeleteNetworkInterface",
  "ModifyNetworkInterfaceAttribute",
  "CreateTags",
]);

export function baseLatencyMs(action: string): number {
  return REALISTIC_LATENCY_MS[action] ?? REALISTIC_LATENCY_MS["*"]!;
}

/** Successful EC2 calls by action between two /counters snapshots. */
export function callsBetween(before: JsonObject, after: JsonObject): Record<string, number> {
  const ok = (snap: JsonObject, action: string) =>
    Number(((snap.actions as JsonObject)?.[action] as JsonObject | undefined)?.ok ?? 0);
  const out: Record<string, number> = {};
  for (const action of Object.keys((after.actions as JsonObject) ?? {})) {
    const n = ok(after, action) - ok(before, action);
    if (n > 0) out[action] = n;
  }
  return out;
}

/**
 * Two EC2 latency floors for the calls made, from the model's base latencies (its ±20 % jitter
 * averages out):
 * - serial: every call one after another, as ipamd's pool loop makes them (it applies one
 *   step at a time); wall / serial is ipamd's own overhead on top of waiting for EC2;
 * - critical path: what a perfectly parallel allocator could not beat with the same calls:
 *   the new ENIs created and attached side by side (Create → Attach is the longest chain,
 *   ModifyNetworkInterfaceAttribute and Describe* can overlap), addresses on an existing ENI
 *   in one Assign at the same time.
 */
export function floors(
  calls: Record<string, number>,
): { serialMs: number; criticalPathMs: number } {
  const serialMs = Object.entries(calls).reduce((sum, [a, n]) => sum + n * baseLatencyMs(a), 0);
  const eniChain = (calls.CreateNetworkInterface ?? 0) > 0
    ? baseLatencyMs("CreateNetworkInterface") + baseLatencyMs("AttachNetworkInterface")
    : 0;
  const assign = (calls.AssignPrivateIpAddresses ?? 0) > 0
    ? baseLatencyMs("AssignPrivateIpAddresses")
    : 0;
  return { serialMs, criticalPathMs: Math.max(eniChain, assign) };
}
