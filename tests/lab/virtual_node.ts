/**
 * One node's IPAM on virtual time: the real PoolManager, planner, datastore and EniOps over
 * the EC2/IMDS stand-in (virtual_ec2.ts), without routing (adoptEni only fills the
 * datastore). For the churn benchmark and manager tests; `clock.runUntil(t)` drives it.
 */

import type { InstanceMetadata } from "../../src/aws/imds_metadata.ts";
import type { Ec2Client } from "../../src/aws/ec2.ts";
import { Datastore } from "../../src/ipam/datastore.ts";
import { EniOps } from "../../src/ipam/eni_ops.ts";
import { PoolManager } from "../../src/ipam/manager.ts";
import { type AdaptiveParams, AdaptivePool } from "../../src/ipam/pool_adaptive.ts";
import { poolSettings, type WarmTargets } from "../../src/ipam/pool.ts";
import type { PoolMode } from "../../src/ipam/view.ts";
import { silentLogger } from "../../src/ops/log.ts";
import { Metrics } from "../../src/ops/metrics.ts";
import { Rng } from "../../src/sim/rand.ts";
import { VirtualClock } from "./virtual_clock.ts";
import { INSTANCE_ID, VirtualEc2 } from "./virtual_ec2.ts";

export interface VirtualNodeOptions {
  /** ENIs and IPv4 addresses per ENI (primary included), e.g. m5.4xlarge: 8 × 30. */
  instance: { maxEnis: number; ipv4PerEni: number; maxPods: number };
  targets?: Partial<WarmTargets>;
  /** WARM_POOL_MODE=adaptive with these parameters (defaults when {}). */
  adaptive?: Partial<AdaptiveParams>;
  mode?: PoolMode;
  cooldownSeconds?: number;
  seed?: number;
  realistic?: boolean;
  imdsLagMs?: number;
}

export class VirtualNode {
  readonly clock = new VirtualClock();
  readonly ec2: VirtualEc2;
  readonly ds: Datastore;
  readonly manager: PoolManager;
  readonly metrics = new Metrics();
  readonly #stop = new AbortController();
  #loop?: Promise<void>;

  constructor(options: VirtualNodeOptions) {
    const { instance } = options;
    const clock = this.clock;
    this.ec2 = new VirtualEc2({
      clock,
      maxEnis: instance.maxEnis,
      ipv4PerEni: instance.ipv4PerEni,
      ...(options.seed === undefined ? {} : { seed: options.seed }),
      ...(options.realistic === undefined ? {} : { realistic: options.realistic }),
      ...(options.imdsLagMs === undefined ? {} : { imdsLagMs: options.imdsLagMs }),
    });
    const cooldownMs = (options.cooldownSeconds ?? 30) * 1000;
    this.ds = new Datastore({ mode: options.mode ?? "secondary-ip", cooldownMs, now: clock.now });
    const ds = this.ds;
    ds.addEni({ id: this.ec2.primaryEniId, deviceNumber: 0, createdAt: clock.now() });
    const ops = new EniOps({
      // The stand-in has the methods of both that EniOps calls (see virtual_ec2.ts).
      ec2: this.ec2 as unknown as Ec2Client,
      imds: this.ec2.imds as unknown as InstanceMetadata,
      config: { clusterName: "", additionalEniTags: {}, subnetDiscovery: false },
      node: {
        instanceId: INSTANCE_ID,
        vpcId: "vpc-0virtual",
        availabilityZone: "us-west-2a",
        primarySubnetId: "subnet-0virtual",
        primaryGroups: ["sg-0virtual"],
      },
      logger: silentLogger,
      now: clock.now,
      sleep: clock.sleep,
    });
    const targets = {
      warmEniTarget: 1,
      warmIpTarget: 0,
      minimumIpTarget: 0,
      warmPrefixTarget: 0,
      ...options.targets,
    };
    const settings = poolSettings({ ...targets, maxEni: null, customNetworking: false }, {
      eniLimit: instance.maxEnis,
      ipv4PerEni: instance.ipv4PerEni,
      maxPods: instance.maxPods,
    });
    this.manager = new PoolManager({
      ds,
      ops,
      config: { provisioning: true },
      settings: () => settings,
      logger: silentLogger,
      metrics: this.metrics,
      adoptEni: (meta) => {
        ds.addEni({ id: meta.eniId, deviceNumber: meta.deviceNumber, createdAt: clock.now() });
        for (const ip of meta.ipv4s.slice(1)) ds.addCidr(meta.eniId, `${ip}/32`);
        for (const prefix of meta.ipv4Prefixes) ds.addCidr(meta.eniId, prefix);
        return Promise.resolve();
      },
      forgetEni: () => {},
      clock,
      ...(options.adaptive
        ? { adaptive: new AdaptivePool({ cooldownMs, params: options.adaptive }) }
        : {}),
    });
  }

  /** Starts the manager's loop (on virtual time). */
  start(): void {
    this.#loop = this.manager.run(this.#stop.signal);
  }

  /** Stops the loop; waiting ADDs fail. */
  async stop(): Promise<void> {
    this.manager.terminate();
    this.#stop.abort();
    let done = false;
    const loop = (this.#loop ?? Promise.resolve()).finally(() => done = true);
    // The loop ends after its current EC2 step, which takes virtual time.
    for (let i = 0; !done && i < 600; i++) await this.clock.runUntil(this.clock.now() + 1000);
    await loop;
  }
}

/**
 * Runs `fn` with Math.random seeded (retry jitter in EniOps and the manager), so that a run on
 * virtual time is the same every time. Not reentrant: one such run at a time.
 */
export async function withSeededRandom<T>(seed: number, fn: () => Promise<T>): Promise<T> {
  const random = Math.random;
  const rng = new Rng(seed).fork("jitter");
  Math.random = () => rng.next();
  try {
    return await fn();
  } finally {
    Math.random = random;
  }
}
