/**
 * Domain types of the EC2 layer. The SDK's shapes stop at `ec2_convert.ts`; everything else in
 * the project sees these: required fields are required, lists are never undefined.
 */

export interface EniAttachment {
  attachmentId: string;
  instanceId: string;
  deviceIndex: number;
  networkCardIndex: number;
  /** "attaching" | "attached" | "detaching" | "detached". */
  status: string;
  deleteOnTermination: boolean;
}

export interface EniPrivateIp {
  address: string;
  primary: boolean;
}

export interface SecurityGroupRef {
  groupId: string;
  groupName: string;
}

export interface Eni {
  eniId: string;
  mac: string;
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
  description: string;
  /** "available" | "in-use" | "attaching" | "detaching" | "associated". */
  status: string;
  /** "interface" (the usual), "trunk", "branch", "efa", "efa-only"... */
  interfaceType: string;
  primaryIp: string;
  /** Every private IPv4 address; the primary one first. */
  privateIps: EniPrivateIp[];
  /** Delegated IPv4 prefixes (/28). */
  prefixes: string[];
  groups: SecurityGroupRef[];
  tags: Record<string, string>;
  attachment?: EniAttachment;
  sourceDestCheck?: boolean;
}

export interface Subnet {
  subnetId: string;
  vpcId: string;
  cidr: string;
  availabilityZone: string;
  availableIpCount: number;
  tags: Record<string, string>;
}

export interface SecurityGroup {
  groupId: string;
  groupName: string;
  vpcId: string;
  description: string;
  tags: Record<string, string>;
}

export interface InstanceEniRef {
  eniId: string;
  deviceIndex: number;
  networkCardIndex: number;
  attachmentId: string;
}

export interface Instance {
  instanceId: string;
  instanceType: string;
  state: string;
  availabilityZone: string;
  subnetId: string;
  vpcId: string;
  privateIp: string;
  networkInterfaces: InstanceEniRef[];
  tags: Record<string, string>;
}

export interface NetworkCardInfo {
  index: number;
  maxEnis: number;
}

export interface InstanceTypeInfo {
  instanceType: string;
  /** Total ENIs across network cards (NetworkInfo.MaximumNetworkInterfaces). */
  maxEnis: number;
  /** IPv4 addresses per ENI, the primary included. */
  ipv4PerEni: number;
  ipv6PerEni: number;
  /** "nitro" | "xen" | "unknown" (EC2 leaves it empty for bare metal). */
  hypervisor: string;
  bareMetal: boolean;
  defaultNetworkCardIndex: number;
  networkCards: NetworkCardInfo[];
}

/** EC2 filters as name → accepted values, e.g. `{ "vpc-id": ["vpc-1"], "tag-key": ["k"] }`. */
export type Filters = Record<string, string[]>;

export type Tags = Record<string, string>;
