import assert from "node:assert/strict";
import {
  isOurBuiltinRule,
  isOurChain,
  quote,
  renderSnatRules,
  type SnatRuleSet,
  type SnatSettings,
} from "../../src/node/snat_rules.ts";

const base: SnatSettings = {
  vpcCidrs: ["10.10.0.0/16", "10.11.0.0/16"],
  primaryIp: "10.10.0.10",
  primaryInterface: "eth0",
};

function chain(set: SnatRuleSet, table: string, name: string): string[] | undefined {
  return [...set.ownChains, ...set.builtinChains].find((c) => c.table === table && c.chain === name)
    ?.rules;
}

Deno.test("renderSnatRules() renders upstream's default rule text, CIDR rules in reverse order", () => {
  const set = renderSnatRules(base);
  assert.deepEqual(chain(set, "nat", "AWS-SNAT-CHAIN-0"), [
    '-d 10.11.0.0/16 -m comment --comment "AWS SNAT CHAIN" -j RETURN',
    '-d 10.10.0.0/16 -m comment --comment "AWS SNAT CHAIN" -j RETURN',
    '! -o vlan+ -m comment --comment "AWS, SNAT" -m addrtype ! --dst-type LOCAL -j SNAT ' +
    "--to-source 10.10.0.10 --random-fully",
  ]);
  assert.deepEqual(chain(set, "nat", "AWS-CONNMARK-CHAIN-0"), [
    '-d 10.11.0.0/16 -m comment --comment "AWS CONNMARK CHAIN" -j RETURN',
    '-d 10.10.0.0/16 -m comment --comment "AWS CONNMARK CHAIN" -j RETURN',
    '-m comment --comment "AWS, CONNMARK" -j CONNMARK --set-xmark 0x80/0x80',
  ]);
  assert.deepEqual(chain(set, "nat", "POSTROUTING"), [
    '-m comment --comment "AWS SNAT CHAIN" -j AWS-SNAT-CHAIN-0',
  ]);
  assert.deepEqual(chain(set, "nat", "PREROUTING"), [
    '-i eni+ -m comment --comment "AWS, outbound connections" -j AWS-CONNMARK-CHAIN-0',
    '-m comment --comment "AWS, CONNMARK" -j CONNMARK --restore-mark --nfmask 0x80 --ctmask 0x80',
  ]);
  assert.deepEqual(chain(set, "mangle", "PREROUTING"), [
    '-i eth0 -m comment --comment "AWS, primary ENI" -m addrtype --dst-type LOCAL ' +
    "--limit-iface-in -j CONNMARK --set-xmark 0x80/0x80",
    '-i eni+ -m comment --comment "AWS, primary ENI" -j CONNMARK --restore-mark --nfmask 0x80 ' +
    "--ctmask 0x80",
    '-i vlan+ -m comment --comment "AWS, primary ENI" -j CONNMARK --restore-mark --nfmask 0x80 ' +
    "--ctmask 0x80",
  ]);
  assert.deepEqual(set.skippedExclusions, []);
  assert.equal(set.randomFallback, false);
});

Deno.test("renderSnatRules() normalises exclusions, writes 0.0.0.0/0 without -d, skips bad ones", () => {
  const set = renderSnatRules({
    ...base,
    excludeSnatCidrs: [" 172.16.5.9/12 ", "fd00::/8", "bogus", "10.0.0.0/33", "", "0.0.0.0/0"],
  });
  assert.deepEqual(chain(set, "nat", "AWS-SNAT-CHAIN-0")?.slice(0, 4), [
    '-m comment --comment "AWS SNAT CHAIN EXCLUSION" -j RETURN',
    '-d 172.16.0.0/12 -m comment --comment "AWS SNAT CHAIN EXCLUSION" -j RETURN',
    '-d 10.11.0.0/16 -m comment --comment "AWS SNAT CHAIN" -j RETURN',
    '-d 10.10.0.0/16 -m comment --comment "AWS SNAT CHAIN" -j RETURN',
  ]);
  assert.deepEqual(chain(set, "nat", "AWS-CONNMARK-CHAIN-0")?.slice(0, 2), [
    '-m comment --comment "AWS CONNMARK CHAIN" -j RETURN',
    '-d 172.16.0.0/12 -m comment --comment "AWS CONNMARK CHAIN" -j RETURN',
  ]);
  assert.deepEqual(set.skippedExclusions.map((s) => s.value), ["fd00::/8", "bogus", "10.0.0.0/33"]);
  assert.match(set.skippedExclusions[0]?.reason ?? "", /IPv6/);
});

Deno.test("renderSnatRules() keeps one connmark RETURN for a CIDR that is both VPC and excluded", () => {
  const set = renderSnatRules({ ...base, excludeSnatCidrs: ["10.10.0.0/16"] });
  assert.equal(chain(set, "nat", "AWS-SNAT-CHAIN-0")?.length, 4);
  assert.deepEqual(chain(set, "nat", "AWS-CONNMARK-CHAIN-0")?.slice(0, 2), [
    '-d 10.11.0.0/16 -m comment --comment "AWS CONNMARK CHAIN" -j RETURN',
    '-d 10.10.0.0/16 -m comment --comment "AWS CONNMARK CHAIN" -j RETURN',
  ]);
});

