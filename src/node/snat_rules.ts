/**
 * The node's IPv4 SNAT, connmark and mangle rules (spec §5.4) as data: a pure function of the
 * settings. Every rule is the exact text `iptables-save` prints for the rule upstream installs
 * (after `-A <chain> `), so the applier can diff against `iptables-save` byte for byte and a
 * node that ran upstream's aws-node sees no churn.
 */

import { parseIpv4, parseIpv4Cidr } from "../ipv4.ts";

/** AWS_VPC_K8S_CNI_RANDOMIZESNAT: prng → --random-fully, hashrandom → --random, none. */
export type SnatRandomization = "prng" | "hashrandom" | "none";
export type IptablesTable = "nat" | "mangle";

export interface SnatSettings {
  /** VPC CIDRs from IMDS (`vpc-ipv4-cidr-blocks`); traffic to them is never SNATed. */
  vpcCidrs: readonly string[];
  /** The primary ENI's IPv4 address: the SNAT source. */
  primaryIp: string;
  /** The primary ENI's interface name (found by MAC), for the NodePort mangle rule. */
  primaryInterface: string;
  /** AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS, raw entries; invalid and IPv6 ones are skipped. */
  excludeSnatCidrs?: readonly string[];
  /** AWS_VPC_K8S_CNI_EXTERNALSNAT: no SNAT and no connmark rules at all. Default false. */
  externalSnat?: boolean;
  /** Default "prng". */
  randomizeSnat?: SnatRandomization;
  /** Whether iptables supports `--random-fully` (1.6.2+); without it prng falls back to --random. */
  hasRandomFully?: boolean;
  /** AWS_VPC_CNI_NODE_PORT_SUPPORT. Default true. */
  nodePortSupport?: boolean;
  /** AWS_VPC_K8S_CNI_CONNMARK mark and mask. Default 0x80. */
  connmark?: number;
  /** AWS_VPC_K8S_CNI_VETHPREFIX. Default "eni". */
  vethPrefix?: string;
}

/** Rules of one chain, each as printed by iptables-save after `-A <chain> `. */
export interface ChainRules {
  table: IptablesTable;
  chain: string;
  rules: string[];
}

export interface SnatRuleSet {
  /** Chains that are ours alone: declared in the restore input, hence replaced wholesale. */
  ownChains: ChainRules[];
  /** Our rules in built-in chains, in order; every built-in chain we ever touch is listed. */
  builtinChains: ChainRules[];
  /** Exclusion entries left out, with the reason (for a warning in the log). */
  skippedExclusions: { value: string; reason: string }[];
  /** prng was asked for but iptables lacks --random-fully, so the rule uses --random. */
  randomFallback: boolean;
}

export const SNAT_CHAIN = "AWS-SNAT-CHAIN-0";
export const CONNMARK_CHAIN = "AWS-CONNMARK-CHAIN-0";
export const DEFAULT_CONNMARK = 0x80;

const COMMENT = {
  snatJump: "AWS SNAT CHAIN",
  snatExclusion: "AWS SNAT CHAIN EXCLUSION",
  snat: "AWS, SNAT",
  connmarkJump: "AWS, outbound connections",
  connmarkReturn: "AWS CONNMARK CHAIN",
  connmark: "AWS, CONNMARK",
  primaryEni: "AWS, primary ENI",
} as const;

/** Comments only our rules carry in built-in chains (upstream's too: same owner). */
const OUR_COMMENTS = new Set<string>([
  COMMENT.snatJump,
  COMMENT.connmarkJump,
  COMMENT.connmark,
  COMMENT.primaryEni,
]);
const OUR_CHAIN = /^AWS-(SNAT|CONNMARK)-CHAIN-(\d+)$/;

