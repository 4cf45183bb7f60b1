/**
 * The EC2 actions the simulator serves: each reads its Query parameters (names as the AWS SDK
 * and CLI send them), runs the model operation and renders the response members.
 */
import { Ec2ApiError, invalidValue } from "./ec2_error.ts";
import { applyFilters, type FilterTable, paginate } from "./ec2_filters.ts";
import type { QueryParams } from "./ec2_query.ts";
import {
  instanceTypeXml,
  networkInterfaceXml,
  reservationXml,
  securityGroupXml,
  subnetXml,
} from "./ec2_xml.ts";
import {
  assignPrivateIpAddresses,
  attachNetworkInterface,
  createNetworkInterface,
  deleteNetworkInterface,
  detachNetworkInterface,
  modifyNetworkInterfaceAttribute,
  unassignPrivateIpAddresses,
} from "./eni_ops.ts";
import { INSTANCE_TYPES, type InstanceTypeInfo } from "./instance_types.ts";
import {
  type Effect,
  type Eni,
  eniStatus,
  type Instance,
  type SecurityGroup,
  type Subnet,
  type Vpc,
} from "./vpc.ts";
import { el, set, type Xml } from "./xml.ts";

export interface ActionResult {
  body: Xml[];
  effects?: Effect[];
}

export type Action = (vpc: Vpc, params: QueryParams) => ActionResult;

const ok: ActionResult = { body: [el("return", true)] };

