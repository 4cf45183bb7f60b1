/**
 * The EC2 operations ipamd performs (spec §3.9), over `@aws-sdk/client-ec2`. The SDK stays at
 * this edge: callers pass and get domain types (`ec2_types.ts`) and `Ec2Error`s. Every request
 * goes through `callEc2` (rate limit, deadline, retries, metrics hook).
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
  EC2Client,
  type EC2ClientConfig,
  ModifyNetworkInterfaceAttributeCommand,
  UnassignPrivateIpAddressesCommand,
} from "@aws-sdk/client-ec2";
import { type Logger, silentLogger } from "../ops/log.ts";
import { VERSION } from "../version.ts";
import { callEc2, type CallPolicy, type Ec2CallEvent } from "./ec2_call.ts";
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
import { DEFAULT_RATE_LIMITS, Ec2RateLimiter, type RateLimitOptions } from "./rate_limit.ts";
import type { BackoffOptions } from "./retry.ts";
import { sleep } from "./retry.ts";

export type { Ec2CallEvent } from "./ec2_call.ts";

export interface Ec2ClientOptions {
  region: string;
  /**
   * EC2 endpoint URL; the daemon passes `AWS_ENDPOINT_URL_EC2`, else `AWS_EC2_ENDPOINT`.
   * Undefined: the SDK's regional default.
   */
  endpoint?: string;
  /** Static credentials or a provider; undefined: the SDK's default chain (env, profile, IMDS...). */
  credentials?: EC2ClientConfig["credentials"];
  /** Deadline per attempt (upstream `HTTP_TIMEOUT`, 10 s). */
  timeoutMs?: number;
  /** Attempts per call, the first included (upstream: 10). */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  throttleBackoff?: BackoffOptions;
  /** Token buckets (or a shared limiter); `false` disables client-side limiting. */
  rateLimit?: RateLimitOptions | Ec2RateLimiter | false;
  /** Upstream's `VPC_CNI_VERSION`, added to the user agent as `amazon-vpc-cni-k8s/<v>`. */
  vpcCniVersion?: string;
  onCall?: (event: Ec2CallEvent) => void;
  logger?: Logger;
  /** Test seams. */
  random?: () => number;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

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
  #sdk: EC2Client;
  #policy: CallPolicy;
  #closing = new AbortController();

  constructor(options: Ec2ClientOptions) {
    const logger = options.logger ?? silentLogger;
    const timeoutMs = options.timeoutMs ?? 10_000;
    const userAgent: [string, string][] = [["vpc-cni-deno", VERSION]];
    if (options.vpcCniVersion) userAgent.push(["amazon-vpc-cni-k8s", options.vpcCniVersion]);
    const sdkLogger = {
      debug: () => {},
      info: () => {},
      warn: (...args: unknown[]) => logger.warn("AWS SDK warning", { detail: args.map(String) }),
      error: (...args: unknown[]) => logger.error("AWS SDK error", { detail: args.map(String) }),
    };
    this.#sdk = new EC2Client({
      region: options.region,
      endpoint: options.endpoint,
      credentials: options.credentials,
      // Our own loop retries (ec2_call.ts), so attempts are counted and bounded in one place.
      maxAttempts: 1,
      customUserAgent: userAgent,
      logger: sdkLogger,
      requestHandler: { connectionTimeout: timeoutMs, logger: sdkLogger },
    });
    const limiter = options.rateLimit === false
      ? undefined
      : options.rateLimit instanceof Ec2RateLimiter
      ? options.rateLimit
      : new Ec2RateLimiter(options.rateLimit ?? DEFAULT_RATE_LIMITS, {
        now: options.now,
        sleep: options.sleep,
      });
    this.#policy = {
      maxAttempts: Math.max(1, options.maxAttempts ?? 10),
      timeoutMs,
      backoff: options.backoff ?? { baseMs: 100, maxMs: 20_000, jitter: 1 },
      throttleBackoff: options.throttleBackoff ?? { baseMs: 500, maxMs: 20_000, jitter: 1 },
      limiter,
      onCall: options.onCall,
      logger,
      random: options.random ?? Math.random,
      now: options.now ?? (() => performance.now()),
      sleep: options.sleep ?? sleep,
      closing: this.#closing.signal,
    };
  }

  /** Aborts calls in flight (they fail with code `ClientClosed`) and frees sockets. */
  close(): void {
    this.#closing.abort();
    this.#sdk.destroy();
  }

  #call<T>(action: string, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return callEc2(action, send, this.#policy);
  }

  /** Limits of an instance type; undefined if EC2 returns none. */
  async describeInstanceType(instanceType: string): Promise<InstanceTypeInfo | undefined> {
    const out = await this.#call("DescribeInstanceTypes", (abortSignal) =>
      this.#sdk.send(
        new DescribeInstanceTypesCommand({ InstanceTypes: [instanceType as _InstanceType] }),
        { abortSignal },
      ));
    const info = out.InstanceTypes?.[0];
    return info ? toInstanceType(info) : undefined;
  }

  /** One instance with its attached ENIs (device and card indexes). */
  async describeInstance(instanceId: string): Promise<Instance | undefined> {
    const out = await this.#call(
      "DescribeInstances",
      (abortSignal) =>
        this.#sdk.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }), {
          abortSignal,
        }),
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
    const enis: Eni[] = [];
    let nextToken: string | undefined;
    do {
      const input = {
        NetworkInterfaceIds: byId ? query.ids : undefined,
        Filters: toFilters(query.filters),
        MaxResults: byId ? undefined : query.pageSize ?? PAGE_SIZE,
        NextToken: nextToken,
      };
      const out = await this.#call(
        "DescribeNetworkInterfaces",
        (abortSignal) =>
          this.#sdk.send(new DescribeNetworkInterfacesCommand(input), { abortSignal }),
      );
      for (const ni of out.NetworkInterfaces ?? []) enis.push(toEni(ni));
      nextToken = out.NextToken || undefined;
    } while (nextToken);
    return enis;
  }

  /**
   * ENIs by id, tolerating ids that no longer exist. EC2 fails the whole request for one
   * missing id and names it only in the message text, so on NotFound this falls back to one
   * call per id instead of parsing the message.
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
    const found: Eni[] = [];
    const missing: string[] = [];
    for (const id of ids) {
      try {
        found.push(...await this.describeNetworkInterfaces({ ids: [id] }));
      } catch (error) {
        if (!isNotFound(error)) throw error;
        missing.push(id);
      }
    }
    return { found, missing };
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
    const out = await this.#call(
      "CreateNetworkInterface",
      (abortSignal) => this.#sdk.send(new CreateNetworkInterfaceCommand(input), { abortSignal }),
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
    const out = await this.#call(
      "AttachNetworkInterface",
      (abortSignal) => this.#sdk.send(new AttachNetworkInterfaceCommand(input), { abortSignal }),
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
    await this.#call(
      "DetachNetworkInterface",
      (abortSignal) => this.#sdk.send(new DetachNetworkInterfaceCommand(input), { abortSignal }),
    );
  }

  async deleteNetworkInterface(eniId: string): Promise<void> {
    await this.#call(
      "DeleteNetworkInterface",
      (abortSignal) =>
        this.#sdk.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: eniId }), {
          abortSignal,
        }),
    );
  }

  /** Sets DeleteOnTermination on an attachment, so the ENI dies with the instance. */
  async setDeleteOnTermination(eniId: string, attachmentId: string, value = true): Promise<void> {
    const input = {
      NetworkInterfaceId: eniId,
      Attachment: { AttachmentId: attachmentId, DeleteOnTermination: value },
    };
    await this.#call(
      "ModifyNetworkInterfaceAttribute",
      (abortSignal) =>
        this.#sdk.send(new ModifyNetworkInterfaceAttributeCommand(input), { abortSignal }),
    );
  }

  /** Replaces the ENI's security groups. */
  async modifyNetworkInterfaceGroups(eniId: string, groupIds: string[]): Promise<void> {
    if (groupIds.length === 0) {
      throw new RangeError(`an ENI needs at least one security group; none given for ${eniId}`);
    }
    const input = { NetworkInterfaceId: eniId, Groups: groupIds };
    await this.#call(
      "ModifyNetworkInterfaceAttribute",
      (abortSignal) =>
        this.#sdk.send(new ModifyNetworkInterfaceAttributeCommand(input), { abortSignal }),
    );
  }

  /** Assigns `count` secondary IPs; returns the new addresses only. count < 1: no call. */
  async assignPrivateIpAddresses(eniId: string, count: number): Promise<string[]> {
    if (!(count >= 1)) return [];
    const input = { NetworkInterfaceId: eniId, SecondaryPrivateIpAddressCount: count };
    const out = await this.#call(
      "AssignPrivateIpAddresses",
      (abortSignal) => this.#sdk.send(new AssignPrivateIpAddressesCommand(input), { abortSignal }),
    );
    return (out.AssignedPrivateIpAddresses ?? []).flatMap((a) =>
      a.PrivateIpAddress ? [a.PrivateIpAddress] : []
    );
  }

  /** Delegates `count` /28 prefixes; returns the new prefixes. count < 1: no call. */
  async assignPrefixes(eniId: string, count: number): Promise<string[]> {
    if (!(count >= 1)) return [];
    const input = { NetworkInterfaceId: eniId, Ipv4PrefixCount: count };
    const out = await this.#call(
      "AssignPrivateIpAddresses",
      (abortSignal) => this.#sdk.send(new AssignPrivateIpAddressesCommand(input), { abortSignal }),
    );
    return (out.AssignedIpv4Prefixes ?? []).flatMap((p) => p.Ipv4Prefix ? [p.Ipv4Prefix] : []);
  }

  /** Releases secondary IPs. Empty list: no call. */
  async unassignPrivateIpAddresses(eniId: string, addresses: string[]): Promise<void> {
    if (addresses.length === 0) return;
    const input = { NetworkInterfaceId: eniId, PrivateIpAddresses: addresses };
    await this.#call(
      "UnassignPrivateIpAddresses",
      (abortSignal) =>
        this.#sdk.send(new UnassignPrivateIpAddressesCommand(input), { abortSignal }),
    );
  }

  /** Releases delegated prefixes. Empty list: no call. */
  async unassignPrefixes(eniId: string, prefixes: string[]): Promise<void> {
    if (prefixes.length === 0) return;
    const input = { NetworkInterfaceId: eniId, Ipv4Prefixes: prefixes };
    await this.#call(
      "UnassignPrivateIpAddresses",
      (abortSignal) =>
        this.#sdk.send(new UnassignPrivateIpAddressesCommand(input), { abortSignal }),
    );
  }

  /** Adds or overwrites tags. Empty tag set or no resources: no call. */
  async createTags(resourceIds: string[], tags: Tags): Promise<void> {
    if (resourceIds.length === 0 || Object.keys(tags).length === 0) return;
    const input = { Resources: resourceIds, Tags: toSdkTags(tags) };
    await this.#call(
      "CreateTags",
      (abortSignal) => this.#sdk.send(new CreateTagsCommand(input), { abortSignal }),
    );
  }

  /** Subnets by id and/or filters, all pages. */
  async describeSubnets(query: { ids?: string[]; filters?: Filters } = {}): Promise<Subnet[]> {
    const byId = query.ids !== undefined && query.ids.length > 0;
    const subnets: Subnet[] = [];
    let nextToken: string | undefined;
    do {
      const input = {
        SubnetIds: byId ? query.ids : undefined,
        Filters: toFilters(query.filters),
        MaxResults: byId ? undefined : PAGE_SIZE,
        NextToken: nextToken,
      };
      const out = await this.#call(
        "DescribeSubnets",
        (abortSignal) => this.#sdk.send(new DescribeSubnetsCommand(input), { abortSignal }),
      );
      for (const s of out.Subnets ?? []) subnets.push(toSubnet(s));
      nextToken = out.NextToken || undefined;
    } while (nextToken);
    return subnets;
  }

  /** Security groups by id and/or filters, all pages. */
  async describeSecurityGroups(
    query: { ids?: string[]; filters?: Filters } = {},
  ): Promise<SecurityGroup[]> {
    const byId = query.ids !== undefined && query.ids.length > 0;
    const groups: SecurityGroup[] = [];
    let nextToken: string | undefined;
    do {
      const input = {
        GroupIds: byId ? query.ids : undefined,
        Filters: toFilters(query.filters),
        MaxResults: byId ? undefined : PAGE_SIZE,
        NextToken: nextToken,
      };
      const out = await this.#call(
        "DescribeSecurityGroups",
        (abortSignal) => this.#sdk.send(new DescribeSecurityGroupsCommand(input), { abortSignal }),
      );
      for (const g of out.SecurityGroups ?? []) groups.push(toSecurityGroup(g));
      nextToken = out.NextToken || undefined;
    } while (nextToken);
    return groups;
  }
}

function positive(n: number | undefined): number | undefined {
  return n !== undefined && n >= 1 ? n : undefined;
}
