/**
 * Warm-pool planning (spec §3.5), pure: from a datastore view, the settings, the pool state
 * and the time, compute what the pool needs next — assign IPs or prefixes to an ENI, allocate
 * an ENI, release free CIDRs, free an ENI — or nothing, with the reason. The manager applies
 * the actions through EC2, commits the results to the datastore, records failures in the
 * state (recordCapacityError) and plans again; a plan is one step, so it re-plans right after
 * a step succeeds. Beyond upstream:
 * - the pool never grows past max pods (and gives back what is above it);
 * - addresses in cooldown are not available, are not released and keep their ENI;
 * - in prefix mode, after InsufficientCidrBlocks (no free /28 in the subnet) the pool grows
 *   with /32 secondary IPs on the same ENIs instead of pausing, and still reaches its targets;
 * - ADDs waiting for an address (`pending`) are demand, and a pool that can grow never stays
 *   empty (upstream stops at MINIMUM_IP_TARGET when WARM_IP_TARGET is 0, issue #2650);
 * - a policy may ask for an ENI attached ahead of demand, with no addresses (`eniAhead`), and
 *   veto freeing one (`mayFreeEni`); the static policies do neither.
 */

import {
  type GrowthRoom,
  type PoolPolicy,
  PREFIX_SIZE,
  staticPolicy,
  type Unit,
} from "./pool_policy.ts";
import {
  type AllocateEniAction,
  type AssignAction,
  CAPACITY_BACKOFF_MS,
  type FreeEniAction,
  MIN_ENI_AGE_MS,
  type Plan,
  type PlanInput,
  type PoolAction,
  type PoolSettings,
  RELEASE_INTERVAL_MS,
  type ReleaseAction,
} from "./pool_types.ts";
import {
  addCounts,
  type CidrView,
  countedCidrs,
  countEni,
  countPool,
  type EniView,
  type PoolCounts,
  type PoolView,
  subtractCounts,
} from "./view.ts";

export type { GrowthRoom, PoolPolicy, Unit, WarmTargets } from "./pool_policy.ts";
export { PREFIX_SIZE, staticPolicy } from "./pool_policy.ts";

export * from "./pool_types.ts";

interface Context {
  readonly input: PlanInput;
  readonly settings: PoolSettings;
  readonly policy: PoolPolicy;
  readonly pending: number;
}

