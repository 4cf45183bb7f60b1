/**
 * One replay of the churn trace on a virtual node (tests/lab/virtual_node.ts) with one warm-
 * pool policy: pods ADD at their arrival time (waiting up to POD_IP_WAIT_SECONDS=30 like
 * ipamd's RPC handler), are DELeted at their departure time, and the node's idle addresses
 * are integrated over the simulated time.
 */

import type { WarmTargets } from "../../src/ipam/pool.ts";
import type { AdaptiveParams } from "../../src/ipam/pool_adaptive.ts";
import { countPool } from "../../src/ipam/view.ts";
import { VirtualNode, withSeededRandom } from "../lab/virtual_node.ts";
import type { Trace } from "./churn_trace.ts";

/** m5.4xlarge: 8 ENIs × 30 IPv4 (29 for pods per ENI), max pods 234. */
export const INSTANCE = { name: "m5.4xlarge", maxEnis: 8, ipv4PerEni: 30, maxPods: 234 };
const POD_IP_WAIT_MS = 30_000;

export interface PolicyCase {
  readonly id: string;
  readonly label: string;
  readonly targets?: Partial<WarmTargets>;
  readonly adaptive?: Partial<AdaptiveParams>;
}

export interface PolicyRun {
  policy: string;
  label: string;
  seed: number;
  /** Subnet addresses held by no pod: pool addresses free or cooling, plus secondary ENIs' own. */
  idle: { mean: number; max: number; byPhase: Record<string, number> };
  /** Free and out of cooldown; cooling (released < IP_COOLDOWN_PERIOD ago). Means. */
  available: number;
  cooling: number;
  enisMax: number;
  ec2: { mutating: number; describe: number; byAction: Record<string, number> };
  /** Time the EC2 client's rate limiter held calls back (ms, simulated). */
  rateLimitWaitMs: number;
  pods: {
    total: number;
    started: number;
    failed: number;
    /** Still waiting when the trace ended (should be 0). */
    unfinished: number;
    /** Wait of each pod that waited, ms, ascending. */
    waitsMs: number[];
  };
  /** EC2 limit violations by the planner (should be none). */
  violations: string[];
  /** Real time this replay took. */
  wallMs: number;
}

export const round = (value: number, digits = 2): number => Number(value.toFixed(digits));

/**
 * Replays the trace on a fresh virtual node with one policy. Math.random (retry jitter in
 * EniOps and the manager) is seeded for the replay, so a seed gives the same run every time.
 */
export function replay(trace: Trace, policy: PolicyCase): Promise<PolicyRun> {
  return withSeededRandom(trace.seed, () => replayOnce(trace, policy));
}

async function replayOnce(trace: Trace, policy: PolicyCase): Promise<PolicyRun> {
  const started = performance.now();
  const node = new VirtualNode({
    instance: INSTANCE,
    seed: trace.seed,
    ...(policy.targets ? { targets: policy.targets } : {}),
    ...(policy.adaptive ? { adaptive: policy.adaptive } : {}),
  });
  const { clock, ds, manager } = node;
  const t0 = clock.now();
  const sums = { idle: 0, available: 0, cooling: 0 };
  const phaseSums = trace.phases.map(() => 0);
  let idleMax = 0;
  let enisMax = 0;
  clock.onAdvance = (from, to) => {
    const view = ds.view();
    const c = countPool(view);
    // Secondary ENIs' own primary addresses are taken from the subnet and serve no pod.
    const idle = c.total - c.assigned + view.enis.length - 1;
    sums.idle += idle * (to - from);
    sums.available += c.available * (to - from);
    sums.cooling += c.cooling * (to - from);
    trace.phases.forEach((phase, i) => {
      const overlap = Math.min(to - t0, phase.to) - Math.max(from - t0, phase.from);
      if (overlap > 0) phaseSums[i]! += idle * overlap;
    });
    idleMax = Math.max(idleMax, idle);
    enisMax = Math.max(enisMax, view.enis.length);
  };

  const waits: number[] = [];
  let failed = 0;
  let pending = 0;
  for (const pod of trace.pods) {
    clock.setTimer(() => {
      const key = { networkName: "aws-cni", containerId: pod.name, ifName: "eth0" };
      pending++;
      manager.acquire(key, {
        pod: { podNamespace: "default", podName: pod.name },
        waitMs: POD_IP_WAIT_MS,
      }).then(({ waitedMs }) => {
        pending--;
        waits.push(waitedMs);
        if (pod.departAt === Infinity) return;
        // Deleted on schedule, or right after it started if that was later (as ipam.del).
        clock.setTimer(() => {
          ds.release(key);
          manager.wake();
        }, Math.max(0, t0 + pod.departAt - clock.now()));
      }, () => {
        pending--;
        failed++;
      });
    }, pod.arriveAt);
  }

  node.start();
  await clock.runUntil(t0 + trace.durationMs);
  const unfinished = pending;
  await node.stop();

  return {
    policy: policy.id,
    label: policy.label,
    seed: trace.seed,
    idle: {
      mean: round(sums.idle / trace.durationMs),
      max: idleMax,
      byPhase: Object.fromEntries(
        trace.phases.map((
          phase,
          i,
        ) => [phase.name, round(phaseSums[i]! / (phase.to - phase.from))]),
      ),
    },
    available: round(sums.available / trace.durationMs),
    cooling: round(sums.cooling / trace.durationMs),
    enisMax,
    ec2: node.ec2.callCounts(),
    rateLimitWaitMs: Math.round(node.ec2.rateLimitWaitMs),
    pods: {
      total: trace.pods.length,
      started: waits.length,
      failed,
      unfinished,
      waitsMs: waits.filter((ms) => ms > 0).sort((a, b) => a - b),
    },
    violations: [...node.ec2.violations],
    wallMs: Math.round(performance.now() - started),
  };
}
