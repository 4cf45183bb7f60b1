// deno-lint-ignore-file no-console -- benchmark output
/**
 * Pool economy under churn (issue 7): a seeded 20-minute pod trace (churn_trace.ts: rollout,
 * steady churn, a 40-pod burst, a quiet period) replayed on one m5.4xlarge-class node for
 * three warm-pool policies, over several seeds:
 *   - upstream's default, WARM_ENI_TARGET=1;
 *   - WARM_IP_TARGET=8, as a user would tune it: the trace's steady rate is 0.25 pods/s and
 *     8 free addresses cover ~30 s of it (the release pacing), inside the 5–10 range the docs'
 *     examples use; bursts are left to the pool's growth;
 *   - ours, WARM_POOL_MODE=adaptive (src/ipam/pool_adaptive.ts), default parameters.
 * Figures: idle addresses held (subnet addresses the node holds that no pod uses: free and
 * cooling pool addresses, plus each secondary ENI's primary address), time-weighted mean and
 * max; EC2 mutating calls; pod starts that waited for an address and how long (p50/p99 of
 * those that waited); pods whose ADD failed (POD_IP_WAIT_SECONDS=30).
 *
 * Simulated time: the real PoolManager, planner, datastore and EniOps run on a virtual clock
 * against an EC2/IMDS stand-in with the simulator's realistic latency model and the EC2
 * client's rate limits (tests/lab/virtual_ec2.ts); 20 minutes replay in about a second.
 *   deno run -A tests/bench/churn_bench.ts [--seeds 1,2,3,4,5] [--json]
 */

import { churnTrace, TRACE_DURATION_MS } from "./churn_trace.ts";
import { INSTANCE, type PolicyCase, type PolicyRun, replay, round } from "./churn_replay.ts";
import type { Figure } from "./bench_api.ts";

export { INSTANCE, type PolicyCase, type PolicyRun, replay } from "./churn_replay.ts";

export const TUNED_WARM_IP_TARGET = 8;
export const DEFAULT_SEEDS = [1, 2, 3, 4, 5];

export const POLICIES: readonly PolicyCase[] = [
  { id: "upstream-default", label: "WARM_ENI_TARGET=1", targets: { warmEniTarget: 1 } },
  {
    id: "tuned-warm-ip",
    label: `WARM_IP_TARGET=${TUNED_WARM_IP_TARGET}`,
    targets: { warmIpTarget: TUNED_WARM_IP_TARGET },
  },
  { id: "adaptive", label: "WARM_POOL_MODE=adaptive", adaptive: {} },
];

/** One policy over all seeds. */
export interface PolicyTotals {
  policy: string;
  label: string;
  /** Mean over the seeds of the time-weighted mean; max over all. */
  idleMean: number;
  idleMax: number;
  idleByPhase: Record<string, number>;
  /** EC2 mutating calls per 20-minute trace (mean over the seeds). */
  mutatingCalls: number;
  /** Pod starts that waited, all seeds together, and their waits pooled. */
  waited: number;
  waitP50Ms: number | null;
  waitP99Ms: number | null;
  failed: number;
  pods: number;
  unfinished: number;
  violations: number;
}

export interface SummaryRow {
  figure: string;
  ours: number | null;
  reference: number | null;
  /** ours / reference; null when the reference is 0 or missing. */
  ratio: number | null;
}

export interface ChurnResult {
  benchmark: "churn";
  /** e.g. "simulated time, 5 × 20 minutes of trace in 7.9 s". */
  timing: string;
  instance: typeof INSTANCE;
  trace: { seeds: number[]; minutes: number; phases: readonly string[] };
  totals: PolicyTotals[];
  runs: PolicyRun[];
  summary: SummaryRow[];
  figures: Figure[];
  notes: string[];
  wallSeconds: number;
}

export interface ChurnOptions {
  seeds?: readonly number[];
  log?: (line: string) => void;
}

/** Nearest-rank percentile of sorted samples. */
function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