/** Computes the next step for the pool. Pure. */
export function planPool(input: PlanInput): Plan {
  const { view, settings, now } = input;
  const state = input.state ?? {};
  const policy = input.policy ?? staticPolicy(settings, {
    mode: view.mode,
    ipsPerEni: view.mode === "prefix-delegation"
      ? settings.slotsPerEni * PREFIX_SIZE
      : settings.slotsPerEni,
  });
  const ctx: Context = { input, settings, policy, pending: input.pending ?? 0 };
  const noPrefixes = inBackoff(state.noPrefixesAt, now);
  const subnetFull = inBackoff(state.subnetFullAt, now);

  const drains = drainActions(view, { startup: (input.startup ?? false) && !noPrefixes });
  const drained = new Set(drains.flatMap((d) => d.cidrs));
  const pool: PoolView = {
    mode: view.mode,
    enis: view.enis.map((eni) => ({
      ...eni,
      cidrs: eni.cidrs.filter((c) => !drained.has(c.cidr)),
    })),
  };
  const counts = countPool(pool);
  const unit: Unit = view.mode === "prefix-delegation" && !noPrefixes ? "prefix" : "ip";
  const room = growthRoom(pool, settings);
  const roomNow = summarizeRoom(room);
  const low = isLow(counts, ctx, roomNow);
  const canGrow = !input.hold && !subnetFull && counts.total < settings.maxPods &&
    (room.candidates.some((e) => room.free.get(e.id)! > 0) || room.newEnis > 0);
  const capped = !low && wantsMore(counts, ctx, roomNow);
  const mayAttach = !input.hold && !subnetFull;
  const base = {
    counts,
    policy: policy.name,
    low,
    canGrow,
    ...(capped
      ? {
        blocked: {
          code: "max-pods" as const,
          message:
            `the pool holds ${counts.total} addresses, as many as max pods (${settings.maxPods})`,
        },
      }
      : {}),
  };
  const summary =
    `total ${counts.total}, assigned ${counts.assigned}, cooling ${counts.cooling}, ` +
    `available ${counts.available}; ${policy.name}`;

  if (low) {
    let blocked: Plan["blocked"];
    let grown: PoolAction[] = [];
    if (input.hold) {
      blocked = { code: "held", message: `not growing: ${input.hold}` };
    } else if (subnetFull) {
      blocked = {
        code: "subnet-full",
        message:
          `not growing until ${
            new Date(state.subnetFullAt! + CAPACITY_BACKOFF_MS).toISOString()
          }: ` +
          `the subnet had no free addresses`,
      };
    } else {
      const result = grow(counts, { ctx, room, unit });
      grown = result.actions;
      blocked = result.blocked;
      const ahead = blocked ? undefined : eniAheadAction(result.counts, {
        ctx,
        room: result.room,
        unit,
      });
      if (ahead) grown.push(ahead);
    }
    const actions = [...drains, ...grown];
    const what = grown.map(describeAction).join(", ");
    return {
      ...base,
      actions,
      ...(blocked ? { blocked } : {}),
      reason: `pool low (${summary})` + (what ? `: ${what}` : "") +
        (blocked ? `; ${blocked.message}` : "") +
        (unit === "ip" && view.mode === "prefix-delegation"
          ? "; no free /28 in the subnet, using /32s"
          : ""),
    };
  }

  const ahead = mayAttach ? eniAheadAction(counts, { ctx, room: roomNow, unit }) : undefined;
  if (ahead) {
    const actions = [...drains, ahead];
    return { ...base, actions, reason: `${actions.map(describeAction).join(", ")} (${summary})` };
  }
  const releases = overTargetReleases(pool, { counts, ctx, room: roomNow });
  const paceUntil = (state.lastReleaseAt ?? -Infinity) + RELEASE_INTERVAL_MS;
  if (releases.length > 0 && now < paceUntil) {
    const free = input.hold ? undefined : freeEniAction(pool, { counts, ctx, room });
    return {
      ...base,
      actions: [...drains, ...(free && drains.length === 0 ? [free] : [])],
      releaseDeferredUntil: paceUntil,
      reason: `pool over target (${summary}); next release after ${
        new Date(paceUntil).toISOString()
      }`,
    };
  }
  if (releases.length > 0 || drains.length > 0) {
    const actions = [...drains, ...releases];
    return { ...base, actions, reason: `${actions.map(describeAction).join(", ")} (${summary})` };
  }
  const free = input.hold ? undefined : freeEniAction(pool, { counts, ctx, room });
  if (free) return { ...base, actions: [free], reason: `${describeAction(free)} (${summary})` };
  return {
    ...base,
    actions: [],
    reason: capped ? `pool at max pods (${summary})` : `pool at target (${summary})`,
  };
}

function inBackoff(at: number | undefined, now: number): boolean {
  return at !== undefined && now - at < CAPACITY_BACKOFF_MS;
}

/** Low: below the policy's target, below pending demand, or empty — but never at max pods. */
function isLow(counts: PoolCounts, ctx: Context, room: GrowthRoom): boolean {
  return counts.total < ctx.settings.maxPods && wantsMore(counts, ctx, room);
}

function wantsMore(counts: PoolCounts, ctx: Context, room: GrowthRoom): boolean {
  return ctx.policy.isLow(counts, room) || counts.available < Math.max(1, ctx.pending);
}

interface Room {
  /** ENIs that may get more addresses, in order. */
  readonly candidates: readonly EniView[];
  /** Free slots per candidate. */
  readonly free: Map<string, number>;
  /** ENIs that may still be attached. */
  newEnis: number;
}

function summarizeRoom(room: Room): GrowthRoom {
  let slots = 0;
  for (const free of room.free.values()) slots += free;
  return { slots, attachable: room.newEnis };
}

function growthRoom(view: PoolView, settings: PoolSettings): Room {
  const candidates = view.enis.filter((eni) =>
    !eni.isTrunk && !eni.excluded && !(settings.skipPrimary && eni.isPrimary)
  );
  return {
    candidates,
    free: new Map(
      candidates.map((e) => [e.id, Math.max(0, settings.slotsPerEni - e.cidrs.length)]),
    ),
    newEnis: Math.max(
      0,
      settings.maxEnis - settings.unmanagedEnis - settings.reservedEniSlots - view.enis.length,
    ),
  };
}

interface Grown {
  actions: Array<AssignAction | AllocateEniAction>;
  blocked?: Plan["blocked"];
  /** The pool and its room after the actions. */
  counts: PoolCounts;
  room: GrowthRoom;
}

