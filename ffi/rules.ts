/** Policy routing rules (`ip rule`), IPv4 and IPv6. */

import {
  AF_UNSPEC,
  afOf,
  type Family,
  familyOf,
  familyOfAf,
  ipString,
  parseIp,
  type Pointer,
  withAddr,
} from "./addr.ts";
import { check, isExists, isNotFound } from "./errors.ts";
import { rtnl } from "./libnl.ts";
import { checkLinkName } from "./links.ts";
import { cstr, cString, dump, NLM_F_EXCL } from "./socket.ts";

export interface RuleSpec {
  priority: number;
  table: number;
  /** CIDR ("10.0.0.5/32"). */
  src?: string;
  /** CIDR. */
  dst?: string;
  fwmark?: number;
  fwmask?: number;
  /** Input interface name. */
  iif?: string;
  /** Default: from src/dst, else 4. */
  family?: Family;
}

export type Rule = Required<Pick<RuleSpec, "priority" | "table" | "family">> & RuleSpec;

const FR_ACT_TO_TBL = 1;

export function describeRule(r: RuleSpec): string {
  let s = `priority ${r.priority}`;
  if (r.src) s += ` from ${r.src}`;
  if (r.dst) s += ` to ${r.dst}`;
  if (r.fwmark !== undefined) {
    s += ` fwmark 0x${r.fwmark.toString(16)}`;
    if (r.fwmask !== undefined) s += `/0x${r.fwmask.toString(16)}`;
  }
  if (r.iif) s += ` iif ${r.iif}`;
  return `${s} table ${r.table}${r.family === 6 ? " (IPv6)" : ""}`;
}

function u32(n: number, what: string, min = 0): number {
  if (!Number.isInteger(n) || n < min || n > 0xffffffff) {
    throw new TypeError(`${what}: ${n} is out of range (${min}-4294967295)`);
  }
  return n;
}

function withRule<T>(spec: RuleSpec, op: string, fn: (rule: Pointer) => T): T {
  const r = rtnl();
  const family = spec.family ?? (spec.src ? familyOf(spec.src) : undefined) ??
    (spec.dst ? familyOf(spec.dst) : undefined) ?? 4;
  const rule = r.rtnl_rule_alloc();
  if (rule === null) throw new RangeError(`${op}: out of memory`);
  try {
    r.rtnl_rule_set_family(rule, afOf(family));
    r.rtnl_rule_set_prio(rule, u32(spec.priority, `${op} priority`));
    r.rtnl_rule_set_table(rule, u32(spec.table, `${op} table`, 1));
    r.rtnl_rule_set_action(rule, FR_ACT_TO_TBL);
    if (spec.src !== undefined) {
      withAddr(parseIp(spec.src, family, op), (a) => check(r.rtnl_rule_set_src(rule, a), op));
    }
    if (spec.dst !== undefined) {
      withAddr(parseIp(spec.dst, family, op), (a) => check(r.rtnl_rule_set_dst(rule, a), op));
    }
    if (spec.fwmark !== undefined) r.rtnl_rule_set_mark(rule, u32(spec.fwmark, `${op} fwmark`));
    if (spec.fwmask !== undefined) r.rtnl_rule_set_mask(rule, u32(spec.fwmask, `${op} fwmask`));
    if (spec.iif !== undefined) {
      check(r.rtnl_rule_set_iif(rule, cstr(checkLinkName(spec.iif, op))), op);
    }
    return fn(rule);
  } finally {
    r.rtnl_rule_put(rule);
  }
}

function toRule(obj: Pointer): Rule | undefined {
  const r = rtnl();
  const family = familyOfAf(r.rtnl_rule_get_family(obj));
  if (family === undefined) return undefined;
  const rule: Rule = {
    priority: r.rtnl_rule_get_prio(obj),
    table: r.rtnl_rule_get_table(obj),
    family,
  };
  const src = ipString(r.rtnl_rule_get_src(obj), true);
  if (src) rule.src = src;
  const dst = ipString(r.rtnl_rule_get_dst(obj), true);
  if (dst) rule.dst = dst;
  // The kernel reports a mark/mask pair only when one of them is set.
  const mark = r.rtnl_rule_get_mark(obj);
  const mask = r.rtnl_rule_get_mask(obj);
  if (mark !== 0 || mask !== 0) [rule.fwmark, rule.fwmask] = [mark, mask];
  const iif = cString(r.rtnl_rule_get_iif(obj));
  if (iif) rule.iif = iif;
  return rule;
}

export function listRules(sock: Pointer, family?: Family): Rule[] {
  return dump(sock, "rules", family === undefined ? AF_UNSPEC : afOf(family), (obj) => {
    const rule = toRule(obj);
    return rule && (family === undefined || rule.family === family) ? rule : undefined;
  });
}

export function addRule(sock: Pointer, spec: RuleSpec): void {
  const op = `addRule ${describeRule(spec)}`;
  withRule(spec, op, (rule) => check(rtnl().rtnl_rule_add(sock, rule, NLM_F_EXCL), op));
}

export function ensureRule(sock: Pointer, spec: RuleSpec): void {
  try {
    addRule(sock, spec);
  } catch (e) {
    if (!isExists(e)) throw e;
  }
}

export function deleteRule(sock: Pointer, spec: RuleSpec): void {
  const op = `deleteRule ${describeRule(spec)}`;
  withRule(spec, op, (rule) => check(rtnl().rtnl_rule_delete(sock, rule, 0), op));
}

export function deleteRuleIfExists(sock: Pointer, spec: RuleSpec): boolean {
  try {
    deleteRule(sock, spec);
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}
