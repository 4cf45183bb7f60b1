/**
 * What `make bench` prints and keeps: the summary table (figure, ours, reference, ratio), the
 * per-benchmark wall times against their budgets, and the results document written to
 * build/bench/. Pure, so that it is unit-tested.
 */
import { type BenchResult, type Figure, ratioOf } from "./bench_api.ts";

/** One benchmark's outcome in a run. */
export interface BenchOutcome {
  name: string;
  title: string;
  file: string;
  budgetSeconds: number;
  wallSeconds: number;
  /** Load average (1 min) when it started and when it ended. */
  load: { start: number; end: number };
  ok: boolean;
  /** Why it failed to run (ok false). */
  error?: string;
  result?: BenchResult;
}

export interface RunDocument {
  schema: "vpc-cni-deno-bench/1";
  startedAt: string;
  wallSeconds: number;
  machine: {
    cpus: number;
    loadAvg: { start: number[]; end: number[] };
    kernel: string;
    deno: string;
    memTotalMiB?: number;
  };
  commit: { hash: string; dirty: boolean };
  selected: string[];
  /** Whether the host namespace's routes, rules and iptables were the same after the run. */
  hostUnchanged?: boolean;
  benchmarks: BenchOutcome[];
}

/** Formats a number for the table: enough digits to compare, no more. */
export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return `- ${unit}`;
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return `${value.toFixed(digits)} ${unit}`;
}

export function formatRatio(figure: Figure): string {
  const r = ratioOf(figure);
  if (!Number.isFinite(r)) return "";
  const text = r >= 100
    ? r.toFixed(0)
    : r >= 10
    ? r.toFixed(1)
    : r >= 0.1
    ? r.toFixed(2)
    : r.toPrecision(2);
  return `${text}x`;
}

function pad(text: string, width: number, right = false): string {
  if (text.length > width) return text.slice(0, width - 1) + "…";
  return right ? text.padStart(width) : text.padEnd(width);
}

/** The summary table, one line per figure; ratio = ours / reference (same run). */
export function summaryTable(outcomes: readonly BenchOutcome[]): string[] {
  const widths = { bench: 15, figure: 56, ours: 16, ref: 16, refName: 40, ratio: 8 };
  const lines = [
    [
      pad("benchmark", widths.bench),
      pad("figure", widths.figure),
      pad("ours", widths.ours, true),
      pad("reference", widths.ref, true),
      pad("ratio", widths.ratio, true),
      " reference is",
    ].join(" "),
  ];
  lines.push("-".repeat(lines[0]!.length + 28));
  for (const o of outcomes) {
    if (!o.ok || !o.result) {
      lines.push(`${pad(o.name, widths.bench)} FAILED TO RUN: ${o.error ?? "no result"}`);
      continue;
    }
    for (const f of o.result.figures) {
      lines.push([
        pad(o.name, widths.bench),
        pad(f.name, widths.figure),
        pad(formatValue(f.value, f.unit), widths.ours, true),
        pad(f.reference ? formatValue(f.reference.value, f.unit) : "", widths.ref, true),
        pad(formatRatio(f), widths.ratio, true),
        f.reference ? ` ${f.reference.name}` : f.context ? ` (context) ${f.context}` : "",
      ].join(" "));
    }
  }
  return lines;
}

/** Wall time of each benchmark against its budget, and the total. */
export function timingLines(outcomes: readonly BenchOutcome[], totalSeconds: number): string[] {
  const lines = outcomes.map((o) =>
    `${pad(o.name, 15)} ${o.wallSeconds.toFixed(1).padStart(6)} s  (budget ${
      String(o.budgetSeconds).padStart(3)
    } s${o.wallSeconds > o.budgetSeconds ? ", OVER BUDGET" : ""})  load ${
      o.load.start.toFixed(1)
    } → ${o.load.end.toFixed(1)}${o.ok ? "" : "  FAILED TO RUN"}`
  );
  const budget = outcomes.reduce((sum, o) => sum + o.budgetSeconds, 0);
  lines.push(`${pad("total", 15)} ${totalSeconds.toFixed(1).padStart(6)} s  (budget ${budget} s)`);
  return lines;
}

/** Notes of every benchmark, prefixed with its name. */
export function noteLines(outcomes: readonly BenchOutcome[]): string[] {
  return outcomes.flatMap((o) => (o.result?.notes ?? []).map((n) => `${o.name}: ${n}`));
}

/** `results-<timestamp>.json`: the run's start time, safe in a file name. */
export function resultsFileName(startedAt: Date): string {
  return `results-${startedAt.toISOString().replace(/[:.]/g, "-")}.json`;
}

/**
 * Which benchmarks to run: all known ones by default, else the comma-separated names given
 * (BENCH=a,b). Unknown names are an error naming the known ones.
 */
export function selectBenchmarks(known: readonly string[], spec: string | undefined): string[] {
  const wanted = (spec ?? "").split(/[,\s]+/).filter((s) => s !== "");
  if (wanted.length === 0) return [...known];
  const unknown = wanted.filter((w) => !known.includes(w));
  if (unknown.length > 0) {
    throw new RangeError(
      `unknown benchmark(s) ${unknown.join(", ")}; known: ${known.join(", ")}`,
    );
  }
  return known.filter((k) => wanted.includes(k));
}

/**
 * Checks a benchmark's result has the documented shape. A value that could not be measured is
 * NaN, which JSON carries as null: it comes back as NaN.
 */
export function validateResult(value: unknown): BenchResult {
  const r = value as BenchResult;
  if (typeof r !== "object" || r === null || !Array.isArray(r.figures)) {
    throw new TypeError("the result has no figures list");
  }
  for (const [i, f] of r.figures.entries()) {
    if (f && f.value === null) f.value = NaN;
    if (f?.reference && f.reference.value === null) f.reference.value = NaN;
    if (typeof f?.name !== "string" || typeof f.value !== "number" || typeof f.unit !== "string") {
      throw new TypeError(`figure #${i + 1} needs name, value (number) and unit`);
    }
    if (
      f.reference && (typeof f.reference.name !== "string" || typeof f.reference.value !== "number")
    ) {
      throw new TypeError(`figure "${f.name}": reference needs name and value (number)`);
    }
  }
  return r;
}
