import assert from "node:assert/strict";
import { isExists, isNotFound, Netlink, NetlinkError } from "../../ffi/mod.ts";
import { ipJson, scratchNetns } from "../lab/scratch_netns.ts";

function setup() {
  const s = scratchNetns(1);
  const nl = Netlink.openIn(s.paths[0]!);
  nl.setUp("lo");
  nl.createVeth({ name: "r0", peerName: "r1", up: true, peerUp: true });
  return { s, nl, ns: s.names[0]!, dispose: () => (nl.close(), s[Symbol.dispose]()) };
}

Deno.test("addresses: add v4/v6, noPrefixRoute, scope; listing agrees with `ip -j addr`", () => {
  const { nl, ns, dispose } = setup();
  try {
    nl.addAddress("r0", "10.20.0.1/24");
    nl.addAddress("r0", "10.20.9.9/32", { noPrefixRoute: true, scope: "link" });
    nl.addAddress("r0", "10.30.0.1/24", { noPrefixRoute: true });
    nl.addAddress("r1", "fd00:20::1/64");
    const kernel = ipJson(ns, "addr", "show").flatMap((l) =>
      l.addr_info.map((a: { local: string; prefixlen: number; family: string; scope: string }) => ({
        ifindex: l.ifindex,
        cidr: `${a.local}/${a.prefixlen}`,
        family: a.family === "inet6" ? 6 : 4,
        scope: a.scope === "global" ? "universe" : a.scope,
      }))
    );
    const byKey = (x: { ifindex: number; cidr: string }) => `${x.ifindex} ${x.cidr}`;
    assert.deepEqual(nl.addresses().map(byKey).sort(), kernel.map(byKey).sort());
    for (const k of kernel) assert.deepEqual(nl.addresses().find((a) => byKey(a) === byKey(k)), k);
    const r0 = nl.link("r0")!.index;
    assert.deepEqual(
      nl.addresses({ link: "r0", family: 4 }).map((a) => a.cidr).sort(),
      ["10.20.0.1/24", "10.20.9.9/32", "10.30.0.1/24"],
    );
    assert.ok(nl.addresses({ family: 6 }).every((a) => a.family === 6));
    assert.equal(nl.addresses({ link: r0 }).find((a) => a.cidr === "10.20.9.9/32")?.scope, "link");
    const prefixRoutes = ipJson(ns, "route", "show").map((r) => r.dst);
    assert.ok(prefixRoutes.includes("10.20.0.0/24"));
    assert.ok(!prefixRoutes.includes("10.30.0.0/24"), "noPrefixRoute added a route");
  } finally {
    dispose();
  }
});

Deno.test("addresses: duplicate is EEXIST, ensureAddress is idempotent, delete and IfExists", () => {
  const { nl, ns, dispose } = setup();
  try {
    nl.addAddress("r0", "10.21.0.1/24");
    assert.throws(() => nl.addAddress("r0", "10.21.0.1/24"), (e: unknown) => {
      assert.ok(e instanceof NetlinkError && isExists(e));
      assert.equal(e.errno, 17);
      assert.equal(e.op, "addAddress 10.21.0.1/24 dev r0");
      return true;
    });
    nl.ensureAddress("r0", "10.21.0.1/24");
    nl.ensureAddress("r0", "fd00:21::1/64");
    nl.deleteAddress("r0", "10.21.0.1/24");
    const left = ipJson(ns, "addr", "show", "dev", "r0")[0].addr_info.map((a: { local: string }) =>
      a.local
    );
    assert.ok(!left.includes("10.21.0.1") && left.includes("fd00:21::1"));
    assert.equal(nl.deleteAddressIfExists("r0", "fd00:21::1/64"), true);
    assert.equal(nl.deleteAddressIfExists("r0", "fd00:21::1/64"), false);
    assert.equal(nl.deleteAddressIfExists("nosuchdev", "10.0.0.1/32"), false);
    assert.throws(() => nl.deleteAddress("r0", "10.21.0.1/24"), (e: unknown) => {
      assert.ok(isNotFound(e));
      assert.equal((e as NetlinkError).code, "EADDRNOTAVAIL");
      return true;
    });
    assert.throws(() => nl.addAddress("r0", "10.21.0.300/24"), TypeError);
  } finally {
    dispose();
  }
});

// deno-lint-ignore no-explicit-any
function kernelRoute(ns: string, table: string, dst: string): any {
  const all = ipJson(ns, "route", "show", "table", table);
  return all.find((r) => r.dst === dst);
}