function totals(runs: PolicyRun[]): PolicyTotals {
  const first = runs[0]!;
  const waits = runs.flatMap((r) => r.pods.waitsMs).sort((a, b) => a - b);
  return {
    policy: first.policy,
    label: first.label,
    idleMean: round(mean(runs.map((r) => r.idle.mean))),
    idleMax: Math.max(...runs.map((r) => r.idle.max)),
    idleByPhase: Object.fromEntries(
      Object.keys(first.idle.byPhase).map((
        k,
      ) => [k, round(mean(runs.map((r) => r.idle.byPhase[k]!)))]),
    ),
    mutatingCalls: round(mean(runs.map((r) => r.ec2.mutating)), 1),
    waited: waits.length,
    waitP50Ms: percentile(waits, 0.5),
    waitP99Ms: percentile(waits, 0.99),
    failed: runs.reduce((n, r) => n + r.pods.failed, 0),
    pods: runs.reduce((n, r) => n + r.pods.total, 0),
    unfinished: runs.reduce((n, r) => n + r.pods.unfinished, 0),
    violations: runs.reduce((n, r) => n + r.violations.length, 0),
  };
}

const FIGURES: ReadonlyArray<
  { name: string; unit: string; of: (t: PolicyTotals) => number | null }
> = [
  { name: "idle addresses, time-weighted mean", unit: "addresses", of: (t) => t.idleMean },
  { name: "idle addresses, max", unit: "addresses", of: (t) => t.idleMax },
  { name: "EC2 mutating calls per trace", unit: "calls", of: (t) => t.mutatingCalls },
  { name: "pod starts that waited", unit: "pods", of: (t) => t.waited },
  { name: "wait p50 of pods that waited", unit: "ms", of: (t) => t.waitP50Ms },
  { name: "wait p99 of pods that waited", unit: "ms", of: (t) => t.waitP99Ms },
  { name: "pods failed", unit: "pods", of: (t) => t.failed },
];

function compare(ours: PolicyTotals, references: PolicyTotals[]) {
  const summary: SummaryRow[] = [];
  const figures: Figure[] = [];
  for (const f of FIGURES) {
    for (const ref of references) {
      const a = f.of(ours);
      const b = f.of(ref);
      const figure = `${f.name} (vs ${ref.label})`;
      summary.push({
        figure,
        ours: a,
        reference: b,
        ratio: a !== null && b !== null && b !== 0 ? round(a / b, 3) : null,
      });
      figures.push({
        name: `churn: ${figure}`,
        value: a ?? 0,
        unit: f.unit,
        ...(b === null ? {} : { reference: { name: ref.label, value: b } }),
        ...(a === null ? { context: "no pod waited" } : {}),
      });
    }
  }
  return { summary, figures };
}

/** Runs the benchmark: every policy on every seed's trace. JSON-serialisable result. */
export async function runChurnBench(options: ChurnOptions = {}): Promise<ChurnResult> {
  const log = options.log ?? (() => {});
  const seeds = [...(options.seeds ?? DEFAULT_SEEDS)];
  const started = performance.now();
  const runs: PolicyRun[] = [];
  for (const seed of seeds) {
    const trace = churnTrace(seed);
    for (const policy of POLICIES) {
      const run = await replay(trace, policy);
      log(
        `seed ${seed} ${policy.label}: idle mean ${run.idle.mean}, waited ` +
          `${run.pods.waitsMs.length}, EC2 mutating ${run.ec2.mutating} (${run.wallMs} ms)`,
      );
      runs.push(run);
    }
  }
  const wallSeconds = round((performance.now() - started) / 1000);
  const perPolicy = POLICIES.map((p) => totals(runs.filter((r) => r.policy === p.id)));
  const [upstream, tuned, ours] = perPolicy as [PolicyTotals, PolicyTotals, PolicyTotals];
  const { summary, figures } = compare(ours, [upstream, tuned]);
  const minutes = TRACE_DURATION_MS / 60_000;
  const timing = `simulated time, ${seeds.length} × ${minutes} minutes of trace × ` +
    `${POLICIES.length} policies in ${wallSeconds} s`;
  const notes = [
    `${timing}: the real PoolManager, planner, datastore and EniOps on a virtual clock, against ` +
    "an EC2/IMDS stand-in with the simulator's realistic latencies (Assign ~0.5 s, new ENI ~4 s " +
    "with a 2 s IMDS lag) and the EC2 client's rate limit (1 mutating call/s, burst 10).",
    "idle = subnet addresses the node holds that no pod uses: free and cooling pool addresses " +
    "(IP_COOLDOWN_PERIOD=30 s) plus the primary address of each secondary ENI; a pod " +
    '"waited" when its ADD found no free address; waits are pooled over the seeds.',
    "adaptive mode also wakes the planner on every ADD and attaches its spare ENI in the " +
    "background; the references run as static mode does (5 s loop, waiting ADDs wake it).",
  ];
  for (const t of perPolicy) {
    if (t.violations > 0 || t.unfinished > 0) {
      notes.push(
        `${t.label}: ${t.violations} EC2 limit violations, ${t.unfinished} ADDs still ` +
          "waiting at the end of a trace",
      );
    }
  }
  return {
    benchmark: "churn",
    timing,
    instance: INSTANCE,
    trace: {
      seeds,
      minutes,
      phases: [
        "0-30 s: node start, no pods",
        "30-90 s: rollout of 30 long-lived pods (0.5/s)",
        "90-840 s: steady churn, 0.25 pods/s living 60-240 s",
        "600-610 s: burst of 40 pods (deleted at 780-800 s)",
        "840-1080 s: quiet, no new pods",
        "1080-1200 s: light churn, 0.1 pods/s",
      ],
    },
    totals: perPolicy,
    runs,
    summary,
    figures,
    notes,
    wallSeconds,
  };
}

