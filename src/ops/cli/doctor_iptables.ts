/**
 * `ipamd doctor`'s iptables checks, pure: the SNAT/connmark/mangle rules `iptables-save` shows
 * against what src/node/snat_rules.ts renders for this node (present, nothing extra, in order),
 * and rules of the other iptables backend (legacy beside nf_tables), which apply too.
 */
import type { SavedTables } from "../../node/iptables_plan.ts";
import { parseIptablesSave } from "../../node/iptables_plan.ts";
import { isOurBuiltinRule, isOurChain, type SnatRuleSet } from "../../node/snat_rules.ts";
import { check, type CheckResult } from "./doctor_report.ts";

const REMEDY = "restart aws-node (ipamd re-applies its rules at start); if they change again, " +
  "find the program that rewrites iptables (firewalld, NetworkManager-cloud-setup, a script)";

/** Compares our chains and our rules in the built-in chains with the rendered rule set. */
export function checkIptables(
  saved: SavedTables,
  desired: SnatRuleSet,
  backend: { kind: string; version: string },
): CheckResult {
  const problems: string[] = [];
  let count = 0;
  const wantedChains = new Set<string>();
  for (const { table, chain, rules } of desired.ownChains) {
    wantedChains.add(`${table}/${chain}`);
    count += rules.length;
    const have = saved.get(table)?.get(chain);
    if (!have) {
      problems.push(`${table} chain ${chain} is missing (${rules.length} rules)`);
      continue;
    }
    problems.push(...diff(table, chain, have, rules));
  }
  for (const { table, chain, rules } of desired.builtinChains) {
    count += rules.length;
    const have = (saved.get(table)?.get(chain) ?? []).filter(isOurBuiltinRule);
    problems.push(...diff(table, chain, have, rules));
  }
  for (const [table, chains] of saved) {
    for (const chain of chains.keys()) {
      if (isOurChain(chain) && !wantedChains.has(`${table}/${chain}`)) {
        problems.push(
          `${table} chain ${chain} should not exist (left by an older aws-node or ` +
            "external SNAT now on)",
        );
      }
    }
  }
  const where = `${backend.kind} backend, iptables ${backend.version}`;
  if (problems.length > 0) {
    return check(
      "iptables",
      "FAIL",
      `SNAT/connmark rules differ from what ipamd installs (${where})`,
      {
        details: problems,
        remedy: REMEDY,
      },
    );
  }
  return check(
    "iptables",
    "PASS",
    count === 0
      ? `no SNAT/connmark rules expected, none present (${where})`
      : `${count} SNAT/connmark/mangle rules present and in order (${where})`,
  );
}

function diff(
  table: string,
  chain: string,
  have: readonly string[],
  want: readonly string[],
): string[] {
  const missing = want.filter((r) => !have.includes(r));
  const extra = have.filter((r) => !want.includes(r));
  const out = [
    ...missing.map((r) => `${table} ${chain}: missing  -A ${chain} ${r}`),
    ...extra.map((r) => `${table} ${chain}: unexpected -A ${chain} ${r}`),
  ];
  if (out.length === 0 && have.join("\n") !== want.join("\n")) {
    out.push(
      `${table} ${chain}: our rules are out of order (want: ${want.length} rules as ipamd ` +
        "renders them; a RETURN after the SNAT rule never matches)",
    );
  }
  return out;
}

/**
 * Rules in the other backend's tables (`iptables-legacy-save` when we use nf_tables, or the
 * reverse): the kernel applies both sets, so a stale one silently changes traffic (#1847).
 */
export function checkOtherBackend(
  ours: "legacy" | "nft",
  otherSave: string | undefined,
): CheckResult {
  const other = ours === "nft" ? "iptables-legacy" : "iptables-nft";
  if (otherSave === undefined) {
    return check(
      "iptables-backends",
      "PASS",
      `only the ${ours} backend is in use (${other} not installed)`,
    );
  }
  const tables = parseIptablesSave(otherSave);
  const counts = [...tables].map(([name, chains]) =>
    [name, [...chains.values()].reduce((n, rules) => n + rules.length, 0)] as const
  ).filter(([, n]) => n > 0);
  if (counts.length === 0) {
    return check("iptables-backends", "PASS", `${other} has no rules beside the ${ours} ones`);
  }
  const total = counts.reduce((n, [, c]) => n + c, 0);
  return check(
    "iptables-backends",
    "WARN",
    `${other} holds ${total} rule${total === 1 ? "" : "s"} (${
      counts.map(([t, n]) => `${t}: ${n}`).join(", ")
    }) beside the ${ours} ones: the kernel applies both`,
    {
      remedy: `list them with ${other}-save; make the program that writes them use the same ` +
        `backend as kube-proxy and aws-node, then flush them`,
    },
  );
}
