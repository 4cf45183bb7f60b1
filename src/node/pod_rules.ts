/**
 * ip rules keyed by an address: migrating pod rules to upstream's current shape at start-up
 * (spec §3.3 step 13), and deleting rules left by a pod or a freed ENI (§3.5 tryFreeENI).
 */

import { type Netlink, type Rule } from "../../ffi/mod.ts";
import { type Logger, silentLogger } from "../ops/log.ts";
import { RULE_PRIORITY } from "./host_network.ts";

function addressOf(cidr: string | undefined): string | undefined {
  return cidr?.split("/")[0];
}

/**
 * For every pod IP that has rules with that source, leaves exactly one
 * `from <ip>/32 lookup <table> prio 1536`, where table is that of the last such rule (older
 * versions had one rule per VPC CIDR). Rules already in that shape are not touched.
 * Returns the pod IPs whose rules changed.
 */
export function migratePodRules(
  nl: Netlink,
  podIps: Iterable<string>,
  options: { logger?: Logger } = {},
): string[] {
  const logger = options.logger ?? silentLogger;
  const rules = nl.rules(4);
  const changed: string[] = [];
  for (const ip of podIps) {
    const mine = rules.filter((r) => addressOf(r.src) === ip);
    const last = mine.at(-1);
    if (!last) continue;
    const target = { priority: RULE_PRIORITY.fromPod, src: `${ip}/32`, table: last.table };
    if (mine.length === 1 && isPlainFromRule(last, target)) continue;
    for (const rule of mine) nl.deleteRuleIfExists(rule);
    nl.ensureRule(target);
    logger.info("pod ip rules migrated", { ip, table: last.table, replaced: mine.length });
    changed.push(ip);
  }
  return changed;
}

/** Deletes every rule whose source is `ip` (any prefix, priority, table); returns how many. */
export function deleteRulesBySrc(nl: Netlink, ip: string): number {
  let deleted = 0;
  for (const rule of nl.rules()) {
    if (addressOf(rule.src) === ip && nl.deleteRuleIfExists(rule)) deleted++;
  }
  return deleted;
}

/** Deletes a pod's leftover rules: `from <ip>` (1536) and `to <ip>/32` (512); returns how many. */
export function deletePodRules(nl: Netlink, podIp: string): number {
  let deleted = 0;
  for (const rule of nl.rules()) {
    const mine = addressOf(rule.src) === podIp || rule.dst === `${podIp}/32` ||
      rule.dst === `${podIp}/128`;
    if (mine && nl.deleteRuleIfExists(rule)) deleted++;
  }
  return deleted;
}

function isPlainFromRule(rule: Rule, target: { priority: number; src: string; table: number }) {
  return rule.priority === target.priority && rule.src === target.src &&
    rule.table === target.table && !rule.dst && rule.fwmark === undefined && !rule.iif;
}
