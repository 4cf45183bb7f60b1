// deno-lint-ignore-file no-console -- benchmark output
/**
 * aws-cni ADD and DEL latency through libcni (build/bin/cnitool), against real ipamd with a warm
 * pool in an `ipamd sim` node, and Debian's ptp + host-local in the same node and the same run,
 * interleaved in rounds so that the shared machine's load hits both alike. Two aws-cni launchers
 * with the Makefile's exact CNI_PERMS are compared: `deno run` of the sources (what `make
 * launchers` made until now) and of a `deno bundle` of cni.ts. Then where an invocation's time
 * goes: Deno start-up, module load, FFI, and the plugin's own RPC and netlink timings (its log).
 * Root. Run alone:
 *   deno run -A --cached-only tests/bench/cni_bench.ts [--pods 100] [--rounds 4] [--startup-runs 20]
 */
import { startAwsCniLab } from "../lab/aws_cni_lab.ts";
import { CniDriver, type Conflist, writeConflist } from "../lab/cnitool.ts";
import { nsArgv } from "../lab/namespaces.ts";
import { REFERENCE_PLUGIN_DIR, REPO_ROOT } from "../lab/paths.ts";
import { ptpHostLocalConflist } from "../lab/reference_plugins.ts";
import { testScope } from "../lab/scope.ts";
import type { BenchContext, BenchResult, Figure } from "./bench_api.ts";
import { bundle, phaseNotes, type PhaseTiming, startupPhases } from "./cni_bench_phases.ts";

export interface CniBenchOptions {
  /** Pods per chain (ADD then DEL each), split over `rounds` (default 100). */
  pods?: number;
  /** Rounds; each runs every chain once, in a rotating order (default 4). */
  rounds?: number;
  /** hyperfine runs per start-up phase (default 20). */
  startupRuns?: number;
  log?: (line: string) => void;
}

export interface ChainStats {
  add: Percentiles;
  del: Percentiles;
  /** CPU (user + sys) of the plugins and the driver per pod, ADD and DEL together, ms. */
  cpuPerPodMs: number;
}

export interface Percentiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
}

const CHAINS = ["aws-cni", "aws-cni (bundle)", "ptp+host-local"] as const;
type Chain = typeof CHAINS[number];
const REFERENCE: Chain = "ptp+host-local";

export function percentiles(samples: readonly number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  const r = (v: number) => Number(v.toFixed(2));
  return {
    n: s.length,
    p50: r(at(0.5)),
    p90: r(at(0.9)),
    p99: r(at(0.99)),
    min: r(s[0]!),
    max: r(s.at(-1)!),
    mean: r(s.reduce((a, b) => a + b, 0) / s.length),
  };
}

/** The Makefile's CNI_PERMS: the one definition of what aws-cni may do. */
export async function cniPerms(): Promise<string[]> {
  const makefile = await Deno.readTextFile(`${REPO_ROOT}/Makefile`);
  const line = makefile.split("\n").find((l) => l.startsWith("CNI_PERMS :="));
  if (!line) throw new Error("Makefile has no CNI_PERMS line");
  return line.slice("CNI_PERMS :=".length).trim().split(/\s+/);
}

/**
 * CPU time (user + sys, ms) of this process's reaped children. The driver is our child and
 * waits for every plugin it runs, so the difference around a driver run is what that run's
 * plugins (and the driver) burnt: a figure the machine's load barely moves, unlike wall time.
 */
export function childCpuMs(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // cutime and cstime are fields 16 and 17 of proc(5); the slice starts at field 3.
  return (Number(fields[13]) + Number(fields[14])) * 10; // USER_HZ is 100 on Linux
}

function loadAverage(): number {
  return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
}

/** A plugin dir holding an `aws-cni` launcher that runs `deno run <perms> <target...>`. */
async function launcherDir(dir: string, target: string[]): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const denoDir = Deno.env.get("DENO_DIR") ?? `${REPO_ROOT}/.deno/cache`;
  const argv = [Deno.execPath(), "run", "--cached-only", "--no-prompt", "--quiet"];
  const script = [
    "#!/bin/sh",
    `DENO_DIR=${denoDir} DENO_NO_UPDATE_CHECK=1 exec ${[...argv, ...target].join(" ")} "$@"`,
  ].join("\n") + "\n";
  await Deno.writeTextFile(`${dir}/aws-cni`, script, { mode: 0o755 });
  return dir;
}

