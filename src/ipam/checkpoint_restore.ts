/**
 * Restoring a checkpoint, as pure decisions: given the loaded allocations, the CIDRs the
 * datastore already has (from the instance) and the host's link names, which allocations to
 * restore, which are stale (no CIDR holds the address any more) and which are invalid (the
 * pod's host veth is gone: it ends with sha1hex("<namespace>.<name>")[:11], whatever the
 * prefix), plus the leftover ip rules of the invalid ones for the caller to delete.
 */

import { createHash } from "node:crypto";
import type { AllocationRecord, CoolingRecord } from "./datastore_types.ts";
import { type Cidr, cidrContains, parseCidr, parseIpv4 } from "../ipv4.ts";
import { MAIN_TABLE } from "./route_table.ts";
import type { LoadedCheckpoint } from "./checkpoint.ts";
import { CheckpointError } from "./errors.ts";

export interface RestoreInput {
  readonly checkpoint: Pick<LoadedCheckpoint, "allocations" | "cooling">;
  /** CIDRs in the datastore ("10.0.0.5/32", "10.0.0.16/28"). */
  readonly cidrs: readonly string[];
  /** Names of the host's network links. */
  readonly hostLinks: readonly string[];
  /** ms since the epoch: invalid allocations start their cooldown now. */
  readonly now: number;
  /** For error messages. */
  readonly path?: string;
}

/** An ip rule to delete; no `table` means in any table. */
export interface StaleRule {
  readonly priority: number;
  readonly src?: string;
  readonly dst?: string;
  readonly table?: number;
}

export interface RestorePlan {
  readonly restore: readonly AllocationRecord[];
  /** Cooldowns to restore: from the checkpoint, plus the addresses of invalid allocations. */
  readonly cooling: readonly CoolingRecord[];
  /** No CIDR of the node holds the address any more: dropped. */
  readonly stale: readonly AllocationRecord[];
  /** The pod's host veth is gone: dropped, and its rules cleaned. */
  readonly invalid: readonly AllocationRecord[];
  readonly rulesToDelete: readonly StaleRule[];
}

/** The suffix of the pod's host veth name (upstream GenerateHostVethName). */
export function vethSuffix(podNamespace: string, podName: string): string {
  return createHash("sha1").update(`${podNamespace}.${podName}`).digest("hex").slice(0, 11);
}

export function planRestore(input: RestoreInput): RestorePlan {
  const cidrs = input.cidrs.map((c) => parseCidr(c)).filter((c): c is Cidr => c !== undefined);
  const held = (ipv4: string) => {
    const address = parseIpv4(ipv4);
    return address !== undefined && cidrs.some((c) => cidrContains(c, address));
  };
  const restore: AllocationRecord[] = [];
  const stale: AllocationRecord[] = [];
  const invalid: AllocationRecord[] = [];
  for (const record of input.checkpoint.allocations) {
    const pod = record.pod;
    if (pod?.podNamespace && pod.podName) {
      const suffix = vethSuffix(pod.podNamespace, pod.podName);
      if (!input.hostLinks.some((name) => name.endsWith(suffix))) {
        invalid.push(record);
        continue;
      }
    }
    (held(record.ipv4) ? restore : stale).push(record);
  }
  const byAddress = new Map<string, AllocationRecord>();
  const byKey = new Map<string, AllocationRecord>();
  for (const record of restore) {
    const key = JSON.stringify([record.key.networkName, record.key.containerId, record.key.ifName]);
    const other = byAddress.get(record.ipv4) ?? byKey.get(key);
    if (other) {
      throw new CheckpointError(input.path ?? "(checkpoint)", {
        problem: "conflict",
        detail:
          `two allocations claim the same ${
            byAddress.has(record.ipv4) ? "address" : "attachment"
          }: ` +
          `${describe(other)} and ${describe(record)}`,
      });
    }
    byAddress.set(record.ipv4, record);
    byKey.set(key, record);
  }
  const cooling: CoolingRecord[] = [];
  const cool = (record: CoolingRecord) => {
    if (
      held(record.ipv4) && !byAddress.has(record.ipv4) &&
      !cooling.some((c) => c.ipv4 === record.ipv4)
    ) {
      cooling.push(record);
    }
  };
  input.checkpoint.cooling.forEach(cool);
  invalid.forEach((record) => cool({ ipv4: record.ipv4, unassignedAt: input.now }));
  const rulesToDelete = invalid.flatMap((record): StaleRule[] => [
    { priority: 512, dst: `${record.ipv4}/32`, table: MAIN_TABLE },
    { priority: 1536, src: `${record.ipv4}/32` },
  ]);
  return { restore, cooling, stale, invalid, rulesToDelete };
}

function describe(record: AllocationRecord): string {
  const pod = record.pod?.podName ? ` (pod ${record.pod.podNamespace}/${record.pod.podName})` : "";
  return `${record.ipv4} for container ${record.key.containerId} ${record.key.ifName}${pod}`;
}