/**
 * Growth steps until the (simulated) pool is no longer low and, if the policy says when,
 * filled (on the attached ENIs), or nothing more fits.
 */
function grow(counts: PoolCounts, options: { ctx: Context; room: Room; unit: Unit }): Grown {
  const { ctx, room, unit } = options;
  const { settings } = ctx;
  const size = unit === "prefix" ? PREFIX_SIZE : 1;
  const actions: Array<AssignAction | AllocateEniAction> = [];
  let sim = counts;
  let simRoom = summarizeRoom(room);
  const { filled } = ctx.policy;
  const unfilled = () =>
    filled !== undefined && sim.total < settings.maxPods && !filled(sim, simRoom);
  for (let guard = 0; guard < 1000; guard++) {
    const low = isLow(sim, ctx, simRoom);
    if (!low && !unfilled()) break;
    const amount = stepSize(sim, { ctx, unit, room: simRoom });
    const eni = room.candidates.find((e) => room.free.get(e.id)! > 0);
    // Filling up (not low) uses the attached ENIs' free slots only, never a slow attach.
    if (!low && !eni) break;
    let count: number;
    if (eni) {
      count = Math.min(amount, room.free.get(eni.id)!);
      room.free.set(eni.id, room.free.get(eni.id)! - count);
      const index = actions.findIndex((a) => a.kind === "assign" && a.eniId === eni.id);
      const previous = actions[index];
      if (previous?.kind === "assign") {
        actions[index] = { ...previous, count: previous.count + count };
      } else actions.push({ kind: "assign", eniId: eni.id, unit, count });
      simRoom = { ...simRoom, slots: simRoom.slots - count };
    } else if (room.newEnis > 0) {
      count = Math.min(amount, settings.slotsPerEni);
      room.newEnis--;
      actions.push({ kind: "allocate-eni", unit, count });
      simRoom = {
        slots: simRoom.slots + settings.slotsPerEni - count,
        attachable: simRoom.attachable - 1,
      };
    } else {
      return {
        actions,
        counts: sim,
        room: simRoom,
        blocked: {
          code: "no-room",
          message: `every ENI is full and the node has its ${settings.maxEnis} ENIs ` +
            `(${settings.unmanagedEnis} unmanaged, ${settings.reservedEniSlots} reserved)`,
        },
      };
    }
    for (let i = 0; i < count; i++) sim = addCounts(sim, freeCidrCounts(size, unit === "prefix"));
  }
  return { actions, counts: sim, room: simRoom };
}

/**
 * An ENI with no addresses, attached ahead of demand when the policy asks for one, after any
 * growth of the plan. The manager applies a plan's steps in turn, so the policy must only ask
 * when the free addresses last through the attach.
 */
function eniAheadAction(
  counts: PoolCounts,
  options: { ctx: Context; room: GrowthRoom; unit: Unit },
): AllocateEniAction | undefined {
  const { ctx, room, unit } = options;
  if (!ctx.policy.eniAhead || room.attachable <= 0) return undefined;
  if (counts.total >= ctx.settings.maxPods || !ctx.policy.eniAhead(counts, room)) return undefined;
  return { kind: "allocate-eni", unit, count: 0 };
}

/** The policy's step, raised to cover waiting ADDs, capped by max pods. */
function stepSize(
  counts: PoolCounts,
  options: { ctx: Context; unit: Unit; room: GrowthRoom },
): number {
  const { ctx, unit } = options;
  const inUnits = (addresses: number) =>
    unit === "prefix" ? Math.ceil(addresses / PREFIX_SIZE) : addresses;
  let amount = ctx.policy.growBy(counts, unit, options.room);
  const needed = Math.max(1, ctx.pending) - counts.available;
  if (needed > 0) amount = Math.max(amount, inUnits(needed));
  return Math.max(1, Math.min(amount, inUnits(ctx.settings.maxPods - counts.total)));
}

/** What one empty CIDR adds to the pool. */
function freeCidrCounts(size: number, isPrefix: boolean): PoolCounts {
  const prefixes = isPrefix ? 1 : 0;
  return {
    total: size,
    assigned: 0,
    cooling: 0,
    available: size,
    prefixes,
    freePrefixes: prefixes,
  };
}

function isFree(cidr: CidrView): boolean {
  return cidr.assigned === 0 && cidr.cooling === 0;
}

