/**
 * The EC2 operations ipamd performs (spec §3.9), over `@aws-sdk/client-ec2`. The SDK stays at
 * this edge: callers pass and get domain types (`ec2_types.ts`) and `Ec2Error`s. Every request
 * goes through `Ec2Transport` (rate limit, deadline, retries, metrics hook).
 */

import {
  type _InstanceType,
  AssignPrivateIpAddressesCommand,
  AttachNetworkInterfaceCommand,
  CreateNetworkInterfaceCommand,
  CreateTagsCommand,
  DeleteNetworkInterfaceCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DetachNetworkInterfaceCommand,
  ModifyNetworkInterfaceAttributeCommand,
  UnassignPrivateIpAddressesCommand,
} from "@aws-sdk/client-ec2";
import {
  toEni,
  toFilters,
  toInstance,
  toInstanceType,
  toSdkTags,
  toSecurityGroup,
  toSubnet,
} from "./ec2_convert.ts";
import { isNotFound } from "./ec2_errors.ts";
import type {
  Eni,
  Filters,
  Instance,
  InstanceTypeInfo,
  SecurityGroup,
  Subnet,
  Tags,
} from "./ec2_types.ts";
import { type Ec2ClientOptions, Ec2Transport } from "./ec2_transport.ts";

export type { Ec2CallEvent } from "./ec2_call.ts";
export type { Ec2ClientOptions } from "./ec2_transport.ts";

export interface CreateEniOptions {
  subnetId: string;
  groupIds?: string[];
  description?: string;
  /** Secondary private IPs to assign at creation. */
  secondaryIpCount?: number;
  /** /28 prefixes to delegate at creation (prefix mode). */
  ipv4PrefixCount?: number;
  /** Tags applied atomically at creation. */
  tags?: Tags;
}

/** Results per page for paginated describes (upstream uses 1000). */
const PAGE_SIZE = 1000;

export class Ec2Client {
  #t: Ec2Transport;

  constructor(options: Ec2ClientOptions) {
    this.#t = new Ec2Transport(options);
  }

  /** Aborts calls in flight (they fail with code `ClientClosed`) and frees sockets. */
  close(): void {
    this.#t.close();
  }

