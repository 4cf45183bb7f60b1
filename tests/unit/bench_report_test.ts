/**
 * The pure parts of `make bench`: percentiles, ratios, selection, the summary table, the
 * result check, the burst benchmark's EC2 floors.
 */
import assert from "node:assert/strict";
import { foldEvents, percentile, percentiles, pool, ratioOf } from "../bench/bench_api.ts";
import { callsBetween, floors } from "../bench/burst_floor.ts";
import {
  type BenchOutcome,
  formatRatio,
  resultsFileName,
  selectBenchmarks,
  summaryTable,
  timingLines,
  validateResult,
} from "../bench/report.ts";
import { benchName } from "../bench/run.ts";

Deno.test("percentile() is nearest-rank: p50 of 1..100 is 50, p99 is 99, p100 is the max", () => {
  const s = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(s, 0.5), 50);
  assert.equal(percentile(s, 0.99), 99);
  assert.equal(percentile(s, 1), 100);
  assert.equal(percentile([7], 0.99), 7);
  assert.ok(Number.isNaN(percentile([], 0.5)));
});

Deno.test("percentiles() sorts its input and reports n, min, max and mean", () => {
  const p = percentiles([5, 1, 3, 2, 4]);
  assert.deepEqual(p, { n: 5, p50: 3, p90: 5, p99: 5, min: 1, max: 5, mean: 3 });
});

Deno.test("ratioOf() is ours / reference, NaN without a usable reference", () => {
  assert.equal(ratioOf({ name: "x", value: 6, unit: "ms", reference: { name: "r", value: 2 } }), 3);
  assert.ok(Number.isNaN(ratioOf({ name: "x", value: 6, unit: "ms" })));
  assert.ok(
    Number.isNaN(ratioOf({ name: "x", value: 6, unit: "ms", reference: { name: "r", value: 0 } })),
  );
});

Deno.test("formatRatio() keeps two significant digits for small ratios", () => {
  const f = (value: number, ref: number) =>
    formatRatio({ name: "x", value, unit: "ms", reference: { name: "r", value: ref } });
  assert.equal(f(1, 200), "0.0050x");
  assert.equal(f(1, 4), "0.25x");
  assert.equal(f(123, 10), "12.3x");
  assert.equal(f(5000, 10), "500x");
  assert.equal(formatRatio({ name: "x", value: 1, unit: "ms" }), "");
});

Deno.test("selectBenchmarks() takes all by default, keeps the known order, rejects unknown names", () => {
  const known = ["a", "b", "c"];
  assert.deepEqual(selectBenchmarks(known, undefined), known);
  assert.deepEqual(selectBenchmarks(known, ""), known);
  assert.deepEqual(selectBenchmarks(known, "c,a"), ["a", "c"]);
  assert.throws(
    () => selectBenchmarks(known, "a,zz"),
    (e: unknown) =>
      e instanceof RangeError && e.message.includes("zz") && e.message.includes("a, b, c"),
  );
});

Deno.test("benchName() drops _bench.ts or .ts", () => {
  assert.equal(benchName("ipamd_rpc_bench.ts"), "ipamd_rpc");
  assert.equal(benchName("cni_startup.ts"), "cni_startup");
  assert.equal(benchName("cni_bench.ts"), "cni");
});

Deno.test("validateResult() accepts figures and refuses a figure without a numeric value", () => {
  const ok = { figures: [{ name: "f", value: 1, unit: "ms", reference: { name: "r", value: 2 } }] };
  assert.equal(validateResult(ok), ok);
  assert.throws(() => validateResult({}), TypeError);
  const unmeasured = validateResult(
    JSON.parse(JSON.stringify({ figures: [{ name: "f", value: NaN, unit: "s" }] })),
  );
  assert.ok(Number.isNaN(unmeasured.figures[0]!.value));
  assert.throws(
    () => validateResult({ figures: [{ name: "f", value: "1", unit: "ms" }] }),
    TypeError,
  );
  assert.throws(
    () =>
      validateResult({ figures: [{ name: "f", value: 1, unit: "ms", reference: { name: "r" } }] }),
    TypeError,
  );
});

