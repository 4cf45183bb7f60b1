/**
 * The simulated VPC: subnets, security groups, instances and ENIs, with EC2's identifiers and
 * rules. Pure state, no I/O: operations that change the network return `Effect`s that the
 * simulator applies to the lab afterwards (plan, then act). ENI actions live in eni_ops.ts.
 */
import { cidrContains, cidrOverlaps, parseCidr, SubnetAllocator } from "./addresses.ts";
import { Ec2ApiError, invalidValue, malformedId, notFound } from "./ec2_error.ts";
import type { InstanceTypeInfo } from "./instance_types.ts";
import { macAddress, resourceId, type SimRandom } from "./rand.ts";

export type Tags = Map<string, string>;

export interface Subnet {
  id: string;
  vpcId: string;
  cidr: string;
  az: string;
  azId: string;
  defaultForAz: boolean;
  tags: Tags;
  allocator: SubnetAllocator;
}

export interface SecurityGroup {
  id: string;
  name: string;
  description: string;
  vpcId: string;
  tags: Tags;
}

export interface Instance {
  id: string;
  type: InstanceTypeInfo;
  subnetId: string;
  primaryEniId: string;
  privateIp: string;
  privateDnsName: string;
  imageId: string;
  reservationId: string;
  launchTime: Date;
  /** The lab node standing for this instance ("n1", "n2", ...). */
  nodeKey: string;
  tags: Tags;
}

export interface Attachment {
  id: string;
  instanceId: string;
  deviceIndex: number;
  networkCardIndex: number;
  deleteOnTermination: boolean;
  attachTime: Date;
  /** N of the lab's veth ethN: the device index on card 0, else the lowest free N. */
  labDevice: number;
}

export interface Eni {
  id: string;
  subnetId: string;
  vpcId: string;
  az: string;
  description: string;
  mac: string;
  primaryIp: string;
  secondaryIps: string[];
  prefixes: string[];
  groupIds: string[];
  sourceDestCheck: boolean;
  attachment?: Attachment;
  tags: Tags;
}

/**
 * A change the lab must make so the network matches the model (SIM_CONTRACT §1). `deviceIndex`
 * is the lab's device (the N of ethN; see Attachment.labDevice).
 */
export type Effect =
  | { kind: "attach"; nodeKey: string; deviceIndex: number; mac: string; gateway: string }
  | { kind: "detach"; nodeKey: string; deviceIndex: number }
  | {
    kind: "route";
    nodeKey: string;
    deviceIndex: number;
    cidr: string;
    eniPrimaryIp: string;
    mac: string;
  }
  | { kind: "unroute"; nodeKey: string; deviceIndex: number; cidr: string };

export interface VpcOptions {
  cidr: string;
  region: string;
  az: string;
  random: SimRandom;
  /** Milliseconds clock (tests pass a fake one). */
  now?: () => number;
  accountId?: string;
}

/** Max IPv4 slots on an ENI that is not attached (no instance type applies yet). */
export const UNATTACHED_IPV4_LIMIT = 50;
export const MAX_TAGS_PER_RESOURCE = 50;

export class Vpc {
  readonly id: string;
  readonly cidr: string;
  readonly region: string;
  readonly az: string;
  readonly accountId: string;
  readonly defaultSecurityGroupId: string;
  readonly subnets: Map<string, Subnet> = new Map();
  readonly securityGroups: Map<string, SecurityGroup> = new Map();
  readonly instances: Map<string, Instance> = new Map();
  readonly enis: Map<string, Eni> = new Map();
  readonly tags: Tags = new Map();
  /** Called after anything an instance's metadata shows has changed (feeds IMDS history). */
  onInstanceChanged: (instanceId: string) => void = () => {};
  readonly random: SimRandom;
  #now: () => number;

  constructor(options: VpcOptions) {
    parseCidr(options.cidr);
    this.cidr = options.cidr;
    this.region = options.region;
    this.az = options.az;
    this.random = options.random;
    this.#now = options.now ?? Date.now;
    this.accountId = options.accountId ?? "123456789012";
    this.id = this.newId("vpc");
    this.defaultSecurityGroupId = this.addSecurityGroup({
      name: "default",
      description: "default VPC security group",
    }).id;
  }

  now(): number {
    return this.#now();
  }

  newId(prefix: string): string {
    return resourceId(this.random.ids, prefix);
  }

  newMac(): string {
    return macAddress(this.random.ids);
  }