/** Pod-free CIDRs that are not part of the pool: on excluded ENIs, or of the other mode. */
function drainActions(view: PoolView, options: { startup: boolean }): ReleaseAction[] {
  const actions: ReleaseAction[] = [];
  for (const eni of view.enis) {
    const free = eni.cidrs.filter(isFree);
    if (eni.excluded) {
      if (free.length > 0) {
        actions.push({
          kind: "release",
          eniId: eni.id,
          cidrs: free.map((c) => c.cidr),
          cause: "excluded",
        });
      }
      continue;
    }
    const wrong = free.filter((c) =>
      view.mode === "secondary-ip" ? c.isPrefix : options.startup && !c.isPrefix
    );
    if (wrong.length > 0) {
      actions.push({
        kind: "release",
        eniId: eni.id,
        cidrs: wrong.map((c) => c.cidr),
        cause: "wrong-kind",
      });
    }
  }
  return actions;
}

/**
 * Free CIDRs the pool can give back while staying at target: newest ENIs first, and in
 * prefix mode fallback /32s before prefixes. Above max pods, back down to it.
 */
function overTargetReleases(
  view: PoolView,
  options: { counts: PoolCounts; ctx: Context; room: GrowthRoom },
): ReleaseAction[] {
  const { counts, ctx } = options;
  let room = options.room;
  const kinds = view.mode === "prefix-delegation" ? [false, true] : [false];
  const picked = new Map<string, string[]>();
  let sim = counts;
  for (const prefixes of kinds) {
    for (const eni of [...view.enis].reverse()) {
      for (const cidr of [...countedCidrs(view.mode, eni)].reverse()) {
        if (cidr.isPrefix !== prefixes || !isFree(cidr)) continue;
        const after = subtractCounts(sim, freeCidrCounts(cidr.size, cidr.isPrefix));
        const roomAfter = { ...room, slots: room.slots + 1 };
        const wanted = ctx.policy.mayRelease(sim, cidr, room) ||
          after.total >= ctx.settings.maxPods;
        if (!wanted || isLow(after, ctx, roomAfter)) continue;
        picked.set(eni.id, [...(picked.get(eni.id) ?? []), cidr.cidr]);
        sim = after;
        room = roomAfter;
      }
    }
  }
  return [...picked].map(([eniId, cidrs]) => ({
    kind: "release",
    eniId,
    cidrs,
    cause: "over-target",
  }));
}

/**
 * One ENI that can go (upstream's rules): not primary, trunk or EFA; old enough; no pod and
 * no address in cooldown; and the pool without it is not low (nor vetoed by the policy).
 * Newest first.
 */
function freeEniAction(
  view: PoolView,
  options: { counts: PoolCounts; ctx: Context; room: Room },
): FreeEniAction | undefined {
  const { counts, ctx, room } = options;
  const roomNow = summarizeRoom(room);
  for (const eni of [...view.enis].reverse()) {
    if (eni.isPrimary || eni.isTrunk || eni.isEfa) continue;
    if (ctx.input.now - eni.createdAt < MIN_ENI_AGE_MS) continue;
    if (eni.cidrs.some((c) => c.assigned > 0 || c.cooling > 0)) continue;
    const after = subtractCounts(counts, countEni(view.mode, eni));
    const roomAfter = {
      slots: roomNow.slots - (room.free.get(eni.id) ?? 0),
      attachable: roomNow.attachable + 1,
    };
    if (isLow(after, ctx, roomAfter)) continue;
    if (ctx.policy.mayFreeEni && !ctx.policy.mayFreeEni(after, roomAfter)) continue;
    return { kind: "free-eni", eniId: eni.id };
  }
  return undefined;
}

export function describeAction(action: PoolAction): string {
  const units = (unit: Unit, n: number) =>
    `${n} ${unit === "prefix" ? "prefix" : "IP"}${n === 1 ? "" : unit === "prefix" ? "es" : "s"}`;
  switch (action.kind) {
    case "assign":
      return `assign ${units(action.unit, action.count)} to ${action.eniId}`;
    case "allocate-eni":
      return action.count === 0
        ? "allocate an ENI ahead of demand, with no addresses yet"
        : `allocate an ENI with ${units(action.unit, action.count)}`;
    case "release":
      return `release ${action.cidrs.length} CIDR${
        action.cidrs.length === 1 ? "" : "s"
      } from ${action.eniId} (${action.cause})`;
    case "free-eni":
      return `free ${action.eniId}`;
  }
}
