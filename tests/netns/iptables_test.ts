/**
 * The SNAT/connmark/mangle rules against real iptables, both backends, each run in throwaway
 * namespaces (iptables-legacy leaves its tables in a namespace until it is deleted).
 */

import assert from "node:assert/strict";
import {
  applySnatRules,
  commandRunner,
  detectIptablesBackend,
  type IptablesBackend,
} from "../../src/node/iptables.ts";
import { parseIptablesSave } from "../../src/node/iptables_plan.ts";
import { isOurChain, renderSnatRules, type SnatSettings } from "../../src/node/snat_rules.ts";
import { ScratchNetns } from "../lab/node_lab.ts";

const BACKENDS = ["iptables-nft", "iptables-legacy"] as const;

const base: SnatSettings = {
  vpcCidrs: ["10.10.0.0/16", "10.11.0.0/16"],
  primaryIp: "10.10.0.10",
  primaryInterface: "eth0",
};

interface Node {
  ns: ScratchNetns;
  backend: IptablesBackend;
  apply(settings: SnatSettings, backend?: IptablesBackend): ReturnType<typeof applySnatRules>;
  /** iptables-save of nat and mangle without comments and counters. */
  save(): Promise<string>;
  /** Runs shell commands with $IPT set to the backend's iptables. */
  ipt(script: string): Promise<string>;
}

async function withNode(command: string, fn: (node: Node) => Promise<void>): Promise<void> {
  await using ns = await ScratchNetns.create("tnod");
  const run = commandRunner(ns.execPrefix);
  const backend = await detectIptablesBackend({ command, run });
  const save = async () =>
    (await ns.exec([`${command}-save`, "-t", "nat"]) +
      await ns.exec([`${command}-save`, "-t", "mangle"]))
      .split("\n").filter((l) => !l.startsWith("#")).map((l) => l.replace(/\[\d+:\d+\]$/, ""))
      .join("\n");
  await fn({
    ns,
    backend,
    apply: (settings, b) => applySnatRules(settings, { backend: b ?? backend, run }),
    save,
    ipt: (script) => ns.exec(["sh", "-ec", `IPT="${command} -w"\n${script}`]),
  });
}

/** Asserts that the namespace holds exactly the rendered rules of ours, whatever else is there. */
async function assertInstalled(node: Node, settings: SnatSettings): Promise<void> {
  const expected = renderSnatRules({ hasRandomFully: node.backend.hasRandomFully, ...settings });
  const saved = parseIptablesSave(await node.save());
  for (const { table, chain, rules } of expected.ownChains) {
    assert.deepEqual(saved.get(table)?.get(chain), rules, `${table}/${chain}`);
  }
  const ownNames = new Set(expected.ownChains.map((c) => c.chain));
  const strays = [...(saved.get("nat")?.keys() ?? [])].filter((c) =>
    isOurChain(c) && !ownNames.has(c)
  );
  assert.deepEqual(strays, [], "no chain of ours besides the rendered ones");
  for (const { table, chain, rules } of expected.builtinChains) {
    const ours = (saved.get(table)?.get(chain) ?? []).filter((r) => /AWS/.test(r));
    assert.deepEqual(ours, rules, `${table}/${chain}`);
  }
}

const MATRIX: [string, SnatSettings][] = [
  ["defaults", base],
  ["exclusions incl. 0.0.0.0/0, IPv6 and junk", {
    ...base,
    excludeSnatCidrs: ["10.12.0.0/16", " 172.16.5.9/12 ", "fd00::/8", "bogus", "0.0.0.0/0"],
  }],
  ["hashrandom, NodePort off", { ...base, randomizeSnat: "hashrandom", nodePortSupport: false }],
  ["no randomisation, custom mark, prefix, primary name and IP", {
    ...base,
    randomizeSnat: "none",
    connmark: 0x4000,
    vethPrefix: "cali",
    primaryInterface: "ens5",
    primaryIp: "10.10.0.11",
  }],
  ["fewer VPC CIDRs", { ...base, vpcCidrs: ["10.10.0.0/16"] }],
  ["external SNAT, NodePort on", { ...base, externalSnat: true }],
  ["external SNAT, NodePort off", { ...base, externalSnat: true, nodePortSupport: false }],
  ["back to defaults", base],
];

