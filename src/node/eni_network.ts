/**
 * Per-ENI routing for secondary ENIs (spec §5.2, `SetupENINetwork`): the ENI's own route
 * table (gateway /32 and default route), its address, no connected route in main, and the
 * prio-32765 rule `from <eniIP> lookup <table>`. Teardown deletes the rules by source.
 * Works on the namespace the given netlink socket belongs to.
 */

import { type Netlink } from "../../ffi/mod.ts";
import { type Logger, silentLogger } from "../ops/log.ts";
import { findLinkByMac, type LinkRetry, MAIN_TABLE, RULE_PRIORITY } from "./host_network.ts";
import { parseIpv4, parseIpv4Cidr, subnetGateway } from "../ipv4.ts";
import { deleteRulesBySrc } from "./pod_rules.ts";

/**
 * Route table of an ENI (§3.11): card 0 → device + 1 (device 0, the primary ENI, is main);
 * card c > 0 → 10000 + 100·c + device.
 */
export function routeTableId(deviceNumber: number, networkCard = 0): number {
  if (!Number.isInteger(deviceNumber) || deviceNumber < 0 || deviceNumber > 99) {
    throw new RangeError(`Invalid ENI device number ${deviceNumber}: expected 0..99`);
  }
  if (!Number.isInteger(networkCard) || networkCard < 0 || networkCard > 99) {
    throw new RangeError(`Invalid network card index ${networkCard}: expected 0..99`);
  }
  if (networkCard === 0) return deviceNumber === 0 ? MAIN_TABLE : deviceNumber + 1;
  return 10000 + 100 * networkCard + deviceNumber;
}

export interface EniNetworkSpec {
  /** The ENI's primary private IPv4 address. */
  eniIp: string;
  mac: string;
  /** The ENI's subnet, "10.10.1.0/24"; its gateway is the base address + 1. */
  subnetCidr: string;
  deviceNumber: number;
  networkCard?: number;
  /** ENIs per card, for the legacy table id `device + 1 + card·maxENI` on card > 0. */
  maxEnisPerCard?: number;
  /** Trunk ENIs (security groups for pods) get no 32765 rule. */
  isTrunk?: boolean;
  /** AWS_VPC_ENI_MTU. Default 9001. */
  mtu?: number;
}

export interface EniNetworkResult {
  link: string;
  table: number;
  gateway: string;
}

export interface EniNetworkOptions {
  logger?: Logger;
  linkRetry?: LinkRetry;
  /** Attempts for each table route (upstream: 5, backoff 500 ms doubling up to 5 s). */
  routeAttempts?: number;
}

export async function setupEniNetwork(
  nl: Netlink,
  eni: EniNetworkSpec,
  options: EniNetworkOptions = {},
): Promise<EniNetworkResult> {
  const logger = options.logger ?? silentLogger;
  const subnet = parseIpv4Cidr(eni.subnetCidr);
  if (!subnet) throw new TypeError(`Invalid ENI subnet CIDR "${eni.subnetCidr}"`);
  if (parseIpv4(eni.eniIp) === undefined) throw new TypeError(`Invalid ENI IP "${eni.eniIp}"`);
  const card = eni.networkCard ?? 0;
  let table = routeTableId(eni.deviceNumber, card);
  if (table === MAIN_TABLE) {
    throw new RangeError(
      `setupEniNetwork is for secondary ENIs; device 0 on card 0 is the primary ENI (main table)`,
    );
  }
  const eniSrc = `${eni.eniIp}/32`;
  let needRule = !(eni.isTrunk ?? false);
  const existing = nl.rules(4).filter((r) => r.src === eniSrc);
  if (card > 0 && existing.length > 0) {
    // Keep the table an earlier version chose for this ENI, so pod rules stay valid.
    const legacy = eni.deviceNumber + 1 + card * (eni.maxEnisPerCard ?? 0);
    if (existing.length === 1) {
      table = existing[0]!.table;
      needRule = false;
    } else if (existing.some((r) => r.table === legacy)) table = legacy;
  }

  const link = await findLinkByMac(nl, eni.mac, options.linkRetry);
  const mtu = eni.mtu ?? 9001;
  if (link.mtu !== mtu) nl.setMtu(link.index, mtu);
  if (!link.up) nl.setUp(link.index);

  const address = `${eni.eniIp}/${subnet.prefixLength}`;
  for (const a of nl.addresses({ link: link.index, family: 4 })) {
    if (a.scope === "universe" && a.cidr !== address) nl.deleteAddress(link.index, a.cidr);
  }
  // No prefix route: the subnet must be reached through the ENI's table only.
  nl.ensureAddress(link.index, address, { noPrefixRoute: true });

  const gateway = subnetGateway(subnet.cidr);
  const attempts = options.routeAttempts ?? 5;
  await retry(
    attempts,
    () => nl.replaceRoute({ dst: `${gateway}/32`, table, link: link.index, scope: "link" }),
  );
  await retry(
    attempts,
    () => nl.replaceRoute({ dst: "default", gateway, table, link: link.index }),
  );
  // A connected route left by an address added elsewhere (DHCP, an older ipamd).
  nl.deleteRouteIfExists({ dst: subnet.cidr, table: MAIN_TABLE, link: link.index, scope: "link" });

  if (needRule && !existing.some((r) => r.priority === RULE_PRIORITY.eni && r.table === table)) {
    nl.ensureRule({ priority: RULE_PRIORITY.eni, src: eniSrc, table });
  }
  logger.info("ENI network set up", { link: link.name, ip: eni.eniIp, table, gateway });
  return { link: link.name, table, gateway };
}

/** Removes what setupEniNetwork added that outlives the ENI's link: its rules. */
export function teardownEniNetwork(nl: Netlink, eniIp: string): number {
  return deleteRulesBySrc(nl, eniIp);
}

async function retry(attempts: number, fn: () => void): Promise<void> {
  let delay = 500;
  for (let attempt = 1;; attempt++) {
    try {
      return fn();
    } catch (e) {
      if (attempt >= attempts) throw e;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }
}
