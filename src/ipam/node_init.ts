/**
 * Node initialisation (spec §3.2–3.4, §3.7): who we are (IMDS), what the instance can hold
 * (DescribeInstanceTypes, cached on disk), the host's routing and SNAT, the ENIs already
 * attached (IMDS + one DescribeNetworkInterfaces), and the checkpoint. Returns the runtime the
 * manager, the reconciler and the RPC handlers share.
 */
import { dirname } from "node:path";
import type { Config } from "../config.ts";
import type { Ec2Client } from "../aws/ec2.ts";
import type { Eni, InstanceTypeInfo, Subnet } from "../aws/ec2_types.ts";
import type { EniMetadata, InstanceIdentity, InstanceMetadata } from "../aws/imds_metadata.ts";
import type { Logger } from "../ops/log.ts";
import type { Metrics } from "../ops/metrics.ts";
import { Netlink } from "../../ffi/mod.ts";
import { hostLinkNames, setupHostNetwork } from "../node/host_network.ts";
import { setupEniNetwork, teardownEniNetwork } from "../node/eni_network.ts";
import { applySnatRules, detectIptablesBackend, type IptablesBackend } from "../node/iptables.ts";
import { deletePodRules, migratePodRules } from "../node/pod_rules.ts";
import { checkpointPersister, loadCheckpoint, planRestore } from "./checkpoint.ts";
import { Datastore } from "./datastore.ts";
import { EniOps, subnetExcluded, TAG_INSTANCE_ID, TAG_NO_MANAGE } from "./eni_ops.ts";
import { type PoolSettings, poolSettings, PREFIX_SIZE } from "./pool.ts";
import type { PoolMode } from "./view.ts";
import type { KubeLink } from "./kube.ts";

/** Upstream's default when kubelet's max pods is unknown in prefix mode (≤ 30 vCPUs). */
const PREFIX_MODE_MAX_PODS = 110;

export interface NodeRuntime {
  identity: InstanceIdentity;
  primary: EniMetadata;
  vpcId: string;
  vpcCidrs: string[];
  instanceType: InstanceTypeInfo;
  mode: PoolMode;
  /** Max pods now: MAX_PODS, else the Node's capacity.pods (followed), else the instance's. */
  readonly maxPods: number;
  settings: () => PoolSettings;
  ds: Datastore;
  nl: Netlink;
  ops?: EniOps;
  ec2?: Ec2Client;
  imds: InstanceMetadata;
  iptables: IptablesBackend;
  primaryInterface: string;
  /** ENIs ipamd does not manage (no_manage tag, foreign, trunk/EFA): they still use slots. */
  unmanaged: Set<string>;
  /** Subnets excluded from pod addresses (tag kubernetes.io/role/cni=0). */
  excludedSubnets: Set<string>;
  /** Known ENIs' primary IPs, for removing their rules when they go. */
  eniPrimaryIps: Map<string, string>;
  adoptEni(meta: EniMetadata): Promise<void>;
  /**
   * ENIs attached since start, before adoption: asks EC2 about them, records those that are
   * not ipamd's (no_manage, another owner, trunk/EFA) in `unmanaged`, tags the others as this
   * node's, and returns the ids to leave alone (unmanaged, or already gone from EC2).
   */
  vetEnis(eniIds: readonly string[]): Promise<Set<string>>;
  forgetEni(eniId: string): void;
  /** Re-applies the SNAT rules (VPC CIDRs changed). */
  applySnat(vpcCidrs: string[]): Promise<void>;
}

export interface InitOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  imds: InstanceMetadata;
  /** Resolves to an EC2 client unless the node runs in IMDS-only mode. */
  ec2?: Promise<Ec2Client>;
  /** The Kubernetes link, when an API server is configured (kube.ts). */
  kube?: KubeLink;
}

