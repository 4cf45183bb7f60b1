/**
 * Warm-pool policies: how big the pool should be. A policy only judges counts (is the pool
 * low, how much to add, may it give a CIDR back); the planner (pool.ts) turns that into EC2
 * actions and adds the rules every policy shares (max-pods cap, pending ADDs, never running
 * dry, pacing). `staticPolicy` is upstream's: WARM_ENI_TARGET, WARM_IP_TARGET with
 * MINIMUM_IP_TARGET, or WARM_PREFIX_TARGET. The demand-driven one is pool_adaptive.ts; it also
 * reads the growth room the planner passes and uses the two optional hooks.
 */

import type { PoolCounts, PoolMode } from "./view.ts";

/** What a growth step is counted in: secondary IPs or /28 prefixes. */
export type Unit = "ip" | "prefix";

export const PREFIX_SIZE = 16;

/** Where the pool can still grow: free slots on attached ENIs, and ENIs still attachable. */
export interface GrowthRoom {
  /** Free /32-or-/28 slots on the attached ENIs that take pod addresses. */
  readonly slots: number;
  /** ENIs that may still be attached (MAX_ENI, instance limit, unmanaged, reserved). */
  readonly attachable: number;
}

export interface PoolPolicy {
  /** For logs and `ipamd status`, e.g. "warm-ip(warm=5,min=10)". */
  readonly name: string;
  /** Whether a pool with these counts (and this room to grow) is below target. */
  isLow(counts: PoolCounts, room?: GrowthRoom): boolean;
  /** Size of the next growth step in `unit`s while the pool is low (≥ 1). */
  growBy(counts: PoolCounts, unit: Unit, room?: GrowthRoom): number;
  /** Whether the pool, being over target, may give back one free CIDR of this kind. */
  mayRelease(
    counts: PoolCounts,
    cidr: { size: number; isPrefix: boolean },
    room?: GrowthRoom,
  ): boolean;
  /**
   * Whether a pod-free ENI may be freed, given the pool and room without it (default: when
   * the pool without it is not low).
   */
  mayFreeEni?(after: PoolCounts, roomAfter: GrowthRoom): boolean;
  /**
   * Whether to attach one more ENI now, with no secondary addresses, so that later growth is
   * a fast assign rather than a slow attach (default: never).
   */
  eniAhead?(counts: PoolCounts, room: GrowthRoom): boolean;
  /**
   * Once a plan grows the pool, whether it has grown enough (default: when no longer low).
   * Lets a growth step span ENIs instead of stopping at the first full one.
   */
  filled?(counts: PoolCounts, room: GrowthRoom): boolean;
}

export interface WarmTargets {
  readonly warmEniTarget: number;
  readonly warmIpTarget: number;
  readonly minimumIpTarget: number;
  readonly warmPrefixTarget: number;
}

/**
 * Upstream's targets (spec §3.5), with one change: addresses in cooldown are not available
 * (the counts already exclude them), so the pool keeps its warm addresses really usable.
 */
export function staticPolicy(
  targets: WarmTargets,
  options: { mode: PoolMode; ipsPerEni: number },
): PoolPolicy {
  const { warmIpTarget: warm, minimumIpTarget: minimum } = targets;
  if (warm > 0 || minimum > 0) {
    const short = (c: PoolCounts) => Math.max(warm - c.available, minimum - c.total, 0);
    return {
      name: `warm-ip(warm=${warm},min=${minimum})`,
      isLow: (c) => short(c) > 0,
      growBy: (c, unit) =>
        Math.max(1, unit === "prefix" ? Math.ceil(short(c) / PREFIX_SIZE) : short(c)),
      mayRelease: (c, cidr) => c.available - cidr.size >= warm && c.total - cidr.size >= minimum,
    };
  }
  if (options.mode === "prefix-delegation") {
    const target = targets.warmPrefixTarget;
    return {
      name: `warm-prefix(${target})`,
      isLow: (c) => c.available < PREFIX_SIZE * target || (target === 0 && c.available === 0),
      growBy: (c, unit) =>
        unit === "prefix"
          ? Math.max(1, target - c.freePrefixes)
          : Math.max(1, PREFIX_SIZE * target - c.available),
      // Prefixes as upstream (free prefixes > target); fallback /32s while IPs stay above it.
      mayRelease: (c, cidr) =>
        cidr.isPrefix ? c.freePrefixes - 1 >= target : c.available - 1 >= PREFIX_SIZE * target,
    };
  }
  const target = targets.warmEniTarget;
  const per = options.ipsPerEni;
  return {
    name: `warm-eni(${target})`,
    isLow: (c) => c.available < per * target || (target === 0 && c.available === 0),
    growBy: () => Math.max(1, per),
    // Upstream never returns single IPs in this mode, only whole ENIs.
    mayRelease: () => false,
  };
}