for (const command of BACKENDS) {
  Deno.test(`applySnatRules() installs exactly the rendered rules for each setting, idempotently (${command})`, async () => {
    await withNode(command, async (node) => {
      for (const [label, settings] of MATRIX) {
        const first = await node.apply(settings);
        assert.equal(first.restores <= 1, true, label);
        await assertInstalled(node, settings).catch((e) => {
          throw new Error(`${label}: ${e.message}`);
        });
        const before = await node.save();
        const second = await node.apply(settings);
        assert.equal(second.restores, 0, `${label}: second apply ran iptables-restore`);
        assert.equal(second.changed, false, label);
        assert.equal(await node.save(), before, `${label}: second apply changed iptables`);
      }
      // prng on an iptables without --random-fully falls back to --random.
      const old = { ...node.backend, hasRandomFully: false };
      await node.apply(base, old);
      assert.match(await node.save(), /--to-source 10\.10\.0\.10 --random\n/);
      const external = await node.apply({ ...base, externalSnat: true, nodePortSupport: false });
      assert.equal(external.changed, true);
      assert.doesNotMatch(await node.save(), /AWS/);
    });
  });

  Deno.test(`applySnatRules() finds rules installed the upstream way already in place (${command})`, async () => {
    await withNode(command, async (node) => {
      // Upstream's sequence (spec §5.4): -N, append jumps, insert each CIDR RETURN at 1 in
      // list order, append the SNAT / set-mark rules, restore rules with --mask / --set-mark.
      await node.ipt(`
$IPT -t nat -N AWS-SNAT-CHAIN-0
$IPT -t nat -A POSTROUTING -m comment --comment "AWS SNAT CHAIN" -j AWS-SNAT-CHAIN-0
for c in 10.10.0.0/16 10.11.0.0/16; do $IPT -t nat -I AWS-SNAT-CHAIN-0 1 -d $c -m comment --comment "AWS SNAT CHAIN" -j RETURN; done
$IPT -t nat -I AWS-SNAT-CHAIN-0 1 -d 172.16.0.0/12 -m comment --comment "AWS SNAT CHAIN EXCLUSION" -j RETURN
$IPT -t nat -A AWS-SNAT-CHAIN-0 ! -o vlan+ -m comment --comment "AWS, SNAT" -m addrtype ! --dst-type LOCAL -j SNAT --to-source 10.10.0.10 --random
$IPT -t mangle -A PREROUTING -m comment --comment "AWS, primary ENI" -i eth0 -m addrtype --dst-type LOCAL --limit-iface-in -j CONNMARK --set-mark 0x4000/0x4000
$IPT -t mangle -A PREROUTING -m comment --comment "AWS, primary ENI" -i cali+ -j CONNMARK --restore-mark --mask 0x4000
$IPT -t mangle -A PREROUTING -m comment --comment "AWS, primary ENI" -i vlan+ -j CONNMARK --restore-mark --mask 0x4000
$IPT -t nat -N AWS-CONNMARK-CHAIN-0
$IPT -t nat -A PREROUTING -i cali+ -m comment --comment "AWS, outbound connections" -j AWS-CONNMARK-CHAIN-0
for c in 10.10.0.0/16 10.11.0.0/16 172.16.0.0/12; do $IPT -t nat -I AWS-CONNMARK-CHAIN-0 1 -d $c -m comment --comment "AWS CONNMARK CHAIN" -j RETURN; done
$IPT -t nat -A PREROUTING -m comment --comment "AWS, CONNMARK" -j CONNMARK --restore-mark --mask 0x4000
$IPT -t nat -A AWS-CONNMARK-CHAIN-0 -m comment --comment "AWS, CONNMARK" -j CONNMARK --set-xmark 0x4000/0x4000
`);
      const before = await node.save();
      const result = await node.apply({
        ...base,
        excludeSnatCidrs: ["172.16.0.0/12"],
        randomizeSnat: "hashrandom",
        connmark: 0x4000,
        vethPrefix: "cali",
      });
      assert.deepEqual(result.changes, []);
      assert.equal(result.restores, 0);
      assert.equal(await node.save(), before);
    });
  });

  Deno.test(`applySnatRules() leaves other programs' rules and chains alone (${command})`, async () => {
    await withNode(command, async (node) => {
      await node.ipt(`
$IPT -t nat -N KUBE-SERVICES
$IPT -t nat -A KUBE-SERVICES -d 10.96.0.1/32 -p tcp --dport 443 -j DNAT --to-destination 10.10.0.10:6443
$IPT -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
$IPT -t nat -A POSTROUTING -s 192.168.0.0/16 -j MASQUERADE
$IPT -t mangle -A PREROUTING -i eth9 -j MARK --set-xmark 0x8/0x8
`);
      await node.apply(base);
      await node.ipt(`
$IPT -t nat -A PREROUTING -p udp --dport 53 -j RETURN
$IPT -t nat -A POSTROUTING -o eth9 -j MASQUERADE
$IPT -t mangle -A PREROUTING -p icmp -j ACCEPT
`);
      const foreign = async () =>
        (await node.save()).split("\n").filter((l) => /^-A/.test(l) && !/AWS/.test(l));
      const expected = await foreign();
      assert.equal(expected.length, 7);
      // Changes that rewrite our rules in every built-in chain, then take them out.
      for (
        const settings of [
          { ...base, connmark: 0x100, vethPrefix: "veth" },
          { ...base, primaryInterface: "ens5", primaryIp: "10.10.0.12" },
          { ...base, externalSnat: true, nodePortSupport: false },
          base,
        ]
      ) {
        await node.apply(settings);
        await assertInstalled(node, settings);
        assert.deepEqual(await foreign(), expected);
      }
    });
  });

  Deno.test(`applySnatRules() removes legacy chains, stale rules and misordered rules (${command})`, async () => {
    await withNode(command, async (node) => {
      // Upstream's old multi-chain layout, the old `-m state` jump, a hand-made rule inside
      // our chain (what the seed fork did), and the restore rule ahead of the jump.
      await node.ipt(`
for i in 0 1 2; do $IPT -t nat -N AWS-SNAT-CHAIN-$i; $IPT -t nat -N AWS-CONNMARK-CHAIN-$i; done
$IPT -t nat -A POSTROUTING -m comment --comment "AWS SNAT CHAIN" -j AWS-SNAT-CHAIN-0
$IPT -t nat -A AWS-SNAT-CHAIN-0 ! -d 10.10.0.0/16 -m comment --comment "AWS SNAT CHAIN" -j AWS-SNAT-CHAIN-1
$IPT -t nat -A AWS-SNAT-CHAIN-1 ! -d 10.0.0.0/8 -m comment --comment "AWS SNAT CHAIN" -j AWS-SNAT-CHAIN-2
$IPT -t nat -A AWS-SNAT-CHAIN-2 -j SNAT --to-source 10.10.0.10
$IPT -t nat -A AWS-CONNMARK-CHAIN-0 ! -d 10.10.0.0/16 -j AWS-CONNMARK-CHAIN-1
$IPT -t nat -A AWS-CONNMARK-CHAIN-1 -j AWS-CONNMARK-CHAIN-2
$IPT -t nat -A AWS-CONNMARK-CHAIN-2 -j CONNMARK --set-xmark 0x80/0x80
$IPT -t nat -A PREROUTING -m comment --comment "AWS, CONNMARK" -j CONNMARK --restore-mark --mask 0x80
$IPT -t nat -A PREROUTING -i eni+ -m comment --comment "AWS, outbound connections" -m state --state NEW -j AWS-CONNMARK-CHAIN-0
$IPT -t nat -A PREROUTING -i eni+ -m comment --comment "AWS, outbound connections" -j AWS-CONNMARK-CHAIN-0
`);
      const result = await node.apply(base);
      assert.equal(result.restores, 1);
      await assertInstalled(node, base);
      const saved = await node.save();
      assert.doesNotMatch(saved, /CHAIN-[12]|--state NEW|10\.0\.0\.0\/8/);
      // The restore rule now follows the jump.
      assert.match(
        saved,
        /AWS-CONNMARK-CHAIN-0\n-A PREROUTING -m comment --comment "AWS, CONNMARK"/,
      );
    });
  });
}
