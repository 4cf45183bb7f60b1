/**
 * The ENI actions of the simulated EC2 API and the rules EC2 enforces on them: instance-type
 * limits (ENIs per instance and per network card, IPv4 slots per ENI), subnet capacity, /28
 * prefix alignment and fragmentation, prefixes only on Nitro, device indexes in use.
 * Each action validates everything before changing anything, then returns its lab effects.
 */
import { AddressTx, subnetContains } from "./address_tx.ts";
import { Ec2ApiError, invalidValue, missingParameter } from "./ec2_error.ts";
import { maxEnisOnCard, supportsPrefixes } from "./instance_types.ts";
import {
  type Effect,
  type Eni,
  type Instance,
  ipv4Slots,
  UNATTACHED_IPV4_LIMIT,
  type Vpc,
} from "./vpc.ts";

const MAX_DEVICE_INDEX = 99;

export interface CreateEniRequest {
  subnetId: string;
  description?: string;
  groupIds?: string[];
  privateIpAddress?: string;
  /** Explicit addresses; at most one marked primary. */
  privateIpAddresses?: { ip: string; primary: boolean }[];
  secondaryCount?: number;
  ipv4Prefixes?: string[];
  ipv4PrefixCount?: number;
  tags?: [string, string][];
}

export function createNetworkInterface(vpc: Vpc, req: CreateEniRequest): Eni {
  const subnet = vpc.subnet(req.subnetId);
  const groupIds = req.groupIds?.length ? unique(req.groupIds) : [vpc.defaultSecurityGroupId];
  for (const g of groupIds) vpc.securityGroup(g);
  const explicit = [...(req.privateIpAddresses ?? [])];
  if (req.privateIpAddress !== undefined) {
    explicit.unshift({ ip: req.privateIpAddress, primary: true });
  }
  if (explicit.filter((a) => a.primary).length > 1) {
    throw invalidValue("Only one private IP address can be designated as primary.");
  }
  const hasPrefixes = (req.ipv4Prefixes?.length ?? 0) > 0 || req.ipv4PrefixCount !== undefined;
  if (req.secondaryCount !== undefined && (hasPrefixes || explicit.length > 1)) {
    throw new Ec2ApiError(
      "InvalidParameterCombination",
      "SecondaryPrivateIpAddressCount cannot be combined with specific secondary addresses or IPv4 prefixes.",
    );
  }
  if (req.ipv4PrefixCount !== undefined && req.ipv4Prefixes?.length) {
    throw new Ec2ApiError(
      "InvalidParameterCombination",
      "Specify either Ipv4Prefix or Ipv4PrefixCount, not both.",
    );
  }
  checkCount("SecondaryPrivateIpAddressCount", req.secondaryCount);
  checkCount("Ipv4PrefixCount", req.ipv4PrefixCount);
  const secondaries = (req.secondaryCount ?? 0) + explicit.filter((a) => !a.primary).length;
  const prefixes = req.ipv4PrefixCount ?? req.ipv4Prefixes?.length ?? 0;
  if (1 + secondaries + prefixes > UNATTACHED_IPV4_LIMIT) throw ipLimitExceeded();

  const tx = new AddressTx(subnet);
  try {
    const primaryGiven = explicit.find((a) => a.primary)?.ip;
    for (const a of explicit) tx.claimIp(a.ip);
    for (const p of req.ipv4Prefixes ?? []) tx.claimPrefix(p);
    const primaryIp = primaryGiven ?? tx.allocateIps(1)[0]!;
    const secondaryIps = [
      ...explicit.filter((a) => !a.primary).map((a) => a.ip),
      ...tx.allocateIps(req.secondaryCount ?? 0),
    ];
    const allPrefixes = [
      ...(req.ipv4Prefixes ?? []),
      ...tx.allocatePrefixes(req.ipv4PrefixCount ?? 0),
    ];
    const eni: Eni = {
      id: vpc.newId("eni"),
      subnetId: subnet.id,
      vpcId: vpc.id,
      az: subnet.az,
      description: req.description ?? "",
      mac: vpc.newMac(),
      primaryIp,
      secondaryIps,
      prefixes: allPrefixes,
      groupIds,
      sourceDestCheck: true,
      tags: new Map(req.tags ?? []),
    };
    vpc.enis.set(eni.id, eni);
    return eni;
  } catch (e) {
    tx.rollback();
    throw e;
  }
}

