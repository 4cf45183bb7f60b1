/**
 * The adaptive warm pool (WARM_POOL_MODE=adaptive): keep as many free addresses as the pods
 * arriving during the next growth need, not a fixed number. Upstream's WARM_ENI_TARGET=1
 * holds a whole ENI of idle addresses per node (peers-and-pain §2 item 1); a fixed
 * WARM_IP_TARGET is either too big for a quiet node or too small for a burst, and flaps under
 * churn (#2056).
 *
 * Estimates (the manager feeds ADD times and growth latencies; rates in ADDs per second):
 *   λ        = max(λ_fast, λ_slow): exponentially weighted ADD rates, time constants 10 s and
 *              120 s; the fast one answers a burst within seconds, the slow one steady churn;
 *   λ_held   = the peak of λ, decaying with the 30 s release pacing: releases follow it;
 *   L_ip     = measured latency of adding addresses to an attached ENI (EWMA, weight 0.3;
 *              prior 1 s, spec peers §3.2), L_eni = the same for attaching an ENI (prior 10 s);
 *   q(r, h)  = ⌈μ + z·√μ⌉ with μ = r·h: an upper quantile (z = 2, ≈ 98 %) of the Poisson
 *              number of ADDs in h seconds (0 when μ = 0).
 * Watermarks, in addresses:
 *   low      = q(λ, L_ip) + 1       grow when the usable supply is below this: growth starts
 *                                   when an ADD leaves low − 1, which cover the next L_ip;
 *   lowEni   = q(λ, L_eni) + 1      also grow while supply + the free slots of the attached
 *                                   ENIs are below this (a burst that will need an attach);
 *   batch(r) = ⌈r·G⌉, G = 5 s       a growth covers G of demand (the loop tick), so EC2 sees
 *                                   one grow per G at any rate (Azure-style batches, §1.5);
 *   fill     = low + batch(λ)       a growth fills up to here, across the attached ENIs;
 *   high     = max(q(λ_held, L_ip) + 1 + batch(λ_held), fill) + max(1, batch(λ_held))
 *                                   give back only what is above this, and nothing within
 *                                   30 s of a growth (hysteresis in size and in time);
 *   headroom = one ENI's free slots  when the attached ENIs have fewer free slots (and max
 *                                   pods could use them), attach an ENI with no addresses,
 *                                   beside the loop: a burst then waits for an assign
 *                                   (~0.5 s), not an attach (seconds); it costs one address,
 *                                   the ENI's own, where WARM_ENI_TARGET=1 holds a whole ENI.
 * Usable supply = available + ⌊cooling · min(1, L_ip / IP_COOLDOWN_PERIOD)⌋: addresses in
 * cooldown are not usable; those due back within the next growth count (spread evenly), the
 * rest are held on top (spec §3.5 churn arithmetic: ≈ 30·r). The manager wakes the planner on
 * every ADD in this mode, so the reaction time is the growth latency, not the 5 s loop tick.
 *
 * Bounds: MINIMUM_IP_TARGET is a floor on the total; WARM_IP_TARGET, if set, caps low,
 * lowEni, fill and high (never more free addresses kept than that); max pods and MAX_ENI stay
 * the planner's caps; WARM_ENI_TARGET and WARM_PREFIX_TARGET are ignored. Releases keep the
 * planner's 30 s pacing; an ENI is freed only when the pool without it keeps `high` and the
 * headroom (a one-ENI hysteresis band), and never before it is 60 s old. In prefix mode the
 * same figures count addresses and grow in /28s.
 *
 * `DemandEstimator` keeps the state (fed timestamps by the manager, no clock of its own);
 * `adaptivePolicy` is a pure function of a snapshot of it.
 */

import { type GrowthRoom, type PoolPolicy, PREFIX_SIZE, type WarmTargets } from "./pool_policy.ts";
import type { PoolSettings } from "./pool_types.ts";
import type { PoolCounts, PoolMode } from "./view.ts";

export interface AdaptiveParams {
  /** Time constant of the fast ADD-rate estimate (bursts). */
  readonly fastWindowMs: number;
  /** Time constant of the slow ADD-rate estimate (steady churn). */
  readonly slowWindowMs: number;
  /** Decay of the held peak rate that releases follow (scale-down memory). */
  readonly holdWindowMs: number;
  /** z of the Poisson quantile: how many standard deviations of arrivals to cover. */
  readonly confidence: number;
  /** G: a growth step covers this much demand. */
  readonly batchMs: number;
  /** Latency priors until the node has measured its own (spec §3.2). */
  readonly priorAssignMs: number;
  readonly priorEniMs: number;
  /** Weight of a new latency sample in its EWMA. */
  readonly latencyWeight: number;
  /** Delay between an ADD and the planner seeing it (0: the manager wakes on each ADD). */
  readonly reactionMs: number;
  /** Free slots the attached ENIs keep, in ENIs' worth (an ENI is attached ahead). */
  readonly eniHeadroom: number;
}

