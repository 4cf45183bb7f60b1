/**
 * Where an aws-cni invocation's time goes, phase by phase, measured with hyperfine inside a lab
 * node: process exec (a Go reference plugin), the Deno runtime with aws-cni's flags and nothing
 * to load, VERSION, the ADD import graph, and the graph plus libnl's dlopen and one netlink
 * socket; each for the source launcher and for the `deno bundle` one. Wall time is the median
 * (the machine is shared); CPU time (user + sys, mean) is steadier under load.
 */
import { REFERENCE_PLUGIN_DIR, REPO_ROOT } from "../lab/paths.ts";
import { run } from "../lab/command.ts";

/** `deno bundle` of an entry point into `out` (esbuild inlines the dynamic imports). */
export async function bundle(entry: string, out: string): Promise<void> {
  await run([Deno.execPath(), "bundle", "--quiet", "--platform", "deno", "-o", out, entry], {
    cwd: REPO_ROOT,
    timeoutMs: 120_000,
  });
}

export interface PhaseTiming {
  name: string;
  launcher: "go" | "source" | "bundle";
  /** Median wall time, ms. */
  wallMs: number;
  stddevMs: number;
  /** Mean user + system CPU time, ms. */
  cpuMs: number;
}

export interface PhaseOptions {
  dir: string;
  perms: string[];
  /** argv prefix that runs a command inside the node (`ip netns exec <node>`). */
  node: string[];
  sourceLauncher: string;
  bundleLauncher: string;
  runs: number;
}

const FIXTURES = `${REPO_ROOT}/tests/bench/fixtures`;

export async function startupPhases(o: PhaseOptions): Promise<PhaseTiming[]> {
  const denoDir = Deno.env.get("DENO_DIR") ?? `${REPO_ROOT}/.deno/cache`;
  const env = ["env", `DENO_DIR=${denoDir}`, "DENO_NO_UPDATE_CHECK=1"];
  const deno = [Deno.execPath(), "run", "--cached-only", "--no-prompt", "--quiet", ...o.perms];
  const source = [...deno, "--config", `${REPO_ROOT}/deno.json`];
  const bundled = [...deno, "--no-config", "--no-lock"];
  for (const name of ["cni_empty", "cni_graph", "cni_ffi_open"]) {
    await bundle(`${FIXTURES}/${name}.ts`, `${o.dir}/${name}.js`);
  }
  const phases: Array<[string, PhaseTiming["launcher"], string[]]> = [
    ["process exec: Go loopback VERSION", "go", [
      "env",
      "CNI_COMMAND=VERSION",
      `${REFERENCE_PLUGIN_DIR}/loopback`,
    ]],
    ["Deno runtime, empty module", "source", [...env, ...source, `${FIXTURES}/cni_empty.ts`]],
    ["aws-cni VERSION", "source", [...env, "CNI_COMMAND=VERSION", o.sourceLauncher]],
    ["ADD import graph loaded", "source", [...env, ...source, `${FIXTURES}/cni_graph.ts`]],
    ["graph + libnl dlopen + netlink socket", "source", [
      ...env,
      ...source,
      `${FIXTURES}/cni_ffi_open.ts`,
    ]],
    ["Deno runtime, empty module", "bundle", [...env, ...bundled, `${o.dir}/cni_empty.js`]],
    ["aws-cni VERSION", "bundle", [...env, "CNI_COMMAND=VERSION", o.bundleLauncher]],
    ["ADD import graph loaded", "bundle", [...env, ...bundled, `${o.dir}/cni_graph.js`]],
    ["graph + libnl dlopen + netlink socket", "bundle", [
      ...env,
      ...bundled,
      `${o.dir}/cni_ffi_open.js`,
    ]],
  ];
  const out: PhaseTiming[] = [];
  for (const [name, launcher, argv] of phases) {
    const json = `${o.dir}/hyperfine.json`;
    const command = [...o.node, ...argv].join(" ");
    const r = await new Deno.Command("hyperfine", {
      args: [
        "-N",
        "--runs",
        String(o.runs),
        "--warmup",
        "3",
        "--style",
        "none",
        "--export-json",
        json,
        command,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!r.success) {
      throw new Error(`hyperfine ${name}: ${new TextDecoder().decode(r.stderr).slice(-1000)}`);
    }
    const [res] = JSON.parse(await Deno.readTextFile(json)).results as Array<
      { median: number; stddev: number; user: number; system: number }
    >;
    out.push({
      name: launcher === "go" ? name : `${name} (${launcher})`,
      launcher,
      wallMs: ms(res!.median),
      stddevMs: ms(res!.stddev),
      cpuMs: ms(res!.user + res!.system),
    });
  }
  return out;
}

function ms(seconds: number): number {
  return Number((seconds * 1000).toFixed(1));
}

/** Where the time goes, in words, from the phases (CPU time: steadier on a shared machine). */
export function phaseNotes(phases: PhaseTiming[], addP50Ms: number): string[] {
  const get = (prefix: string, launcher: PhaseTiming["launcher"]) =>
    phases.find((p) => p.launcher === launcher && p.name.startsWith(prefix));
  const go = get("process exec", "go");
  const notes: string[] = [];
  for (const launcher of ["source", "bundle"] as const) {
    const empty = get("Deno runtime", launcher);
    const graph = get("ADD import graph", launcher);
    const ffi = get("graph + libnl", launcher);
    if (!go || !empty || !graph || !ffi) continue;
    notes.push(
      `${launcher} launcher, CPU ms: Deno runtime start ${empty.cpuMs} (a Go plugin's exec: ` +
        `${go.cpuMs}), + ADD import graph ${(graph.cpuMs - empty.cpuMs).toFixed(1)}, + libnl ` +
        `dlopen and a netlink socket ${(ffi.cpuMs - graph.cpuMs).toFixed(1)}; wall ms (median): ` +
        `${empty.wallMs} / ${graph.wallMs} / ${ffi.wallMs}`,
    );
  }
  const ffiSource = get("graph + libnl", "source");
  if (ffiSource) {
    notes.push(
      `ADD p50 via libcni ${addP50Ms} ms, of which ~${ffiSource.wallMs} ms (wall median) is ` +
        "getting a Deno process to the point of its first netlink call; the rest is the ipamd " +
        "round trip, netlink wiring, libcni and the launcher shell",
    );
  }
  return notes;
}