export function attachNetworkInterface(
  vpc: Vpc,
  req: { eniId: string; instanceId: string; deviceIndex: number; networkCardIndex?: number },
): { attachmentId: string; networkCardIndex: number; effects: Effect[] } {
  const eni = vpc.eni(req.eniId);
  const instance = vpc.instance(req.instanceId);
  const card = req.networkCardIndex ?? instance.type.defaultNetworkCardIndex;
  if (eni.attachment) {
    throw new Ec2ApiError("InvalidNetworkInterface.InUse", `Interface: [${eni.id}] in use.`);
  }
  if (
    !Number.isInteger(req.deviceIndex) || req.deviceIndex < 0 || req.deviceIndex > MAX_DEVICE_INDEX
  ) {
    throw invalidValue(`Invalid value '${req.deviceIndex}' for deviceIndex.`);
  }
  const cardMax = maxEnisOnCard(instance.type, card);
  if (cardMax === undefined) {
    throw invalidValue(
      `Invalid value '${card}' for networkCardIndex: ${instance.type.name} has ${instance.type.networkCards.length} network card(s).`,
    );
  }
  if (vpc.subnet(eni.subnetId).az !== vpc.subnet(instance.subnetId).az) {
    throw invalidValue(
      `Network interface ${eni.id} and instance ${instance.id} are in different availability zones.`,
    );
  }
  const attached = vpc.enisOf(instance.id);
  const onCard = attached.filter((e) => e.attachment!.networkCardIndex === card);
  if (onCard.some((e) => e.attachment!.deviceIndex === req.deviceIndex)) {
    throw invalidValue(
      `Instance '${instance.id}' already has an interface attached at device index '${req.deviceIndex}'.`,
    );
  }
  if (attached.length + 1 > instance.type.maxEnis || onCard.length + 1 > cardMax) {
    throw new Ec2ApiError(
      "AttachmentLimitExceeded",
      `Interface count ${attached.length + 1} exceeds the limit for ${instance.type.name}`,
    );
  }
  if (ipv4Slots(eni) > instance.type.ipv4PerEni) throw ipLimitExceeded();
  if (eni.prefixes.length && !supportsPrefixes(instance.type)) throw prefixesNotSupported(instance);

  // Linux has one ethN namespace for all cards: other cards' ENIs take the lowest free N.
  const labDevices = new Set(attached.map((e) => e.attachment!.labDevice));
  let labDevice = req.deviceIndex;
  if (card !== 0 || labDevices.has(labDevice)) {
    labDevice = 1;
    while (labDevices.has(labDevice)) labDevice++;
  }
  eni.attachment = {
    id: vpc.newId("eni-attach"),
    instanceId: instance.id,
    deviceIndex: req.deviceIndex,
    networkCardIndex: card,
    deleteOnTermination: false,
    attachTime: new Date(vpc.now()),
    labDevice,
  };
  vpc.onInstanceChanged(instance.id);
  const gateway = vpc.subnet(eni.subnetId).allocator.gateway;
  const effects: Effect[] = [
    {
      kind: "attach",
      nodeKey: instance.nodeKey,
      deviceIndex: labDevice,
      mac: eni.mac,
      gateway,
    },
    ...routes(instance, eni, [
      `${eni.primaryIp}/32`,
      ...eni.secondaryIps.map((ip) => `${ip}/32`),
      ...eni.prefixes,
    ]),
  ];
  return { attachmentId: eni.attachment.id, networkCardIndex: card, effects };
}

export function detachNetworkInterface(vpc: Vpc, req: { attachmentId: string }): Effect[] {
  const eni = [...vpc.enis.values()].find((e) => e.attachment?.id === req.attachmentId);
  if (!eni?.attachment) {
    throw new Ec2ApiError(
      "InvalidAttachmentID.NotFound",
      `The attachment ID '${req.attachmentId}' does not exist`,
    );
  }
  const { instanceId, deviceIndex, networkCardIndex, labDevice } = eni.attachment;
  if (deviceIndex === 0 && networkCardIndex === 0) {
    throw new Ec2ApiError(
      "OperationNotPermitted",
      `The network interface at device index 0 cannot be detached.`,
    );
  }
  const instance = vpc.instance(instanceId);
  delete eni.attachment;
  vpc.onInstanceChanged(instance.id);
  return [{ kind: "detach", nodeKey: instance.nodeKey, deviceIndex: labDevice }];
}

