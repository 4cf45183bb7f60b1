import assert from "node:assert/strict";
import { isExists, isNotFound, Netlink, NetlinkError } from "../../ffi/mod.ts";
import { ipJson, scratchNetns } from "../lab/scratch_netns.ts";

Deno.test("links() and link() agree with `ip -j link` by name, index and MAC", () => {
  using s = scratchNetns(1);
  const [ns] = s.names as [string];
  using nl = Netlink.openIn(s.paths[0]!);
  nl.createVeth({ name: "la", peerName: "lb", mac: "02:00:00:00:01:0a", mtu: 1400, up: true });
  const kernel = ipJson(ns, "-d", "link", "show");
  const ours = nl.links();
  assert.deepEqual(ours.map((l) => l.name).sort(), kernel.map((l) => l.ifname).sort());
  for (const k of kernel) {
    const byName = nl.link(k.ifname);
    assert.ok(byName, k.ifname);
    assert.equal(byName.index, k.ifindex);
    assert.equal(byName.mac, k.address);
    assert.equal(byName.mtu, k.mtu);
    assert.equal(byName.up, k.flags.includes("UP"));
    assert.equal(byName.kind, k.linkinfo?.info_kind);
    assert.deepEqual(nl.link(k.ifindex), byName);
    assert.deepEqual(ours.find((l) => l.index === k.ifindex), byName);
  }
  assert.equal(nl.linkByMac("02:00:00:00:01:0A")?.name, "la");
  assert.equal(nl.linkByMac("02:00:00:00:09:09"), undefined);
  assert.equal(nl.link("nosuch0"), undefined);
  assert.equal(nl.link(99999), undefined);
});

Deno.test("createVeth() puts the peer in another namespace with its MAC, MTU and state", () => {
  using s = scratchNetns(2);
  const [a, b] = s.names as [string, string];
  using nl = Netlink.openIn(s.paths[0]!);
  nl.createVeth({
    name: "eth1",
    peerName: "n1d1",
    mac: "02:aa:00:00:00:01",
    peerMac: "02:bb:00:00:00:01",
    mtu: 9001,
    peerNetns: s.paths[1]!,
    up: false,
    peerUp: true,
  });
  const [mine] = ipJson(a, "-d", "link", "show", "eth1");
  const [peer] = ipJson(b, "-d", "link", "show", "n1d1");
  assert.equal(mine.address, "02:aa:00:00:00:01");
  assert.equal(mine.mtu, 9001);
  assert.equal(mine.flags.includes("UP"), false);
  assert.equal(mine.linkinfo.info_kind, "veth");
  assert.equal(peer.address, "02:bb:00:00:00:01");
  assert.equal(peer.mtu, 9001);
  assert.equal(peer.flags.includes("UP"), true);
  assert.equal(mine.link_index, peer.ifindex);
  assert.equal(ipJson(a, "link", "show").some((l) => l.ifname === "n1d1"), false);
  // MULTICAST survives bringing a link up at creation (the kernel takes those flags whole).
  nl.createVeth({ name: "up0", peerName: "up1", up: true });
  assert.ok(ipJson(a, "link", "show", "up0")[0].flags.includes("MULTICAST"));
});

Deno.test("setUp/setDown/setMtu/setMac/rename change exactly what `ip link` reports", () => {
  using s = scratchNetns(1);
  const [ns] = s.names as [string];
  using nl = Netlink.openIn(s.paths[0]!);
  nl.createVeth({ name: "ca", peerName: "cb" });
  const index = nl.link("ca")!.index;
  const flags = () => ipJson(ns, "link", "show").find((l) => l.ifindex === index).flags as string[];
  nl.setUp("ca");
  assert.ok(flags().includes("UP") && flags().includes("MULTICAST"));
  nl.setDown(index);
  assert.ok(!flags().includes("UP") && flags().includes("MULTICAST"));
  nl.setMtu("ca", 1280);
  nl.setMac(index, "02:12:34:56:78:9a");
  nl.rename("ca", "renamed0");
  const [k] = ipJson(ns, "link", "show", "dev", "renamed0");
  assert.equal(k.ifindex, index);
  assert.equal(k.mtu, 1280);
  assert.equal(k.address, "02:12:34:56:78:9a");
  assert.equal(nl.link("ca"), undefined);
  nl.rename(index, "ca");
  assert.equal(nl.link("ca")?.index, index);
});

