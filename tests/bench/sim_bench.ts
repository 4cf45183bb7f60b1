// deno-lint-ignore-file no-console -- benchmark output
/**
 * Simulator figures: AWS SDK call latency against the simulator (no injected latency, and the
 * "realistic" preset as a sanity check), and `ipamd sim --nodes 2` start-up and stop time
 * (with the lab when run as root, and --no-lab as the reference).
 *   deno run -A tests/bench/sim_bench.ts [--runs 5] [--calls 200]   (or `make bench BENCH=sim`)
 */
import {
  AssignPrivateIpAddressesCommand,
  CreateNetworkInterfaceCommand,
  DeleteNetworkInterfaceCommand,
  DescribeNetworkInterfacesCommand,
  EC2Client,
  UnassignPrivateIpAddressesCommand,
} from "@aws-sdk/client-ec2";
import { defaultFaultConfig, REALISTIC_LATENCY_MS } from "../../src/sim/faults.ts";
import { Sim } from "../../src/sim/sim.ts";
import { startSimProcess } from "../lab/sim_process.ts";
import { type Benchmark, type Figure, type Percentiles, percentiles } from "./bench_api.ts";

const arg = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
let log: (line: string) => void = console.log;

function summary(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(2);
  return `p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms (n=${s.length})`;
}

async function timed(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

async function sdkLatency(
  realistic: boolean,
  calls: number,
): Promise<Record<string, Percentiles>> {
  const stateRoot = await Deno.makeTempDir({ prefix: "tsim-bench-" });
  const faults = defaultFaultConfig();
  if (realistic) faults.latencyMs = { ...REALISTIC_LATENCY_MS };
  const sim = await Sim.start({
    nodes: 1,
    instanceType: "m5.4xlarge",
    vpcCidr: "10.10.0.0/16",
    region: "us-west-2",
    availabilityZone: "us-west-2a",
    seed: 1,
    prefix: "tsim",
    faults,
    stateRoot,
  });
  const info = sim.readyInfo();
  const ec2 = new EC2Client({
    region: "us-west-2",
    endpoint: info.ec2Endpoint,
    credentials: { accessKeyId: "tsim", secretAccessKey: "tsim" },
    maxAttempts: 1,
  });
  const out: Record<string, Percentiles> = {};
  const report = (name: string, samples: number[], suffix = "") => {
    out[name] = percentiles(samples);
    log(`SDK ${name}, ${label}: ${summary(samples)}${suffix}`);
  };
  const label = realistic ? "realistic latency" : "no injected latency";
  try {
    const eniId = info.nodes[0]!.primaryEniId;
    await timed(20, () => ec2.send(new DescribeNetworkInterfacesCommand({}))); // warm-up
    report(
      "DescribeNetworkInterfaces",
      await timed(
        calls,
        () => ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId] })),
      ),
    );
    report(
      "AssignPrivateIpAddresses + Unassign",
      await timed(calls, async () => {
        const r = await ec2.send(
          new AssignPrivateIpAddressesCommand({
            NetworkInterfaceId: eniId,
            SecondaryPrivateIpAddressCount: 1,
          }),
        );
        await ec2.send(
          new UnassignPrivateIpAddressesCommand({
            NetworkInterfaceId: eniId,
            PrivateIpAddresses: r.AssignedPrivateIpAddresses!.map((a) => a.PrivateIpAddress!),
          }),
        );
      }),
      " (two calls)",
    );
    report(
      "CreateNetworkInterface + Delete",
      await timed(calls, async () => {
        const r = await ec2.send(
          new CreateNetworkInterfaceCommand({
            SubnetId: info.subnets[0]!.subnetId,
            SecondaryPrivateIpAddressCount: 5,
          }),
        );
        await ec2.send(
          new DeleteNetworkInterfaceCommand({
            NetworkInterfaceId: r.NetworkInterface!.NetworkInterfaceId,
          }),
        );
      }),
      " (two calls)",
    );
  } finally {
    ec2.destroy();
    await sim.close();
    await Deno.remove(stateRoot, { recursive: true });
  }
  return out;
}

async function startup(
  runs: number,
  lab = Deno.uid() === 0,
): Promise<{ ready: Percentiles; stop: Percentiles }> {
  const args = [
    "--nodes",
    "2",
    "--instance-type",
    "t3.medium",
    "--prefix",
    "tsim",
    ...(lab ? [] : ["--no-lab"]),
  ];
  const ready: number[] = [];
  const stop: number[] = [];
  for (let i = 0; i < runs; i++) {
    const sim = await startSimProcess(args);
    ready.push(sim.startupMs);
    const t0 = performance.now();
    const code = await sim.stop();
    stop.push(performance.now() - t0);
    await sim[Symbol.asyncDispose]();
    if (code !== 0) throw new Error(`ipamd sim exited ${code}`);
  }
  const kind = lab ? "with lab" : "--no-lab";
  log(`ipamd sim --nodes 2 (${kind}), spawn to ready line: ${summary(ready)}`);
  log(`ipamd sim --nodes 2 (${kind}), SIGTERM to exit: ${summary(stop)}`);
  return { ready: percentiles(ready), stop: percentiles(stop) };
}

export async function benchSim(options: { runs: number; calls: number }) {
  const none = await sdkLatency(false, options.calls);
  const realistic = await sdkLatency(true, Math.min(options.calls, 10));
  const withLab = Deno.uid() === 0 ? await startup(options.runs, true) : undefined;
  const noLab = await startup(options.runs, false);
  return { none, realistic, withLab, noLab };
}

export const benchmark: Benchmark = {
  name: "sim",
  title: "the VPC simulator: SDK calls against it, `ipamd sim` start and stop",
  budgetSeconds: 60,
  async run(context) {
    log = context.log;
    const r = await benchSim({ runs: context.quick ? 2 : 3, calls: context.quick ? 50 : 200 });
    const pair = "AssignPrivateIpAddresses + Unassign";
    const figures: Figure[] = [
      {
        name: "SDK DescribeNetworkInterfaces p50, no injected latency",
        value: r.none.DescribeNetworkInterfaces!.p50,
        unit: "ms",
        context: "client + HTTP + simulator; the floor under every lab EC2 call",
      },
      {
        name: "SDK Assign+Unassign p50, --latency realistic",
        value: r.realistic[pair]!.p50,
        unit: "ms",
        reference: { name: "the same pair, no injected latency", value: r.none[pair]!.p50 },
        context: "model base 500 + 400 ms, ±20 % jitter",
      },
    ];
    if (r.withLab) {
      figures.push({
        name: "ipamd sim --nodes 2: spawn to ready line, p50",
        value: r.withLab.ready.p50,
        unit: "ms",
        reference: { name: "the same with --no-lab (no namespaces)", value: r.noLab.ready.p50 },
      }, {
        name: "ipamd sim --nodes 2: SIGTERM to exit (lab removed), p50",
        value: r.withLab.stop.p50,
        unit: "ms",
        reference: { name: "the same with --no-lab", value: r.noLab.stop.p50 },
      });
    }
    return { figures, details: r };
  },
};

if (import.meta.main) {
  const r = await benchSim({ runs: arg("--runs", 5), calls: arg("--calls", 200) });
  log(JSON.stringify(r));
}