export const ACTIONS: Record<string, Action> = {
  DescribeInstances(vpc, p) {
    const ids = p.list("InstanceId");
    noIdsWithMaxResults(ids, p, "instancesSet");
    const items = ids.length ? ids.map((id) => vpc.instance(id)) : [...vpc.instances.values()];
    const filtered = applyFilters(items, p.filters(), INSTANCE_FILTERS(vpc), (i) => i.tags);
    const { page, nextToken } = paginate("DescribeInstances", filtered, pageOf(p, 5, 1000));
    return {
      body: [
        set("reservationSet", page, (i) => reservationXml(vpc, i)),
        el("nextToken", nextToken),
      ],
    };
  },

  DescribeInstanceTypes(_vpc, p) {
    const names = p.list("InstanceType");
    const missing = names.filter((n) => !INSTANCE_TYPES.has(n));
    if (missing.length) {
      throw new Ec2ApiError(
        "InvalidInstanceType",
        `The following supplied instance types do not exist: [${missing.join(", ")}]`,
      );
    }
    const items = names.length
      ? names.map((n) => INSTANCE_TYPES.get(n)!)
      : [...INSTANCE_TYPES.values()];
    const filtered = applyFilters(items, p.filters(), INSTANCE_TYPE_FILTERS);
    const { page, nextToken } = paginate("DescribeInstanceTypes", filtered, {
      ...pageOf(p, 5, 100),
      defaultPage: 100,
    });
    return { body: [set("instanceTypeSet", page, instanceTypeXml), el("nextToken", nextToken)] };
  },

  DescribeNetworkInterfaces(vpc, p) {
    const ids = p.list("NetworkInterfaceId");
    noIdsWithMaxResults(ids, p, "networkInterfaceIdSet");
    const items = ids.length ? ids.map((id) => vpc.eni(id)) : [...vpc.enis.values()];
    const filtered = applyFilters(items, p.filters(), ENI_FILTERS(vpc), (e) => e.tags);
    const { page, nextToken } = paginate("DescribeNetworkInterfaces", filtered, pageOf(p, 5, 1000));
    return {
      body: [
        set("networkInterfaceSet", page, (e) => networkInterfaceXml(vpc, e)),
        el("nextToken", nextToken),
      ],
    };
  },

  DescribeSubnets(vpc, p) {
    const ids = p.list("SubnetId");
    const items = ids.length ? ids.map((id) => vpc.subnet(id)) : [...vpc.subnets.values()];
    const filtered = applyFilters(items, p.filters(), SUBNET_FILTERS, (s) => s.tags);
    const { page, nextToken } = paginate("DescribeSubnets", filtered, pageOf(p, 5, 1000));
    return { body: [set("subnetSet", page, (s) => subnetXml(vpc, s)), el("nextToken", nextToken)] };
  },

  DescribeSecurityGroups(vpc, p) {
    const ids = p.list("GroupId");
    const names = p.list("GroupName");
    let items = ids.length
      ? ids.map((id) => vpc.securityGroup(id))
      : [...vpc.securityGroups.values()];
    if (names.length) {
      const missing = names.find((n) => !items.some((g) => g.name === n));
      if (missing !== undefined) {
        throw new Ec2ApiError(
          "InvalidGroup.NotFound",
          `The security group '${missing}' does not exist in default VPC`,
        );
      }
      items = items.filter((g) => names.includes(g.name));
    }
    const filtered = applyFilters(items, p.filters(), SECURITY_GROUP_FILTERS, (g) => g.tags);
    const { page, nextToken } = paginate("DescribeSecurityGroups", filtered, pageOf(p, 5, 1000));
    return {
      body: [
        set("securityGroupInfo", page, (g) => securityGroupXml(vpc, g)),
        el("nextToken", nextToken),
      ],
    };
  },

  CreateNetworkInterface(vpc, p) {
    for (const v6 of ["Ipv6AddressCount", "Ipv6Addresses", "Ipv6PrefixCount", "Ipv6Prefix"]) {
      if (p.has(v6)) {
        throw invalidValue(
          `${v6}: the simulated subnets have no IPv6 CIDR block (IPv6 is not simulated).`,
        );
      }
    }
    const interfaceType = p.string("InterfaceType");
    if (interfaceType !== undefined && interfaceType !== "interface") {
      throw invalidValue(
        `InterfaceType '${interfaceType}' is not simulated; only standard interfaces are.`,
      );
    }
    const clientToken = p.string("ClientToken");
    const previous = clientToken === undefined ? undefined : clientTokens(vpc).get(clientToken);
    if (previous && vpc.enis.has(previous)) {
      return {
        body: [
          el("networkInterface", networkInterfaceXml(vpc, vpc.eni(previous))),
          el("clientToken", clientToken),
        ],
      };
    }
    const tags: [string, string][] = [];
    for (const spec of p.tagSpecifications()) {
      if (spec.resourceType !== "network-interface") {
        throw invalidValue(
          `'${spec.resourceType}' is not a valid taggable resource type for this operation.`,
        );
      }
      tags.push(...spec.tags);
    }
    const eni = createNetworkInterface(vpc, {
      subnetId: p.requiredString("SubnetId"),
      description: p.string("Description"),
      groupIds: p.list("SecurityGroupId"),
      privateIpAddress: p.string("PrivateIpAddress"),
      privateIpAddresses: p.structList("PrivateIpAddresses").map((a) => ({
        ip: a.requiredString("PrivateIpAddress"),
        primary: a.bool("Primary") ?? false,
      })),
      secondaryCount: p.int("SecondaryPrivateIpAddressCount"),
      ipv4Prefixes: p.structList("Ipv4Prefix").map((x) => x.requiredString("Ipv4Prefix")),
      ipv4PrefixCount: p.int("Ipv4PrefixCount"),
      tags,
    });
    if (clientToken !== undefined) clientTokens(vpc).set(clientToken, eni.id);
    return {
      body: [el("networkInterface", networkInterfaceXml(vpc, eni)), el("clientToken", clientToken)],
    };
  },

  AttachNetworkInterface(vpc, p) {
    const r = attachNetworkInterface(vpc, {
      eniId: p.requiredString("NetworkInterfaceId"),
      instanceId: p.requiredString("InstanceId"),
      deviceIndex: p.requiredInt("DeviceIndex"),
      networkCardIndex: p.int("NetworkCardIndex"),
    });
    return {
      body: [el("attachmentId", r.attachmentId), el("networkCardIndex", r.networkCardIndex)],
      effects: r.effects,
    };
  },

  DetachNetworkInterface(vpc, p) {
    p.bool("Force");
    return {
      ...ok,
      effects: detachNetworkInterface(vpc, { attachmentId: p.requiredString("AttachmentId") }),
    };
  },

  DeleteNetworkInterface(vpc, p) {
    deleteNetworkInterface(vpc, p.requiredString("NetworkInterfaceId"));
    return ok;
  },

  ModifyNetworkInterfaceAttribute(vpc, p) {
    const attachment = p.child("Attachment");
    const groups = p.list("SecurityGroupId");
    modifyNetworkInterfaceAttribute(vpc, {
      eniId: p.requiredString("NetworkInterfaceId"),
      attachment: attachment && {
        attachmentId: attachment.requiredString("AttachmentId"),
        deleteOnTermination: attachment.bool("DeleteOnTermination") ?? false,
      },
      groupIds: p.has("SecurityGroupId") ? groups : undefined,
      description: p.child("Description")?.string("Value"),
      sourceDestCheck: p.child("SourceDestCheck")?.bool("Value"),
    });
    return ok;
  },

  AssignPrivateIpAddresses(vpc, p) {
    const eniId = p.requiredString("NetworkInterfaceId");
    const r = assignPrivateIpAddresses(vpc, {
      eniId,
      ips: p.list("PrivateIpAddress"),
      count: p.int("SecondaryPrivateIpAddressCount"),
      prefixes: p.list("Ipv4Prefix"),
      prefixCount: p.int("Ipv4PrefixCount"),
      allowReassignment: p.bool("AllowReassignment"),
    });
    return {
      body: [
        el("networkInterfaceId", eniId),
        set("assignedPrivateIpAddressesSet", r.ips, (ip) => [el("privateIpAddress", ip)]),
        set("assignedIpv4PrefixSet", r.prefixes, (prefix) => [el("ipv4Prefix", prefix)]),
        el("return", true),
      ],
      effects: r.effects,
    };
  },

  UnassignPrivateIpAddresses(vpc, p) {
    const effects = unassignPrivateIpAddresses(vpc, {
      eniId: p.requiredString("NetworkInterfaceId"),
      ips: p.list("PrivateIpAddress"),
      prefixes: p.list("Ipv4Prefix"),
    });
    return { ...ok, effects };
  },

  CreateTags(vpc, p) {
    const resources = p.list("ResourceId");
    if (!resources.length) {
      throw new Ec2ApiError(
        "MissingParameter",
        "The request must contain the parameter resourceIdSet",
      );
    }
    const tags = p.tags("Tag");
    if (!tags.length) {
      throw new Ec2ApiError("MissingParameter", "The request must contain the parameter tagSet");
    }
    vpc.createTags(resources, tags);
    return ok;
  },
};

