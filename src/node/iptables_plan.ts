/**
 * Pure planning for the iptables rules: parse `iptables-save` output, compare it with the
 * rendered rule set and produce the `iptables-restore --noflush` input that makes them equal,
 * or nothing when they already are (so a re-apply causes no churn and resets no counters).
 *
 * Our own chains are declared in the input (`:CHAIN - [0:0]`), which flushes and refills them
 * atomically. In built-in chains other programs' rules live beside ours, so there we only
 * add and delete our own rules (`-D` by rule text deletes the first identical rule, which is
 * ours by construction).
 */

import {
  type ChainRules,
  type IptablesTable,
  isOurBuiltinRule,
  isOurChain,
  type SnatRuleSet,
} from "./snat_rules.ts";

/** One table of `iptables-save` output: chain name → rules (text after `-A <chain> `). */
export type SavedTable = Map<string, string[]>;
export type SavedTables = Map<string, SavedTable>;

export type Change =
  | { kind: "replace-chain"; table: IptablesTable; chain: string; rules: string[] }
  | { kind: "delete-chain"; table: IptablesTable; chain: string }
  | { kind: "delete-rule"; table: IptablesTable; chain: string; rule: string }
  | { kind: "append-rule"; table: IptablesTable; chain: string; rule: string };

export interface RestorePlan {
  changes: Change[];
  /** iptables-restore input; undefined when nothing needs to change. */
  input?: string;
}

/** Parses `iptables-save` output. Comment lines and counters are ignored. */
export function parseIptablesSave(text: string): SavedTables {
  const tables: SavedTables = new Map();
  let current: SavedTable | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) {
      current = new Map();
      tables.set(line.slice(1).trim(), current);
    } else if (!current || line.startsWith("#")) {
      continue;
    } else if (line.startsWith(":")) {
      const chain = line.slice(1).split(" ")[0] ?? "";
      if (!current.has(chain)) current.set(chain, []);
    } else if (line.startsWith("-A ")) {
      const rest = line.slice(3);
      const space = rest.indexOf(" ");
      const chain = space < 0 ? rest : rest.slice(0, space);
      const rule = space < 0 ? "" : rest.slice(space + 1);
      const rules = current.get(chain) ?? [];
      rules.push(rule);
      current.set(chain, rules);
    } else if (line === "COMMIT") {
      current = undefined;
    }
  }
  return tables;
}

export function planRestore(saved: SavedTables, desired: SnatRuleSet): RestorePlan {
  const changes: Change[] = [];
  const sections: string[] = [];
  for (const table of ["mangle", "nat"] as const) {
    const current = saved.get(table) ?? new Map<string, string[]>();
    const own = desired.ownChains.filter((c) => c.table === table);
    const builtin = desired.builtinChains.filter((c) => c.table === table);
    const tableChanges = planTable(table, current, own, builtin);
    if (tableChanges.length === 0) continue;
    changes.push(...tableChanges);
    sections.push(renderTable(table, tableChanges));
  }
  return sections.length === 0 ? { changes } : { changes, input: sections.join("") };
}

function planTable(
  table: IptablesTable,
  current: SavedTable,
  own: ChainRules[],
  builtin: ChainRules[],
): Change[] {
  const changes: Change[] = [];
  const wanted = new Set(own.map((c) => c.chain));
  for (const { chain, rules } of own) {
    const existing = current.get(chain);
    if (!existing || !sameRules(existing, rules)) {
      changes.push({ kind: "replace-chain", table, chain, rules });
    }
  }
  for (const { chain, rules: want } of builtin) {
    const have = (current.get(chain) ?? []).filter(isOurBuiltinRule);
    if (sameRules(have, want)) continue;
    // Delete ours that are unwanted (or extra copies). If the rest is in order with some
    // missing at the end, append those (upstream's own behaviour); otherwise take ours out
    // and append them all again: one commit, so packets never see a half-done chain.
    const budget = new Map<string, number>();
    for (const rule of want) budget.set(rule, (budget.get(rule) ?? 0) + 1);
    const kept: string[] = [];
    for (const rule of have) {
      const left = budget.get(rule) ?? 0;
      if (left > 0) {
        budget.set(rule, left - 1);
        kept.push(rule);
      } else changes.push({ kind: "delete-rule", table, chain, rule });
    }
    const inOrder = sameRules(kept, want.slice(0, kept.length));
    if (!inOrder) {
      for (const rule of kept) changes.push({ kind: "delete-rule", table, chain, rule });
    }
    for (const rule of want.slice(inOrder ? kept.length : 0)) {
      changes.push({ kind: "append-rule", table, chain, rule });
    }
  }
  for (const chain of current.keys()) {
    if (isOurChain(chain) && !wanted.has(chain)) {
      changes.push({ kind: "delete-chain", table, chain });
    }
  }
  return changes;
}

/** Declarations first, then deletions, appends, and chain removals once nothing jumps there. */
function renderTable(table: IptablesTable, changes: Change[]): string {
  const declare: string[] = [];
  const fill: string[] = [];
  const remove: string[] = [];
  const append: string[] = [];
  const drop: string[] = [];
  for (const change of changes) {
    switch (change.kind) {
      case "replace-chain":
        declare.push(`:${change.chain} - [0:0]`);
        for (const rule of change.rules) fill.push(ruleLine("-A", change.chain, rule));
        break;
      case "delete-chain":
        declare.push(`:${change.chain} - [0:0]`);
        drop.push(`-X ${change.chain}`);
        break;
      case "delete-rule":
        remove.push(ruleLine("-D", change.chain, change.rule));
        break;
      case "append-rule":
        append.push(ruleLine("-A", change.chain, change.rule));
        break;
    }
  }
  return [`*${table}`, ...declare, ...fill, ...remove, ...append, ...drop, "COMMIT", ""].join("\n");
}

function ruleLine(op: "-A" | "-D", chain: string, rule: string): string {
  return rule === "" ? `${op} ${chain}` : `${op} ${chain} ${rule}`;
}

function sameRules(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((rule, i) => rule === b[i]);
}
