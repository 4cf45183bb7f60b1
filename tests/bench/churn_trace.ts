/**
 * The pod trace the churn benchmark replays on one node: seeded, so every run and every
 * policy sees the same pods at the same (simulated) times. 20 minutes:
 *   0–30 s       node starts, no pods (the pool warms up);
 *   30–90 s      rollout: 30 long-lived pods at 0.5/s (Poisson), kept to the end;
 *   90–840 s     steady churn: short-lived pods at 0.25/s (Poisson), each living 60–240 s
 *                (≈ 37 of them at a time, so ≈ 0.25 pods/s start and stop);
 *   600–610 s    burst: a deployment scales up by 40 pods in 10 s; scaled down at 780–800 s;
 *   840–1080 s   quiet: no new pods, the short-lived ones finish;
 *   1080–1200 s  light churn again at 0.1/s.
 * Peak ≈ 105 pods: 4 ENIs on an m5.4xlarge-class node (29 addresses per ENI).
 */

import { Rng } from "../../src/sim/rand.ts";

export interface TracePod {
  readonly name: string;
  readonly kind: "long" | "churn" | "burst";
  /** ms from the start of the trace. */
  readonly arriveAt: number;
  readonly departAt: number;
}

export interface Trace {
  readonly seed: number;
  readonly durationMs: number;
  readonly pods: readonly TracePod[];
  readonly phases: readonly TracePhase[];
}

/** A window of the trace, for figures per phase (ms from the start). */
export interface TracePhase {
  readonly name: string;
  readonly from: number;
  readonly to: number;
}

export const TRACE_DURATION_MS = 1_200_000;

/** Poisson arrival times in [from, to) at `perSecond`. */
function poisson(rng: Rng, options: { from: number; to: number; perSecond: number }): number[] {
  const times: number[] = [];
  let t = options.from;
  for (;;) {
    t += -Math.log(1 - rng.next()) / options.perSecond * 1000;
    if (t >= options.to) return times;
    times.push(Math.round(t));
  }
}

export function churnTrace(seed = 1): Trace {
  const rng = new Rng(seed);
  const pods: TracePod[] = [];
  const add = (kind: TracePod["kind"], arriveAt: number, departAt: number) =>
    pods.push({ name: `${kind}-${pods.length + 1}`, kind, arriveAt, departAt });
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * rng.next();

  for (const at of poisson(rng, { from: 30_000, to: 90_000, perSecond: 0.5 })) {
    add("long", at, Infinity);
  }
  const churn = [
    ...poisson(rng, { from: 90_000, to: 840_000, perSecond: 0.25 }),
    ...poisson(rng, { from: 1_080_000, to: TRACE_DURATION_MS, perSecond: 0.1 }),
  ];
  for (const at of churn) add("churn", at, at + Math.round(uniform(60_000, 240_000)));
  for (let i = 0; i < 40; i++) {
    add("burst", Math.round(uniform(600_000, 610_000)), Math.round(uniform(780_000, 800_000)));
  }
  pods.sort((a, b) => a.arriveAt - b.arriveAt || a.name.localeCompare(b.name));
  return {
    seed,
    durationMs: TRACE_DURATION_MS,
    pods,
    phases: [
      { name: "start+rollout (0-90 s)", from: 0, to: 90_000 },
      { name: "steady churn (90-600 s)", from: 90_000, to: 600_000 },
      { name: "burst and its pods (600-800 s)", from: 600_000, to: 800_000 },
      { name: "after the burst (800-1080 s)", from: 800_000, to: 1_080_000 },
      { name: "light churn (1080-1200 s)", from: 1_080_000, to: TRACE_DURATION_MS },
    ],
  };
}
