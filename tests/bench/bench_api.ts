/**
 * The contract between `make bench` (tests/bench/run.ts) and each benchmark module.
 *
 * A benchmark module is `tests/bench/<name>_bench.ts` (or one listed in run.ts) that exports
 * `benchmark: Benchmark` and has no side effects on import (its own command-line use goes under
 * `if (import.meta.main)`). run.ts runs each one in its own process and keeps its BenchResult
 * as JSON. Every figure that has a ratio compares with a reference measured in the same run on
 * the same machine; published figures from elsewhere go in `context`, never in `reference`.
 */

export interface Figure {
  /** What is measured, e.g. "ipam.add+del p50, 64 clients". */
  name: string;
  /** Our value. */
  value: number;
  /** ms, s, MiB, calls, pods, x... */
  unit: string;
  /** Measured in the same run, same machine, same unit; the ratio is value / reference.value. */
  reference?: { name: string; value: number };
  /** Context that is not a same-run reference (e.g. upstream's published figure). */
  context?: string;
}

export interface BenchResult {
  figures: Figure[];
  /** Findings in words: where the time goes, problems the run exposed. */
  notes?: string[];
  /** Anything else worth keeping for later comparison (JSON-serialisable). */
  details?: Record<string, unknown>;
}

export interface BenchContext {
  /** Progress for people (stderr); not part of the result. */
  log(line: string): void;
  /** BENCH_QUICK=1: fewer samples, for developing a benchmark; figures are less precise. */
  quick: boolean;
}

export interface Benchmark {
  /** Short id used by `make bench BENCH=name,name` (the file name without `_bench.ts`). */
  name: string;
  /** One line for the summary. */
  title: string;
  /** Expected wall time on 2 shared cores; run.ts prints it next to the measured time. */
  budgetSeconds: number;
  /** Needs root (network namespaces); run.ts skips it, as failed, when not root. */
  needsRoot?: boolean;
  run(context: BenchContext): Promise<BenchResult>;
}

// ---- helpers shared by the benchmarks -------------------------------------------------------

export interface Percentiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles of the samples (p over 0..1). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(p * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function percentiles(samples: readonly number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  const sum = s.reduce((a, b) => a + b, 0);
  return {
    n: s.length,
    p50: round(percentile(s, 0.5)),
    p90: round(percentile(s, 0.9)),
    p99: round(percentile(s, 0.99)),
    min: round(s[0] ?? NaN),
    max: round(s.at(-1) ?? NaN),
    mean: round(s.length ? sum / s.length : NaN),
  };
}

export function median(samples: readonly number[]): number {
  return percentile([...samples].sort((a, b) => a - b), 0.5);
}

/** Three significant decimals are plenty for a benchmark figure. */
export function round(value: number, digits = 3): number {
  return Number.isFinite(value) ? Number(value.toFixed(digits)) : value;
}

/** value / reference, or NaN when there is no usable reference. */
export function ratioOf(figure: Figure): number {
  const ref = figure.reference?.value;
  if (ref === undefined || !Number.isFinite(ref) || ref === 0) return NaN;
  return figure.value / ref;
}

/** Resident and peak resident memory of a process in KiB (/proc/<pid>/status), or undefined. */
export function processMemoryKib(pid: number): { rssKib: number; hwmKib: number } | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const field = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
    const rssKib = field("VmRSS");
    const hwmKib = field("VmHWM");
    return Number.isFinite(rssKib) ? { rssKib, hwmKib } : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `fn` for each index with at most `concurrency` in flight; results in index order. */
export async function pool<T>(
  count: number,
  concurrency: number,
  fn: (index: number) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const index = next++;
      results[index] = await fn(index);
    }
  });
  await Promise.all(workers);
  return results;
}

/**
 * A log timeline made short: each message once, in order of first appearance, as
 * "<first ms>[..<last ms>] <message>[ ×<count>]".
 */
export function foldEvents(events: ReadonlyArray<{ atMs: number; msg: string }>): string[] {
  const groups = new Map<string, { first: number; last: number; count: number }>();
  for (const e of events) {
    const g = groups.get(e.msg);
    if (g) {
      g.last = e.atMs;
      g.count++;
    } else groups.set(e.msg, { first: e.atMs, last: e.atMs, count: 1 });
  }
  return [...groups].map(([msg, g]) =>
    g.count === 1 ? `${g.first} ${msg}` : `${g.first}..${g.last} ${msg} ×${g.count}`
  );
}