Deno.test("moveToNetns() moves a link; deleteLink() removes both ends of a veth", () => {
  using s = scratchNetns(2);
  const [a, b] = s.names as [string, string];
  using nl = Netlink.openIn(s.paths[0]!);
  nl.createVeth({ name: "ma", peerName: "mb" });
  nl.moveToNetns("mb", s.paths[1]!);
  assert.deepEqual(ipJson(b, "link", "show", "mb").map((l) => l.ifname), ["mb"]);
  assert.equal(nl.link("mb"), undefined);
  nl.deleteLink("ma");
  assert.equal(ipJson(a, "link", "show").some((l) => l.ifname === "ma"), false);
  assert.equal(ipJson(b, "link", "show").some((l) => l.ifname === "mb"), false);
});

Deno.test("deleteLink() of a missing link is a typed not-found; the IfExists form says false", () => {
  using s = scratchNetns(1);
  using nl = Netlink.openIn(s.paths[0]!);
  nl.createVeth({ name: "da", peerName: "db" });
  assert.equal(nl.deleteLinkIfExists("da"), true);
  assert.equal(nl.deleteLinkIfExists("da"), false);
  assert.throws(() => nl.deleteLink("da"), (e: unknown) => {
    assert.ok(e instanceof NetlinkError);
    assert.equal(e.code, "ENODEV");
    assert.equal(e.errno, 19);
    assert.equal(e.op, "deleteLink da");
    assert.ok(isNotFound(e));
    return true;
  });
});

Deno.test("createVeth() with a name in use is EEXIST; bad names and MTUs are TypeErrors", () => {
  using s = scratchNetns(1);
  using nl = Netlink.openIn(s.paths[0]!);
  nl.createVeth({ name: "xa", peerName: "xb" });
  assert.throws(() => nl.createVeth({ name: "xa", peerName: "xc" }), (e: unknown) => {
    assert.ok(isExists(e));
    assert.equal((e as NetlinkError).errno, 17);
    return true;
  });
  assert.throws(() => nl.createVeth({ name: "a-name-too-long-16", peerName: "p" }), TypeError);
  assert.throws(() => nl.createVeth({ name: "bad/name", peerName: "p" }), TypeError);
  assert.throws(() => nl.setMtu("xa", 20), TypeError);
  assert.throws(() => nl.setMac("xa", "not-a-mac"), TypeError);
});

Deno.test("a closed Netlink refuses further calls", () => {
  using s = scratchNetns(1);
  const nl = Netlink.openIn(s.paths[0]!);
  nl.close();
  nl.close();
  assert.ok(nl.closed);
  assert.throws(() => nl.links(), /closed/);
});

Deno.test("links() and rules() see the kernel's objects when a dump is a fresh process's first call", async () => {
  using s = scratchNetns(1);
  // A new process whose very first netlink operation is a dump: libnl-route must be mapped
  // before the dump is parsed, or every message is dropped and the lists come back empty.
  const script = `import { Netlink } from "${new URL("../../ffi/mod.ts", import.meta.url).href}";
const nl = Netlink.open();
console.log(JSON.stringify({ links: nl.links().map((l) => l.name), rules: nl.rules().length }));`;
  const out = await new Deno.Command("ip", {
    args: ["netns", "exec", s.names[0]!, Deno.execPath(), "run", "-A", "--no-config", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = out.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const { stdout, stderr, success } = await out.output();
  assert.ok(success, new TextDecoder().decode(stderr));
  const seen = JSON.parse(new TextDecoder().decode(stdout));
  assert.deepEqual(seen.links, ["lo"]);
  assert.ok(seen.rules >= 3, `expected the default rules, saw ${seen.rules}`);
});
