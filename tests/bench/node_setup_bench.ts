/**
 * Node setup timings, each against a reference measured in the same run, all inside scratch
 * namespaces:
 *   - full SNAT apply (iptables-restore) vs upstream's way (one `iptables -C` per rule, then
 *     `-I`/`-A` for each missing one), both backends;
 *   - no-op re-apply vs upstream's re-check (`-C` per rule);
 *   - setupEniNetwork (netlink) vs the same steps as `ip` commands.
 * Run: deno run -A tests/bench/node_setup_bench.ts [rounds]   (default 5; medians printed)
 */
// deno-lint-ignore-file no-console -- benchmark output

import { Netlink } from "../../ffi/mod.ts";
import { setupEniNetwork } from "../../src/node/eni_network.ts";
import { applySnatRules, commandRunner, detectIptablesBackend } from "../../src/node/iptables.ts";
import { renderSnatRules, type SnatSettings } from "../../src/node/snat_rules.ts";
import { ScratchNetns, sh } from "../lab/node_lab.ts";
import type { Benchmark } from "./bench_api.ts";

const settings: SnatSettings = {
  vpcCidrs: ["10.10.0.0/16", "10.11.0.0/16"],
  excludeSnatCidrs: ["172.16.0.0/12", "192.168.0.0/16"],
  primaryIp: "10.10.0.10",
  primaryInterface: "eth0",
};

export interface BenchFigure {
  name: string;
  ms: number;
  referenceName: string;
  referenceMs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/** Upstream's rule programming as a shell script: `-C` each rule, insert/append if missing. */
function upstreamScript(command: string): string {
  const set = renderSnatRules(settings);
  const lines = [`I="${command} -w"`, "$I -t nat -N AWS-SNAT-CHAIN-0 2>/dev/null || true"];
  lines.push("$I -t nat -N AWS-CONNMARK-CHAIN-0 2>/dev/null || true");
  for (const { table, chain, rules } of [...set.builtinChains, ...set.ownChains]) {
    const own = chain.startsWith("AWS-");
    // Own-chain CIDR rules are inserted at 1 in reverse, the last rule appended (upstream).
    const ordered = own ? [...rules.slice(0, -1).reverse(), rules.at(-1)!] : rules;
    for (const [i, rule] of ordered.entries()) {
      const add = own && i < rules.length - 1 ? `-I ${chain} 1` : `-A ${chain}`;
      lines.push(`$I -t ${table} -C ${chain} ${rule} 2>/dev/null || $I -t ${table} ${add} ${rule}`);
    }
  }
  return lines.join("\n");
}

export async function benchNodeSetup(rounds = 5): Promise<BenchFigure[]> {
  const figures: BenchFigure[] = [];
  for (const command of ["iptables-nft", "iptables-legacy"]) {
    const full: number[] = [];
    const noop: number[] = [];
    const upFull: number[] = [];
    const upNoop: number[] = [];
    for (let round = 0; round < rounds; round++) {
      {
        await using ns = await ScratchNetns.create("tnodb");
        const run = commandRunner(ns.execPrefix);
        const backend = await detectIptablesBackend({ command, run });
        full.push(await time(() => applySnatRules(settings, { backend, run })));
        noop.push(await time(() => applySnatRules(settings, { backend, run })));
      }
      {
        await using ns = await ScratchNetns.create("tnodb");
        const script = upstreamScript(command);
        upFull.push(await time(() => ns.exec(["sh", "-c", script])));
        upNoop.push(await time(() => ns.exec(["sh", "-c", script])));
      }
    }
    figures.push({
      name: `SNAT full apply (${command})`,
      ms: median(full),
      referenceName: "upstream-style -C/-I/-A per rule",
      referenceMs: median(upFull),
    }, {
      name: `SNAT no-op re-apply (${command})`,
      ms: median(noop),
      referenceName: "upstream-style -C per rule",
      referenceMs: median(upNoop),
    });
  }

  const eni: number[] = [];
  const ipRef: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await using node = await ScratchNetns.create("tnodb");
    await using vpc = await ScratchNetns.create("tnodb");
    for (const [name, mac] of [["eth1", "02:00:00:00:01:01"], ["eth2", "02:00:00:00:02:02"]]) {
      await node.ip(
        "link",
        "add",
        name!,
        "address",
        mac!,
        "type",
        "veth",
        "peer",
        "name",
        `v${name}`,
        "netns",
        vpc.name,
      );
    }
    using nl = Netlink.openIn(node.path);
    eni.push(
      await time(() =>
        setupEniNetwork(nl, {
          eniIp: "10.10.1.20",
          mac: "02:00:00:00:01:01",
          subnetCidr: "10.10.1.0/24",
          deviceNumber: 1,
        })
      ),
    );
    const ip = (...args: string[]) => sh(["ip", "-n", node.name, ...args]);
    ipRef.push(
      await time(async () => {
        await ip("link", "set", "eth2", "mtu", "9001");
        await ip("link", "set", "eth2", "up");
        await ip("addr", "flush", "dev", "eth2", "scope", "global");
        await ip("addr", "add", "10.10.2.20/24", "dev", "eth2", "noprefixroute");
        await ip("route", "replace", "10.10.2.1/32", "dev", "eth2", "scope", "link", "table", "3");
        await ip("route", "replace", "default", "via", "10.10.2.1", "dev", "eth2", "table", "3");
        await ip("rule", "add", "from", "10.10.2.20/32", "lookup", "3", "prio", "32765");
      }),
    );
  }
  figures.push({
    name: "setupEniNetwork (netlink)",
    ms: median(eni),
    referenceName: "same steps as 7 `ip` commands",
    referenceMs: median(ipRef),
  });
  return figures;
}

export const benchmark: Benchmark = {
  name: "node_setup",
  title: "node setup: SNAT rules (both iptables backends) and ENI routing vs upstream's way",
  budgetSeconds: 60,
  needsRoot: true,
  async run(context) {
    const rounds = context.quick ? 2 : 5;
    const figures = await benchNodeSetup(rounds);
    for (const f of figures) {
      context.log(
        `${f.name}: ${f.ms.toFixed(1)} ms; ${f.referenceName}: ${f.referenceMs.toFixed(1)} ms`,
      );
    }
    return {
      figures: figures.map((f) => ({
        name: f.name,
        value: Number(f.ms.toFixed(2)),
        unit: "ms",
        reference: { name: f.referenceName, value: Number(f.referenceMs.toFixed(2)) },
      })),
      details: { rounds, statistic: "median of rounds" },
    };
  },
};

if (import.meta.main) {
  const rounds = Number(Deno.args[0] ?? 5);
  for (const f of await benchNodeSetup(rounds)) {
    const ratio = f.referenceMs / f.ms;
    console.log(
      `${f.name}: ${f.ms.toFixed(1)} ms; ${f.referenceName}: ${f.referenceMs.toFixed(1)} ms ` +
        `(${ratio.toFixed(1)}x faster)`,
    );
  }
}