  addSubnet(spec: { cidr: string; az?: string; tags?: Record<string, string> }): Subnet {
    let cidr;
    try {
      cidr = parseCidr(spec.cidr);
    } catch (e) {
      throw new Ec2ApiError("InvalidSubnet.Range", (e as Error).message, { cause: e });
    }
    if (!cidrContains(parseCidr(this.cidr), cidr)) {
      throw new Ec2ApiError(
        "InvalidSubnet.Range",
        `The CIDR '${spec.cidr}' is invalid for the VPC ${this.id} (${this.cidr}).`,
      );
    }
    for (const s of this.subnets.values()) {
      if (cidrOverlaps(parseCidr(s.cidr), cidr)) {
        throw new Ec2ApiError(
          "InvalidSubnet.Conflict",
          `The CIDR '${spec.cidr}' conflicts with another subnet`,
        );
      }
    }
    const az = spec.az ?? this.az;
    let allocator;
    try {
      allocator = new SubnetAllocator(spec.cidr, this.random.addresses.fork(spec.cidr));
    } catch (e) {
      throw new Ec2ApiError("InvalidSubnet.Range", (e as Error).message, { cause: e });
    }
    const subnet: Subnet = {
      id: this.newId("subnet"),
      vpcId: this.id,
      cidr: spec.cidr,
      az,
      azId: azIdOf(az),
      defaultForAz: false,
      tags: new Map(Object.entries(spec.tags ?? {})),
      allocator,
    };
    this.subnets.set(subnet.id, subnet);
    return subnet;
  }

  addSecurityGroup(spec: { name: string; description: string }): SecurityGroup {
    const sg: SecurityGroup = { id: this.newId("sg"), vpcId: this.id, tags: new Map(), ...spec };
    this.securityGroups.set(sg.id, sg);
    return sg;
  }

  /** Launches an instance with its primary ENI at device 0 (DeleteOnTermination true). */
  addInstance(spec: {
    type: InstanceTypeInfo;
    subnetId: string;
    nodeKey: string;
    primaryIp?: string;
  }): Instance {
    const subnet = this.subnet(spec.subnetId);
    let primaryIp = spec.primaryIp;
    if (primaryIp !== undefined) {
      if (!subnet.allocator.claimIp(primaryIp)) {
        throw new Ec2ApiError("InvalidIPAddress.InUse", `Address ${primaryIp} is in use.`);
      }
    } else {
      primaryIp = subnet.allocator.allocateIps(1)?.[0];
      if (primaryIp === undefined) throw insufficientAddresses();
    }
    const id = this.newId("i");
    const eni: Eni = {
      id: this.newId("eni"),
      subnetId: subnet.id,
      vpcId: this.id,
      az: subnet.az,
      description: "",
      mac: this.newMac(),
      primaryIp,
      secondaryIps: [],
      prefixes: [],
      groupIds: [this.defaultSecurityGroupId],
      sourceDestCheck: true,
      tags: new Map(),
    };
    const launchTime = new Date(this.now());
    eni.attachment = {
      id: this.newId("eni-attach"),
      instanceId: id,
      deviceIndex: 0,
      networkCardIndex: 0,
      deleteOnTermination: true,
      attachTime: launchTime,
      labDevice: 0,
    };
    this.enis.set(eni.id, eni);
    const instance: Instance = {
      id,
      type: spec.type,
      subnetId: subnet.id,
      primaryEniId: eni.id,
      privateIp: primaryIp,
      privateDnsName: privateDnsName(primaryIp, this.region),
      imageId: "ami-0" + this.random.ids.hex(16),
      reservationId: this.newId("r"),
      launchTime,
      nodeKey: spec.nodeKey,
      tags: new Map(),
    };
    this.instances.set(id, instance);
    this.onInstanceChanged(id);
    return instance;
  }

  /** Takes back an instance whose node could not be built (its ENIs and their addresses). */
  removeInstance(id: string): void {
    for (const eni of this.enisOf(id)) {
      const allocator = this.subnet(eni.subnetId).allocator;
      for (const a of [eni.primaryIp, ...eni.secondaryIps, ...eni.prefixes]) allocator.release(a);
      this.enis.delete(eni.id);
    }
    this.instances.delete(id);
  }

  subnet(id: string): Subnet {
    checkIdFormat(id, "subnet", "InvalidSubnetID.Malformed");
    const s = this.subnets.get(id);
    if (!s) throw notFound("subnet", id);
    return s;
  }

  instance(id: string): Instance {
    checkIdFormat(id, "i", "InvalidInstanceID.Malformed");
    const i = this.instances.get(id);
    if (!i) throw notFound("instance", id);
    return i;
  }