  /** Limits of an instance type; undefined if EC2 returns none. */
  async describeInstanceType(instanceType: string): Promise<InstanceTypeInfo | undefined> {
    const input = { InstanceTypes: [instanceType as _InstanceType] };
    const out = await this.#t.call(
      "DescribeInstanceTypes",
      (o) => this.#t.sdk.send(new DescribeInstanceTypesCommand(input), o),
    );
    const info = out.InstanceTypes?.[0];
    return info ? toInstanceType(info) : undefined;
  }

  /** One instance with its attached ENIs (device and card indexes). */
  async describeInstance(instanceId: string): Promise<Instance | undefined> {
    const out = await this.#t.call(
      "DescribeInstances",
      (o) => this.#t.sdk.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }), o),
    );
    const instance = out.Reservations?.[0]?.Instances?.[0];
    return instance ? toInstance(instance) : undefined;
  }

  /**
   * ENIs by id and/or filters, all pages. EC2 refuses page sizes together with ids, so only
   * filter-only queries are paged explicitly.
   */
  async describeNetworkInterfaces(
    query: { ids?: string[]; filters?: Filters; pageSize?: number } = {},
  ): Promise<Eni[]> {
    const byId = query.ids !== undefined && query.ids.length > 0;
    return await this.#t.pages(
      "DescribeNetworkInterfaces",
      (NextToken, o) =>
        this.#t.sdk.send(
          new DescribeNetworkInterfacesCommand({
            NetworkInterfaceIds: byId ? query.ids : undefined,
            Filters: toFilters(query.filters),
            MaxResults: byId ? undefined : query.pageSize ?? PAGE_SIZE,
            NextToken,
          }),
          o,
        ),
      (out) => (out.NetworkInterfaces ?? []).map(toEni),
    );
  }

  /**
   * ENIs by id, tolerating ids that no longer exist. EC2 fails the whole request for one
   * missing id and names it only in the message text, so on NotFound this splits the list
   * and asks again instead of parsing the message.
   */
  async describeNetworkInterfacesById(
    ids: string[],
  ): Promise<{ found: Eni[]; missing: string[] }> {
    if (ids.length === 0) return { found: [], missing: [] };
    try {
      return { found: await this.describeNetworkInterfaces({ ids }), missing: [] };
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    if (ids.length === 1) return { found: [], missing: ids };
    // Bisect: one missing id among n costs about 2·log2(n) calls instead of n.
    const half = Math.ceil(ids.length / 2);
    const a = await this.describeNetworkInterfacesById(ids.slice(0, half));
    const b = await this.describeNetworkInterfacesById(ids.slice(half));
    return { found: [...a.found, ...b.found], missing: [...a.missing, ...b.missing] };
  }

  /** Creates an ENI. A client token makes our retries idempotent (no duplicate ENIs). */
  async createNetworkInterface(options: CreateEniOptions): Promise<Eni> {
    const tags = options.tags && Object.keys(options.tags).length > 0 ? options.tags : undefined;
    const input = {
      SubnetId: options.subnetId,
      Groups: options.groupIds && options.groupIds.length > 0 ? options.groupIds : undefined,
      Description: options.description,
      SecondaryPrivateIpAddressCount: positive(options.secondaryIpCount),
      Ipv4PrefixCount: positive(options.ipv4PrefixCount),
      TagSpecifications: tags
        ? [{ ResourceType: "network-interface" as const, Tags: toSdkTags(tags) }]
        : undefined,
      ClientToken: crypto.randomUUID(),
    };
    const out = await this.#t.call(
      "CreateNetworkInterface",
      (o) => this.#t.sdk.send(new CreateNetworkInterfaceCommand(input), o),
    );
    if (!out.NetworkInterface?.NetworkInterfaceId) {
      throw new TypeError(`CreateNetworkInterface in ${options.subnetId} returned no interface`);
    }
    return toEni(out.NetworkInterface);
  }

  /** Attaches an ENI; returns the attachment id. */
  async attachNetworkInterface(
    eniId: string,
    options: { instanceId: string; deviceIndex: number; networkCardIndex?: number },
  ): Promise<{ attachmentId: string; networkCardIndex: number }> {
    const input = {
      NetworkInterfaceId: eniId,
      InstanceId: options.instanceId,
      DeviceIndex: options.deviceIndex,
      NetworkCardIndex: options.networkCardIndex,
    };
    const out = await this.#t.call(
      "AttachNetworkInterface",
      (o) => this.#t.sdk.send(new AttachNetworkInterfaceCommand(input), o),
    );
    if (!out.AttachmentId) {
      throw new TypeError(`AttachNetworkInterface of ${eniId} returned no attachment id`);
    }
    return {
      attachmentId: out.AttachmentId,
      networkCardIndex: out.NetworkCardIndex ?? options.networkCardIndex ?? 0,
    };
  }

  async detachNetworkInterface(attachmentId: string, options: { force?: boolean } = {}) {
    const input = { AttachmentId: attachmentId, Force: options.force };
    await this.#t.call(
      "DetachNetworkInterface",
      (o) => this.#t.sdk.send(new DetachNetworkInterfaceCommand(input), o),
    );
  }

  async deleteNetworkInterface(eniId: string): Promise<void> {
    await this.#t.call(
      "DeleteNetworkInterface",
      (o) => this.#t.sdk.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: eniId }), o),
    );
  }

  /** Sets DeleteOnTermination on an attachment, so the ENI dies with the instance. */
  async setDeleteOnTermination(eniId: string, attachmentId: string, value = true): Promise<void> {
    const input = {
      NetworkInterfaceId: eniId,
      Attachment: { AttachmentId: attachmentId, DeleteOnTermination: value },
    };
    await this.#t.call(
      "ModifyNetworkInterfaceAttribute",
      (o) => this.#t.sdk.send(new ModifyNetworkInterfaceAttributeCommand(input), o),
    );
  }

  /** Replaces the ENI's security groups. */
  async modifyNetworkInterfaceGroups(eniId: string, groupIds: string[]): Promise<void> {
    if (groupIds.length === 0) {
      throw new RangeError(`an ENI needs at least one security group; none given for ${eniId}`);
    }
    const input = { NetworkInterfaceId: eniId, Groups: groupIds };
    await this.#t.call(
      "ModifyNetworkInterfaceAttribute",
      (o) => this.#t.sdk.send(new ModifyNetworkInterfaceAttributeCommand(input), o),
    );
  }

  /** Assigns `count` secondary IPs; returns the new addresses only. count < 1: no call. */
  async assignPrivateIpAddresses(eniId: string, count: number): Promise<string[]> {
    if (!(count >= 1)) return [];
    const input = { NetworkInterfaceId: eniId, SecondaryPrivateIpAddressCount: count };
    const out = await this.#t.call(
      "AssignPrivateIpAddresses",
      (o) => this.#t.sdk.send(new AssignPrivateIpAddressesCommand(input), o),
    );
    return (out.AssignedPrivateIpAddresses ?? []).flatMap((a) =>
      a.PrivateIpAddress ? [a.PrivateIpAddress] : []
    );
  }

  /** Delegates `count` /28 prefixes; returns the new prefixes. count < 1: no call. */
  async assignPrefixes(eniId: string, count: number): Promise<string[]> {
    if (!(count >= 1)) return [];
    const input = { NetworkInterfaceId: eniId, Ipv4PrefixCount: count };
    const out = await this.#t.call(
      "AssignPrivateIpAddresses",
      (o) => this.#t.sdk.send(new AssignPrivateIpAddressesCommand(input), o),
    );
    return (out.AssignedIpv4Prefixes ?? []).flatMap((p) => p.Ipv4Prefix ? [p.Ipv4Prefix] : []);
  }

  /** Releases secondary IPs. Empty list: no call. */
  async unassignPrivateIpAddresses(eniId: string, addresses: string[]): Promise<void> {
    if (addresses.length === 0) return;
    const input = { NetworkInterfaceId: eniId, PrivateIpAddresses: addresses };
    await this.#t.call(
      "UnassignPrivateIpAddresses",
      (o) => this.#t.sdk.send(new UnassignPrivateIpAddressesCommand(input), o),
    );
  }

  /** Releases delegated prefixes. Empty list: no call. */
  async unassignPrefixes(eniId: string, prefixes: string[]): Promise<void> {
    if (prefixes.length === 0) return;
    const input = { NetworkInterfaceId: eniId, Ipv4Prefixes: prefixes };
    await this.#t.call(
      "UnassignPrivateIpAddresses",
      (o) => this.#t.sdk.send(new UnassignPrivateIpAddressesCommand(input), o),
    );
  }

  /** Adds or overwrites tags. Empty tag set or no resources: no call. */
  async createTags(resourceIds: string[], tags: Tags): Promise<void> {
    if (resourceIds.length === 0 || Object.keys(tags).length === 0) return;
    const input = { Resources: resourceIds, Tags: toSdkTags(tags) };
    await this.#t.call(
      "CreateTags",
      (o) => this.#t.sdk.send(new CreateTagsCommand(input), o),
    );
  }

  /** Subnets by id and/or filters, all pages. */
  async describeSubnets(query: { ids?: string[]; filters?: Filters } = {}): Promise<Subnet[]> {
    const byId = query.ids !== undefined && query.ids.length > 0;
    return await this.#t.pages(
      "DescribeSubnets",
      (NextToken, o) =>
        this.#t.sdk.send(
          new DescribeSubnetsCommand({
            SubnetIds: byId ? query.ids : undefined,
            Filters: toFilters(query.filters),
            MaxResults: byId ? undefined : PAGE_SIZE,
            NextToken,
          }),
          o,
        ),
      (out) => (out.Subnets ?? []).map(toSubnet),
    );
  }

  /** Security groups by id and/or filters, all pages. */
  async describeSecurityGroups(
    query: { ids?: string[]; filters?: Filters } = {},
  ): Promise<SecurityGroup[]> {
    const byId = query.ids !== undefined && query.ids.length > 0;
    return await this.#t.pages(
      "DescribeSecurityGroups",
      (NextToken, o) =>
        this.#t.sdk.send(
          new DescribeSecurityGroupsCommand({
            GroupIds: byId ? query.ids : undefined,
            Filters: toFilters(query.filters),
            MaxResults: byId ? undefined : PAGE_SIZE,
            NextToken,
          }),
          o,
        ),
      (out) => (out.SecurityGroups ?? []).map(toSecurityGroup),
    );
  }
}

function positive(n: number | undefined): number | undefined {
  return n !== undefined && n >= 1 ? n : undefined;
}