const outcome = (extra: Partial<BenchOutcome>): BenchOutcome => ({
  name: "demo",
  title: "demo",
  file: "demo_bench.ts",
  budgetSeconds: 10,
  wallSeconds: 4,
  load: { start: 1, end: 2 },
  ok: true,
  ...extra,
});

Deno.test("summaryTable() prints ours, the reference, the ratio and names the reference", () => {
  const lines = summaryTable([
    outcome({
      result: {
        figures: [
          { name: "latency p50", value: 3, unit: "ms", reference: { name: "floor", value: 1.5 } },
          { name: "size", value: 40, unit: "MiB", context: "upstream 45 MB" },
        ],
      },
    }),
    outcome({ name: "broken", ok: false, error: "exited with 1" }),
  ]);
  const row = lines.find((l) => l.includes("latency p50"))!;
  assert.match(row, /3\.00 ms +1\.50 ms +2\.00x +floor$/);
  assert.match(lines.find((l) => l.includes("size"))!, /40\.0 MiB.*\(context\) upstream 45 MB/);
  assert.match(lines.find((l) => l.startsWith("broken"))!, /FAILED TO RUN: exited with 1/);
});

Deno.test("timingLines() flags a benchmark over its budget and sums the budgets", () => {
  const lines = timingLines([outcome({ wallSeconds: 12 }), outcome({ name: "b" })], 16.5);
  assert.match(lines[0]!, /12\.0 s +\(budget +10 s, OVER BUDGET\)/);
  assert.doesNotMatch(lines[1]!, /OVER BUDGET/);
  assert.match(lines[2]!, /total +16\.5 s +\(budget 20 s\)/);
});

Deno.test("resultsFileName() is a file name made of the start time", () => {
  assert.equal(
    resultsFileName(new Date("2026-01-02T03:04:05.678Z")),
    "results-2026-01-02T03-04-05-678Z.json",
  );
});

Deno.test("callsBetween() counts successful calls made between two /counters snapshots", () => {
  const snap = (assign: number, attach: number) => ({
    actions: {
      AssignPrivateIpAddresses: { calls: assign + 1, ok: assign },
      AttachNetworkInterface: { calls: attach, ok: attach },
    },
  });
  assert.deepEqual(callsBetween(snap(1, 0), snap(3, 2)), {
    AssignPrivateIpAddresses: 2,
    AttachNetworkInterface: 2,
  });
  assert.deepEqual(callsBetween(snap(1, 1), snap(1, 1)), {});
});

Deno.test("floors(): serial sums base latencies; the critical path is Create+Attach or one Assign", () => {
  const secondaryIp = {
    AssignPrivateIpAddresses: 1,
    CreateNetworkInterface: 3,
    AttachNetworkInterface: 3,
    ModifyNetworkInterfaceAttribute: 3,
    DescribeInstances: 3,
  };
  assert.deepEqual(floors(secondaryIp), {
    serialMs: 500 + 3 * 300 + 3 * 800 + 3 * 200 + 3 * 80,
    criticalPathMs: 1100,
  });
  assert.deepEqual(floors({ AssignPrivateIpAddresses: 5 }), {
    serialMs: 2500,
    criticalPathMs: 500,
  });
  assert.deepEqual(floors({}), { serialMs: 0, criticalPathMs: 0 });
});

Deno.test("pool() runs at most `concurrency` at once and keeps results in index order", async () => {
  let running = 0;
  let peak = 0;
  const out = await pool(10, 3, async (i) => {
    running++;
    peak = Math.max(peak, running);
    await Promise.resolve();
    await Promise.resolve();
    running--;
    return i * 2;
  });
  assert.deepEqual(out, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
  assert.equal(peak, 3);
});

Deno.test("foldEvents() lists each message once with its first and last time and count", () => {
  const folded = foldEvents([
    { atMs: 10, msg: "starting" },
    { atMs: 20, msg: "ENI in use" },
    { atMs: 25, msg: "ENI set up" },
    { atMs: 30, msg: "ENI in use" },
    { atMs: 35, msg: "ENI set up" },
    { atMs: 40, msg: "ready" },
  ]);
  assert.deepEqual(folded, [
    "10 starting",
    "20..30 ENI in use ×2",
    "25..35 ENI set up ×2",
    "40 ready",
  ]);
});
