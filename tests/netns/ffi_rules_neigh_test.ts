import assert from "node:assert/strict";
import { isExists, isNotFound, Netlink, NetlinkError, type Rule } from "../../ffi/mod.ts";
import { ipJson, scratchNetns } from "../lab/scratch_netns.ts";

// `ip -j rule` spelled like our Rule.
// deno-lint-ignore no-explicit-any
function kernelRules(ns: string, family: 4 | 6): any[] {
  return ipJson(ns, `-${family}`, "rule", "show").map((r) => {
    const table = { local: 255, main: 254, default: 253 }[r.table as string] ?? Number(r.table);
    const rule: Rule = { priority: r.priority, table, family };
    const host = family === 6 ? 128 : 32;
    if (r.src !== "all") rule.src = `${r.src}/${r.srclen ?? host}`;
    if (r.dst) rule.dst = `${r.dst}/${r.dstlen ?? host}`;
    if (r.fwmark) {
      rule.fwmark = Number(r.fwmark);
      rule.fwmask = r.fwmask === undefined ? 0xffffffff : Number(r.fwmask);
    }
    if (r.iif) rule.iif = r.iif;
    return rule;
  });
}

Deno.test("rules: priority, table, from/to, fwmark/mask and iif in both families", () => {
  using s = scratchNetns(1);
  const ns = s.names[0]!;
  using nl = Netlink.openIn(s.paths[0]!);
  nl.addRule({ priority: 512, table: 254, dst: "10.60.0.5/32" });
  nl.addRule({ priority: 1536, table: 2, src: "10.60.0.5/32" });
  nl.addRule({ priority: 1536, table: 3, src: "10.60.0.6/32" }); // same priority, other rule
  nl.addRule({ priority: 1024, table: 254, fwmark: 0x80, fwmask: 0x80 });
  nl.addRule({ priority: 1025, table: 4, fwmark: 0x1 });
  nl.addRule({ priority: 10, table: 5, iif: "eth9" });
  nl.addRule({ priority: 20, table: 6, src: "10.61.0.0/16", dst: "10.62.0.0/16" });
  nl.addRule({ priority: 1536, table: 2, src: "fd00:60::5/128" });
  nl.addRule({ priority: 600, table: 7, family: 6 });
  for (const family of [4, 6] as const) {
    const ours = nl.rules(family);
    assert.deepEqual(ours, kernelRules(ns, family));
    assert.ok(ours.every((r) => r.family === family));
  }
  assert.equal(nl.rules().length, nl.rules(4).length + nl.rules(6).length);
  assert.deepEqual(nl.rules(4).find((r) => r.priority === 1025), {
    priority: 1025,
    table: 4,
    family: 4,
    fwmark: 1,
    fwmask: 0xffffffff,
  });
});

Deno.test("rules: duplicate is EEXIST, ensureRule is idempotent, deletes are typed", () => {
  using s = scratchNetns(1);
  const ns = s.names[0]!;
  using nl = Netlink.openIn(s.paths[0]!);
  const rule = { priority: 1536, table: 2, src: "10.63.0.5/32" };
  nl.addRule(rule);
  assert.throws(() => nl.addRule(rule), (e: unknown) => {
    assert.ok(e instanceof NetlinkError && isExists(e));
    assert.equal(e.errno, 17);
    assert.equal(e.op, "addRule priority 1536 from 10.63.0.5/32 table 2");
    return true;
  });
  nl.ensureRule(rule);
  nl.ensureRule({ ...rule, src: "fd00:63::5/128" });
  assert.equal(kernelRules(ns, 4).filter((r) => r.priority === 1536).length, 1);
  nl.deleteRule(rule);
  assert.equal(kernelRules(ns, 4).some((r) => r.priority === 1536), false);
  assert.equal(nl.deleteRuleIfExists({ ...rule, src: "fd00:63::5/128" }), true);
  assert.equal(nl.deleteRuleIfExists({ ...rule, src: "fd00:63::5/128" }), false);
  assert.throws(() => nl.deleteRule(rule), (e: unknown) => {
    assert.ok(e instanceof NetlinkError && isNotFound(e));
    assert.equal(e.code, "ENOENT");
    return true;
  });
  assert.throws(() => nl.addRule({ priority: -1, table: 2 }), TypeError);
  assert.throws(() => nl.addRule({ priority: 1, table: 2, src: "10.0.0.1/32", dst: "fd00::/8" }));
});

Deno.test("neighbours: permanent entries are replaced, listed like `ip -j neigh`, deleted", () => {
  using s = scratchNetns(1);
  const ns = s.names[0]!;
  using nl = Netlink.openIn(s.paths[0]!);
  nl.createVeth({ name: "n0", peerName: "n1", up: true, peerUp: true });
  nl.replaceNeighbour({ link: "n0", ip: "169.254.1.1", mac: "02:00:00:00:aa:01" });
  nl.replaceNeighbour({ link: "n0", ip: "169.254.1.1", mac: "02:00:00:00:aa:02" });
  nl.replaceNeighbour({ link: "n1", ip: "fd00:64::1", mac: "02:00:00:00:aa:03" });
  const kernel = ipJson(ns, "neigh", "show", "nud", "permanent");
  assert.deepEqual(
    kernel.map((n) => `${n.dst} ${n.dev} ${n.lladdr} ${n.state.join()}`).sort(),
    [
      "169.254.1.1 n0 02:00:00:00:aa:02 PERMANENT",
      "fd00:64::1 n1 02:00:00:00:aa:03 PERMANENT",
    ],
  );
  const n0 = nl.link("n0")!.index;
  assert.deepEqual(nl.neighbours({ link: "n0" }).filter((n) => n.permanent), [
    { ifindex: n0, ip: "169.254.1.1", mac: "02:00:00:00:aa:02", permanent: true },
  ]);
  assert.equal(nl.neighbours().filter((n) => n.permanent).length, 2);
  assert.equal(nl.deleteNeighbourIfExists({ link: "n0", ip: "169.254.1.1" }), true);
  assert.equal(nl.deleteNeighbourIfExists({ link: "n0", ip: "169.254.1.1" }), false);
  assert.equal(nl.deleteNeighbourIfExists({ link: "gone0", ip: "169.254.1.1" }), false);
  assert.deepEqual(ipJson(ns, "neigh", "show", "dev", "n0", "nud", "permanent"), []);
});
