/**
 * The project's VPC simulator as a contract-suite backend: `Sim` started in-process without
 * the lab (no namespaces, no root), a fresh one per case. The suite talks to it only over
 * HTTP, through its EC2 endpoint, its per-node IMDS on loopback and its control API.
 */

import { defaultFaultConfig } from "../../src/sim/faults.ts";
import { Sim } from "../../src/sim/sim.ts";
import type { Ec2Backend, Fixture } from "./ec2_suite.ts";

const REGION = "us-west-2";
const AZ = "us-west-2a";

export class SimBackend implements Ec2Backend {
  readonly name = "sim";
  readonly region = REGION;
  readonly resetsBetweenCases = true;
  #sim?: Sim;
  #stateRoot: string;
  #seed = 1;

  private constructor(stateRoot: string) {
    this.#stateRoot = stateRoot;
  }

  static async start(): Promise<SimBackend> {
    return new SimBackend(await Deno.makeTempDir({ prefix: "taws-sim-" }));
  }

  get sim(): Sim {
    if (!this.#sim) throw new Error("no simulator running: call fixture() first");
    return this.#sim;
  }

  get endpoint(): string {
    return this.sim.readyInfo().ec2Endpoint;
  }

  get imdsEndpoint(): string {
    return `${this.sim.readyInfo().nodes[0]?.imdsEndpoint}/`;
  }

  async fixture(): Promise<Fixture> {
    await this.#sim?.close();
    this.#sim = await Sim.start({
      nodes: 1,
      instanceType: "t3.medium",
      vpcCidr: "10.10.0.0/16",
      region: REGION,
      availabilityZone: AZ,
      seed: this.#seed++,
      prefix: "taws",
      faults: defaultFaultConfig(),
      stateRoot: this.#stateRoot,
    });
    const ready = this.#sim.readyInfo();
    const node = ready.nodes[0];
    const subnet = ready.subnets[0];
    if (!node || !subnet) throw new Error("the simulator started without a node or subnet");
    const alt = this.#sim.vpc.addSecurityGroup({
      name: "taws-alt",
      description: "taws contract alternative group",
    });
    return {
      instanceId: node.instanceId,
      instanceType: node.instanceType,
      primaryEniId: node.primaryEniId,
      vpcId: ready.vpcId,
      subnetId: subnet.subnetId,
      subnetCidr: subnet.cidr,
      availabilityZone: AZ,
      groupId: this.#sim.vpc.defaultSecurityGroupId,
      altGroupId: alt.id,
    };
  }

  async fullSubnet(): Promise<string> {
    const subnet = await this.#control("subnets", { cidr: "10.10.200.0/28" });
    const subnetId = String(subnet.subnetId);
    await this.#control("reserve", { subnetId, count: Number(subnet.availableIpAddressCount) });
    return subnetId;
  }

  async fragmentedSubnet(): Promise<string> {
    const subnet = await this.#control("subnets", { cidr: "10.10.208.0/24" });
    const subnetId = String(subnet.subnetId);
    await this.#control("reserve", { subnetId, fragment: true });
    return subnetId;
  }

  async injectErrors(action: string, code: string, times: number): Promise<void> {
    await this.#control("faults", { faults: [{ action, kind: code, count: times }] });
  }

  async throttleDescribe(bucket: { capacity: number; refillPerSecond: number }): Promise<void> {
    await this.#control("faults", { throttle: { enabled: true, describe: bucket } });
  }

  async stop(): Promise<void> {
    await this.#sim?.close();
    this.#sim = undefined;
    await Deno.remove(this.#stateRoot, { recursive: true }).catch(() => {});
  }

  async #control(path: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(`${this.sim.readyInfo().controlEndpoint}/${path}`, {
      method: "POST",
      body: JSON.stringify(body),
    });
    const out = await res.json();
    if (!res.ok) throw new Error(`sim control ${path} failed: ${JSON.stringify(out)}`);
    return out;
  }
}
