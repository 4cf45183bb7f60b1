/**
 * The warm-pool planner's vocabulary: its settings (and how to build them from the
 * configuration), the state the manager keeps between plans, the input, the actions and the
 * plan. pool.ts holds the planning itself.
 */

import type { Config } from "../config.ts";
import type { PoolPolicy, Unit, WarmTargets } from "./pool_policy.ts";
import type { PoolCounts, PoolView } from "./view.ts";

/** A new ENI is not freed before it is this old (upstream). */
export const MIN_ENI_AGE_MS = 60_000;
/** At most one over-target release per this interval (upstream). */
export const RELEASE_INTERVAL_MS = 30_000;
/** Pause after the subnet ran out of addresses or /28 blocks (upstream). */
export const CAPACITY_BACKOFF_MS = 120_000;

export interface PoolSettings extends WarmTargets {
  /** ENIs the node may have: min(MAX_ENI, instance limit). */
  readonly maxEnis: number;
  /** Slots per ENI besides its primary IP (instance IPv4 limit − 1); a slot is a /32 or a /28. */
  readonly slotsPerEni: number;
  /** Kubelet max pods: the pool never holds more addresses than this. */
  readonly maxPods: number;
  /** Custom networking: the primary ENI gets no addresses for pods. */
  readonly skipPrimary: boolean;
  /** Attached ENIs that are not ipamd's (unmanaged, EFA-only): they use ENI slots. */
  readonly unmanagedEnis: number;
  /** ENI slots kept free for others (a trunk ENI). */
  readonly reservedEniSlots: number;
}

/** What the manager remembers between plans. All times in ms since the epoch. */
export interface PoolState {
  /** Last over-target release (pacing). */
  readonly lastReleaseAt?: number;
  /** Last InsufficientFreeAddressesInSubnet: no growth for CAPACITY_BACKOFF_MS. */
  readonly subnetFullAt?: number;
  /** Last InsufficientCidrBlocks: prefix mode grows with /32s for CAPACITY_BACKOFF_MS. */
  readonly noPrefixesAt?: number;
}

export type CapacityErrorCode = "InsufficientFreeAddressesInSubnet" | "InsufficientCidrBlocks";

export function recordRelease(state: PoolState, now: number): PoolState {
  return { ...state, lastReleaseAt: now };
}

/** Remembers an EC2 capacity error so the next plans back off (or fall back to /32s). */
export function recordCapacityError(
  state: PoolState,
  error: { code: CapacityErrorCode; now: number },
): PoolState {
  return error.code === "InsufficientCidrBlocks"
    ? { ...state, noPrefixesAt: error.now }
    : { ...state, subnetFullAt: error.now };
}

export interface PlanInput {
  readonly view: PoolView;
  readonly settings: PoolSettings;
  readonly now: number;
  readonly state?: PoolState;
  /** ADDs waiting for an address right now. */
  readonly pending?: number;
  /** No growth and no ENI freeing: ipamd is shutting down, or the node is cordoned. */
  readonly hold?: "terminating" | "unschedulable";
  /** First plan after start: prefix mode also drains pod-free /32s (a mode switch). */
  readonly startup?: boolean;
  /** Default: staticPolicy of the settings. */
  readonly policy?: PoolPolicy;
}

export interface AssignAction {
  readonly kind: "assign";
  readonly eniId: string;
  readonly unit: Unit;
  readonly count: number;
}
export interface AllocateEniAction {
  readonly kind: "allocate-eni";
  readonly unit: Unit;
  readonly count: number;
}
export interface ReleaseAction {
  readonly kind: "release";
  readonly eniId: string;
  /** Pod-free, out-of-cooldown CIDRs: remove each from the datastore, then unassign in EC2. */
  readonly cidrs: readonly string[];
  /** over-target; excluded (subnet excluded from pods); wrong-kind (prefix/IP mode switch). */
  readonly cause: "over-target" | "excluded" | "wrong-kind";
}
export interface FreeEniAction {
  readonly kind: "free-eni";
  readonly eniId: string;
}
export type PoolAction = AssignAction | AllocateEniAction | ReleaseAction | FreeEniAction;

export type BlockCode = "held" | "subnet-full" | "max-pods" | "no-room";

export interface Plan {
  /** In order; each is one EC2 step. Stop at the first failure and plan again. */
  readonly actions: readonly PoolAction[];
  /** The pool before the actions (drained CIDRs left out). */
  readonly counts: PoolCounts;
  readonly policy: string;
  /** Below target (before the actions). */
  readonly low: boolean;
  /** Whether the pool could grow now: room for addresses, under max pods, no pause. */
  readonly canGrow: boolean;
  /** Why a low pool does not (fully) grow. */
  readonly blocked?: { readonly code: BlockCode; readonly message: string };
  /** An over-target release waits for pacing until then. */
  readonly releaseDeferredUntil?: number;
  /** One line for the log and `ipamd status`. */
  readonly reason: string;
}

/** Builds the planner's settings from the configuration and the instance's limits. */
export function poolSettings(
  config: Pick<
    Config,
    | "warmEniTarget"
    | "warmIpTarget"
    | "minimumIpTarget"
    | "warmPrefixTarget"
    | "maxEni"
    | "customNetworking"
  >,
  limits: {
    eniLimit: number;
    ipv4PerEni: number;
    maxPods: number;
    unmanagedEnis?: number;
    reservedEniSlots?: number;
  },
): PoolSettings {
  return {
    warmEniTarget: config.warmEniTarget,
    warmIpTarget: config.warmIpTarget,
    minimumIpTarget: config.minimumIpTarget,
    warmPrefixTarget: config.warmPrefixTarget,
    maxEnis: config.maxEni === null ? limits.eniLimit : Math.min(config.maxEni, limits.eniLimit),
    slotsPerEni: limits.ipv4PerEni - 1,
    maxPods: limits.maxPods,
    skipPrimary: config.customNetworking,
    unmanagedEnis: limits.unmanagedEnis ?? 0,
    reservedEniSlots: limits.reservedEniSlots ?? 0,
  };
}