export function deleteNetworkInterface(vpc: Vpc, eniId: string): void {
  const eni = vpc.eni(eniId);
  if (eni.attachment) {
    throw new Ec2ApiError(
      "InvalidNetworkInterface.InUse",
      `The network interface '${eni.id}' is currently in use.`,
    );
  }
  const allocator = vpc.subnet(eni.subnetId).allocator;
  for (const a of [eni.primaryIp, ...eni.secondaryIps, ...eni.prefixes]) allocator.release(a);
  vpc.enis.delete(eni.id);
}

export interface ModifyEniRequest {
  eniId: string;
  attachment?: { attachmentId: string; deleteOnTermination: boolean };
  groupIds?: string[];
  description?: string;
  sourceDestCheck?: boolean;
}

export function modifyNetworkInterfaceAttribute(vpc: Vpc, req: ModifyEniRequest): void {
  const eni = vpc.eni(req.eniId);
  const given = [req.attachment, req.groupIds, req.description, req.sourceDestCheck].filter((v) =>
    v !== undefined
  );
  if (given.length === 0) {
    throw missingParameter("Attachment, SecurityGroupId, Description or SourceDestCheck");
  }
  if (given.length > 1) {
    throw new Ec2ApiError(
      "InvalidParameterCombination",
      "Fields for multiple attribute types specified",
    );
  }
  if (req.attachment) {
    if (eni.attachment?.id !== req.attachment.attachmentId) {
      throw new Ec2ApiError(
        "InvalidAttachmentID.NotFound",
        `The attachment ID '${req.attachment.attachmentId}' does not exist on '${eni.id}'`,
      );
    }
    eni.attachment.deleteOnTermination = req.attachment.deleteOnTermination;
  }
  if (req.groupIds) {
    if (req.groupIds.length === 0) throw missingParameter("SecurityGroupId.1");
    for (const g of req.groupIds) vpc.securityGroup(g);
    eni.groupIds = unique(req.groupIds);
    if (eni.attachment) vpc.onInstanceChanged(eni.attachment.instanceId);
  }
  if (req.description !== undefined) eni.description = req.description;
  if (req.sourceDestCheck !== undefined) eni.sourceDestCheck = req.sourceDestCheck;
}

export interface AssignRequest {
  eniId: string;
  ips?: string[];
  count?: number;
  prefixes?: string[];
  prefixCount?: number;
  allowReassignment?: boolean;
}

export function assignPrivateIpAddresses(
  vpc: Vpc,
  req: AssignRequest,
): { ips: string[]; prefixes: string[]; effects: Effect[] } {
  const eni = vpc.eni(req.eniId);
  const wantsIps = (req.ips?.length ?? 0) > 0 || req.count !== undefined;
  const wantsPrefixes = (req.prefixes?.length ?? 0) > 0 || req.prefixCount !== undefined;
  if (!wantsIps && !wantsPrefixes) {
    throw missingParameter(
      "SecondaryPrivateIpAddressCount, PrivateIpAddress, Ipv4Prefix or Ipv4PrefixCount",
    );
  }
  if (
    wantsIps && wantsPrefixes || req.ips?.length && req.count !== undefined ||
    req.prefixes?.length && req.prefixCount !== undefined
  ) {
    throw new Ec2ApiError(
      "InvalidParameterCombination",
      "Specify exactly one of PrivateIpAddress, SecondaryPrivateIpAddressCount, Ipv4Prefix or Ipv4PrefixCount.",
    );
  }
  checkCount("SecondaryPrivateIpAddressCount", req.count);
  checkCount("Ipv4PrefixCount", req.prefixCount);
  const instance = eni.attachment ? vpc.instance(eni.attachment.instanceId) : undefined;
  if (wantsPrefixes && instance && !supportsPrefixes(instance.type)) {
    throw prefixesNotSupported(instance);
  }
  const adding = (req.ips?.length || req.count || 0) +
    (req.prefixes?.length || req.prefixCount || 0);
  const limit = instance?.type.ipv4PerEni ?? UNATTACHED_IPV4_LIMIT;
  if (ipv4Slots(eni) + adding > limit) throw ipLimitExceeded();

  const subnet = vpc.subnet(eni.subnetId);
  const tx = new AddressTx(subnet);
  const moved: { from: Eni; ip: string }[] = [];
  let ips: string[];
  let prefixes: string[];
  try {
    for (const ip of req.ips ?? []) {
      if (!subnetContains(subnet, ip)) {
        throw invalidValue(
          `Address ${ip} does not fall within the subnet's address range (${subnet.cidr}).`,
        );
      }
      const owner = ownerOf(vpc, ip);
      if (owner === eni) throw invalidValue(`Address ${ip} is already assigned to ${eni.id}.`);
      if (owner && req.allowReassignment && owner.primaryIp !== ip) {
        moved.push({ from: owner, ip });
        continue;
      }
      tx.claimIp(ip);
    }
    for (const p of req.prefixes ?? []) tx.claimPrefix(p);
    ips = [...(req.ips ?? []), ...tx.allocateIps(req.count ?? 0)];
    prefixes = [...(req.prefixes ?? []), ...tx.allocatePrefixes(req.prefixCount ?? 0)];
  } catch (e) {
    tx.rollback();
    throw e;
  }
  const effects: Effect[] = [];
  for (const { from, ip } of moved) {
    from.secondaryIps = from.secondaryIps.filter((a) => a !== ip);
    effects.push(...unroutes(vpc, from, [`${ip}/32`]));
  }
  eni.secondaryIps.push(...ips);
  eni.prefixes.push(...prefixes);
  if (instance) {
    vpc.onInstanceChanged(instance.id);
    effects.push(...routes(instance, eni, [...ips.map((ip) => `${ip}/32`), ...prefixes]));
  }
  return { ips, prefixes, effects };
}

