/**
 * The EC2 side of the pool (spec §3.9): create and attach an ENI and wait until the instance
 * sees it, free an ENI, and assign or release secondary IPs and /28 prefixes. The manager
 * decides what to do (pool.ts); this module only knows how, with upstream's tags, device-index
 * choice, subnet selection and attach/delete ordering.
 */
import type { Config } from "../config.ts";
import type { Ec2Client } from "../aws/ec2.ts";
import { isNotFound, isSubnetFull } from "../aws/ec2_errors.ts";
import type { Eni, Subnet, Tags } from "../aws/ec2_types.ts";
import type { EniMetadata, InstanceMetadata } from "../aws/imds_metadata.ts";
import { backoffDelay, sleep } from "../aws/retry.ts";
import type { Logger } from "../ops/log.ts";

export const TAG_INSTANCE_ID = "node.k8s.amazonaws.com/instance_id";
export const TAG_CREATED_AT = "node.k8s.amazonaws.com/createdAt";
export const TAG_NO_MANAGE = "node.k8s.amazonaws.com/no_manage";
export const TAG_CLUSTER = "cluster.k8s.amazonaws.com/name";
export const TAG_OWNER = "eks:eni:owner";
export const ENI_DESCRIPTION_PREFIX = "aws-K8S-";
const SUBNET_ROLE_TAG = "kubernetes.io/role/cni";
const SUBNET_CLUSTER_TAG_PREFIX = "cni.networking.k8s.aws/cluster/";
/** Device indexes 0..99 exist on a network card (upstream's maxENIs bound). */
const MAX_DEVICE_INDEX = 100;
const SUBNET_CACHE_MS = 60_000;

export type Unit = "ip" | "prefix";

/** A provisioning step that failed for a reason of ours, not an EC2 error code. */
export class EniProvisioningError extends Error {
  readonly code: "NoValidSubnet" | "EniNotInMetadata";
  constructor(code: EniProvisioningError["code"], message: string) {
    super(message);
    this.name = "EniProvisioningError";
    this.code = code;
  }
}

/** The node facts this module needs, read once at start. */
export interface NodeFacts {
  instanceId: string;
  vpcId: string;
  availabilityZone: string;
  primarySubnetId: string;
  /** Security groups of the primary ENI (new ENIs get the same, sorted). */
  primaryGroups: readonly string[];
}

/** Where a new ENI goes: ENIConfig (custom networking) or, when undefined, subnet selection. */
export type EniPlacement = () => Promise<{ subnetId: string; groupIds: string[] } | undefined>;

export interface EniOpsOptions {
  ec2: Ec2Client;
  imds: InstanceMetadata;
  config: Pick<Config, "clusterName" | "additionalEniTags" | "subnetDiscovery">;
  node: NodeFacts;
  logger: Logger;
  placement?: EniPlacement;
  now?: () => number;
  /** Waiting for IMDS: attempts and backoff (upstream: 12 attempts, 100 ms doubling). */
  imdsAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class EniOps {
  #o: EniOpsOptions;
  #now: () => number;
  #sleep: (ms: number) => Promise<void>;
  #subnets?: { at: number; list: Subnet[] };

  constructor(options: EniOpsOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => sleep(ms));
  }

  /** Tags every ENI ipamd creates (and that reconcile adds to adopted ENIs). */
  ownTags(): Tags {
    const { config, node } = this.#o;
    return {
      ...config.additionalEniTags,
      [TAG_INSTANCE_ID]: node.instanceId,
      ...(config.clusterName
        ? { [TAG_CLUSTER]: config.clusterName, [TAG_OWNER]: "amazon-vpc-cni" }
        : {}),
    };
  }

  /**
   * Creates an ENI with `count` IPs or prefixes, attaches it at the lowest free device index,
   * marks it delete-on-termination and waits until IMDS shows it. Nothing is left behind on
   * failure: an ENI that cannot be attached or configured is deleted again.
   */
  async allocateEni(options: { unit: Unit; count: number }): Promise<EniMetadata> {
    const { ec2, node, logger } = this.#o;
    const eni = await this.#create(options);
    let attachmentId: string | undefined;
    try {
      const deviceIndex = await this.#freeDeviceIndex();
      ({ attachmentId } = await ec2.attachNetworkInterface(eni.eniId, {
        instanceId: node.instanceId,
        deviceIndex,
        networkCardIndex: 0,
      }));
      await ec2.setDeleteOnTermination(eni.eniId, attachmentId, true);
      logger.info("ENI attached", { eni: eni.eniId, deviceIndex, subnet: eni.subnetId });
    } catch (error) {
      logger.warn("ENI could not be attached; deleting it", { eni: eni.eniId, error });
      await this.#discard(eni.eniId, attachmentId);
      throw error;
    }
    return await this.#waitInImds(eni, options);
  }

