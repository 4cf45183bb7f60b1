/**
 * A plain-data picture of one node's pool (ENIs, their CIDRs, how many addresses are assigned
 * or cooling), as the datastore reports it and the planner reads it, plus the counting rules
 * both share. No I/O, no clock: cooling is already resolved when a view is taken.
 */

/** Secondary /32 IPs, or /28 prefixes (prefix delegation). */
export type PoolMode = "secondary-ip" | "prefix-delegation";

export interface CidrView {
  /** "10.0.0.5/32" or "10.0.0.16/28". */
  readonly cidr: string;
  readonly isPrefix: boolean;
  /** Addresses in the CIDR: 1 for a /32, 16 for a /28. */
  readonly size: number;
  /** Addresses held by a pod. */
  readonly assigned: number;
  /** Addresses released by a pod less than IP_COOLDOWN_PERIOD ago. */
  readonly cooling: number;
}

export interface EniView {
  readonly id: string;
  readonly deviceNumber: number;
  readonly isPrimary: boolean;
  readonly isTrunk: boolean;
  readonly isEfa: boolean;
  /** In a subnet tagged kubernetes.io/role/cni=0: its addresses are not handed out. */
  readonly excluded: boolean;
  /** When the ENI entered the datastore (ms since the epoch). */
  readonly createdAt: number;
  readonly cidrs: readonly CidrView[];
}

export interface PoolView {
  readonly mode: PoolMode;
  readonly enis: readonly EniView[];
}

export interface PoolCounts {
  /** Addresses in counted CIDRs. */
  readonly total: number;
  readonly assigned: number;
  readonly cooling: number;
  /** Free and out of cooldown: what an ADD can get now (total − assigned − cooling). */
  readonly available: number;
  /** Counted /28 prefixes, and those with no assigned and no cooling address. */
  readonly prefixes: number;
  readonly freePrefixes: number;
}

/**
 * The CIDRs of an ENI whose addresses belong to the pool. Excluded and trunk ENIs have none.
 * Secondary-IP mode counts /32s only (prefixes left from prefix mode are drained); prefix mode
 * counts prefixes and also /32s, which it adds when the subnet has no free /28 (fallback).
 */
export function countedCidrs(mode: PoolMode, eni: EniView): readonly CidrView[] {
  if (eni.excluded || eni.isTrunk) return [];
  return mode === "prefix-delegation" ? eni.cidrs : eni.cidrs.filter((c) => !c.isPrefix);
}

export const EMPTY_COUNTS: PoolCounts = Object.freeze({
  total: 0,
  assigned: 0,
  cooling: 0,
  available: 0,
  prefixes: 0,
  freePrefixes: 0,
});

export function countEni(mode: PoolMode, eni: EniView): PoolCounts {
  const counts = { total: 0, assigned: 0, cooling: 0, available: 0, prefixes: 0, freePrefixes: 0 };
  for (const cidr of countedCidrs(mode, eni)) {
    counts.total += cidr.size;
    counts.assigned += cidr.assigned;
    counts.cooling += cidr.cooling;
    counts.available += cidr.size - cidr.assigned - cidr.cooling;
    if (cidr.isPrefix) {
      counts.prefixes++;
      if (cidr.assigned === 0 && cidr.cooling === 0) counts.freePrefixes++;
    }
  }
  return counts;
}

export function addCounts(a: PoolCounts, b: PoolCounts): PoolCounts {
  return {
    total: a.total + b.total,
    assigned: a.assigned + b.assigned,
    cooling: a.cooling + b.cooling,
    available: a.available + b.available,
    prefixes: a.prefixes + b.prefixes,
    freePrefixes: a.freePrefixes + b.freePrefixes,
  };
}

export function subtractCounts(a: PoolCounts, b: PoolCounts): PoolCounts {
  return addCounts(a, {
    total: -b.total,
    assigned: -b.assigned,
    cooling: -b.cooling,
    available: -b.available,
    prefixes: -b.prefixes,
    freePrefixes: -b.freePrefixes,
  });
}

export function countPool(view: PoolView): PoolCounts {
  return view.enis.reduce((sum, eni) => addCounts(sum, countEni(view.mode, eni)), EMPTY_COUNTS);
}
