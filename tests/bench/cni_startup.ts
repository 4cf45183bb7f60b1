// deno-lint-ignore-file no-console -- benchmark report
/**
 * Where aws-cni's time goes, phase by phase: hyperfine over the Deno runtime alone, VERSION and
 * full ADD+DEL pairs inside a lab node namespace against the ipamd stub, with Go references
 * measured in the same run (loopback VERSION; ptp + host-local ADD+DEL); a probe process splits
 * one run into runtime, ADD import graph and FFI start (dlopen + one netlink socket); the plugin
 * log adds the RPC and netlink split of ADD/DEL, and an in-process pass times the same steps
 * without process start-up.
 * Root: builds tcni-* namespaces and removes them. Run:
 *   deno run -A tests/bench/cni_startup.ts [runs]      (or `make bench BENCH=cni_startup`)
 */
import { IpamdStub } from "../lab/ipamd_stub.ts";
import { ip, randomId, scratchNetns } from "../lab/scratch_netns.ts";
import { hostVethName } from "../../src/cni/names.ts";
import { callIpamd } from "../../src/rpc/client.ts";
import { removePodInterface, teardownHost, wirePodInterface } from "../../src/cni/pod_network.ts";
import { type Benchmark, type BenchResult, type Figure, median, round } from "./bench_api.ts";

const root = new URL("../../", import.meta.url).pathname;
const perms = "--allow-read --allow-write --allow-net --allow-env --allow-ffi";

interface Timing {
  medianMs: number;
  stddevMs: number;
}