interface PluginLogLine {
  msg: string;
  containerId?: string;
  ipamdMs?: number;
  wiringMs?: number;
  teardownMs?: number;
  waitedMs?: number;
}

export async function runCniBench(options: CniBenchOptions = {}): Promise<BenchResult> {
  const log = options.log ?? ((line: string) => console.error(line));
  const rounds = options.rounds ?? 4;
  const perRound = Math.ceil((options.pods ?? 100) / rounds);
  const pods = perRound * rounds;
  const loadBefore = loadAverage();
  const started = performance.now();
  await using scope = testScope("tce2");
  const dir = await scope.tempDir("bench");
  const perms = await cniPerms();

  log("building the bundled launcher");
  await bundle("cni.ts", `${dir}/aws-cni.js`);
  const sourceDir = await launcherDir(`${dir}/src`, [
    ...perms,
    "--config",
    `${REPO_ROOT}/deno.json`,
    `${REPO_ROOT}/cni.ts`,
  ]);
  const bundleDir = await launcherDir(`${dir}/bundle`, [
    ...perms,
    "--no-config",
    "--no-lock",
    `${dir}/aws-cni.js`,
  ]);

  log(`starting ipamd sim (m5.4xlarge) and ipamd with a warm pool of ${2 * pods}`);
  // MINIMUM_IP_TARGET covers every ADD of the run, cooling addresses included, so no ADD waits
  // for EC2 and the pool never changes during the measurement.
  const lab = await startAwsCniLab(scope, {
    nodes: 1,
    instanceType: "m5.4xlarge",
    ipamdEnv: { MINIMUM_IP_TARGET: String(2 * pods), WARM_IP_TARGET: "1" },
  });
  const node = lab.nodes[0]!;
  await waitForPool(node.ipamd.status.bind(node.ipamd), 2 * pods);

  const installed = JSON.parse(await Deno.readTextFile(node.conflistFile)) as Conflist;
  const awsEntry = installed.plugins.find((p) => p.type === "aws-cni")!;
  const cniVersion = installed.cniVersion;
  const driver = async (name: string, conflist: Conflist, pluginDir?: string) =>
    new CniDriver(node.netns, {
      conflistFile: await writeConflist(dir, conflist),
      cacheDir: `${dir}/cache-${name}`,
      pluginDirs: [...pluginDir ? [pluginDir] : [], REFERENCE_PLUGIN_DIR],
    });
  const awsList = (name: string): Conflist => ({
    cniVersion,
    name,
    plugins: [{ ...awsEntry, name }],
  });
  const drivers: Record<Chain, CniDriver> = {
    "aws-cni": await driver("tce2-src", awsList("tce2-src"), sourceDir),
    "aws-cni (bundle)": await driver("tce2-bun", awsList("tce2-bun"), bundleDir),
    "ptp+host-local": await driver(
      "tce2-ref",
      ptpHostLocalConflist({
        name: "tce2-ref",
        subnet: "10.250.64.0/22",
        dataDir: `${dir}/host-local`,
        cniVersion,
      }),
    ),
  };

  const samples = {} as Record<Chain, { add: number[]; del: number[] }>;
  for (const chain of CHAINS) samples[chain] = { add: [], del: [] };
  const cpu = Object.fromEntries(CHAINS.map((c) => [c, 0])) as Record<Chain, number>;
  for (let r = 0; r < rounds; r++) {
    const order = CHAINS.map((_, i) => CHAINS[(i + r) % CHAINS.length]!);
    for (const chain of order) {
      const tag = chain === REFERENCE ? "ref" : chain === "aws-cni" ? "src" : "bun";
      const cpuBefore = childCpuMs();
      const report = await drivers[chain].bench({
        n: perRound,
        idPrefix: `tce2-${tag}-r${r}`,
        args: { IgnoreUnknown: "1", K8S_POD_NAMESPACE: "bench", K8S_POD_NAME: `${tag}-${r}-{i}` },
      });
      if (!report.ok) {
        throw new Error(`${chain} round ${r}: ${JSON.stringify(report.failures.slice(0, 3))}`);
      }
      cpu[chain] += childCpuMs() - cpuBefore;
      samples[chain].add.push(...report.add.samplesMs);
      samples[chain].del.push(...report.del.samplesMs);
      log(
        `round ${
          r + 1
        }/${rounds} ${chain}: ADD p50 ${report.add.p50Ms} ms, DEL p50 ${report.del.p50Ms} ms`,
      );
    }
  }
  const loadDuring = loadAverage();

  const lines = (await Deno.readTextFile(node.pluginLog)).trim().split("\n")
    .map((l) => JSON.parse(l) as PluginLogLine)
    .filter((l) => /^tce2-(src|bun)-/.test(l.containerId ?? ""));
  const inPlugin = {
    addIpamdMs: percentiles(pick(lines, "pod wired", "ipamdMs")),
    addWiringMs: percentiles(pick(lines, "pod wired", "wiringMs")),
    delIpamdMs: percentiles(pick(lines, "pod unwired", "ipamdMs")),
    delTeardownMs: percentiles(pick(lines, "pod unwired", "teardownMs")),
    maxPoolWaitMs: Math.max(...pick(lines, "ipamd assigned", "waitedMs")),
  };

  log(`start-up phases (hyperfine, ${options.startupRuns ?? 20} runs each)`);
  const phases = await startupPhases({
    dir,
    perms,
    node: nsArgv(node.netns, []),
    sourceLauncher: `${sourceDir}/aws-cni`,
    bundleLauncher: `${bundleDir}/aws-cni`,
    runs: options.startupRuns ?? 20,
  });
  const loadAfter = loadAverage();

  const stats = Object.fromEntries(CHAINS.map((c) => [c, {
    add: percentiles(samples[c].add),
    del: percentiles(samples[c].del),
    cpuPerPodMs: Number((cpu[c] / pods).toFixed(1)),
  }])) as Record<Chain, ChainStats>;
  return {
    figures: figures(stats, phases),
    notes: [
      `${pods} pods per chain in ${rounds} interleaved rounds; 1-min load average ${loadBefore} ` +
      `before, ${loadDuring} after the ADD/DEL runs, ${loadAfter} at the end, on ` +
      `${navigator.hardwareConcurrency} CPUs`,
      `aws-cni in the plugin (log, median): ADD ipamd RPC ${inPlugin.addIpamdMs.p50} ms + netlink ` +
      `wiring ${inPlugin.addWiringMs.p50} ms; DEL ipamd RPC ${inPlugin.delIpamdMs.p50} ms + ` +
      `teardown ${inPlugin.delTeardownMs.p50} ms; longest pool wait ${inPlugin.maxPoolWaitMs} ms`,
      ...phaseNotes(phases, stats["aws-cni"].add.p50),
    ],
    details: {
      pods,
      rounds,
      cpus: navigator.hardwareConcurrency,
      load: { before: loadBefore, afterAddDel: loadDuring, after: loadAfter },
      chains: stats,
      inPlugin,
      phases,
      perms,
      wallSeconds: Math.round((performance.now() - started) / 1000),
    },
  };
}

