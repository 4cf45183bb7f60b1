/** SDK shapes to domain types and back; the only place that knows the SDK's field names. */

import type {
  Filter,
  Instance as SdkInstance,
  InstanceTypeInfo as SdkInstanceTypeInfo,
  NetworkInterface,
  SecurityGroup as SdkSecurityGroup,
  Subnet as SdkSubnet,
  Tag,
} from "@aws-sdk/client-ec2";
import type {
  Eni,
  Filters,
  Instance,
  InstanceTypeInfo,
  SecurityGroup,
  Subnet,
  Tags,
} from "./ec2_types.ts";

export function toFilters(filters: Filters | undefined): Filter[] | undefined {
  if (!filters) return undefined;
  const list = Object.entries(filters).map(([Name, Values]) => ({ Name, Values }));
  return list.length > 0 ? list : undefined;
}

export function toSdkTags(tags: Tags): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

export function fromSdkTags(tags: Tag[] | undefined): Tags {
  const out: Tags = {};
  for (const t of tags ?? []) if (t.Key !== undefined) out[t.Key] = t.Value ?? "";
  return out;
}

export function toEni(ni: NetworkInterface): Eni {
  const privateIps = (ni.PrivateIpAddresses ?? [])
    .filter((p) => p.PrivateIpAddress !== undefined)
    .map((p) => ({ address: p.PrivateIpAddress as string, primary: p.Primary === true }));
  // Primary first, as IMDS lists them; EC2 usually does too but does not promise it.
  privateIps.sort((a, b) => Number(b.primary) - Number(a.primary));
  const att = ni.Attachment;
  return {
    eniId: ni.NetworkInterfaceId ?? "",
    mac: ni.MacAddress ?? "",
    subnetId: ni.SubnetId ?? "",
    vpcId: ni.VpcId ?? "",
    availabilityZone: ni.AvailabilityZone ?? "",
    description: ni.Description ?? "",
    status: ni.Status ?? "",
    interfaceType: ni.InterfaceType ?? "interface",
    primaryIp: ni.PrivateIpAddress ?? privateIps.find((p) => p.primary)?.address ?? "",
    privateIps,
    prefixes: (ni.Ipv4Prefixes ?? []).flatMap((p) => p.Ipv4Prefix ? [p.Ipv4Prefix] : []),
    groups: (ni.Groups ?? []).map((g) => ({
      groupId: g.GroupId ?? "",
      groupName: g.GroupName ?? "",
    })),
    tags: fromSdkTags(ni.TagSet),
    attachment: att?.AttachmentId
      ? {
        attachmentId: att.AttachmentId,
        instanceId: att.InstanceId ?? "",
        deviceIndex: att.DeviceIndex ?? 0,
        networkCardIndex: att.NetworkCardIndex ?? 0,
        status: att.Status ?? "",
        deleteOnTermination: att.DeleteOnTermination === true,
      }
      : undefined,
    sourceDestCheck: ni.SourceDestCheck,
  };
}

export function toSubnet(s: SdkSubnet): Subnet {
  return {
    subnetId: s.SubnetId ?? "",
    vpcId: s.VpcId ?? "",
    cidr: s.CidrBlock ?? "",
    availabilityZone: s.AvailabilityZone ?? "",
    availableIpCount: s.AvailableIpAddressCount ?? 0,
    tags: fromSdkTags(s.Tags),
  };
}

export function toSecurityGroup(g: SdkSecurityGroup): SecurityGroup {
  return {
    groupId: g.GroupId ?? "",
    groupName: g.GroupName ?? "",
    vpcId: g.VpcId ?? "",
    description: g.Description ?? "",
    tags: fromSdkTags(g.Tags),
  };
}

export function toInstance(i: SdkInstance): Instance {
  return {
    instanceId: i.InstanceId ?? "",
    instanceType: i.InstanceType ?? "",
    state: i.State?.Name ?? "",
    availabilityZone: i.Placement?.AvailabilityZone ?? "",
    subnetId: i.SubnetId ?? "",
    vpcId: i.VpcId ?? "",
    privateIp: i.PrivateIpAddress ?? "",
    networkInterfaces: (i.NetworkInterfaces ?? []).map((n) => ({
      eniId: n.NetworkInterfaceId ?? "",
      deviceIndex: n.Attachment?.DeviceIndex ?? 0,
      networkCardIndex: n.Attachment?.NetworkCardIndex ?? 0,
      attachmentId: n.Attachment?.AttachmentId ?? "",
    })).sort((a, b) => a.networkCardIndex - b.networkCardIndex || a.deviceIndex - b.deviceIndex),
    tags: fromSdkTags(i.Tags),
  };
}

export function toInstanceType(t: SdkInstanceTypeInfo): InstanceTypeInfo {
  const net = t.NetworkInfo;
  const cards = (net?.NetworkCards ?? []).map((c) => ({
    index: c.NetworkCardIndex ?? 0,
    maxEnis: c.MaximumNetworkInterfaces ?? 0,
  })).sort((a, b) => a.index - b.index);
  const maxEnis = net?.MaximumNetworkInterfaces ?? 0;
  return {
    instanceType: t.InstanceType ?? "",
    maxEnis,
    ipv4PerEni: net?.Ipv4AddressesPerInterface ?? 0,
    ipv6PerEni: net?.Ipv6AddressesPerInterface ?? 0,
    hypervisor: t.Hypervisor || "unknown",
    bareMetal: t.BareMetal === true,
    defaultNetworkCardIndex: net?.DefaultNetworkCardIndex ?? 0,
    networkCards: cards.length > 0 ? cards : [{ index: 0, maxEnis }],
  };
}