async function hyperfine(
  work: string,
  runs: number,
  command: string,
  prepare?: string,
): Promise<Timing> {
  const out = `${work}/h.json`;
  const args = ["--runs", String(runs), "--warmup", "3", "--export-json", out, "--style", "none"];
  if (prepare) args.push("--prepare", prepare);
  const r = await new Deno.Command("hyperfine", {
    args: [...args, "--shell", "bash", command],
    env: { DENO_DIR: Deno.env.get("DENO_DIR") ?? "" },
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!r.success) throw new Error(`hyperfine ${command}: ${new TextDecoder().decode(r.stderr)}`);
  const [res] = JSON.parse(await Deno.readTextFile(out)).results;
  return { medianMs: round(res.median * 1000, 2), stddevMs: round(res.stddev * 1000, 2) };
}

export async function benchCniStartup(
  runs = 30,
  log: (line: string) => void = console.log,
): Promise<BenchResult> {
  const deno = Deno.execPath();
  const run = `${deno} run --quiet --no-prompt --cached-only ${perms}`;
  const work = await Deno.makeTempDir({ prefix: "tcni-bench-" });
  using lab = scratchNetns(1, "tcni");
  const node = lab.names[0]!;
  ip(node, "link", "set", "lo", "up");
  const pool = Array.from({ length: 200 }, (_, i) => ({ ip: `10.213.${i >> 8}.${(i & 255) + 1}` }));
  await using stub = await IpamdStub.start({ pool });
  const podNs = `tcni-${randomId()}-pod`;
  try {
    const conf = JSON.stringify({
      cniVersion: "1.0.0",
      name: "aws-cni",
      type: "aws-cni",
      ipamdSocket: stub.socketPath,
      pluginLogFile: `${work}/plugin.log`,
      pluginLogLevel: "info",
    });
    await Deno.writeTextFile(`${work}/conf.json`, conf);
    // The Go reference: Debian's ptp with host-local, the same ADD+DEL in the same node.
    await Deno.writeTextFile(
      `${work}/ptp.json`,
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "ptp-bench",
        type: "ptp",
        ipam: { type: "host-local", subnet: "10.214.0.0/16", dataDir: `${work}/host-local` },
      }),
    );
    // Go plugins refuse CNI_ARGS they do not know unless told to ignore them (as runtimes do).
    const env = (id: string, ignoreUnknown = "") =>
      [
        `CNI_CONTAINERID=${id}`,
        "CNI_IFNAME=eth0",
        "CNI_PATH=/usr/lib/cni",
        `CNI_NETNS=/var/run/netns/${podNs}`,
        `'CNI_ARGS=${ignoreUnknown}K8S_POD_NAMESPACE=default;K8S_POD_NAME=bench-pod'`,
      ].join(" ");
    const inNode = `ip netns exec ${node}`;
    const veth = await hostVethName("eni", { podNamespace: "default", podName: "bench-pod" });
    const cni = `${root}cni.ts`;
    // A fresh pod namespace each run; removing the old one and its veth is not timed.
    const freshPod =
      `ip -n ${node} link del ${veth} 2>/dev/null; ip netns del ${podNs} 2>/dev/null; ` +
      `ip netns add ${podNs}`;
    const t: Record<string, Timing> = {};
    const measure = async (key: string, label: string, command: string, prepare?: string) => {
      t[key] = await hyperfine(work, runs, command, prepare);
      log(
        `${label.padEnd(40)} ${t[key].medianMs.toFixed(1).padStart(7)} ± ${
          t[key].stddevMs.toFixed(1)
        } ms`,
      );
    };
    log(`aws-cni start-up, ${runs} runs each (median ± stddev)`);
    await measure(
      "goVersion",
      "Go loopback VERSION (reference)",
      `CNI_COMMAND=VERSION /usr/lib/cni/loopback`,
    );
    await measure(
      "denoEmpty",
      "deno run, empty module",
      `${run} ${root}tests/bench/fixtures/cni_empty.ts`,
    );
    await measure("version", "aws-cni VERSION", `CNI_COMMAND=VERSION ${run} ${cni}`);
    await measure(
      "addDel",
      "aws-cni ADD + DEL (ipamd stub)",
      `${inNode} env ${
        env("bench01")
      } CNI_COMMAND=ADD ${run} ${cni} < ${work}/conf.json > /dev/null && ` +
        `${inNode} env ${env("bench01")} CNI_COMMAND=DEL ${run} ${cni} < ${work}/conf.json`,
      freshPod,
    );
    await measure(
      "ptpAddDel",
      "ptp + host-local ADD + DEL (reference)",
      `${inNode} env ${
        env("bench02", "IgnoreUnknown=1;")
      } CNI_COMMAND=ADD /usr/lib/cni/ptp < ${work}/ptp.json > /dev/null && ` +
        `${inNode} env ${
          env("bench02", "IgnoreUnknown=1;")
        } CNI_COMMAND=DEL /usr/lib/cni/ptp < ${work}/ptp.json`,
      `ip netns del ${podNs} 2>/dev/null; ip netns add ${podNs}`,
    );
    const lines = (await Deno.readTextFile(`${work}/plugin.log`)).trim().split("\n");
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const field = (msg: string, key: string) =>
      median(entries.filter((l) => l.msg === msg).map((l) => Number(l[key])));
    const inside = {
      addIpamdMs: field("pod wired", "ipamdMs"),
      addWiringMs: field("pod wired", "wiringMs"),
      delIpamdMs: field("pod unwired", "ipamdMs"),
      delTeardownMs: field("pod unwired", "teardownMs"),
    };
    log(
      `inside the plugin (median): ADD ipamd call ${inside.addIpamdMs} ms, netlink wiring ${inside.addWiringMs} ms; ` +
        `DEL ipamd call ${inside.delIpamdMs} ms, netlink teardown ${inside.delTeardownMs} ms`,
    );
    const phases = await phaseProbe(
      node,
      runs,
      `${run} ${root}tests/bench/fixtures/cni_phase_probe.ts`,
    );
    log(
      `phases of one process (median): runtime (exec, init, exit) ${phases.runtimeMs} ms, ` +
        `ADD import graph ${phases.importMs} ms, dlopen libnl + socket + lookup ${phases.ffiMs} ms`,
    );
    const inProc = await inProcess(stub.socketPath, lab.paths[0]!, runs, log);
    return {
      figures: figuresOf(t, inside, phases),
      notes: notesOf(t, inside, phases),
      details: { runs, hyperfine: t, inside, phases, inProcess: inProc },
    };
  } finally {
    new Deno.Command("ip", { args: ["netns", "del", podNs], stderr: "null" }).outputSync();
    await Deno.remove(work, { recursive: true });
  }
}

interface Phases {
  /** Everything outside our code: exec, runtime start, loading the probe, exit. */
  runtimeMs: number;
  importMs: number;
  ffiMs: number;
  wallMs: number;
}

/**
 * The start-up phases of single processes (fixtures/cni_phase_probe.ts, in the node): each
 * run's phases add up to its wall time, so they stay consistent however loaded the machine is.
 */