export const ADAPTIVE_DEFAULTS: AdaptiveParams = Object.freeze({
  fastWindowMs: 10_000,
  slowWindowMs: 120_000,
  holdWindowMs: 30_000,
  confidence: 2,
  batchMs: 5_000,
  priorAssignMs: 1_000,
  priorEniMs: 10_000,
  latencyWeight: 0.3,
  reactionMs: 0,
  eniHeadroom: 1,
});

/** What the estimator knows at one moment. */
export interface DemandSnapshot {
  /** ADDs per second. */
  readonly fastRate: number;
  readonly slowRate: number;
  /** The peak of both, decaying with the slow time constant: what releases follow. */
  readonly heldRate: number;
  /** Growth latencies in ms: adding addresses to an attached ENI, attaching an ENI. */
  readonly assignMs: number;
  readonly eniMs: number;
  /** Since the last growth that added addresses (Infinity: none yet). */
  readonly sinceGrowMs: number;
}

/** A continuous-time EWMA of an event rate: each event adds 1/τ, the value decays e^(−Δt/τ). */
class RateEwma {
  readonly #tauMs: number;
  #value = 0;
  #at = -Infinity;

  constructor(tauMs: number) {
    this.#tauMs = tauMs;
  }

  add(at: number): void {
    this.#value = this.rate(at) + 1000 / this.#tauMs;
    this.#at = Math.max(this.#at, at);
  }

  /** Raises the value to `value` if it is lower (a decaying peak). */
  raise(value: number, at: number): void {
    this.#value = Math.max(this.rate(at), value);
    this.#at = Math.max(this.#at, at);
  }

  /** Events per second at `at` (times before the last event count as the last event). */
  rate(at: number): number {
    if (this.#value === 0) return 0;
    return this.#value * Math.exp(-Math.max(0, at - this.#at) / this.#tauMs);
  }
}

/** The manager's observations: ADD times and growth latencies. Deterministic, no clock. */
export class DemandEstimator {
  readonly params: AdaptiveParams;
  readonly #fast: RateEwma;
  readonly #slow: RateEwma;
  /** The highest of both rates, decaying with the slow time constant. */
  readonly #held: RateEwma;
  #assignMs?: number;
  #eniMs?: number;
  #grewAt = -Infinity;

  constructor(params: Partial<AdaptiveParams> = {}) {
    this.params = { ...ADAPTIVE_DEFAULTS, ...params };
    this.#fast = new RateEwma(this.params.fastWindowMs);
    this.#slow = new RateEwma(this.params.slowWindowMs);
    this.#held = new RateEwma(this.params.holdWindowMs);
  }

  /** An ADD arrived (served at once or not). */
  observeAdd(at: number): void {
    this.#fast.add(at);
    this.#slow.add(at);
    this.#held.raise(Math.max(this.#fast.rate(at), this.#slow.rate(at)), at);
  }

  /**
   * A growth step that added `addresses` finished at `at` after `ms` (EC2 calls, rate-limit
   * waits and IMDS included). An ENI attached ahead adds none.
   */
  observeGrow(
    sample: { kind: "assign" | "allocate-eni"; ms: number; at: number; addresses: number },
  ): void {
    if (sample.addresses > 0) this.#grewAt = Math.max(this.#grewAt, sample.at);
    const w = this.params.latencyWeight;
    const blend = (old: number | undefined) =>
      old === undefined ? sample.ms : (1 - w) * old + w * sample.ms;
    if (sample.kind === "assign") this.#assignMs = blend(this.#assignMs);
    else this.#eniMs = blend(this.#eniMs);
  }

