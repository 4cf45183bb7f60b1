// deno-lint-ignore-file no-console -- benchmark output
/**
 * Simulator figures: AWS SDK call latency against the simulator (no injected latency, and the
 * "realistic" preset as a sanity check), and `ipamd sim --nodes 2` start-up and stop time
 * (with the lab when run as root).
 *   deno run -A tests/bench/sim_bench.ts [--runs 5] [--calls 200]
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

const arg = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
const RUNS = arg("--runs", 5);
const CALLS = arg("--calls", 200);

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

async function sdkLatency(realistic: boolean, calls: number): Promise<void> {
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
  try {
    const eniId = info.nodes[0]!.primaryEniId;
    const label = realistic ? "realistic latency" : "no injected latency";
    await timed(20, () => ec2.send(new DescribeNetworkInterfacesCommand({}))); // warm-up
    console.log(
      `SDK DescribeNetworkInterfaces, ${label}: ${
        summary(
          await timed(
            calls,
            () => ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId] })),
          ),
        )
      }`,
    );
    console.log(`SDK AssignPrivateIpAddresses + Unassign, ${label}: ${
      summary(
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
      )
    } (two calls)`);
    console.log(`SDK CreateNetworkInterface + Delete, ${label}: ${
      summary(
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
      )
    } (two calls)`);
  } finally {
    ec2.destroy();
    await sim.close();
    await Deno.remove(stateRoot, { recursive: true });
  }
}

async function startup(runs: number): Promise<void> {
  const lab = Deno.uid() === 0;
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
  console.log(
    `ipamd sim --nodes 2 (${lab ? "with lab" : "--no-lab"}), spawn to ready line: ${
      summary(ready)
    }`,
  );
  console.log(`ipamd sim --nodes 2, SIGTERM to exit (lab removed): ${summary(stop)}`);
}

await sdkLatency(false, CALLS);
await sdkLatency(true, Math.min(CALLS, 10));
await startup(RUNS);