  /** Detaches and deletes an ENI; an ENI that is already gone counts as freed. */
  async freeEni(eniId: string): Promise<void> {
    const { ec2, logger } = this.#o;
    let eni: Eni | undefined;
    try {
      [eni] = await ec2.describeNetworkInterfaces({ ids: [eniId] });
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    if (!eni) return;
    await this.#discard(eniId, eni.attachment?.attachmentId);
    logger.info("ENI freed", { eni: eniId });
  }

  /** Adds `count` addresses to an ENI; returns the new CIDRs (/32s or /28s). */
  async assign(eniId: string, options: { unit: Unit; count: number }): Promise<string[]> {
    const { ec2 } = this.#o;
    if (options.unit === "prefix") return await ec2.assignPrefixes(eniId, options.count);
    return (await ec2.assignPrivateIpAddresses(eniId, options.count)).map((ip) => `${ip}/32`);
  }

  /** Every secondary CIDR EC2 knows on the ENI (used after PrivateIpAddressLimitExceeded). */
  async cidrsOf(eniId: string): Promise<string[]> {
    const [eni] = await this.#o.ec2.describeNetworkInterfaces({ ids: [eniId] });
    if (!eni) return [];
    return [
      ...eni.privateIps.filter((p) => !p.primary).map((p) => `${p.address}/32`),
      ...eni.prefixes,
    ];
  }

  /** Returns CIDRs to EC2. */
  async release(eniId: string, cidrs: readonly string[]): Promise<void> {
    const ips = cidrs.filter((c) => c.endsWith("/32")).map((c) => c.slice(0, -3));
    const prefixes = cidrs.filter((c) => !c.endsWith("/32"));
    await this.#o.ec2.unassignPrivateIpAddresses(eniId, ips);
    await this.#o.ec2.unassignPrefixes(eniId, prefixes);
  }

  async #create(options: { unit: Unit; count: number }): Promise<Eni> {
    const { ec2, node } = this.#o;
    const placement = await this.#o.placement?.();
    const groupIds = placement?.groupIds.length
      ? placement.groupIds
      : [...node.primaryGroups].sort();
    const subnets = placement ? [placement.subnetId] : await this.#candidateSubnets();
    const request = {
      groupIds,
      description: ENI_DESCRIPTION_PREFIX + node.instanceId,
      ...(options.unit === "prefix"
        ? { ipv4PrefixCount: options.count }
        : { secondaryIpCount: options.count }),
      tags: { ...this.ownTags(), [TAG_CREATED_AT]: new Date(this.#now()).toISOString() },
    };
    let lastError: unknown;
    for (const subnetId of subnets) {
      try {
        return await ec2.createNetworkInterface({ ...request, subnetId });
      } catch (error) {
        lastError = error;
        // A full subnet is not the end when discovery found others.
        if (!isSubnetFull(error) || subnets.length === 1) throw error;
        this.#o.logger.warn("subnet full; trying the next one", { subnet: subnetId });
      }
    }
    throw lastError;
  }

  /** Subnet discovery (spec §3.9): the node's subnet plus tagged ones, most free first. */
  async #candidateSubnets(): Promise<string[]> {
    const { node, config, ec2, logger } = this.#o;
    if (!config.subnetDiscovery) return [node.primarySubnetId];
    let list: Subnet[];
    try {
      if (!this.#subnets || this.#now() - this.#subnets.at > SUBNET_CACHE_MS) {
        this.#subnets = {
          at: this.#now(),
          list: await ec2.describeSubnets({
            filters: { "vpc-id": [node.vpcId], "availability-zone": [node.availabilityZone] },
          }),
        };
      }
      list = this.#subnets.list;
    } catch (error) {
      logger.warn("DescribeSubnets failed; using the node's subnet", { error });
      return [node.primarySubnetId];
    }
    const valid = list.filter((s) => subnetUsable(s, { node, clusterName: config.clusterName }));
    const sorted = valid.toSorted((a, b) => b.availableIpCount - a.availableIpCount);
    if (sorted.length === 0) {
      throw new EniProvisioningError(
        "NoValidSubnet",
        `no usable subnet in ${node.vpcId}/${node.availabilityZone}: the node's subnet ` +
          `is excluded (tag ${SUBNET_ROLE_TAG}=0) and no other subnet is tagged ${SUBNET_ROLE_TAG}`,
      );
    }
    return sorted.map((s) => s.subnetId);
  }