  eni(id: string): Eni {
    checkIdFormat(id, "eni", "InvalidNetworkInterfaceID.Malformed");
    const e = this.enis.get(id);
    if (!e) throw notFound("networkInterface", id);
    return e;
  }

  securityGroup(id: string): SecurityGroup {
    checkIdFormat(id, "sg", "InvalidGroupId.Malformed");
    const sg = this.securityGroups.get(id);
    if (!sg) {
      throw new Ec2ApiError(
        "InvalidGroup.NotFound",
        `The security group '${id}' does not exist in VPC '${this.id}'`,
      );
    }
    return sg;
  }

  /** ENIs attached to an instance, by device index. */
  enisOf(instanceId: string): Eni[] {
    return [...this.enis.values()]
      .filter((e) => e.attachment?.instanceId === instanceId)
      .sort((a, b) => a.attachment!.deviceIndex - b.attachment!.deviceIndex);
  }

  /** The instance owning an address (any private IP or prefix of any attached ENI). */
  instanceByAddress(ip: string): Instance | undefined {
    for (const eni of this.enis.values()) {
      if (!eni.attachment) continue;
      if (eni.primaryIp === ip || eni.secondaryIps.includes(ip)) {
        return this.instances.get(eni.attachment.instanceId);
      }
      for (const prefix of eni.prefixes) {
        const c = parseCidr(prefix);
        if (cidrContains(c, parseCidr(`${ip}/32`))) {
          return this.instances.get(eni.attachment.instanceId);
        }
      }
    }
    return undefined;
  }

  /** CreateTags: adds or overwrites tags on ENIs, instances, subnets, security groups, the VPC. */
  createTags(resourceIds: string[], tags: [string, string][]): void {
    const targets = resourceIds.map((id) => this.#taggable(id));
    for (const [key] of tags) {
      if (key.toLowerCase().startsWith("aws:")) {
        throw invalidValue(`Tag keys starting with 'aws:' are reserved for internal use: '${key}'`);
      }
    }
    for (const target of targets) {
      const keys = new Set([...target.keys(), ...tags.map(([k]) => k)]);
      if (keys.size > MAX_TAGS_PER_RESOURCE) {
        throw new Ec2ApiError(
          "TagLimitExceeded",
          `A resource can have at most ${MAX_TAGS_PER_RESOURCE} tags`,
        );
      }
    }
    for (const target of targets) for (const [k, v] of tags) target.set(k, v);
  }

  #taggable(id: string): Tags {
    const prefix = id.slice(0, id.lastIndexOf("-"));
    switch (prefix) {
      case "eni":
        return this.eni(id).tags;
      case "i":
        return this.instance(id).tags;
      case "subnet":
        return this.subnet(id).tags;
      case "sg":
        return this.securityGroup(id).tags;
      case "vpc":
        if (id !== this.id) {
          throw new Ec2ApiError("InvalidVpcID.NotFound", `The vpc ID '${id}' does not exist`);
        }
        return this.tags;
      default:
        throw new Ec2ApiError("InvalidID", `The ID '${id}' is not valid`);
    }
  }
}

export function insufficientAddresses(): Ec2ApiError {
  return new Ec2ApiError(
    "InsufficientFreeAddressesInSubnet",
    "The specified subnet does not have enough free addresses to satisfy the request.",
  );
}

export function insufficientCidrBlocks(): Ec2ApiError {
  return new Ec2ApiError(
    "InsufficientCidrBlocks",
    "The specified subnet does not have enough free cidr blocks to satisfy the request.",
  );
}

export function privateDnsName(ip: string, region: string): string {
  const domain = region === "us-east-1" ? "ec2.internal" : `${region}.compute.internal`;
  return `ip-${ip.replaceAll(".", "-")}.${domain}`;
}

/** IPv4 slots an ENI uses: the primary, each secondary, and each /28 prefix. */
export function ipv4Slots(eni: Eni): number {
  return 1 + eni.secondaryIps.length + eni.prefixes.length;
}

export function eniStatus(eni: Eni): "available" | "in-use" {
  return eni.attachment ? "in-use" : "available";
}

function checkIdFormat(id: string, prefix: string, code: string): void {
  if (!new RegExp(`^${prefix}-[0-9a-f]{8,17}$`).test(id)) throw malformedId(code, id, prefix);
}

function azIdOf(az: string): string {
  // "us-west-2a" -> "usw2-az1": close to EC2's zone ids; only used for display.
  const m = /^([a-z]+)-([a-z]+)-(\d+)([a-z])$/.exec(az);
  if (!m) return az;
  return `${m[1]}${m[2]![0]}${m[3]}-az${m[4]!.charCodeAt(0) - 96}`;
}