Deno.test("renderSnatRules() renders each randomize mode and falls back to --random", () => {
  const snat = (s: Partial<SnatSettings>) =>
    chain(renderSnatRules({ ...base, ...s }), "nat", "AWS-SNAT-CHAIN-0")?.at(-1);
  assert.match(snat({ randomizeSnat: "prng" }) ?? "", / --to-source 10\.10\.0\.10 --random-fully$/);
  assert.match(snat({ randomizeSnat: "hashrandom" }) ?? "", / --to-source 10\.10\.0\.10 --random$/);
  assert.match(snat({ randomizeSnat: "none" }) ?? "", / --to-source 10\.10\.0\.10$/);
  const fallback = renderSnatRules({ ...base, hasRandomFully: false });
  assert.match(chain(fallback, "nat", "AWS-SNAT-CHAIN-0")?.at(-1) ?? "", / --random$/);
  assert.equal(fallback.randomFallback, true);
  assert.equal(
    renderSnatRules({ ...base, randomizeSnat: "none", hasRandomFully: false }).randomFallback,
    false,
  );
});

Deno.test("renderSnatRules() drops NodePort rules but keeps the eni+ restore when SNAT is on", () => {
  const set = renderSnatRules({ ...base, nodePortSupport: false });
  assert.deepEqual(chain(set, "mangle", "PREROUTING"), [
    '-i eni+ -m comment --comment "AWS, primary ENI" -j CONNMARK --restore-mark --nfmask 0x80 ' +
    "--ctmask 0x80",
  ]);
});

Deno.test("renderSnatRules() with external SNAT has no nat rules and keeps NodePort mangle rules", () => {
  const set = renderSnatRules({ ...base, externalSnat: true });
  assert.deepEqual(set.ownChains, []);
  assert.deepEqual(chain(set, "nat", "POSTROUTING"), []);
  assert.deepEqual(chain(set, "nat", "PREROUTING"), []);
  assert.equal(chain(set, "mangle", "PREROUTING")?.length, 3);
  const none = renderSnatRules({ ...base, externalSnat: true, nodePortSupport: false });
  assert.deepEqual(chain(none, "mangle", "PREROUTING"), []);
  // Exclusions are ignored with external SNAT, and empty VPC CIDRs are no error then.
  assert.doesNotThrow(() => renderSnatRules({ ...base, vpcCidrs: [], externalSnat: true }));
});

Deno.test("renderSnatRules() uses a custom mark and veth prefix everywhere", () => {
  const set = renderSnatRules({
    ...base,
    connmark: 0x4000,
    vethPrefix: "cali",
    primaryInterface: "ens5",
  });
  const all = [...set.ownChains, ...set.builtinChains].flatMap((c) => c.rules).join("\n");
  assert.doesNotMatch(all, /0x80\b|eni\+/);
  assert.match(all, /-i cali\+ -m comment --comment "AWS, outbound connections"/);
  assert.match(all, /-i ens5 -m comment --comment "AWS, primary ENI"/);
  assert.match(all, /--set-xmark 0x4000\/0x4000/);
  assert.match(all, /--restore-mark --nfmask 0x4000 --ctmask 0x4000/);
});

Deno.test("renderSnatRules() rejects a bad mark, primary IP, VPC CIDR or an empty VPC CIDR list", () => {
  assert.throws(() => renderSnatRules({ ...base, connmark: 0 }), RangeError);
  assert.throws(() => renderSnatRules({ ...base, connmark: 2 ** 32 }), RangeError);
  assert.throws(() => renderSnatRules({ ...base, primaryIp: "fd00::1" }), TypeError);
  assert.throws(() => renderSnatRules({ ...base, vpcCidrs: ["10.0.0.0"] }), TypeError);
  assert.throws(() => renderSnatRules({ ...base, vpcCidrs: [] }), RangeError);
});

Deno.test("isOurBuiltinRule() recognises our comments and jumps, and nobody else's rules", () => {
  assert.equal(isOurBuiltinRule('-m comment --comment "AWS SNAT CHAIN" -j AWS-SNAT-CHAIN-0'), true);
  assert.equal(
    isOurBuiltinRule(
      '-i eni+ -m comment --comment "AWS, outbound connections" -m state --state NEW -j AWS-CONNMARK-CHAIN-0',
    ),
    true,
  );
  assert.equal(isOurBuiltinRule("-j AWS-SNAT-CHAIN-3"), true);
  assert.equal(isOurBuiltinRule('-m comment --comment "AWS, primary ENI" -j ACCEPT'), true);
  assert.equal(
    isOurBuiltinRule('-m comment --comment "kubernetes service portals" -j KUBE-SERVICES'),
    false,
  );
  assert.equal(
    isOurBuiltinRule('-m comment --comment "AWS SNAT CHAIN EXCLUSION (dynamic)" -j RETURN'),
    false,
  );
  assert.equal(isOurBuiltinRule("-j AWS-SNAT-CHAIN-X"), false);
  assert.equal(isOurChain("AWS-CONNMARK-CHAIN-12"), true);
  assert.equal(isOurChain("AWS-SNAT-CHAIN"), false);
});

Deno.test("quote() quotes like iptables-save", () => {
  assert.equal(quote("plain-word_1"), "plain-word_1");
  assert.equal(quote("AWS, SNAT"), '"AWS, SNAT"');
  assert.equal(quote('a "b"'), '"a \\"b\\""');
});
