// deno-lint-ignore-file no-console -- benchmark output
/**
 * Figures for the AWS clients: SDK call latency against moto and the VPC simulator (with the
 * simulator's latency model off, so this is client + HTTP + emulator cost), a raw-fetch
 * baseline against the same simulator, IMDS reads, and the EC2 client's start-up cost (SDK
 * import + first call) in fresh processes.
 * Usage: deno run -A tests/bench/aws_clients_bench.ts   (or `make bench BENCH=aws_clients`)
 */
import { Ec2Client } from "../../src/aws/ec2.ts";
import { ImdsClient } from "../../src/aws/imds.ts";
import { InstanceMetadata } from "../../src/aws/imds_metadata.ts";
import { MotoBackend } from "../contract/moto_backend.ts";
import { SimBackend } from "../contract/sim_backend.ts";
import type { Ec2Backend, Fixture } from "../contract/ec2_suite.ts";
import type { Benchmark, BenchResult } from "./bench_api.ts";

let N = Number(Deno.env.get("TAWS_BENCH_N") ?? 40);

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { p50: +q(0.5).toFixed(2), p90: +q(0.9).toFixed(2), n: s.length };
}

async function time(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

async function ec2Figures(backend: Ec2Backend, fx: Fixture) {
  const ec2 = new Ec2Client({
    region: backend.region,
    endpoint: backend.endpoint,
    credentials: { accessKeyId: "taws", secretAccessKey: "taws-secret" },
    rateLimit: false,
  });
  try {
    // Warm the connection and the JIT before timing.
    for (let i = 0; i < 20; i++) await ec2.describeSubnets({ ids: [fx.subnetId] });
    const eni = await ec2.createNetworkInterface({ subnetId: fx.subnetId });
    return {
      describeSubnets: stats(await time(N, () => ec2.describeSubnets({ ids: [fx.subnetId] }))),
      describeNetworkInterfaces: stats(
        await time(N, () => ec2.describeNetworkInterfaces({ ids: [fx.primaryEniId] })),
      ),
      assignUnassignPrivateIp: stats(
        await time(N / 2, async () => {
          const [ip] = await ec2.assignPrivateIpAddresses(eni.eniId, 1);
          await ec2.unassignPrivateIpAddresses(eni.eniId, [ip!]);
        }),
      ),
    };
  } finally {
    ec2.close();
  }
}

async function startup(endpoint: string) {
  const runs: Record<string, number>[] = [];
  for (let i = 0; i < 5; i++) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--cached-only",
        new URL("./aws_startup_probe.ts", import.meta.url).pathname,
        endpoint,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    runs.push(JSON.parse(new TextDecoder().decode(out.stdout)));
  }
  const pick = (k: string) => stats(runs.map((r) => r[k] ?? NaN));
  return {
    importMs: pick("importMs"),
    firstCallMs: pick("firstCallMs"),
    secondCallMs: pick("secondCallMs"),
  };
}

/** Every figure as JSON (the shape the standalone run prints). */
export async function benchAwsClients(n = N): Promise<Record<string, unknown>> {
  N = n;
  const results: Record<string, unknown> = {};
  const sim = await SimBackend.start();
  try {
    const fx = await sim.fixture();
    results.sim = await ec2Figures(sim, fx);
    // Baseline: the same DescribeSubnets as a bare POST without the SDK (the simulator checks
    // only the signature's scope, not the signature).
    const body = `Action=DescribeSubnets&Version=2016-11-15&SubnetId.1=${fx.subnetId}`;
    results.simRawFetchDescribeSubnets = stats(
      await time(N, async () => {
        const r = await fetch(sim.endpoint, {
          method: "POST",
          body,
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            "authorization":
              "AWS4-HMAC-SHA256 Credential=taws/20260101/us-west-2/ec2/aws4_request, " +
              "SignedHeaders=host, Signature=00",
          },
        });
        const text = await r.text();
        if (!r.ok || !text.includes(fx.subnetId)) throw new Error(`raw call failed: ${r.status}`);
      }),
    );
    const md = new InstanceMetadata(new ImdsClient({ endpoint: sim.imdsEndpoint }));
    const first = performance.now();
    await md.identity();
    results.imdsFirstIdentityMs = +(performance.now() - first).toFixed(2);
    results.imdsIdentity = stats(await time(N, () => md.identity()));
    results.imdsListEnis1Eni = stats(await time(N, () => md.listEnis()));
    results.startupAgainstSim = await startup(sim.endpoint);
  } finally {
    await sim.stop();
  }
  const moto = await MotoBackend.start();
  try {
    const fx = await moto.fixture();
    results.moto = await ec2Figures(moto, fx);
  } finally {
    await moto.stop();
  }
  return results;
}

type Stats = ReturnType<typeof stats>;

export const benchmark: Benchmark = {
  name: "aws_clients",
  title: "EC2 client (AWS SDK) against the simulator vs a raw signed fetch; SDK start-up",
  budgetSeconds: 60,
  async run(context): Promise<BenchResult> {
    const r = await benchAwsClients(context.quick ? 10 : 40);
    const sim = r.sim as Record<string, Stats>;
    const raw = r.simRawFetchDescribeSubnets as Stats;
    const moto = r.moto as Record<string, Stats>;
    const start = r.startupAgainstSim as Record<string, Stats>;
    context.log(JSON.stringify(r));
    return {
      figures: [
        {
          name: "DescribeSubnets p50 via Ec2Client (simulator)",
          value: sim.describeSubnets!.p50,
          unit: "ms",
          reference: { name: "raw fetch of the same call, no SDK", value: raw.p50 },
        },
        {
          name: "DescribeSubnets p50 via Ec2Client (simulator)",
          value: sim.describeSubnets!.p50,
          unit: "ms",
          reference: { name: "same client against moto_server", value: moto.describeSubnets!.p50 },
        },
        {
          name: "EC2 client import (AWS SDK load), fresh process, p50",
          value: start.importMs!.p50,
          unit: "ms",
          context: `no same-run reference; first call after it ${start.firstCallMs!.p50} ms. ` +
            "ipamd pays it once, in parallel with IMDS; aws-cni never loads the SDK",
        },
      ],
      details: r,
    };
  },
};

if (import.meta.main) console.log(JSON.stringify(await benchAwsClients(), null, 2));
