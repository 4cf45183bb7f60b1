/**
 * What the instance metadata service shows each instance, and its lag: IMDS is eventually
 * consistent, so every change to an instance's ENIs is recorded as a snapshot and IMDS serves
 * the newest snapshot that is at least `lagMs` old (the first one is visible at once).
 */
import { type Vpc } from "./vpc.ts";

export interface ImdsEniView {
  mac: string;
  eniId: string;
  deviceNumber: number;
  networkCard: number;
  subnetId: string;
  subnetCidr: string;
  vpcId: string;
  vpcCidrs: string[];
  localIpv4s: string[];
  ipv4Prefixes: string[];
  securityGroupIds: string[];
  securityGroupNames: string[];
  ownerId: string;
}

export interface ImdsView {
  instanceId: string;
  instanceType: string;
  imageId: string;
  reservationId: string;
  launchTime: string;
  localIpv4: string;
  mac: string;
  hostname: string;
  region: string;
  availabilityZone: string;
  availabilityZoneId: string;
  accountId: string;
  enis: ImdsEniView[];
}

export function imdsView(vpc: Vpc, instanceId: string): ImdsView {
  const instance = vpc.instance(instanceId);
  const subnet = vpc.subnet(instance.subnetId);
  const enis = vpc.enisOf(instanceId).sort((a, b) =>
    a.attachment!.networkCardIndex - b.attachment!.networkCardIndex ||
    a.attachment!.deviceIndex - b.attachment!.deviceIndex
  );
  const primary = vpc.eni(instance.primaryEniId);
  return {
    instanceId,
    instanceType: instance.type.name,
    imageId: instance.imageId,
    reservationId: instance.reservationId,
    launchTime: instance.launchTime.toISOString().replace(/\.\d+Z$/, "Z"),
    localIpv4: instance.privateIp,
    mac: primary.mac,
    hostname: instance.privateDnsName,
    region: vpc.region,
    availabilityZone: subnet.az,
    availabilityZoneId: subnet.azId,
    accountId: vpc.accountId,
    enis: enis.map((e) => ({
      mac: e.mac,
      eniId: e.id,
      deviceNumber: e.attachment!.deviceIndex,
      networkCard: e.attachment!.networkCardIndex,
      subnetId: e.subnetId,
      subnetCidr: vpc.subnet(e.subnetId).cidr,
      vpcId: e.vpcId,
      vpcCidrs: [vpc.cidr],
      localIpv4s: [e.primaryIp, ...e.secondaryIps],
      ipv4Prefixes: [...e.prefixes],
      securityGroupIds: [...e.groupIds],
      securityGroupNames: e.groupIds.map((g) => vpc.securityGroups.get(g)?.name ?? g),
      ownerId: vpc.accountId,
    })),
  };
}

export class ImdsHistory {
  #entries = new Map<string, { at: number; view: ImdsView }[]>();

  /** Records the instance's current view; the first record is visible immediately. */
  record(instanceId: string, view: ImdsView, at: number): void {
    const list = this.#entries.get(instanceId);
    if (!list) this.#entries.set(instanceId, [{ at: -Infinity, view }]);
    else list.push({ at, view });
  }

  /** The view IMDS serves at `now`; older snapshots that can no longer be served are dropped. */
  view(instanceId: string, now: number, lagMs: number): ImdsView | undefined {
    const list = this.#entries.get(instanceId);
    if (!list) return undefined;
    let visible = 0;
    for (let i = 0; i < list.length; i++) if (list[i]!.at <= now - lagMs) visible = i;
    if (visible > 0) list.splice(0, visible);
    return list[0]!.view;
  }
}
