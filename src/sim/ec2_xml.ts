/**
 * EC2 response shapes (element names from the botocore EC2 model, 2016-11-15): network
 * interfaces, instances, subnets, security groups, instance types.
 */
import type { InstanceTypeInfo } from "./instance_types.ts";
import {
  type Eni,
  eniStatus,
  type Instance,
  privateDnsName,
  type Subnet,
  type Tags,
  type Vpc,
} from "./vpc.ts";
import type { SecurityGroup } from "./vpc.ts";
import { el, set, valueSet, type Xml } from "./xml.ts";

export function tagSet(tags: Tags): Xml {
  return set("tagSet", [...tags], ([k, v]) => [el("key", k), el("value", v)]);
}

function groupSet(vpc: Vpc, groupIds: string[]): Xml {
  return set("groupSet", groupIds, (id) => [
    el("groupId", id),
    el("groupName", vpc.securityGroups.get(id)?.name),
  ]);
}

function privateIps(vpc: Vpc, eni: Eni): Xml {
  const ips = [eni.primaryIp, ...eni.secondaryIps];
  return set("privateIpAddressesSet", ips, (ip) => [
    el("privateIpAddress", ip),
    el("privateDnsName", privateDnsName(ip, vpc.region)),
    el("primary", ip === eni.primaryIp),
  ]);
}

function prefixSet(eni: Eni): Xml | undefined {
  return eni.prefixes.length
    ? set("ipv4PrefixSet", eni.prefixes, (p) => [el("ipv4Prefix", p)])
    : undefined;
}

/** The NetworkInterface shape (DescribeNetworkInterfaces, CreateNetworkInterface). */
export function networkInterfaceXml(vpc: Vpc, eni: Eni): Xml[] {
  const a = eni.attachment;
  const attachment = a
    ? el("attachment", [
      el("attachmentId", a.id),
      el("instanceId", a.instanceId),
      el("instanceOwnerId", vpc.accountId),
      el("deviceIndex", a.deviceIndex),
      el("networkCardIndex", a.networkCardIndex),
      el("status", "attached"),
      el("attachTime", a.attachTime),
      el("deleteOnTermination", a.deleteOnTermination),
    ])
    : undefined;
  return [
    el("networkInterfaceId", eni.id),
    el("subnetId", eni.subnetId),
    el("vpcId", eni.vpcId),
    el("availabilityZone", eni.az),
    el("description", eni.description),
    el("ownerId", vpc.accountId),
    el("requesterManaged", false),
    el("status", eniStatus(eni)),
    el("macAddress", eni.mac),
    el("privateIpAddress", eni.primaryIp),
    el("privateDnsName", privateDnsName(eni.primaryIp, vpc.region)),
    el("sourceDestCheck", eni.sourceDestCheck),
    el("interfaceType", "interface"),
    groupSet(vpc, eni.groupIds),
    ...(attachment ? [attachment] : []),
    tagSet(eni.tags),
    privateIps(vpc, eni),
    ...optional(prefixSet(eni)),
    el("ipv6AddressesSet", []),
    el("denyAllIgwTraffic", false),
    el("ipv6Native", false),
  ];
}

/** The InstanceNetworkInterface shape (DescribeInstances networkInterfaceSet). */
function instanceEniXml(vpc: Vpc, eni: Eni): Xml[] {
  const a = eni.attachment!;
  return [
    el("networkInterfaceId", eni.id),
    el("subnetId", eni.subnetId),
    el("vpcId", eni.vpcId),
    el("description", eni.description),
    el("ownerId", vpc.accountId),
    el("status", eniStatus(eni)),
    el("macAddress", eni.mac),
    el("privateIpAddress", eni.primaryIp),
    el("privateDnsName", privateDnsName(eni.primaryIp, vpc.region)),
    el("sourceDestCheck", eni.sourceDestCheck),
    groupSet(vpc, eni.groupIds),
    el("attachment", [
      el("attachmentId", a.id),
      el("deviceIndex", a.deviceIndex),
      el("networkCardIndex", a.networkCardIndex),
      el("status", "attached"),
      el("attachTime", a.attachTime),
      el("deleteOnTermination", a.deleteOnTermination),
    ]),
    privateIps(vpc, eni),
    ...optional(prefixSet(eni)),
    el("ipv6AddressesSet", []),
    el("interfaceType", "interface"),
  ];
}

/** The Instance shape (DescribeInstances instancesSet). */
export function instanceXml(vpc: Vpc, instance: Instance): Xml[] {
  const enis = vpc.enisOf(instance.id);
  const primary = vpc.enis.get(instance.primaryEniId);
  const subnet = vpc.subnets.get(instance.subnetId);
  return [
    el("instanceId", instance.id),
    el("imageId", instance.imageId),
    el("instanceState", [el("code", 16), el("name", "running")]),
    el("privateDnsName", instance.privateDnsName),
    el("dnsName", ""),
    el("reason", ""),
    el("amiLaunchIndex", 0),
    el("productCodes", []),
    el("instanceType", instance.type.name),
    el("launchTime", instance.launchTime),
    el("placement", [
      el("availabilityZone", subnet?.az ?? vpc.az),
      el("groupName", ""),
      el("tenancy", "default"),
    ]),
    el("monitoring", [el("state", "disabled")]),
    el("subnetId", instance.subnetId),
    el("vpcId", vpc.id),
    el("privateIpAddress", instance.privateIp),
    el("sourceDestCheck", primary?.sourceDestCheck ?? true),
    groupSet(vpc, primary?.groupIds ?? []),
    el("architecture", "x86_64"),
    el("rootDeviceType", "ebs"),
    el("rootDeviceName", "/dev/xvda"),
    el("blockDeviceMapping", []),
    el("virtualizationType", "hvm"),
    tagSet(instance.tags),
    // DescribeInstances knows only "ovm" and "xen"; EC2 reports "xen" for Nitro instances too.
    el("hypervisor", "xen"),
    set("networkInterfaceSet", enis, (e) => instanceEniXml(vpc, e)),
    el("ebsOptimized", false),
    el("enaSupport", instance.type.hypervisor !== "xen"),
    el("cpuOptions", [
      el("coreCount", instance.type.vcpus / instance.type.threadsPerCore),
      el("threadsPerCore", instance.type.threadsPerCore),
    ]),
    el("metadataOptions", [
      el("state", "applied"),
      el("httpTokens", "required"),
      el("httpPutResponseHopLimit", 2),
      el("httpEndpoint", "enabled"),
      el("httpProtocolIpv6", "disabled"),
      el("instanceMetadataTags", "disabled"),
    ]),
  ];
}