export async function initNode(options: InitOptions): Promise<NodeRuntime> {
  const { config, logger, imds } = options;
  const identity = await imds.identity();
  const primary = await imds.eni(identity.primaryMac, { primaryMac: identity.primaryMac });
  logger.info("instance identified", { ...identity, primaryEni: primary.eniId });
  const ec2 = await options.ec2;
  const instanceType = await instanceLimits(identity.instanceType, { config, ec2, logger });

  const nitro = instanceType.hypervisor === "nitro" || instanceType.bareMetal;
  if (config.prefixDelegation && !nitro) {
    logger.warn("prefix delegation needs a Nitro instance; using secondary IPs", {
      instanceType: identity.instanceType,
      hypervisor: instanceType.hypervisor,
    });
  }
  const mode: PoolMode = config.prefixDelegation && nitro ? "prefix-delegation" : "secondary-ip";
  const maxEnis = config.maxEni === null
    ? instanceType.maxEnis
    : Math.min(config.maxEni, instanceType.maxEnis);
  const fallbackMaxPods = mode === "prefix-delegation"
    ? PREFIX_MODE_MAX_PODS
    : maxEnis * (instanceType.ipv4PerEni - 1) + 2;
  // Followed live: the Node may become readable later (API server back) or change capacity.
  const currentMaxPods = () => config.maxPods ?? options.kube?.node()?.maxPods ?? fallbackMaxPods;
  const maxPods = currentMaxPods();

  const nl = Netlink.open();
  const host = await setupHostNetwork(nl, {
    primaryMac: identity.primaryMac,
    mtu: config.eniMtu,
    nodePortSupport: config.nodePortSupport,
    externalSnat: config.externalSnat,
    connmark: config.connmark,
    externalServiceCidrs: config.externalServiceCidrs,
  }, { logger });
  const iptables = await detectIptablesBackend();
  options.metrics.connmarkBackend.labels("iptables").set(1);
  const applySnat = async (vpcCidrs: string[]) => {
    try {
      await applySnatRules({
        vpcCidrs,
        primaryIp: identity.localIpv4,
        primaryInterface: host.primaryInterface,
        excludeSnatCidrs: config.excludeSnatCidrs,
        externalSnat: config.externalSnat,
        randomizeSnat: config.randomizeSnat,
        nodePortSupport: config.nodePortSupport,
        connmark: config.connmark,
        vethPrefix: config.vethPrefix,
      }, { backend: iptables, logger });
      options.metrics.connmarkReconciles.labels("success").inc();
    } catch (error) {
      options.metrics.connmarkReconciles.labels("error").inc();
      throw error;
    }
  };
  await applySnat(primary.vpcCidrs);

  // ENIs attached now, and what EC2 says about them (tags, type).
  const attached = await imds.listEnis();
  const described = ec2 && !config.imdsOnlyMode
    ? (await ec2.describeNetworkInterfacesById(attached.map((m) => m.eniId))).found
    : [];
  const unmanaged = classifyUnmanaged(described, { config, identity, primaryEniId: primary.eniId });
  const excludedSubnets = ec2 && config.subnetDiscovery
    ? await excludedSubnetIds(ec2, { primary, identity, config, logger })
    : new Set<string>();

  const ds = new Datastore({
    mode,
    cooldownMs: config.ipCooldownSeconds * 1000,
    persist: checkpointPersister(config.backingStore),
  });
  await Deno.mkdir(dirname(config.backingStore), { recursive: true });
  const eniPrimaryIps = new Map<string, string>();
  const adoptEni = async (meta: EniMetadata) => {
    if (ds.hasEni(meta.eniId)) return;
    const isPrimary = meta.eniId === primary.eniId;
    const eniIp = meta.ipv4s[0];
    if (!eniIp) throw new RangeError(`ENI ${meta.eniId} has no IPv4 address in metadata`);
    if (!isPrimary) {
      await setupEniNetwork(nl, {
        eniIp,
        mac: meta.mac,
        subnetCidr: meta.subnetCidr,
        deviceNumber: meta.deviceNumber,
        networkCard: meta.networkCard,
        mtu: config.eniMtu,
      }, { logger });
    }
    ds.addEni({
      id: meta.eniId,
      deviceNumber: meta.deviceNumber,
      isPrimary,
      subnetId: meta.subnetId,
      excluded: (isPrimary && config.customNetworking) || excludedSubnets.has(meta.subnetId),
    });
    for (const ip of meta.ipv4s.slice(1)) ds.addCidr(meta.eniId, `${ip}/32`);
    for (const prefix of meta.ipv4Prefixes) ds.addCidr(meta.eniId, prefix);
    eniPrimaryIps.set(meta.eniId, eniIp);
    logger.info("ENI in use", {
      eni: meta.eniId,
      device: meta.deviceNumber,
      ips: meta.ipv4s.length - 1,
      prefixes: meta.ipv4Prefixes.length,
    });
  };
  const forgetEni = (eniId: string) => {
    const ip = eniPrimaryIps.get(eniId);
    if (ip) teardownEniNetwork(nl, ip);
    eniPrimaryIps.delete(eniId);
  };

  const ops = ec2 && config.provisioning
    ? new EniOps({
      ec2,
      imds,
      config,
      node: {
        instanceId: identity.instanceId,
        vpcId: primary.vpcId,
        availabilityZone: identity.availabilityZone,
        primarySubnetId: primary.subnetId,
        primaryGroups: primary.securityGroupIds,
      },
      logger,
      ...(options.kube && config.customNetworking ? { placement: options.kube.placement } : {}),
    })
    : undefined;

  const vetEnis = async (eniIds: readonly string[]): Promise<Set<string>> => {
    if (!ec2 || config.imdsOnlyMode || eniIds.length === 0) return new Set();
    const { found, missing } = await ec2.describeNetworkInterfacesById([...eniIds]);
    const foreign = classifyUnmanaged(found, { config, identity, primaryEniId: primary.eniId });
    for (const id of foreign) unmanaged.add(id);
    for (const eni of found) {
      if (ops && !foreign.has(eni.eniId)) await tagIfMissing(eni, { ops, ec2, logger });
    }
    if (foreign.size > 0) logger.info("attached ENIs left alone", { enis: [...foreign] });
    return new Set([...foreign, ...missing]);
  };

  for (const meta of attached) {
    if (meta.networkCard !== 0 || unmanaged.has(meta.eniId)) continue;
    const eni = described.find((e) => e.eniId === meta.eniId);
    if (ops && eni && meta.eniId !== primary.eniId) {
      await tagIfMissing(eni, { ops, ec2: ec2!, logger });
    }
    await adoptEni(meta);
  }
  await restoreCheckpoint({ config, ds, nl, logger });

  const settings = () =>
    poolSettings(effectiveTargets(config, options.kube), {
      eniLimit: instanceType.maxEnis,
      ipv4PerEni: instanceType.ipv4PerEni,
      maxPods: currentMaxPods(),
      unmanagedEnis: unmanaged.size,
    });
  logger.info("node initialised", {
    mode,
    maxEnis,
    ipv4PerEni: instanceType.ipv4PerEni,
    maxPods,
    capacityPerEni: mode === "prefix-delegation"
      ? (instanceType.ipv4PerEni - 1) * PREFIX_SIZE
      : instanceType.ipv4PerEni - 1,
    unmanaged: [...unmanaged],
  });
  return {
    identity,
    primary,
    vpcId: primary.vpcId,
    vpcCidrs: primary.vpcCidrs,
    instanceType,
    mode,
    get maxPods() {
      return currentMaxPods();
    },
    settings,
    ds,
    nl,
    ...(ops ? { ops } : {}),
    ...(ec2 ? { ec2 } : {}),
    imds,
    iptables,
    primaryInterface: host.primaryInterface,
    unmanaged,
    excludedSubnets,
    eniPrimaryIps,
    adoptEni,
    vetEnis,
    forgetEni,
    applySnat,
  };
}