export function renderSnatRules(settings: SnatSettings): SnatRuleSet {
  const mark = settings.connmark ?? DEFAULT_CONNMARK;
  if (!Number.isInteger(mark) || mark <= 0 || mark > 0xffffffff) {
    throw new RangeError(`Invalid connmark ${mark}: expected an integer in 1..0xffffffff`);
  }
  const prefix = settings.vethPrefix ?? "eni";
  const externalSnat = settings.externalSnat ?? false;
  const nodePort = settings.nodePortSupport ?? true;
  if (parseIpv4(settings.primaryIp) === undefined) {
    throw new TypeError(`Invalid primary IPv4 address "${settings.primaryIp}"`);
  }
  const vpc = settings.vpcCidrs.map((text) => {
    const parsed = parseIpv4Cidr(text.trim());
    if (!parsed) throw new TypeError(`Invalid VPC CIDR "${text}": expected an IPv4 a.b.c.d/n`);
    return parsed.cidr;
  });
  const { valid: exclusions, skipped } = parseExclusions(settings.excludeSnatCidrs ?? []);
  const hex = formatMark(mark);
  const random = snatRandomFlag(settings.randomizeSnat ?? "prng", settings.hasRandomFully ?? true);

  const ownChains: ChainRules[] = [];
  const postrouting: string[] = [];
  const natPrerouting: string[] = [];
  if (!externalSnat) {
    if (vpc.length === 0) {
      throw new RangeError("No VPC CIDRs for the SNAT rules: IMDS vpc-ipv4-cidr-blocks was empty");
    }
    // Upstream inserts each missing CIDR rule at position 1, so a fresh chain holds them in
    // reverse order of (VPC CIDRs, exclusions), a repeated rule only once.
    const snatReturns = reverseUnique([
      ...vpc.map((c) => returnRule(c, COMMENT.snatJump)),
      ...exclusions.map((c) => returnRule(c, COMMENT.snatExclusion)),
    ]);
    const snat = `! -o vlan+ -m comment --comment ${quote(COMMENT.snat)} -m addrtype ! ` +
      `--dst-type LOCAL -j SNAT --to-source ${settings.primaryIp}${random.flag}`;
    ownChains.push({ table: "nat", chain: SNAT_CHAIN, rules: [...snatReturns, snat] });
    const markReturns = reverseUnique(
      [...vpc, ...exclusions].map((c) => returnRule(c, COMMENT.connmarkReturn)),
    );
    const setMark = `-m comment --comment ${quote(COMMENT.connmark)} -j CONNMARK --set-xmark ` +
      `${hex}/${hex}`;
    ownChains.push({ table: "nat", chain: CONNMARK_CHAIN, rules: [...markReturns, setMark] });
    postrouting.push(`-m comment --comment ${quote(COMMENT.snatJump)} -j ${SNAT_CHAIN}`);
    natPrerouting.push(
      `-i ${prefix}+ -m comment --comment ${quote(COMMENT.connmarkJump)} -j ${CONNMARK_CHAIN}`,
      `-m comment --comment ${quote(COMMENT.connmark)} ${restoreMark(hex)}`,
    );
  }
  const mangle: string[] = [];
  const primary = `--comment ${quote(COMMENT.primaryEni)}`;
  if (nodePort) {
    mangle.push(
      `-i ${settings.primaryInterface} -m comment ${primary} -m addrtype --dst-type LOCAL ` +
        `--limit-iface-in -j CONNMARK --set-xmark ${hex}/${hex}`,
    );
  }
  if (nodePort || !externalSnat) {
    mangle.push(`-i ${prefix}+ -m comment ${primary} ${restoreMark(hex)}`);
  }
  if (nodePort) mangle.push(`-i vlan+ -m comment ${primary} ${restoreMark(hex)}`);

  return {
    ownChains,
    builtinChains: [
      { table: "nat", chain: "PREROUTING", rules: natPrerouting },
      { table: "nat", chain: "POSTROUTING", rules: postrouting },
      { table: "mangle", chain: "PREROUTING", rules: mangle },
    ],
    skippedExclusions: skipped,
    randomFallback: random.fallback,
  };
}

/** Whether a rule in a built-in chain is ours: one of our comments, or a jump to our chains. */
export function isOurBuiltinRule(rule: string): boolean {
  const comment = /(?:^| )--comment (?:"((?:[^"\\]|\\.)*)"|(\S+))/.exec(rule);
  if (comment && OUR_COMMENTS.has(unescape(comment[1] ?? comment[2] ?? ""))) return true;
  const jump = /(?:^| )-j (\S+)/.exec(rule);
  return jump !== null && OUR_CHAIN.test(jump[1] ?? "");
}

/** Our chain names, current (`-0`) and upstream's legacy multi-chain layout (`-1`..`-N`). */
export function isOurChain(chain: string): boolean {
  return OUR_CHAIN.test(chain);
}

/** `%#x` as Go prints it, which is also how iptables-save prints marks. */
export function formatMark(mark: number): string {
  return `0x${mark.toString(16)}`;
}

/** iptables-save's quoting (libxtables `xtables_save_string`). */
export function quote(value: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(value)) return value;
  return `"${value.replace(/["\\']/g, (c) => `\\${c}`)}"`;
}

function unescape(value: string): string {
  return value.replace(/\\(.)/g, "$1");
}

function restoreMark(hex: string): string {
  return `-j CONNMARK --restore-mark --nfmask ${hex} --ctmask ${hex}`;
}

/** The kernel stores `-d 0.0.0.0/0` as "any destination", which iptables-save omits. */
function returnRule(cidr: string, comment: string): string {
  const dst = cidr === "0.0.0.0/0" ? "" : `-d ${cidr} `;
  return `${dst}-m comment --comment ${quote(comment)} -j RETURN`;
}

function reverseUnique(rules: string[]): string[] {
  return [...new Set(rules)].reverse();
}

function snatRandomFlag(
  mode: SnatRandomization,
  hasRandomFully: boolean,
): { flag: string; fallback: boolean } {
  switch (mode) {
    case "none":
      return { flag: "", fallback: false };
    case "hashrandom":
      return { flag: " --random", fallback: false };
    case "prng":
      return hasRandomFully
        ? { flag: " --random-fully", fallback: false }
        : { flag: " --random", fallback: true };
  }
}

function parseExclusions(entries: readonly string[]): {
  valid: string[];
  skipped: { value: string; reason: string }[];
} {
  const valid: string[] = [];
  const skipped: { value: string; reason: string }[] = [];
  for (const raw of entries) {
    const value = raw.trim();
    if (value === "") continue;
    const parsed = parseIpv4Cidr(value);
    if (parsed) valid.push(parsed.cidr);
    else {
      const reason = value.includes(":") ? "IPv6 CIDRs are not supported" : "not an IPv4 CIDR";
      skipped.push({ value, reason });
    }
  }
  return { valid, skipped };
}
