/**
 * An EC2 and IMDS stand-in on virtual time (virtual_clock.ts), for running the real EniOps,
 * PoolManager, planner and datastore through minutes of pod traffic in seconds. It keeps one
 * instance's ENIs and addresses, enforces its ENI and per-ENI address limits (a violation is
 * an Ec2Error with EC2's code, and is recorded), and makes every call take as long as the
 * simulator's "realistic" latency model says (src/sim/faults.ts: AssignPrivateIpAddresses
 * ~0.5 s, AttachNetworkInterface ~0.8 s..., ±20 % seeded jitter) after waiting for the EC2
 * client's own token buckets (src/aws/rate_limit.ts defaults). A new ENI shows up in IMDS
 * `imdsLagMs` after it is attached. The methods are those of Ec2Client and InstanceMetadata
 * that EniOps calls; the HTTP wire is not involved (it cannot run on virtual time).
 */

import { Ec2Error } from "../../src/aws/ec2_errors.ts";
import type { Eni, Instance } from "../../src/aws/ec2_types.ts";
import type { CreateEniOptions } from "../../src/aws/ec2.ts";
import type { EniMetadata } from "../../src/aws/imds_metadata.ts";
import { actionClass, DEFAULT_RATE_LIMITS, Ec2RateLimiter } from "../../src/aws/rate_limit.ts";
import { formatIpv4, parseIpv4 } from "../../src/ipv4.ts";
import { defaultFaultConfig, Faults, REALISTIC_LATENCY_MS } from "../../src/sim/faults.ts";
import { Rng } from "../../src/sim/rand.ts";
import type { VirtualClock } from "./virtual_clock.ts";

export const INSTANCE_ID = "i-0virtual000000001";
const VPC_ID = "vpc-0virtual";
const SUBNET_ID = "subnet-0virtual";
const SUBNET_CIDR = "10.0.0.0/16";

interface EniState {
  eniId: string;
  mac: string;
  primaryIp: string;
  ips: string[];
  prefixes: string[];
  deviceIndex?: number;
  attachmentId?: string;
  attachedAt?: number;
}

export interface VirtualEc2Options {
  clock: VirtualClock;
  /** ENIs the instance takes and IPv4 addresses per ENI (primary included). */
  maxEnis: number;
  ipv4PerEni: number;
  seed?: number;
  /** Default 2000 ms: how long after the attach IMDS lists a new ENI. */
  imdsLagMs?: number;
  /** false: no latency at all (unit tests). Default: the simulator's realistic preset. */
  realistic?: boolean;
}

export class VirtualEc2 {
  readonly #clock: VirtualClock;
  readonly #o: VirtualEc2Options;
  readonly #faults: Faults;
  readonly #limiter: Ec2RateLimiter;
  readonly #enis = new Map<string, EniState>();
  #nextIp = parseIpv4("10.0.1.0")!;
  #nextPrefix = parseIpv4("10.0.128.0")!;
  #serial = 0;
  /** Calls made, by action. */
  readonly calls = new Map<string, number>();
  /** Limit violations (the planner asked for more than the instance takes). */
  readonly violations: string[] = [];
  /** Time spent waiting for the client-side rate limit, ms. */
  rateLimitWaitMs = 0;