/** The warm-pool targets in force: the environment, overridden by the Node's annotations. */
function effectiveTargets(config: Config, kube: KubeLink | undefined) {
  if (!kube) return config;
  const { settings } = kube.warmPool();
  return {
    ...config,
    warmEniTarget: settings.warmEniTarget,
    warmIpTarget: settings.warmIpTarget,
    minimumIpTarget: settings.minimumIpTarget,
    warmPrefixTarget: settings.warmPrefixTarget,
    maxEni: settings.maxEni < 1 ? null : settings.maxEni,
  };
}

/** The instance type's limits: from a cache next to the checkpoint, else DescribeInstanceTypes. */
async function instanceLimits(
  instanceType: string,
  context: { config: Config; ec2?: Ec2Client; logger: Logger },
): Promise<InstanceTypeInfo> {
  const cache = `${dirname(context.config.backingStore)}/instance-type.json`;
  try {
    const cached = JSON.parse(await Deno.readTextFile(cache)) as InstanceTypeInfo;
    if (cached.instanceType === instanceType && cached.maxEnis > 0 && cached.ipv4PerEni > 1) {
      return cached;
    }
  } catch {
    // no cache yet, or unreadable: ask EC2
  }
  if (!context.ec2) {
    throw new RangeError(
      `instance type ${instanceType}: limits unknown and EC2 is off (ENABLE_IMDS_ONLY_MODE); ` +
        `run once with EC2 access so they can be cached in ${cache}`,
    );
  }
  const info = await context.ec2.describeInstanceType(instanceType);
  if (!info || info.maxEnis < 1 || info.ipv4PerEni < 2) {
    throw new RangeError(
      `vpc ip resource(eni ip limit): unknown instance type: ${instanceType} ` +
        "(DescribeInstanceTypes returned no ENI/IP limits)",
    );
  }
  await Deno.mkdir(dirname(cache), { recursive: true });
  await Deno.writeTextFile(cache, JSON.stringify(info) + "\n").catch((error) =>
    context.logger.warn("cannot cache the instance type's limits", { cache, error })
  );
  return info;
}