/** The Reservation shape. */
export function reservationXml(vpc: Vpc, instance: Instance): Xml[] {
  return [
    el("reservationId", instance.reservationId),
    el("ownerId", vpc.accountId),
    el("groupSet", []),
    set("instancesSet", [instance], (i) => instanceXml(vpc, i)),
  ];
}

export function subnetXml(vpc: Vpc, subnet: Subnet): Xml[] {
  return [
    el("subnetId", subnet.id),
    el("subnetArn", `arn:aws:ec2:${vpc.region}:${vpc.accountId}:subnet/${subnet.id}`),
    el("state", "available"),
    el("ownerId", vpc.accountId),
    el("vpcId", subnet.vpcId),
    el("cidrBlock", subnet.cidr),
    el("ipv6CidrBlockAssociationSet", []),
    el("availableIpAddressCount", subnet.allocator.available),
    el("availabilityZone", subnet.az),
    el("availabilityZoneId", subnet.azId),
    el("defaultForAz", subnet.defaultForAz),
    el("mapPublicIpOnLaunch", false),
    el("assignIpv6AddressOnCreation", false),
    tagSet(subnet.tags),
  ];
}

export function securityGroupXml(vpc: Vpc, sg: SecurityGroup): Xml[] {
  return [
    el("ownerId", vpc.accountId),
    el("groupId", sg.id),
    el("groupName", sg.name),
    el("groupDescription", sg.description),
    el("vpcId", sg.vpcId),
    el("ipPermissions", []),
    el("ipPermissionsEgress", [
      el("item", [
        el("ipProtocol", "-1"),
        el("groups", []),
        el("ipRanges", [el("item", [el("cidrIp", "0.0.0.0/0")])]),
        el("ipv6Ranges", []),
        el("prefixListIds", []),
      ]),
    ]),
    tagSet(sg.tags),
  ];
}

/** The InstanceTypeInfo shape (DescribeInstanceTypes). */
export function instanceTypeXml(t: InstanceTypeInfo): Xml[] {
  const cores = t.vcpus / t.threadsPerCore;
  return [
    el("instanceType", t.name),
    el("currentGeneration", !t.name.startsWith("t2.") && !t.name.startsWith("m4.")),
    el("freeTierEligible", t.name === "t2.micro" || t.name === "t3.micro"),
    valueSet("supportedUsageClasses", ["on-demand", "spot"]),
    valueSet("supportedRootDeviceTypes", ["ebs"]),
    valueSet("supportedVirtualizationTypes", ["hvm"]),
    el("bareMetal", t.bareMetal),
    el("hypervisor", t.hypervisor || undefined),
    el("processorInfo", [valueSet("supportedArchitectures", ["x86_64"])]),
    el("vCpuInfo", [
      el("defaultVCpus", t.vcpus),
      el("defaultCores", cores),
      el("defaultThreadsPerCore", t.threadsPerCore),
    ]),
    el("memoryInfo", [el("sizeInMiB", t.memoryMiB)]),
    el("instanceStorageSupported", false),
    el("networkInfo", [
      el("networkPerformance", t.networkPerformance),
      el("maximumNetworkInterfaces", t.maxEnis),
      el("maximumNetworkCards", t.networkCards.length),
      el("defaultNetworkCardIndex", t.defaultNetworkCardIndex),
      set("networkCards", t.networkCards, (c) => [
        el("networkCardIndex", c.index),
        el("networkPerformance", c.networkPerformance),
        el("maximumNetworkInterfaces", c.maximumNetworkInterfaces),
      ]),
      el("ipv4AddressesPerInterface", t.ipv4PerEni),
      el("ipv6AddressesPerInterface", t.ipv6PerEni),
      el("ipv6Supported", true),
      el("enaSupport", t.hypervisor === "xen" ? "unsupported" : "required"),
      el("efaSupported", /^(p3dn|p4d)\./.test(t.name)),
      el("encryptionInTransitSupported", /^(m6i|p3dn|p4d)\./.test(t.name)),
    ]),
    el("placementGroupInfo", [valueSet("supportedStrategies", ["partition", "spread"])]),
    el("hibernationSupported", true),
    el("burstablePerformanceSupported", t.burstable),
    el("dedicatedHostsSupported", !t.burstable),
    el("autoRecoverySupported", !t.bareMetal),
    valueSet("supportedBootModes", ["legacy-bios", "uefi"]),
  ];
}

function optional(x: Xml | undefined): Xml[] {
  return x ? [x] : [];
}