  constructor(options: VirtualEc2Options) {
    this.#clock = options.clock;
    this.#o = options;
    const config = defaultFaultConfig();
    if (options.realistic ?? true) config.latencyMs = { ...REALISTIC_LATENCY_MS };
    this.#faults = new Faults(config, new Rng(options.seed ?? 1).fork("latency"));
    this.#limiter = new Ec2RateLimiter(DEFAULT_RATE_LIMITS, {
      now: options.clock.now,
      sleep: options.clock.sleep,
    });
    const primary = this.#newEni();
    primary.deviceIndex = 0;
    primary.attachmentId = "eni-attach-primary";
    primary.attachedAt = -Infinity;
  }

  get primaryEniId(): string {
    return [...this.#enis.values()].find((e) => e.deviceIndex === 0)!.eniId;
  }

  /** Mutating and Describe* calls made. */
  callCounts(): { mutating: number; describe: number; byAction: Record<string, number> } {
    let mutating = 0;
    let describe = 0;
    for (const [action, n] of this.calls) {
      if (actionClass(action) === "mutating") mutating += n;
      else describe += n;
    }
    return { mutating, describe, byAction: Object.fromEntries(this.calls) };
  }

  // ---- Ec2Client methods EniOps uses ------------------------------------------------------

  async createNetworkInterface(options: CreateEniOptions): Promise<Eni> {
    await this.#call("CreateNetworkInterface");
    const eni = this.#newEni();
    const ips = options.secondaryIpCount ?? 0;
    const prefixes = options.ipv4PrefixCount ?? 0;
    this.#checkSlots(eni, ips + prefixes, "CreateNetworkInterface");
    for (let i = 0; i < ips; i++) eni.ips.push(this.#ip());
    for (let i = 0; i < prefixes; i++) eni.prefixes.push(this.#prefix());
    return this.#toEni(eni);
  }

  async describeInstance(_instanceId: string): Promise<Instance> {
    await this.#call("DescribeInstances");
    const attached = [...this.#enis.values()].filter((e) => e.deviceIndex !== undefined);
    return {
      instanceId: INSTANCE_ID,
      instanceType: "virtual",
      state: "running",
      availabilityZone: "us-west-2a",
      subnetId: SUBNET_ID,
      vpcId: VPC_ID,
      privateIp: this.#enis.get(this.primaryEniId)!.primaryIp,
      networkInterfaces: attached.map((e) => ({
        eniId: e.eniId,
        deviceIndex: e.deviceIndex!,
        networkCardIndex: 0,
        attachmentId: e.attachmentId!,
      })),
      tags: {},
    };
  }

  async attachNetworkInterface(
    eniId: string,
    options: { instanceId: string; deviceIndex: number; networkCardIndex?: number },
  ): Promise<{ attachmentId: string; networkCardIndex: number }> {
    await this.#call("AttachNetworkInterface");
    const attached = [...this.#enis.values()].filter((e) => e.deviceIndex !== undefined);
    if (attached.length >= this.#o.maxEnis) {
      throw this.#violation("AttachmentLimitExceeded", "AttachNetworkInterface");
    }
    const eni = this.#eni(eniId, "AttachNetworkInterface");
    eni.deviceIndex = options.deviceIndex;
    eni.attachmentId = `eni-attach-${eniId.slice(4)}`;
    eni.attachedAt = this.#clock.now();
    return { attachmentId: eni.attachmentId, networkCardIndex: 0 };
  }

  async setDeleteOnTermination(_eniId: string, _attachmentId: string): Promise<void> {
    await this.#call("ModifyNetworkInterfaceAttribute");
  }

  async describeNetworkInterfaces(query: { ids?: string[] } = {}): Promise<Eni[]> {
    await this.#call("DescribeNetworkInterfaces");
    const ids = query.ids ?? [...this.#enis.keys()];
    return ids.flatMap((id) => {
      const eni = this.#enis.get(id);
      return eni ? [this.#toEni(eni)] : [];
    });
  }

  async detachNetworkInterface(attachmentId: string): Promise<void> {
    await this.#call("DetachNetworkInterface");
    const eni = [...this.#enis.values()].find((e) => e.attachmentId === attachmentId);
    if (!eni) throw this.#error("InvalidAttachmentID.NotFound", "DetachNetworkInterface");
    delete eni.deviceIndex;
    delete eni.attachmentId;
    delete eni.attachedAt;
  }

  async deleteNetworkInterface(eniId: string): Promise<void> {
    await this.#call("DeleteNetworkInterface");
    this.#eni(eniId, "DeleteNetworkInterface");
    this.#enis.delete(eniId);
  }

  async assignPrivateIpAddresses(eniId: string, count: number): Promise<string[]> {
    if (!(count >= 1)) return [];
    await this.#call("AssignPrivateIpAddresses");
    const eni = this.#eni(eniId, "AssignPrivateIpAddresses");
    this.#checkSlots(eni, count, "AssignPrivateIpAddresses");
    const added = Array.from({ length: count }, () => this.#ip());
    eni.ips.push(...added);
    return added;
  }

  async assignPrefixes(eniId: string, count: number): Promise<string[]> {
    if (!(count >= 1)) return [];
    await this.#call("AssignPrivateIpAddresses");
    const eni = this.#eni(eniId, "AssignPrivateIpAddresses");
    this.#checkSlots(eni, count, "AssignPrivateIpAddresses");
    const added = Array.from({ length: count }, () => this.#prefix());
    eni.prefixes.push(...added);
    return added;
  }

  async unassignPrivateIpAddresses(eniId: string, addresses: string[]): Promise<void> {
    if (addresses.length === 0) return;
    await this.#call("UnassignPrivateIpAddresses");
    const eni = this.#eni(eniId, "UnassignPrivateIpAddresses");
    eni.ips = eni.ips.filter((ip) => !addresses.includes(ip));
  }

  async unassignPrefixes(eniId: string, prefixes: string[]): Promise<void> {
    if (prefixes.length === 0) return;
    await this.#call("UnassignPrivateIpAddresses");
    const eni = this.#eni(eniId, "UnassignPrivateIpAddresses");
    eni.prefixes = eni.prefixes.filter((p) => !prefixes.includes(p));
  }

  // ---- InstanceMetadata methods EniOps uses -----------------------------------------------

  /** IMDS as the instance sees it (no latency; a new ENI appears after the lag). */
  readonly imds = {
    macs: (): Promise<string[]> => Promise.resolve(this.#visible().map((e) => e.mac)),
    eni: (mac: string): Promise<EniMetadata> => {
      const eni = this.#visible().find((e) => e.mac === mac);
      if (!eni) return Promise.reject(new Error(`IMDS: no ENI with MAC ${mac}`));
      return Promise.resolve(this.metadata(eni.eniId));
    },
  };

  /** IMDS's view of one ENI. */
  metadata(eniId: string): EniMetadata {
    const eni = this.#enis.get(eniId)!;
    return {
      eniId: eni.eniId,
      mac: eni.mac,
      deviceNumber: eni.deviceIndex ?? 0,
      networkCard: 0,
      subnetId: SUBNET_ID,
      vpcId: VPC_ID,
      subnetCidr: SUBNET_CIDR,
      ipv4s: [eni.primaryIp, ...eni.ips],
      ipv4Prefixes: [...eni.prefixes],
      securityGroupIds: ["sg-0virtual"],
      vpcCidrs: [SUBNET_CIDR],
    };
  }

  // ---- internals --------------------------------------------------------------------------

  #visible(): EniState[] {
    const lag = this.#o.imdsLagMs ?? 2000;
    const now = this.#clock.now();
    return [...this.#enis.values()].filter((e) =>
      e.attachedAt !== undefined && e.attachedAt + lag <= now
    );
  }

  async #call(action: string): Promise<void> {
    this.rateLimitWaitMs += await this.#limiter.acquire(action);
    const category = actionClass(action) === "mutating" ? "mutating" : "describe";
    const { delayMs } = this.#faults.decide(action, category, this.#clock.now());
    if (delayMs > 0) await this.#clock.sleep(delayMs);
    this.calls.set(action, (this.calls.get(action) ?? 0) + 1);
  }

  #newEni(): EniState {
    const serial = ++this.#serial;
    const hex = serial.toString(16).padStart(8, "0");
    const eni: EniState = {
      eniId: `eni-0virtual${hex}`,
      mac: `02:00:${hex.match(/../g)!.join(":")}`,
      primaryIp: this.#ip(),
      ips: [],
      prefixes: [],
    };
    this.#enis.set(eni.eniId, eni);
    return eni;
  }

  #ip(): string {
    return formatIpv4(this.#nextIp++);
  }

  #prefix(): string {
    const prefix = `${formatIpv4(this.#nextPrefix)}/28`;
    this.#nextPrefix += 16;
    return prefix;
  }

  #checkSlots(eni: EniState, adding: number, action: string): void {
    if (eni.ips.length + eni.prefixes.length + adding > this.#o.ipv4PerEni - 1) {
      throw this.#violation("PrivateIpAddressLimitExceeded", action);
    }
  }

  #eni(eniId: string, action: string): EniState {
    const eni = this.#enis.get(eniId);
    if (!eni) throw this.#error("InvalidNetworkInterfaceID.NotFound", action);
    return eni;
  }

  #violation(code: string, action: string): Ec2Error {
    this.violations.push(`${action}: ${code}`);
    return this.#error(code, action);
  }

  #error(code: string, action: string): Ec2Error {
    return new Ec2Error({ code, action, status: 400, attempts: 1, retryable: false });
  }

  #toEni(eni: EniState): Eni {
    return {
      eniId: eni.eniId,
      mac: eni.mac,
      subnetId: SUBNET_ID,
      vpcId: VPC_ID,
      availabilityZone: "us-west-2a",
      description: "",
      status: eni.attachmentId ? "in-use" : "available",
      interfaceType: "interface",
      primaryIp: eni.primaryIp,
      privateIps: [
        { address: eni.primaryIp, primary: true },
        ...eni.ips.map((address) => ({ address, primary: false })),
      ],
      prefixes: [...eni.prefixes],
      groups: [{ groupId: "sg-0virtual", groupName: "default" }],
      tags: {},
      ...(eni.attachmentId
        ? {
          attachment: {
            attachmentId: eni.attachmentId,
            instanceId: INSTANCE_ID,
            deviceIndex: eni.deviceIndex!,
            networkCardIndex: 0,
            status: "attached",
            deleteOnTermination: true,
          },
        }
        : {}),
    };
  }
}
