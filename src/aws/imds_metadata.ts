/**
 * Typed reads of every instance-metadata path ipamd uses (spec §3.2a), over an `ImdsClient`.
 * Optional per-ENI fields are read in parallel and a 404 means "none"; that gives the same
 * answers as upstream's read-the-field-list-first approach with one round trip fewer.
 */

import { ImdsClient, ImdsError } from "./imds.ts";

/** What IMDS says about one attached ENI. */
export interface EniMetadata {
  eniId: string;
  mac: string;
  /** Device index; forced to 0 for the instance's primary MAC, as upstream does. */
  deviceNumber: number;
  /** Network card index; 0 when IMDS has no `network-card` entry. */
  networkCard: number;
  subnetId: string;
  vpcId: string;
  /** The ENI's subnet, e.g. `10.0.0.0/20` (its gateway is the base address + 1). */
  subnetCidr: string;
  /** Private IPv4 addresses; the first one is the ENI's primary address. */
  ipv4s: string[];
  /** Delegated /28 prefixes. */
  ipv4Prefixes: string[];
  securityGroupIds: string[];
  /** The VPC's IPv4 CIDR blocks. */
  vpcCidrs: string[];
}

/** The instance facts ipamd reads at start-up (spec §3.2 step 2). */
export interface InstanceIdentity {
  region: string;
  availabilityZone: string;
  instanceId: string;
  instanceType: string;
  localIpv4: string;
  primaryMac: string;
}

const IDENTITY_DOCUMENT = "dynamic/instance-identity/document";
const macPath = (mac: string, field = "") => `network/interfaces/macs/${mac}/${field}`;

export class InstanceMetadata {
  readonly client: ImdsClient;
  #concurrency: number;

  /** `concurrency` bounds the parallel reads of `listEnis()` and `identity()`. */
  constructor(client: ImdsClient, options: { concurrency?: number } = {}) {
    this.client = client;
    this.#concurrency = Math.max(1, options.concurrency ?? 8);
  }

  /** The region from the instance identity document (what the AWS SDK's GetRegion reads). */
  async region(): Promise<string> {
    const text = await this.client.getDocument(IDENTITY_DOCUMENT);
    let region: unknown;
    try {
      region = (JSON.parse(text) as { region?: unknown }).region;
    } catch (cause) {
      throw new ImdsError(IDENTITY_DOCUMENT, 200, { cause });
    }
    if (typeof region !== "string" || region === "") {
      throw new ImdsError(IDENTITY_DOCUMENT, 200, {
        cause: new TypeError("the identity document has no region"),
      });
    }
    return region;
  }

  availabilityZone(): Promise<string> {
    return this.client.get("placement/availability-zone");
  }
  localIpv4(): Promise<string> {
    return this.client.get("local-ipv4");
  }
  /** The primary IPv6 address; `undefined` on IPv4-only instances. */
  ipv6(): Promise<string | undefined> {
    return this.client.getOptional("ipv6");
  }
  instanceId(): Promise<string> {
    return this.client.get("instance-id");
  }
  instanceType(): Promise<string> {
    return this.client.get("instance-type");
  }
  /** The MAC of the primary ENI. */
  primaryMac(): Promise<string> {
    return this.client.get("mac");
  }
  /** MACs of every attached ENI. */
  macs(): Promise<string[]> {
    return this.client.getList("network/interfaces/macs/");
  }
  securityGroupIds(mac: string): Promise<string[]> {
    return this.client.getOptionalList(macPath(mac, "security-group-ids"));
  }
  vpcCidrs(mac: string): Promise<string[]> {
    return this.client.getOptionalList(macPath(mac, "vpc-ipv4-cidr-blocks"));
  }

  /** All start-up facts, read in parallel. */
  async identity(): Promise<InstanceIdentity> {
    const [region, availabilityZone, instanceId, instanceType, localIpv4, primaryMac] =
      await Promise.all([
        this.region(),
        this.availabilityZone(),
        this.instanceId(),
        this.instanceType(),
        this.localIpv4(),
        this.primaryMac(),
      ]);
    return { region, availabilityZone, instanceId, instanceType, localIpv4, primaryMac };
  }

  /** One ENI by MAC. Pass `primaryMac` to save a read. */
  async eni(mac: string, options: { primaryMac?: string } = {}): Promise<EniMetadata> {
    return await this.#eni(mac, options.primaryMac, (task) => task());
  }

  /**
   * Every attached ENI, ordered by network card then device number. An ENI detached while
   * it is being read is left out (its MAC is no longer listed); any other failure throws.
   */
  async listEnis(): Promise<EniMetadata[]> {
    const [macs, primaryMac] = await Promise.all([this.macs(), this.primaryMac()]);
    const limit = concurrencyLimit(this.#concurrency);
    const read = async (mac: string): Promise<EniMetadata | undefined> => {
      try {
        return await this.#eni(mac, primaryMac, limit);
      } catch (error) {
        if (
          error instanceof ImdsError && error.status === 404 && !(await this.macs()).includes(mac)
        ) {
          return undefined;
        }
        throw error;
      }
    };
    const enis = (await Promise.all(macs.map(read))).filter((e) => e !== undefined);
    return enis.sort((a, b) => a.networkCard - b.networkCard || a.deviceNumber - b.deviceNumber);
  }

  async #eni(
    mac: string,
    knownPrimaryMac: string | undefined,
    limit: <T>(task: () => Promise<T>) => Promise<T>,
  ): Promise<EniMetadata> {
    const c = this.client;
    const get = (field: string) => limit(() => c.get(macPath(mac, field)));
    const optional = (field: string) => limit(() => c.getOptional(macPath(mac, field)));
    const list = (field: string) => limit(() => c.getOptionalList(macPath(mac, field)));
    const [
      eniId,
      device,
      card,
      subnetId,
      vpcId,
      subnetCidr,
      ipv4s,
      ipv4Prefixes,
      securityGroupIds,
      vpcCidrs,
      primaryMac,
    ] = await Promise.all([
      get("interface-id"),
      get("device-number"),
      optional("network-card"),
      get("subnet-id"),
      get("vpc-id"),
      get("subnet-ipv4-cidr-block"),
      list("local-ipv4s"),
      list("ipv4-prefix"),
      list("security-group-ids"),
      list("vpc-ipv4-cidr-blocks"),
      knownPrimaryMac ?? limit(() => this.primaryMac()),
    ]);
    return {
      eniId: eniId.trim(),
      mac,
      deviceNumber: mac === primaryMac ? 0 : parseIndex(macPath(mac, "device-number"), device),
      networkCard: card === undefined ? 0 : parseIndex(macPath(mac, "network-card"), card),
      subnetId: subnetId.trim(),
      vpcId: vpcId.trim(),
      subnetCidr: subnetCidr.trim(),
      ipv4s,
      ipv4Prefixes,
      securityGroupIds,
      vpcCidrs,
    };
  }
}

function parseIndex(path: string, text: string): number {
  const value = Number(text.trim());
  if (!Number.isInteger(value) || value < 0 || text.trim() === "") {
    throw new ImdsError(path, 200, {
      cause: new TypeError(`expected a non-negative integer, got "${text}"`),
    });
  }
  return value;
}

/** Runs at most `n` tasks at once; the others wait in arrival order. */
function concurrencyLimit(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= n) {
      // The finishing task hands its slot over, so `running` never exceeds `n`.
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else {
      running++;
    }
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}
