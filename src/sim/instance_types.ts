/**
 * Instance-type facts the simulator enforces and serves through DescribeInstanceTypes.
 * Figures from the AWS docs table "IP addresses per network interface per instance type"
 * (maximum ENIs, IPv4 per ENI), the instance-type pages (vCPU, memory, network performance)
 * and upstream's generated limits table (hypervisor, bare metal).
 */

export type Hypervisor = "nitro" | "xen" | "";

export interface NetworkCard {
  index: number;
  maximumNetworkInterfaces: number;
  networkPerformance: string;
}

export interface InstanceTypeInfo {
  name: string;
  /** Total ENIs over all network cards (DescribeInstanceTypes MaximumNetworkInterfaces). */
  maxEnis: number;
  /** Private IPv4 addresses per ENI; the primary IP and each /28 prefix take one each. */
  ipv4PerEni: number;
  ipv6PerEni: number;
  /** "" when EC2 reports none (bare metal). */
  hypervisor: Hypervisor;
  bareMetal: boolean;
  vcpus: number;
  threadsPerCore: number;
  memoryMiB: number;
  networkPerformance: string;
  networkCards: NetworkCard[];
  defaultNetworkCardIndex: number;
  burstable: boolean;
}

/** Prefix delegation needs the Nitro system (or bare metal). */
export function supportsPrefixes(type: InstanceTypeInfo): boolean {
  return type.hypervisor === "nitro" || type.bareMetal;
}

/** ENIs allowed on one network card. */
export function maxEnisOnCard(type: InstanceTypeInfo, cardIndex: number): number | undefined {
  return type.networkCards.find((c) => c.index === cardIndex)?.maximumNetworkInterfaces;
}

// name, max ENIs, IPv4 per ENI, hypervisor, vCPUs, memory MiB, network performance
type Row = [string, number, number, Hypervisor, number, number, string];

const ROWS: Row[] = [
  ["t2.micro", 2, 2, "xen", 1, 1024, "Low to Moderate"],
  ["t2.medium", 3, 6, "xen", 2, 4096, "Low to Moderate"],
  ["t3.nano", 2, 2, "nitro", 2, 512, "Up to 5 Gigabit"],
  ["t3.micro", 2, 2, "nitro", 2, 1024, "Up to 5 Gigabit"],
  ["t3.small", 3, 4, "nitro", 2, 2048, "Up to 5 Gigabit"],
  ["t3.medium", 3, 6, "nitro", 2, 4096, "Up to 5 Gigabit"],
  ["t3.large", 3, 12, "nitro", 2, 8192, "Up to 5 Gigabit"],
  ["t3.xlarge", 4, 15, "nitro", 4, 16384, "Up to 5 Gigabit"],
  ["t3.2xlarge", 4, 15, "nitro", 8, 32768, "Up to 5 Gigabit"],
  ["m4.4xlarge", 8, 30, "xen", 16, 65536, "High"],
  ["m5.large", 3, 10, "nitro", 2, 8192, "Up to 10 Gigabit"],
  ["m5.xlarge", 4, 15, "nitro", 4, 16384, "Up to 10 Gigabit"],
  ["m5.2xlarge", 4, 15, "nitro", 8, 32768, "Up to 10 Gigabit"],
  ["m5.4xlarge", 8, 30, "nitro", 16, 65536, "Up to 10 Gigabit"],
  ["m5.8xlarge", 8, 30, "nitro", 32, 131072, "10 Gigabit"],
  ["m5.12xlarge", 8, 30, "nitro", 48, 196608, "12 Gigabit"],
  ["m5.16xlarge", 15, 50, "nitro", 64, 262144, "20 Gigabit"],
  ["m5.24xlarge", 15, 50, "nitro", 96, 393216, "25 Gigabit"],
  ["m5.metal", 15, 50, "", 96, 393216, "25 Gigabit"],
  ["c5.large", 3, 10, "nitro", 2, 4096, "Up to 10 Gigabit"],
  ["c5.xlarge", 4, 15, "nitro", 4, 8192, "Up to 10 Gigabit"],
  ["c5.2xlarge", 4, 15, "nitro", 8, 16384, "Up to 10 Gigabit"],
  ["c5.4xlarge", 8, 30, "nitro", 16, 32768, "Up to 10 Gigabit"],
  ["c5.9xlarge", 8, 30, "nitro", 36, 73728, "10 Gigabit"],
  ["c5.12xlarge", 8, 30, "nitro", 48, 98304, "12 Gigabit"],
  ["c5.18xlarge", 15, 50, "nitro", 72, 147456, "25 Gigabit"],
  ["c5.24xlarge", 15, 50, "nitro", 96, 196608, "25 Gigabit"],
  ["c5.metal", 15, 50, "", 96, 196608, "25 Gigabit"],
  ["m6i.large", 3, 10, "nitro", 2, 8192, "Up to 12.5 Gigabit"],
  ["m6i.xlarge", 4, 15, "nitro", 4, 16384, "Up to 12.5 Gigabit"],
  ["m6i.2xlarge", 4, 15, "nitro", 8, 32768, "Up to 12.5 Gigabit"],
  ["m6i.4xlarge", 8, 30, "nitro", 16, 65536, "Up to 12.5 Gigabit"],
  ["p3dn.24xlarge", 15, 50, "nitro", 96, 786432, "100 Gigabit"],
];

function fromRow([name, maxEnis, ipv4, hypervisor, vcpus, memoryMiB, perf]: Row): InstanceTypeInfo {
  return {
    name,
    maxEnis,
    ipv4PerEni: ipv4,
    ipv6PerEni: ipv4,
    hypervisor,
    bareMetal: name.endsWith(".metal"),
    vcpus,
    threadsPerCore: name.startsWith("t2.") ? 1 : 2,
    memoryMiB,
    networkPerformance: perf,
    networkCards: [{ index: 0, maximumNetworkInterfaces: maxEnis, networkPerformance: perf }],
    defaultNetworkCardIndex: 0,
    burstable: name.startsWith("t"),
  };
}

// p4d.24xlarge: four network cards of 15 ENIs each (60 in total), the multi-card case.
const P4D: InstanceTypeInfo = {
  ...fromRow(["p4d.24xlarge", 60, 50, "nitro", 96, 1179648, "4x 100 Gigabit"]),
  networkCards: [0, 1, 2, 3].map((index) => ({
    index,
    maximumNetworkInterfaces: 15,
    networkPerformance: "100 Gigabit",
  })),
};

export const INSTANCE_TYPES: ReadonlyMap<string, InstanceTypeInfo> = new Map(
  [...ROWS.map(fromRow), P4D].map((t) => [t.name, Object.freeze(t)]),
);

export function instanceType(name: string): InstanceTypeInfo | undefined {
  return INSTANCE_TYPES.get(name);
}