function pick(lines: PluginLogLine[], msg: string, field: keyof PluginLogLine): number[] {
  return lines.filter((l) => l.msg === msg && typeof l[field] === "number")
    .map((l) => l[field] as number);
}

async function waitForPool(status: () => Promise<{ availableIPs: number }>, n: number) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const s = await status();
    if (s.availableIPs >= n) return;
    if (Date.now() > deadline) throw new Error(`the pool reached ${s.availableIPs}/${n} in 120 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function figures(
  stats: Record<Chain, ChainStats>,
  phases: PhaseTiming[],
): Figure[] {
  const out: Figure[] = [];
  for (const op of ["add", "del"] as const) {
    for (const p of ["p50", "p90", "p99"] as const) {
      const label = `${op.toUpperCase()} ${p} via libcni`;
      const ref = { name: `${REFERENCE} ${label}`, value: stats[REFERENCE][op][p] };
      out.push({
        name: `aws-cni ${label}`,
        value: stats["aws-cni"][op][p],
        unit: "ms",
        reference: ref,
      });
      out.push({
        name: `aws-cni (bundled launcher) ${label}`,
        value: stats["aws-cni (bundle)"][op][p],
        unit: "ms",
        reference: ref,
      });
      out.push({
        name: `aws-cni bundled / source launcher, ${label}`,
        value: stats["aws-cni (bundle)"][op][p],
        unit: "ms",
        reference: { name: `aws-cni source launcher ${label}`, value: stats["aws-cni"][op][p] },
      });
    }
  }
  const cpuRef = {
    name: `${REFERENCE} CPU per pod (ADD+DEL, plugins and driver)`,
    value: stats[REFERENCE].cpuPerPodMs,
  };
  out.push({
    name: "aws-cni CPU per pod (ADD+DEL, plugins and driver)",
    value: stats["aws-cni"].cpuPerPodMs,
    unit: "ms",
    reference: cpuRef,
  });
  out.push({
    name: "aws-cni (bundled launcher) CPU per pod (ADD+DEL, plugins and driver)",
    value: stats["aws-cni (bundle)"].cpuPerPodMs,
    unit: "ms",
    reference: cpuRef,
  });
  out.push({
    name: "aws-cni bundled / source launcher, CPU per pod",
    value: stats["aws-cni (bundle)"].cpuPerPodMs,
    unit: "ms",
    reference: { name: "aws-cni source launcher CPU per pod", value: stats["aws-cni"].cpuPerPodMs },
  });
  for (const phase of phases) {
    out.push({ name: `start-up: ${phase.name} (wall, median)`, value: phase.wallMs, unit: "ms" });
    out.push({
      name: `start-up: ${phase.name} (CPU user+sys, mean)`,
      value: phase.cpuMs,
      unit: "ms",
    });
  }
  return out;
}

export const benchmark = {
  name: "cni",
  title: "aws-cni ADD/DEL via libcni vs ptp+host-local; start-up breakdown",
  budgetSeconds: 420,
  needsRoot: true,
  run: (context: BenchContext): Promise<BenchResult> =>
    runCniBench({
      pods: context.quick ? 20 : 100,
      rounds: context.quick ? 2 : 4,
      startupRuns: context.quick ? 5 : 20,
      log: context.log,
    }),
};

function printTable(result: BenchResult): void {
  const stats = result.details?.chains as Record<Chain, ChainStats>;
  console.log("\nADD/DEL latency via libcni (ms; ratio = chain / ptp+host-local)");
  console.log(
    `  ${"chain".padEnd(20)} ${"op".padEnd(4)} ${"p50".padStart(8)} ${"p90".padStart(8)} ${
      "p99".padStart(8)
    }   ratios p50 / p90 / p99`,
  );
  for (const chain of CHAINS) {
    for (const op of ["add", "del"] as const) {
      const s = stats[chain][op];
      const ref = stats[REFERENCE][op];
      const ratio = (["p50", "p90", "p99"] as const).map((p) => (s[p] / ref[p]).toFixed(2)).join(
        " / ",
      );
      console.log(
        `  ${chain.padEnd(20)} ${op.toUpperCase().padEnd(4)} ${s.p50.toFixed(1).padStart(8)} ${
          s.p90.toFixed(1).padStart(8)
        } ${s.p99.toFixed(1).padStart(8)}   ${ratio}`,
      );
    }
  }
  console.log("\nCPU per pod, ADD + DEL (user+sys of plugins and driver, ms; ratio to reference)");
  for (const chain of CHAINS) {
    const c = stats[chain].cpuPerPodMs;
    console.log(
      `  ${chain.padEnd(20)} ${c.toFixed(1).padStart(8)}   ${
        (c / stats[REFERENCE].cpuPerPodMs).toFixed(2)
      }`,
    );
  }
  const phases = result.details?.phases as PhaseTiming[];
  console.log("\nstart-up phases (hyperfine inside the node; wall median, CPU user+sys mean, ms)");
  for (const p of phases) {
    console.log(
      `  ${p.name.padEnd(48)} ${p.wallMs.toFixed(1).padStart(7)} ${p.cpuMs.toFixed(1).padStart(7)}`,
    );
  }
  console.log("\nnotes:");
  for (const n of result.notes ?? []) console.log(`  - ${n}`);
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = Deno.args.indexOf(name);
    return i >= 0 ? Number(Deno.args[i + 1]) : undefined;
  };
  const result = await runCniBench({
    pods: arg("--pods"),
    rounds: arg("--rounds"),
    startupRuns: arg("--startup-runs"),
  });
  printTable(result);
  if (Deno.args.includes("--json")) console.log(JSON.stringify(result));
}
