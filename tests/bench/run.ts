// deno-lint-ignore-file no-console -- command-line output
/**
 * `make bench`: runs the benchmarks (all by default; `BENCH=name,name` to select), each in its
 * own process with a hard time limit, prints the summary table (figure, ours, reference measured
 * in the same run, ratio) and each benchmark's wall time against its budget, and writes
 * build/bench/results-<timestamp>.json and build/bench/latest.json. Exits non-zero only when a
 * benchmark failed to run; slow figures are reported, never asserted.
 *
 *   deno run -A --cached-only tests/bench/run.ts [name,name] [--list]
 *   BENCH_QUICK=1 ...   fewer samples (developing a benchmark)
 *
 * A benchmark is a module here exporting `benchmark: Benchmark` (bench_api.ts): the ones in
 * ORDER, then any other `*_bench.ts` found in this folder, so a new one plugs in by existing.
 */
import type { BenchContext, Benchmark } from "./bench_api.ts";
import {
  type BenchOutcome,
  noteLines,
  resultsFileName,
  type RunDocument,
  selectBenchmarks,
  summaryTable,
  timingLines,
  validateResult,
} from "./report.ts";

const HERE = new URL(".", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;
const OUT_DIR = `${ROOT}build/bench`;

/** Known benchmarks, cheapest first. */
const ORDER = [
  "ffi_ops_bench.ts",
  "node_setup_bench.ts",
  "aws_clients_bench.ts",
  "sim_bench.ts",
  "cni_startup.ts",
  "cni_bench.ts",
  "ipamd_rpc_bench.ts",
  "pod_burst_bench.ts",
  "ipamd_footprint_bench.ts",
  "churn_bench.ts",
];

/** The benchmark's name: its file name without `_bench.ts` / `.ts`. */
export function benchName(file: string): string {
  return file.replace(/(_bench)?\.ts$/, "");
}

async function benchFiles(): Promise<string[]> {
  const present = new Set<string>();
  for await (const entry of Deno.readDir(HERE)) {
    if (entry.isFile) present.add(entry.name);
  }
  const extra = [...present].filter((f) => f.endsWith("_bench.ts") && !ORDER.includes(f)).sort();
  return [...ORDER.filter((f) => present.has(f)), ...extra];
}

async function loadBenchmark(file: string): Promise<Benchmark> {
  const mod = await import(`${HERE}${file}`) as { benchmark?: Benchmark };
  const b = mod.benchmark;
  if (!b || typeof b.run !== "function") {
    throw new TypeError(`${file} does not export \`benchmark\` (see tests/bench/bench_api.ts)`);
  }
  if (b.name !== benchName(file)) {
    throw new TypeError(`${file} exports benchmark "${b.name}"; expected "${benchName(file)}"`);
  }
  return b;
}

// ---- child: one benchmark ---------------------------------------------------------------------

async function child(file: string, outPath: string): Promise<number> {
  const b = await loadBenchmark(file);
  const context: BenchContext = {
    log: (line) => console.error(`  [${b.name}] ${line}`),
    quick: Deno.env.get("BENCH_QUICK") === "1",
  };
  const result = validateResult(await b.run(context));
  await Deno.writeTextFile(outPath, JSON.stringify(result));
  return 0;
}

// ---- parent ---------------------------------------------------------------------------------

async function runOne(file: string, b: Benchmark): Promise<BenchOutcome> {
  const started = performance.now();
  const loadStart = Deno.loadavg()[0]!;
  const base = { name: b.name, title: b.title, file, budgetSeconds: b.budgetSeconds };
  const done = (ok: boolean, extra: Partial<BenchOutcome>): BenchOutcome => ({
    ...base,
    ok,
    wallSeconds: (performance.now() - started) / 1000,
    load: { start: loadStart, end: Deno.loadavg()[0]! },
    ...extra,
  });
  if (b.needsRoot && Deno.uid() !== 0) return done(false, { error: "needs root" });
  const outPath = await Deno.makeTempFile({ prefix: "tbch-result-", suffix: ".json" });
  try {
    console.error(`\n== ${b.name}: ${b.title} (budget ${b.budgetSeconds} s)`);
    const proc = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--cached-only", `${HERE}run.ts`, "--child", file, "--out", outPath],
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    // Twice the budget and at least two minutes more: a benchmark that hangs is stopped
    // (SIGTERM runs its clean-ups), then killed.
    const limitMs = Math.max(2 * b.budgetSeconds, b.budgetSeconds + 120) * 1000;
    let timedOut = false;
    const term = setTimeout(() => {
      timedOut = true;
      proc.kill("SIGTERM");
    }, limitMs);
    const kill = setTimeout(() => proc.kill("SIGKILL"), limitMs + 60_000);
    const status = await proc.status;
    clearTimeout(term);
    clearTimeout(kill);
    if (timedOut) return done(false, { error: `stopped after ${limitMs / 1000} s (hung?)` });
    if (!status.success) {
      return done(false, {
        error: `exited with ${status.code}${status.signal ? ` (${status.signal})` : ""}`,
      });
    }
    const result = validateResult(JSON.parse(await Deno.readTextFile(outPath)));
    return done(true, { result });
  } catch (error) {
    return done(false, { error: error instanceof Error ? error.message : String(error) });
  } finally {
    await Deno.remove(outPath).catch(() => {});
  }
}

async function output(argv: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(argv[0]!, { args: argv.slice(1), stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout) : "";
  } catch {
    return "";
  }
}

/** Routes, rules and iptables of the host namespace (as tests/run.sh checks them). */
async function hostState(): Promise<string> {
  const parts = await Promise.all([
    output(["ip", "-4", "rule", "show"]),
    output(["ip", "-4", "route", "show", "table", "all"]),
    output(["ip", "-6", "route", "show", "table", "all"]),
    output(["iptables-save"]),
  ]);
  return parts.join("\n").split("\n").filter((l) => !/^#|^:|linkdown/.test(l)).join("\n");
}

async function parent(spec: string | undefined, list: boolean): Promise<number> {
  const files = await benchFiles();
  const names = files.map(benchName);
  let selected: string[];
  try {
    selected = selectBenchmarks(names, spec);
  } catch (error) {
    console.error(`make bench: ${(error as Error).message}`);
    return 2;
  }
  const startedAt = new Date();
  const t0 = performance.now();
  const loadStart = Deno.loadavg();
  const hostBefore = await hostState();
  const outcomes: BenchOutcome[] = [];
  for (const name of selected) {
    const file = files[names.indexOf(name)]!;
    let b: Benchmark;
    try {
      b = await loadBenchmark(file);
    } catch (error) {
      outcomes.push({
        name,
        title: "",
        file,
        budgetSeconds: 0,
        wallSeconds: 0,
        load: { start: Deno.loadavg()[0]!, end: Deno.loadavg()[0]! },
        ok: false,
        error: `cannot load: ${(error as Error).message}`,
      });
      continue;
    }
    if (list) {
      console.log(`${name.padEnd(16)} ${String(b.budgetSeconds).padStart(4)} s  ${b.title}`);
      continue;
    }
    const outcome = await runOne(file, b);
    outcomes.push(outcome);
    console.error(
      `== ${name}: ${outcome.ok ? "done" : `FAILED TO RUN (${outcome.error})`} in ${
        outcome.wallSeconds.toFixed(1)
      } s`,
    );
  }
  if (list) return 0;
  const wallSeconds = (performance.now() - t0) / 1000;
  const hostUnchanged = (await hostState()) === hostBefore;
  const doc: RunDocument = {
    schema: "vpc-cni-deno-bench/1",
    startedAt: startedAt.toISOString(),
    wallSeconds,
    machine: {
      cpus: navigator.hardwareConcurrency,
      loadAvg: { start: loadStart, end: Deno.loadavg() },
      kernel: Deno.osRelease(),
      deno: Deno.version.deno,
      memTotalMiB: Math.round(Deno.systemMemoryInfo().total / 1024 / 1024),
    },
    commit: {
      hash: (await output(["git", "-C", ROOT, "rev-parse", "HEAD"])).trim(),
      dirty: (await output(["git", "-C", ROOT, "status", "--porcelain"])).trim() !== "",
    },
    selected,
    hostUnchanged,
    benchmarks: outcomes,
  };
  await Deno.mkdir(OUT_DIR, { recursive: true });
  const file = `${OUT_DIR}/${resultsFileName(startedAt)}`;
  const text = JSON.stringify(doc, null, 2) + "\n";
  await Deno.writeTextFile(file, text);
  await Deno.writeTextFile(`${OUT_DIR}/latest.json`, text);

  console.log(
    `\nmake bench: ${doc.machine.cpus} CPUs, load average ${
      loadStart.map((l) => l.toFixed(2)).join(" ")
    } at start, ${doc.machine.loadAvg.end.map((l) => l.toFixed(2)).join(" ")} at end; commit ${
      doc.commit.hash.slice(0, 12)
    }${doc.commit.dirty ? " (dirty)" : ""}`,
  );
  console.log(
    "ratio = ours / reference, both measured in this run (lower is better for times and sizes)\n",
  );
  for (const line of summaryTable(outcomes)) console.log(line);
  const notes = noteLines(outcomes);
  if (notes.length > 0) {
    console.log("\nnotes:");
    for (const line of notes) console.log(`  ${line}`);
  }
  console.log("\nwall time per benchmark:");
  for (const line of timingLines(outcomes, wallSeconds)) console.log(`  ${line}`);
  if (!hostUnchanged) {
    console.log("\nWARNING: the host namespace's routes, rules or iptables changed during the run");
  }
  console.log(`\nresults: ${file} (and build/bench/latest.json)`);
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length > 0) {
    console.log(
      `${failed.length} benchmark(s) failed to run: ${failed.map((o) => o.name).join(", ")}`,
    );
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  const args = [...Deno.args];
  const childAt = args.indexOf("--child");
  if (childAt >= 0) {
    const outAt = args.indexOf("--out");
    Deno.exit(await child(args[childAt + 1]!, args[outAt + 1]!));
  }
  const list = args.includes("--list");
  const spec = args.filter((a) => !a.startsWith("--")).join(",") || Deno.env.get("BENCH");
  Deno.exit(await parent(spec, list));
}