/** For tests/bench/run.ts (bench_api.ts `Benchmark`). */
export const benchmark = {
  name: "churn",
  title: "pool economy under churn: idle addresses, EC2 calls, waits (simulated time)",
  budgetSeconds: 60,
  async run(context: { log(line: string): void; quick: boolean }) {
    const result = await runChurnBench({
      log: context.log,
      ...(context.quick ? { seeds: [1] } : {}),
    });
    const { figures, notes, ...details } = result;
    return { figures, notes, details };
  },
};

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((row) =>
    row.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join("  ")
  );
}

function print(result: ChurnResult): void {
  const cell = (v: number | null) => v === null ? "-" : String(v);
  console.log(`Pool economy under churn (${result.timing})`);
  console.log(
    `node ${result.instance.name} (${result.instance.maxEnis} ENIs × ` +
      `${result.instance.ipv4PerEni - 1} addresses); trace seeds ${result.trace.seeds.join(",")}`,
  );
  const lines = table(
    ["policy", "idle mean", "idle max", "EC2 mut/trace", "waited", "p50 ms", "p99 ms", "failed"],
    result.totals.map((t) =>
      [
        t.label,
        t.idleMean,
        t.idleMax,
        t.mutatingCalls,
        `${t.waited}/${t.pods}`,
        cell(t.waitP50Ms),
        cell(
          t.waitP99Ms,
        ),
        t.failed,
      ].map(String)
    ),
  );
  for (const line of lines) console.log(`  ${line}`);
  console.log("\nper seed (idle mean / EC2 mutating / waited):");
  for (const seed of result.trace.seeds) {
    const parts = result.runs.filter((r) => r.seed === seed).map((r) =>
      `${r.label} ${r.idle.mean} / ${r.ec2.mutating} / ${r.pods.waitsMs.length}`
    );
    console.log(`  seed ${seed}: ${parts.join("; ")}`);
  }
  console.log("\nidle mean by phase (mean over seeds):");
  for (const t of result.totals) {
    const parts = Object.entries(t.idleByPhase).map(([name, v]) => `${name} ${v}`);
    console.log(`  ${t.label}: ${parts.join(", ")}`);
  }
  console.log("\nours (adaptive) vs references:");
  const rows = result.summary.map((s) => [
    s.figure,
    cell(s.ours),
    cell(s.reference),
    s.ratio === null ? "-" : s.ratio.toFixed(2),
  ]);
  for (const line of table(["figure", "ours", "reference", "ratio"], rows)) {
    console.log(`  ${line}`);
  }
  for (const note of result.notes) console.log(`note: ${note}`);
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--seeds");
  const seeds = i >= 0 ? Deno.args[i + 1]!.split(",").map(Number) : DEFAULT_SEEDS;
  const result = await runChurnBench({ seeds, log: (line) => console.error(line) });
  if (Deno.args.includes("--json")) console.log(JSON.stringify(result, null, 2));
  else print(result);
}