/** "describe" (non-mutating) or "mutating": EC2 throttles the two with separate buckets. */
export function actionCategory(action: string): "describe" | "mutating" {
  return action.startsWith("Describe") ? "describe" : "mutating";
}

function pageOf(p: QueryParams, min: number, max: number) {
  return { maxResults: p.int("MaxResults"), nextToken: p.string("NextToken"), min, max };
}

function noIdsWithMaxResults(ids: string[], p: QueryParams, setName: string): void {
  if (ids.length && p.has("MaxResults")) {
    throw new Ec2ApiError(
      "InvalidParameterCombination",
      `The parameter ${setName} cannot be used with the parameter maxResults`,
    );
  }
}

const tokensByVpc = new WeakMap<Vpc, Map<string, string>>();
function clientTokens(vpc: Vpc): Map<string, string> {
  let m = tokensByVpc.get(vpc);
  if (!m) tokensByVpc.set(vpc, m = new Map());
  return m;
}

const ENI_FILTERS = (vpc: Vpc): FilterTable<Eni> => ({
  "network-interface-id": (e) => [e.id],
  "subnet-id": (e) => [e.subnetId],
  "vpc-id": (e) => [e.vpcId],
  "availability-zone": (e) => [e.az],
  "status": (e) => [eniStatus(e)],
  "description": (e) => [e.description],
  "mac-address": (e) => [e.mac],
  "owner-id": () => [vpc.accountId],
  "private-ip-address": (e) => [e.primaryIp, ...e.secondaryIps],
  "addresses.private-ip-address": (e) => [e.primaryIp, ...e.secondaryIps],
  "group-id": (e) => e.groupIds,
  "group-name": (e) => e.groupIds.map((g) => vpc.securityGroups.get(g)?.name),
  "interface-type": () => ["interface"],
  "requester-managed": () => [false],
  "source-dest-check": (e) => [e.sourceDestCheck],
  "attachment.instance-id": (e) => [e.attachment?.instanceId],
  "attachment.attachment-id": (e) => [e.attachment?.id],
  "attachment.device-index": (e) => [e.attachment?.deviceIndex],
  "attachment.network-card-index": (e) => [e.attachment?.networkCardIndex],
  "attachment.status": (e) => [e.attachment ? "attached" : undefined],
  "attachment.instance-owner-id": (e) => [e.attachment ? vpc.accountId : undefined],
  "attachment.delete-on-termination": (e) => [e.attachment?.deleteOnTermination],
});