  async #freeDeviceIndex(): Promise<number> {
    const { ec2, node } = this.#o;
    const instance = await ec2.describeInstance(node.instanceId);
    const used = new Set(
      (instance?.networkInterfaces ?? []).filter((n) => n.networkCardIndex === 0)
        .map((n) => n.deviceIndex),
    );
    for (let index = 1; index < MAX_DEVICE_INDEX; index++) {
      if (!used.has(index)) return index;
    }
    throw new RangeError(`no free device index on ${node.instanceId}: all of 1..99 are in use`);
  }

  /** Detach (if attached), wait until EC2 calls it available, delete. */
  async #discard(eniId: string, attachmentId: string | undefined): Promise<void> {
    const { ec2 } = this.#o;
    if (attachmentId) {
      try {
        await ec2.detachNetworkInterface(attachmentId);
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      for (let retry = 1; retry <= 12; retry++) {
        const [eni] = await ec2.describeNetworkInterfaces({ ids: [eniId] }).catch((e) => {
          if (isNotFound(e)) return [];
          throw e;
        });
        if (!eni || eni.status === "available") break;
        await this.#sleep(backoffDelay(retry, { baseMs: 200, maxMs: 5000, jitter: 0.15 }));
      }
    }
    try {
      await ec2.deleteNetworkInterface(eniId);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /** IMDS is eventually consistent: poll until it lists the ENI with its addresses. */
  async #waitInImds(eni: Eni, wanted: { unit: Unit; count: number }): Promise<EniMetadata> {
    const { imds, logger } = this.#o;
    const attempts = this.#o.imdsAttempts ?? 12;
    let seen: EniMetadata | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        if ((await imds.macs()).includes(eni.mac)) {
          seen = await imds.eni(eni.mac);
          const have = wanted.unit === "prefix" ? seen.ipv4Prefixes.length : seen.ipv4s.length - 1;
          if (have >= wanted.count) return seen;
        }
      } catch (error) {
        logger.debug("IMDS does not show the new ENI yet", { eni: eni.eniId, error });
      }
      if (attempt < attempts) {
        await this.#sleep(backoffDelay(attempt, { baseMs: 100, maxMs: 5000, jitter: 0.15 }));
      }
    }
    if (seen && seen.ipv4s.length > 0) {
      logger.warn("IMDS shows the new ENI with fewer addresses than assigned", {
        eni: eni.eniId,
        wanted: wanted.count,
      });
      return seen;
    }
    throw new EniProvisioningError(
      "EniNotInMetadata",
      `ENI ${eni.eniId} (${eni.mac}) was attached but instance metadata never listed ` +
        `it; reconcile will adopt it once it appears`,
    );
  }
}

/** Upstream's subnet rules: role tag not "0"; secondary subnets need it; cluster scoping. */
export function subnetUsable(
  subnet: Subnet,
  context: { node: NodeFacts; clusterName: string },
): boolean {
  const role = subnet.tags[SUBNET_ROLE_TAG];
  if (role === "0") return false;
  const primary = subnet.subnetId === context.node.primarySubnetId;
  if (!primary && (role === undefined || role === "")) return false;
  const clusterTags = Object.keys(subnet.tags).filter((k) =>
    k.startsWith(SUBNET_CLUSTER_TAG_PREFIX)
  );
  if (clusterTags.length === 0 || !context.clusterName) return true;
  return clusterTags.includes(SUBNET_CLUSTER_TAG_PREFIX + context.clusterName);
}

/**
 * Upstream's IsSubnetExcluded: tagged kubernetes.io/role/cni=0, or tagged for the CNI but
 * reserved (by cluster tags) for other clusters. An untagged subnet is not excluded.
 */
export function subnetExcluded(subnet: Subnet, clusterName: string): boolean {
  const role = subnet.tags[SUBNET_ROLE_TAG];
  if (role === undefined) return false;
  if (role === "0") return true;
  const clusterTags = Object.keys(subnet.tags).filter((k) =>
    k.startsWith(SUBNET_CLUSTER_TAG_PREFIX)
  );
  if (clusterTags.length === 0 || !clusterName) return false;
  return !clusterTags.includes(SUBNET_CLUSTER_TAG_PREFIX + clusterName);
}