/** Spec §3.3 step 6: which attached ENIs are not ours to manage. */
export function classifyUnmanaged(
  enis: readonly Eni[],
  context: { config: Config; identity: InstanceIdentity; primaryEniId: string },
): Set<string> {
  const unmanaged = new Set<string>();
  for (const eni of enis) {
    if (eni.eniId === context.primaryEniId) continue;
    const noManage = eni.tags[TAG_NO_MANAGE];
    const owner = eni.tags[TAG_INSTANCE_ID];
    const foreignType = eni.interfaceType !== "interface" && eni.interfaceType !== "";
    const managed = noManage !== undefined
      ? noManage !== "true"
      : owner === context.identity.instanceId || context.config.manageUntaggedEni;
    if (!managed || foreignType) unmanaged.add(eni.eniId);
  }
  return unmanaged;
}

async function excludedSubnetIds(
  ec2: Ec2Client,
  context: { primary: EniMetadata; identity: InstanceIdentity; config: Config; logger: Logger },
): Promise<Set<string>> {
  let subnets: Subnet[];
  try {
    subnets = await ec2.describeSubnets({
      filters: {
        "vpc-id": [context.primary.vpcId],
        "availability-zone": [context.identity.availabilityZone],
      },
    });
  } catch (error) {
    context.logger.warn("DescribeSubnets failed; no subnet is treated as excluded", { error });
    return new Set();
  }
  return new Set(
    subnets.filter((s) => subnetExcluded(s, context.config.clusterName)).map((s) => s.subnetId),
  );
}

async function tagIfMissing(
  eni: Eni,
  context: { ops: EniOps; ec2: Ec2Client; logger: Logger },
): Promise<void> {
  const wanted = context.ops.ownTags();
  const missing = Object.fromEntries(
    Object.entries(wanted).filter(([k, v]) => eni.tags[k] !== v),
  );
  if (Object.keys(missing).length === 0) return;
  try {
    await context.ec2.createTags([eni.eniId], missing);
  } catch (error) {
    context.logger.warn("cannot tag an ENI; leaked-ENI clean-up may not recognise it", {
      eni: eni.eniId,
      error,
    });
  }
}

/** Spec §3.7: restore the assignments whose pods still exist; clean the rules of the others. */
async function restoreCheckpoint(
  context: { config: Config; ds: Datastore; nl: Netlink; logger: Logger },
): Promise<void> {
  const { config, ds, nl, logger } = context;
  const loaded = await loadCheckpoint(config.backingStore);
  if (!loaded) {
    logger.info("no checkpoint: a fresh node", { path: config.backingStore });
    return;
  }
  const cidrs = ds.view().enis.flatMap((e) => e.cidrs.map((c) => c.cidr));
  const plan = planRestore({
    checkpoint: loaded,
    cidrs,
    hostLinks: [...hostLinkNames(nl)],
    now: Date.now(),
    path: config.backingStore,
  });
  ds.restore(plan.restore, plan.cooling);
  for (const stale of plan.invalid) deletePodRules(nl, stale.ipv4);
  migratePodRules(nl, plan.restore.map((a) => a.ipv4), { logger });
  logger.info("checkpoint restored", {
    restored: plan.restore.length,
    stale: plan.stale.map((a) => a.ipv4),
    podGone: plan.invalid.map((a) => a.ipv4),
    cooling: plan.cooling.length,
  });
}
