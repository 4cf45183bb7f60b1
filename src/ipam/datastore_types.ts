/**
 * The datastore's public data types: what goes in (ENIs, pod metadata), what comes out
 * (assignments, statistics, details) and what a checkpoint records (snapshots).
 */

import type { AttachmentKey } from "../rpc/protocol.ts";
import type { PoolCounts, PoolMode } from "./view.ts";

/** Placeholders upstream wrote for entries migrated from its pre-checkpoint CRI state. */
export const LEGACY_NETWORK_NAME = "_migrated-from-cri";
export const LEGACY_IF_NAME = "unknown";

export interface PodMetadata {
  readonly podNamespace: string;
  readonly podName: string;
  /** Interfaces of the pod (multi-NIC); absent means 1. */
  readonly interfacesCount?: number;
}

export interface EniInit {
  readonly id: string;
  readonly deviceNumber: number;
  /** Default: device number 0. */
  readonly isPrimary?: boolean;
  readonly isTrunk?: boolean;
  readonly isEfa?: boolean;
  readonly subnetId?: string;
  /** Default: routeTableId(deviceNumber), i.e. device + 1, or 254 for device 0. */
  readonly routeTableId?: number;
  readonly excluded?: boolean;
  /** Default: now. */
  readonly createdAt?: number;
}

export interface Assignment {
  readonly key: AttachmentKey;
  readonly ipv4: string;
  readonly eniId: string;
  /** The CIDR that holds the address ("10.0.0.5/32" or "10.0.0.16/28"). */
  readonly cidr: string;
  readonly deviceNumber: number;
  readonly routeTableId: number;
  readonly pod?: PodMetadata;
  /** ms since the epoch. */
  readonly assignedAt: number;
}

export interface AllocationRecord {
  readonly key: AttachmentKey;
  readonly ipv4: string;
  readonly assignedAt: number;
  readonly pod?: PodMetadata;
}

export interface CoolingRecord {
  readonly ipv4: string;
  /** When the pod released it (ms since the epoch). */
  readonly unassignedAt: number;
}

/** What a checkpoint records: the assignments, and the addresses still cooling down. */
export interface DatastoreSnapshot {
  readonly allocations: readonly AllocationRecord[];
  readonly cooling: readonly CoolingRecord[];
}

export interface DatastoreOptions {
  mode: PoolMode;
  /** IP_COOLDOWN_PERIOD in ms; 0 = a released address is free at once. */
  cooldownMs: number;
  /** Clock in ms since the epoch. Default Date.now. */
  now?: () => number;
  /**
   * Makes a snapshot durable; called synchronously before a change is acknowledged, so a
   * change and its checkpoint are atomic without locks. Throwing rolls the change back.
   */
  persist?: (snapshot: DatastoreSnapshot) => void;
}

export interface PoolStats extends PoolCounts {
  readonly mode: PoolMode;
  /** Pods holding an address, counted or not (e.g. on an excluded ENI). */
  readonly pods: number;
  readonly enis: number;
  readonly perEni: ReadonlyArray<PoolCounts & { readonly id: string }>;
}

/** One address with a history: held by a pod, or released and possibly cooling. */
export interface AddressDetail {
  readonly ipv4: string;
  readonly key?: AttachmentKey;
  readonly pod?: PodMetadata;
  readonly assignedAt?: number;
  readonly unassignedAt?: number;
  readonly cooling: boolean;
}

export interface EniDetail extends Required<Omit<EniInit, "subnetId">> {
  readonly subnetId?: string;
  readonly cidrs: ReadonlyArray<{ cidr: string; isPrefix: boolean; addresses: AddressDetail[] }>;
}