export function unassignPrivateIpAddresses(
  vpc: Vpc,
  req: { eniId: string; ips?: string[]; prefixes?: string[] },
): Effect[] {
  const eni = vpc.eni(req.eniId);
  const ips = req.ips ?? [];
  const prefixes = req.prefixes ?? [];
  if (!ips.length && !prefixes.length) throw missingParameter("PrivateIpAddress or Ipv4Prefix");
  if (ips.includes(eni.primaryIp)) {
    throw invalidValue(
      `The primary private IP address ${eni.primaryIp} of ${eni.id} cannot be unassigned.`,
    );
  }
  if (ips.some((ip) => !eni.secondaryIps.includes(ip))) {
    throw invalidValue(`Some of the specified addresses are not assigned to interface ${eni.id}`);
  }
  if (prefixes.some((p) => !eni.prefixes.includes(p))) {
    throw invalidValue(`Some of the specified prefixes are not assigned to interface ${eni.id}`);
  }
  const allocator = vpc.subnet(eni.subnetId).allocator;
  eni.secondaryIps = eni.secondaryIps.filter((ip) => !ips.includes(ip));
  eni.prefixes = eni.prefixes.filter((p) => !prefixes.includes(p));
  for (const a of [...ips, ...prefixes]) allocator.release(a);
  return unroutes(vpc, eni, [...ips.map((ip) => `${ip}/32`), ...prefixes]);
}

function routes(instance: Instance, eni: Eni, cidrs: string[]): Effect[] {
  const deviceIndex = eni.attachment!.labDevice;
  return cidrs.map((cidr) => ({
    kind: "route",
    nodeKey: instance.nodeKey,
    deviceIndex,
    cidr,
    eniPrimaryIp: eni.primaryIp,
    mac: eni.mac,
  }));
}

function unroutes(vpc: Vpc, eni: Eni, cidrs: string[]): Effect[] {
  if (!eni.attachment) return [];
  const instance = vpc.instance(eni.attachment.instanceId);
  vpc.onInstanceChanged(instance.id);
  const deviceIndex = eni.attachment.labDevice;
  return cidrs.map((cidr) => ({ kind: "unroute", nodeKey: instance.nodeKey, deviceIndex, cidr }));
}

function ownerOf(vpc: Vpc, ip: string): Eni | undefined {
  for (const e of vpc.enis.values()) {
    if (e.primaryIp === ip || e.secondaryIps.includes(ip)) return e;
  }
  return undefined;
}

function ipLimitExceeded(): Ec2ApiError {
  return new Ec2ApiError(
    "PrivateIpAddressLimitExceeded",
    "Number of private addresses will exceed limit.",
  );
}

function prefixesNotSupported(instance: Instance): Ec2ApiError {
  return invalidValue(
    `IPv4 prefixes are not supported on instance type ${instance.type.name} (prefix delegation needs a Nitro instance type).`,
  );
}

function checkCount(name: string, n: number | undefined): void {
  if (n !== undefined && (!Number.isInteger(n) || n < 1)) {
    throw invalidValue(`Invalid value '${n}' for ${name}: it must be a positive integer.`);
  }
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