Deno.test("routes: table, scope, gateway, onlink, src and metric reach the kernel", () => {
  const { nl, ns, dispose } = setup();
  try {
    nl.addAddress("r0", "10.22.0.1/24");
    nl.addAddress("r1", "fd00:22::1/64");
    nl.addRoute({ dst: "10.22.5.5/32", link: "r0", table: 100 });
    nl.addRoute({ dst: "default", gateway: "10.22.0.254", link: "r0", table: 100 });
    nl.addRoute({
      dst: "10.40.0.0/16",
      gateway: "192.0.2.77",
      link: "r0",
      onlink: true,
      table: 101,
    });
    nl.addRoute({ dst: "10.41.0.0/16", link: "r0", src: "10.22.0.1", scope: "link" });
    nl.addRoute({ dst: "10.42.0.0/16", gateway: "10.22.0.2", metric: 20 });
    nl.addRoute({ dst: "fd00:99::/64", gateway: "fd00:22::2", link: "r1", table: 100 });

    let k = kernelRoute(ns, "100", "10.22.5.5");
    assert.equal(k.dev, "r0");
    assert.equal(k.scope, "link");
    k = kernelRoute(ns, "100", "default");
    assert.equal(k.gateway, "10.22.0.254");
    k = kernelRoute(ns, "101", "10.40.0.0/16");
    assert.equal(k.gateway, "192.0.2.77");
    assert.ok(k.flags.includes("onlink"));
    k = kernelRoute(ns, "main", "10.41.0.0/16");
    assert.equal(k.prefsrc, "10.22.0.1");
    k = kernelRoute(ns, "main", "10.42.0.0/16");
    assert.equal(k.metric, 20);
    k = ipJson(ns, "-6", "route", "show", "table", "100").find((r) => r.dst === "fd00:99::/64");
    assert.equal(k.gateway, "fd00:22::2");

    const r0 = nl.link("r0")!.index;
    const t100 = nl.routes({ table: 100 });
    assert.deepEqual(t100.find((r) => r.dst === "10.22.5.5/32"), {
      dst: "10.22.5.5/32",
      family: 4,
      table: 100,
      scope: "link",
      type: "unicast",
      ifindex: r0,
      link: r0,
    });
    assert.equal(t100.find((r) => r.dst === "default")?.gateway, "10.22.0.254");
    assert.equal(t100.find((r) => r.dst === "fd00:99::/64")?.gateway, "fd00:22::2");
    assert.equal(nl.routes({ table: 101 })[0]?.onlink, true);
    assert.equal(nl.routes({ table: 254 }).find((r) => r.dst === "10.41.0.0/16")?.src, "10.22.0.1");
    assert.equal(nl.routes({ family: 6, table: 100 }).length, 1);
    // Every route `ip` shows in main is listed, and nothing more (IPv6 included: both
    // fe80::/64 routes, which differ only by device).
    const kernelMain = [
      ...ipJson(ns, "route", "show", "table", "main"),
      ...ipJson(ns, "-6", "route", "show", "table", "main"),
    ].map((r) => `${r.dst} ${r.dev}`).sort();
    const names = new Map(nl.links().map((l) => [l.index, l.name]));
    const oursMain = nl.routes({ table: 254 }).map((r) => `${r.dst} ${names.get(r.ifindex!)}`)
      .sort();
    assert.deepEqual(oursMain, kernelMain);
  } finally {
    dispose();
  }
});

Deno.test("routes: replace, duplicate EEXIST, delete and deleteRouteIfExists, typed errors", () => {
  const { nl, ns, dispose } = setup();
  try {
    nl.addAddress("r0", "10.23.0.1/24");
    nl.addRoute({ dst: "10.50.0.0/16", gateway: "10.23.0.2" });
    assert.throws(
      () => nl.addRoute({ dst: "10.50.0.0/16", gateway: "10.23.0.2" }),
      (e: unknown) => {
        assert.ok(e instanceof NetlinkError && isExists(e));
        assert.equal(e.op, "addRoute 10.50.0.0/16 via 10.23.0.2");
        return true;
      },
    );
    nl.replaceRoute({ dst: "10.50.0.0/16", gateway: "10.23.0.3" });
    assert.equal(kernelRoute(ns, "main", "10.50.0.0/16").gateway, "10.23.0.3");
    nl.replaceRoute({ dst: "10.51.0.0/16", link: "r0", table: 7 });
    assert.equal(kernelRoute(ns, "7", "10.51.0.0/16").dev, "r0");
    nl.deleteRoute({ dst: "10.50.0.0/16" });
    assert.equal(kernelRoute(ns, "main", "10.50.0.0/16"), undefined);
    assert.equal(nl.deleteRouteIfExists({ dst: "10.51.0.0/16", table: 7 }), true);
    assert.equal(nl.deleteRouteIfExists({ dst: "10.51.0.0/16", table: 7 }), false);
    assert.equal(nl.deleteRouteIfExists({ dst: "10.51.0.0/16", link: "gone0" }), false);
    assert.throws(() => nl.deleteRoute({ dst: "10.52.0.0/16", table: 7 }), (e: unknown) => {
      assert.ok(e instanceof NetlinkError && isNotFound(e));
      assert.equal(e.code, "ESRCH");
      assert.equal(e.errno, 3);
      assert.equal(e.op, "deleteRoute 10.52.0.0/16 table 7");
      return true;
    });
    // libnl folds ENETUNREACH into a generic failure; the kernel's errno is kept.
    assert.throws(
      () => nl.addRoute({ dst: "10.53.0.0/16", gateway: "10.99.0.1" }),
      (e: unknown) => {
        assert.ok(e instanceof NetlinkError);
        assert.equal(e.code, "ENETUNREACH");
        assert.ok(!isExists(e) && !isNotFound(e));
        return true;
      },
    );
    assert.throws(() => nl.addRoute({ dst: "fd00::/64", gateway: "10.0.0.1" }), TypeError);
    assert.throws(() => nl.addRoute({ dst: "10.0.0.0/33" }), TypeError);
  } finally {
    dispose();
  }
});