const INSTANCE_FILTERS = (vpc: Vpc): FilterTable<Instance> => ({
  "instance-id": (i) => [i.id],
  "instance-type": (i) => [i.type.name],
  "instance-state-name": () => ["running"],
  "instance-state-code": () => [16],
  "vpc-id": () => [vpc.id],
  "subnet-id": (i) => [i.subnetId],
  "availability-zone": (i) => [vpc.subnets.get(i.subnetId)?.az],
  "private-ip-address": (i) => [i.privateIp],
  "private-dns-name": (i) => [i.privateDnsName],
  "image-id": (i) => [i.imageId],
  "network-interface.network-interface-id": (i) => vpc.enisOf(i.id).map((e) => e.id),
  "network-interface.addresses.private-ip-address": (i) =>
    vpc.enisOf(i.id).flatMap((e) => [e.primaryIp, ...e.secondaryIps]),
});

const SUBNET_FILTERS: FilterTable<Subnet> = {
  "subnet-id": (s) => [s.id],
  "vpc-id": (s) => [s.vpcId],
  "availability-zone": (s) => [s.az],
  "availabilityZone": (s) => [s.az],
  "availability-zone-id": (s) => [s.azId],
  "cidr-block": (s) => [s.cidr],
  "cidrBlock": (s) => [s.cidr],
  "cidr": (s) => [s.cidr],
  "state": () => ["available"],
  "default-for-az": (s) => [s.defaultForAz],
  "defaultForAz": (s) => [s.defaultForAz],
  "available-ip-address-count": (s) => [s.allocator.available],
};

const SECURITY_GROUP_FILTERS: FilterTable<SecurityGroup> = {
  "group-id": (g) => [g.id],
  "group-name": (g) => [g.name],
  "vpc-id": (g) => [g.vpcId],
  "description": (g) => [g.description],
};

const INSTANCE_TYPE_FILTERS: FilterTable<InstanceTypeInfo> = {
  "instance-type": (t) => [t.name],
  "hypervisor": (t) => [t.hypervisor || undefined],
  "bare-metal": (t) => [t.bareMetal],
  "burstable-performance-supported": (t) => [t.burstable],
  "current-generation": (t) => [!/^(t2|m4)\./.test(t.name)],
  "vcpu-info.default-vcpus": (t) => [t.vcpus],
  "memory-info.size-in-mib": (t) => [t.memoryMiB],
  "network-info.maximum-network-interfaces": (t) => [t.maxEnis],
  "network-info.ipv4-addresses-per-interface": (t) => [t.ipv4PerEni],
  "network-info.maximum-network-cards": (t) => [t.networkCards.length],
};