  snapshot(at: number): DemandSnapshot {
    return {
      fastRate: this.#fast.rate(at),
      slowRate: this.#slow.rate(at),
      heldRate: this.#held.rate(at),
      assignMs: this.#assignMs ?? this.params.priorAssignMs,
      eniMs: this.#eniMs ?? this.params.priorEniMs,
      sinceGrowMs: Math.max(0, at - this.#grewAt),
    };
  }
}

export interface AdaptiveInput {
  readonly demand: DemandSnapshot;
  readonly targets: Pick<WarmTargets, "warmIpTarget" | "minimumIpTarget">;
  /** IP_COOLDOWN_PERIOD in ms. */
  readonly cooldownMs: number;
  /** Addresses per slot: 1 (/32s) or 16 (/28 prefixes). */
  readonly perSlot: number;
  /** Slots per ENI (instance IPv4 per ENI − 1). */
  readonly slotsPerEni: number;
  /** Max pods: the pool never needs more addresses than this. */
  readonly maxPods: number;
  readonly params?: AdaptiveParams;
}

/** The figures of the model, in addresses, for the policy, its name and the tests. */
export interface Watermarks {
  /** ADDs per second that growth follows, and that releases follow. */
  readonly rate: number;
  readonly heldRate: number;
  readonly low: number;
  readonly lowEni: number;
  readonly fill: number;
  readonly high: number;
  /** Free slots the attached ENIs keep (addresses). */
  readonly headroom: number;
  /** Fraction of cooling addresses that count as usable within the next growth. */
  readonly returning: number;
}

export function watermarks(input: AdaptiveInput): Watermarks {
  const p = input.params ?? ADAPTIVE_DEFAULTS;
  const { demand } = input;
  const rate = Math.max(demand.fastRate, demand.slowRate);
  const heldRate = Math.max(rate, demand.heldRate);
  const quantile = (perSecond: number, ms: number) => {
    const mu = perSecond * (p.reactionMs + ms) / 1000;
    return mu > 0 ? Math.ceil(mu + p.confidence * Math.sqrt(mu) - 1e-9) : 0;
  };
  const batch = (perSecond: number) => Math.ceil(perSecond * p.batchMs / 1000 - 1e-9);
  const ceiling = input.targets.warmIpTarget > 0 ? input.targets.warmIpTarget : Infinity;
  const cap = (n: number) => Math.max(1, Math.min(n, ceiling));
  // Growth starts when an ADD leaves low − 1 addresses: those must cover the q ADDs to come.
  const low = cap(quantile(rate, demand.assignMs) + 1);
  const fill = cap(low + batch(rate));
  const heldFill = quantile(heldRate, demand.assignMs) + 1 + batch(heldRate);
  return {
    rate,
    heldRate,
    low,
    lowEni: cap(quantile(rate, demand.eniMs) + 1),
    fill,
    high: cap(Math.max(heldFill, fill) + Math.max(1, batch(heldRate))),
    headroom: Math.ceil(p.eniHeadroom * input.slotsPerEni) * input.perSlot,
    returning: input.cooldownMs > 0
      ? Math.min(1, (p.reactionMs + demand.assignMs) / input.cooldownMs)
      : 0,
  };
}

/** The adaptive policy for one plan. Pure. */
export function adaptivePolicy(input: AdaptiveInput): PoolPolicy {
  const p = input.params ?? ADAPTIVE_DEFAULTS;
  const w = watermarks(input);
  const minimum = input.targets.minimumIpTarget;
  const supply = (c: PoolCounts) => c.available + Math.floor(c.cooling * w.returning);
  const roomOf = (r: GrowthRoom) => r.slots * input.perSlot;
  /** Addresses short of every watermark (0 when none is missed). */
  const deficit = (c: PoolCounts, r?: GrowthRoom) =>
    Math.max(
      w.low - supply(c),
      r && r.attachable > 0 ? w.lowEni - supply(c) - roomOf(r) : 0,
      minimum - c.total,
      0,
    );
  /** The attached ENIs' free slots fall short of the headroom that may still be needed. */
  const wantsEni = (c: PoolCounts, r: GrowthRoom) =>
    r.attachable > 0 && roomOf(r) < Math.min(w.headroom, input.maxPods - c.total);
  return {
    name: `adaptive(rate=${w.rate.toFixed(2)}/s,held=${w.heldRate.toFixed(2)}/s,` +
      `grow=${ms(input.demand.assignMs)}/${ms(input.demand.eniMs)},` +
      `warm=${w.low}-${w.fill}-${w.high},min=${minimum})`,
    isLow: (c, r) => deficit(c, r) > 0,
    growBy(c, unit, r) {
      const addresses = Math.max(1, deficit(c, r), w.fill - supply(c));
      return unit === "prefix" ? Math.ceil(addresses / PREFIX_SIZE) : addresses;
    },
    // Nothing goes back within a hold window of a growth: the pool needed those addresses.
    mayRelease: (c, cidr) =>
      input.demand.sinceGrowMs >= p.holdWindowMs &&
      supply(c) - cidr.size >= w.high && c.total - cidr.size >= minimum,
    mayFreeEni: (after, r) =>
      supply(after) >= w.high && after.total >= minimum && deficit(after, r) === 0 &&
      !wantsEni(after, r),
    eniAhead: wantsEni,
    filled: (c, r) => supply(c) >= w.fill && deficit(c, r) === 0,
  };
}

/** The adaptive mode's state and policy factory, as the manager uses it. */
export class AdaptivePool {
  readonly estimator: DemandEstimator;
  readonly #cooldownMs: number;

  constructor(options: { cooldownMs: number; params?: Partial<AdaptiveParams> }) {
    this.estimator = new DemandEstimator(options.params);
    this.#cooldownMs = options.cooldownMs;
  }

  policy(input: { settings: PoolSettings; mode: PoolMode; now: number }): PoolPolicy {
    return adaptivePolicy({
      demand: this.estimator.snapshot(input.now),
      targets: input.settings,
      cooldownMs: this.#cooldownMs,
      perSlot: input.mode === "prefix-delegation" ? PREFIX_SIZE : 1,
      slotsPerEni: input.settings.slotsPerEni,
      maxPods: input.settings.maxPods,
      params: this.estimator.params,
    });
  }
}

function ms(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(1)}s` : `${Math.round(value)}ms`;
}
