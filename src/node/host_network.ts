/**
 * Host-level network setup by ipamd (spec §5.1, §5.3): the primary ENI's MTU, the fwmark rule
 * that sends conn-marked traffic (NodePort replies, SNATed pod traffic) through the main
 * table, and the AWS_EXTERNAL_SERVICE_CIDRS rules. Works on the namespace the given netlink
 * socket belongs to. The SNAT rules are iptables.ts's job (`applySnatRules`), which takes the
 * primary interface name returned here.
 */

import { type Link, type Netlink, type Rule } from "../../ffi/mod.ts";
import { type Logger, silentLogger } from "../ops/log.ts";
import { parseIpv4Cidr } from "../ipv4.ts";
import { DEFAULT_CONNMARK } from "./snat_rules.ts";

/** Rule priorities (spec §5.1). */
export const RULE_PRIORITY = {
  toPod: 512,
  fwmark: 1024,
  externalService: 1535,
  fromPod: 1536,
  eni: 32765,
} as const;
export const MAIN_TABLE = 254;
export const DEFAULT_MTU = 9001;

/** No link has the MAC after every attempt: the ENI is not (yet) attached to this node. */
export class LinkNotFoundError extends Error {
  readonly mac: string;
  readonly attempts: number;
  constructor(mac: string, attempts: number) {
    super(
      `No network interface has MAC ${mac} (looked ${attempts} times); check that the ENI is ` +
        `attached to this instance and that ipamd runs in the node's network namespace`,
    );
    this.name = "LinkNotFoundError";
    this.mac = mac;
    this.attempts = attempts;
  }
}

export interface LinkRetry {
  /** Default 5 (upstream's maxAttemptsLinkByMac). */
  attempts?: number;
  /** Default 3000 ms. */
  intervalMs?: number;
}

/** Finds a link by MAC, retrying while a just-attached ENI's device appears. */
export async function findLinkByMac(
  nl: Netlink,
  mac: string,
  retry: LinkRetry = {},
): Promise<Link> {
  const attempts = retry.attempts ?? 5;
  const wanted = mac.trim().toLowerCase();
  for (let attempt = 1;; attempt++) {
    const link = nl.linkByMac(wanted);
    if (link) return link;
    if (attempt >= attempts) throw new LinkNotFoundError(wanted, attempts);
    await new Promise((resolve) => setTimeout(resolve, retry.intervalMs ?? 3000));
  }
}

export interface HostNetworkSettings {
  /** The primary ENI's MAC (IMDS `mac`). */
  primaryMac: string;
  /** AWS_VPC_ENI_MTU. Default 9001. */
  mtu?: number;
  /** AWS_VPC_CNI_NODE_PORT_SUPPORT. Default true. */
  nodePortSupport?: boolean;
  /** AWS_VPC_K8S_CNI_EXTERNALSNAT. Default false. */
  externalSnat?: boolean;
  /** AWS_VPC_K8S_CNI_CONNMARK. Default 0x80. */
  connmark?: number;
  /** AWS_EXTERNAL_SERVICE_CIDRS (IPv4 CIDRs; others are skipped with a warning). */
  externalServiceCidrs?: readonly string[];
}

export interface HostNetworkResult {
  primaryInterface: string;
  /** Whether the prio-1024 fwmark rule is installed. */
  fwmarkRule: boolean;
  externalServiceCidrs: string[];
}

/** SetupHostNetwork (IPv4): idempotent, and changes nothing that is already right. */
export async function setupHostNetwork(
  nl: Netlink,
  settings: HostNetworkSettings,
  options: { logger?: Logger; linkRetry?: LinkRetry } = {},
): Promise<HostNetworkResult> {
  const logger = options.logger ?? silentLogger;
  const link = await findLinkByMac(nl, settings.primaryMac, options.linkRetry);
  const mtu = settings.mtu ?? DEFAULT_MTU;
  if (link.mtu !== mtu) {
    nl.setMtu(link.index, mtu);
    logger.info("primary ENI MTU set", { link: link.name, mtu, previous: link.mtu });
  }
  const fwmarkRule = (settings.nodePortSupport ?? true) || !(settings.externalSnat ?? false);
  reconcileFwmarkRule(nl, fwmarkRule ? (settings.connmark ?? DEFAULT_CONNMARK) : undefined);
  const external = reconcileExternalServiceRules(nl, settings.externalServiceCidrs ?? [], {
    logger,
  });
  return { primaryInterface: link.name, fwmarkRule, externalServiceCidrs: external };
}

/**
 * Makes `fwmark <mark>/<mark> lookup main prio 1024` the only fwmark rule at 1024 (none when
 * mark is undefined). Upstream deletes and re-adds it on every start; keeping a correct rule
 * avoids a moment in which marked replies take the pod's ENI table.
 */
export function reconcileFwmarkRule(nl: Netlink, mark: number | undefined): void {
  const wanted = (r: Rule) =>
    mark !== undefined && r.fwmark === mark && r.fwmask === mark && !r.src && !r.dst && !r.iif;
  const existing = nl.rules(4).filter((r) =>
    r.priority === RULE_PRIORITY.fwmark && r.table === MAIN_TABLE && r.fwmark !== undefined
  );
  for (const rule of existing) if (!wanted(rule)) nl.deleteRuleIfExists(rule);
  if (mark !== undefined && !existing.some(wanted)) {
    nl.addRule({
      priority: RULE_PRIORITY.fwmark,
      table: MAIN_TABLE,
      fwmark: mark,
      fwmask: mark,
      family: 4,
    });
  }
}

/**
 * `to <cidr> lookup main prio 1535` for exactly the configured CIDRs (§3.3 step 13): traffic
 * to them takes the main table even from pods on secondary ENIs. Returns the CIDRs in place.
 */
export function reconcileExternalServiceRules(
  nl: Netlink,
  cidrs: readonly string[],
  options: { logger?: Logger } = {},
): string[] {
  const wanted = new Set<string>();
  for (const raw of cidrs) {
    const value = raw.trim();
    if (value === "") continue;
    const parsed = parseIpv4Cidr(value);
    if (parsed) wanted.add(parsed.cidr);
    else {options.logger?.warn("Skipping AWS_EXTERNAL_SERVICE_CIDRS entry: not an IPv4 CIDR", {
        value,
      });}
  }
  const present = new Set<string>();
  for (const rule of nl.rules(4)) {
    if (rule.priority !== RULE_PRIORITY.externalService || rule.table !== MAIN_TABLE) continue;
    const exact = rule.dst !== undefined && !rule.src && rule.fwmark === undefined && !rule.iif;
    if (exact && wanted.has(rule.dst!) && !present.has(rule.dst!)) present.add(rule.dst!);
    else nl.deleteRuleIfExists(rule);
  }
  for (const cidr of wanted) {
    if (present.has(cidr)) continue;
    nl.addRule({ priority: RULE_PRIORITY.externalService, table: MAIN_TABLE, dst: cidr });
  }
  return [...wanted];
}

/** Names of every link in the namespace (checkpoint validation: does a pod's veth exist?). */
export function hostLinkNames(nl: Netlink): Set<string> {
  return new Set(nl.links().map((l) => l.name));
}