async function phaseProbe(node: string, runs: number, command: string): Promise<Phases> {
  const [program, ...args] = command.split(" ");
  const samples: Phases[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const t = performance.now();
    const out = await new Deno.Command("ip", {
      args: ["netns", "exec", node, program!, ...args],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const wallMs = performance.now() - t;
    if (!out.success) throw new Error(`cni_phase_probe.ts exited with ${out.code}`);
    const p = JSON.parse(new TextDecoder().decode(out.stdout)) as Record<string, number>;
    const ours = p.importMs! + p.ffiMs!;
    if (i >= 2) {
      samples.push({ runtimeMs: wallMs - ours, importMs: p.importMs!, ffiMs: p.ffiMs!, wallMs });
    }
  }
  const med = (k: keyof Phases) => round(median(samples.map((s) => s[k])), 2);
  return {
    runtimeMs: med("runtimeMs"),
    importMs: med("importMs"),
    ffiMs: med("ffiMs"),
    wallMs: med("wallMs"),
  };
}

function figuresOf(
  t: Record<string, Timing>,
  inside: Record<string, number>,
  phases: Phases,
): Figure[] {
  const ms = (key: string) => t[key]!.medianMs;
  const runtime = { name: "`deno run` of an empty module (hyperfine)", value: ms("denoEmpty") };
  return [
    {
      name: "aws-cni ADD+DEL, two processes (stub ipamd)",
      value: ms("addDel"),
      unit: "ms",
      reference: { name: "Go ptp + host-local ADD+DEL", value: ms("ptpAddDel") },
    },
    {
      name: "aws-cni VERSION (runtime + protocol)",
      value: ms("version"),
      unit: "ms",
      reference: { name: "Go loopback VERSION", value: ms("goVersion") },
    },
    {
      name: "phase: runtime (ip netns exec, deno start, exit)",
      value: phases.runtimeMs,
      unit: "ms",
      reference: runtime,
    },
    { name: "phase: ADD import graph", value: phases.importMs, unit: "ms", reference: runtime },
    {
      name: "phase: dlopen libnl + socket + lookup",
      value: phases.ffiMs,
      unit: "ms",
      reference: runtime,
    },
    {
      name: "phase: ADD's ipamd call, in the plugin",
      value: inside.addIpamdMs!,
      unit: "ms",
      context: "connect + ipam.add + reply (plugin log)",
    },
    {
      name: "phase: ADD's netlink wiring, in the plugin",
      value: inside.addWiringMs!,
      unit: "ms",
      context: "veth, addresses, routes, rules, neighbour (plugin log)",
    },
  ];
}

function notesOf(
  t: Record<string, Timing>,
  inside: Record<string, number>,
  phases: Phases,
): string[] {
  const ms = (key: string) => t[key]!.medianMs;
  const start = phases.runtimeMs + phases.importMs + phases.ffiMs;
  return [
    `one aws-cni ADD ≈ ${(ms("addDel") / 2).toFixed(0)} ms (half an ADD+DEL pair): start-up ${
      start.toFixed(0)
    } ms (runtime ${phases.runtimeMs.toFixed(0)} + imports ${phases.importMs.toFixed(0)} + FFI ${
      phases.ffiMs.toFixed(0)
    }) then the work: ipamd call ${inside.addIpamdMs} ms + netlink ${inside.addWiringMs} ms ` +
    `(DEL: ipamd ${inside.delIpamdMs} ms + netlink ${inside.delTeardownMs} ms); ` +
    `Go ptp+host-local pays ${(ms("ptpAddDel") / 2).toFixed(0)} ms per operation`,
  ];
}

/** The same steps without process start-up: RPC round trips and netlink wiring in-process. */
async function inProcess(
  socketPath: string,
  nodePath: string,
  n: number,
  log: (line: string) => void,
): Promise<Record<string, number>> {
  const rpc: number[] = [];
  for (let i = 0; i < n * 5; i++) {
    const t = performance.now();
    await callIpamd(socketPath, "ipam.status", {});
    rpc.push(performance.now() - t);
  }
  using pods = scratchNetns(1, "tcni");
  const spec = {
    podNetns: pods.paths[0]!,
    hostNetns: nodePath,
    hostVeth: "enitcnibench01",
    containerIf: "eth0",
    ip: "10.213.9.9",
    index: 0,
    routeTableId: 3,
    mtu: 9001,
  };
  const wire: number[] = [];
  const teardown: number[] = [];
  for (let i = 0; i < n; i++) {
    let t = performance.now();
    wirePodInterface(spec);
    wire.push(performance.now() - t);
    t = performance.now();
    teardownHost(spec);
    teardown.push(performance.now() - t);
    removePodInterface(spec); // veth deletion: the kernel's ~16 ms, paid by netns removal in real life
  }
  const out = {
    rpcStatusMs: round(median(rpc), 2),
    wirePodInterfaceMs: round(median(wire), 2),
    teardownHostMs: round(median(teardown), 2),
  };
  log(
    `in-process (median): RPC connect + ipam.status + close ${out.rpcStatusMs} ms, ` +
      `wirePodInterface ${out.wirePodInterfaceMs} ms, teardownHost ${out.teardownHostMs} ms`,
  );
  return out;
}

export const benchmark: Benchmark = {
  name: "cni_startup",
  title: "aws-cni start-up by phase, ADD+DEL vs Go ptp+host-local (hyperfine)",
  budgetSeconds: 120,
  needsRoot: true,
  run(context) {
    return benchCniStartup(context.quick ? 8 : 20, context.log);
  },
};

if (import.meta.main) await benchCniStartup(Number(Deno.args[0] ?? 30));
