/**
 * Host and ENI network setup against the real kernel. A veth whose peer sits in a second
 * namespace stands in for each ENI; `ip -j` is the independent witness of what was set.
 */

import assert from "node:assert/strict";
import { Netlink, withNetns } from "../../ffi/mod.ts";
import { routeTableId, setupEniNetwork, teardownEniNetwork } from "../../src/node/eni_network.ts";
import { hostLinkNames, LinkNotFoundError, setupHostNetwork } from "../../src/node/host_network.ts";
import { deletePodRules, migratePodRules } from "../../src/node/pod_rules.ts";
import { applyNodeSysctls } from "../../src/node/sysctl.ts";
import { ScratchNetns } from "../lab/node_lab.ts";

const ENI_MAC = "02:00:00:00:01:01";
const PRIMARY_MAC = "02:00:00:00:00:01";
const FAST = { attempts: 2, intervalMs: 10 };

interface IpRule {
  priority: number;
  src?: string;
  srclen?: number;
  dst?: string;
  dstlen?: number;
  table: string;
  fwmark?: string;
  fwmask?: string;
}

async function rules(ns: ScratchNetns): Promise<IpRule[]> {
  return await ns.ipJson<IpRule[]>("rule", "show");
}

/** node: `name` (MAC set, MTU 1500) with its peer in `vpc`. */
async function fakeEni(node: ScratchNetns, vpc: ScratchNetns, name: string, mac: string) {
  await node.ip(
    "link",
    "add",
    name,
    "address",
    mac,
    "mtu",
    "1500",
    "type",
    "veth",
    "peer",
    "name",
    `v-${name}`,
    "netns",
    vpc.name,
  );
  await vpc.ip("link", "set", `v-${name}`, "up");
}

Deno.test("setupEniNetwork() installs table routes, rule 32765, one address, MTU, no main subnet route", async () => {
  await using node = await ScratchNetns.create("tnod");
  await using vpc = await ScratchNetns.create("tnod");
  await fakeEni(node, vpc, "eth1", ENI_MAC);
  await vpc.ip("addr", "add", "10.10.1.1/24", "dev", "v-eth1");
  // What an OS may have put there: a DHCP-style address with its connected route, a stray one.
  await node.ip("addr", "add", "10.10.1.20/24", "dev", "eth1");
  await node.ip("addr", "add", "10.99.0.5/24", "dev", "eth1");
  // The primary ENI in the same subnet: its connected route must stay.
  await fakeEni(node, vpc, "eth0", PRIMARY_MAC);
  await node.ip("addr", "add", "10.10.1.10/24", "dev", "eth0");
  await node.ip("link", "set", "eth0", "up");
  using nl = Netlink.openIn(node.path);

  const result = await setupEniNetwork(nl, {
    eniIp: "10.10.1.20",
    mac: ENI_MAC.toUpperCase(),
    subnetCidr: "10.10.1.0/24",
    deviceNumber: 1,
  }, { linkRetry: FAST });
  assert.deepEqual(result, { link: "eth1", table: 2, gateway: "10.10.1.1" });

  const witness = async () => ({
    table: (await node.ipJson("route", "show", "table", "2")).map(
      ({ dst, gateway, dev, scope }) => ({ dst, gateway, dev, scope }),
    ),
    main: (await node.ipJson<{ dst: string; dev: string }[]>("route", "show", "table", "main"))
      .map((r) => `${r.dst} ${r.dev}`),
    rules: (await rules(node)).filter((r) => r.src === "10.10.1.20"),
    link: (await node.ipJson<
      {
        mtu: number;
        flags: string[];
        addr_info: { local: string; prefixlen: number; scope: string }[];
      }[]
    >("addr", "show", "dev", "eth1"))
      .map((l) => ({
        mtu: l.mtu,
        up: l.flags.includes("UP"),
        addrs: l.addr_info.filter((a) => a.scope === "global").map((a) =>
          `${a.local}/${a.prefixlen}`
        ),
      })),
  });
  const expected = {
    table: [
      { dst: "default", gateway: "10.10.1.1", dev: "eth1", scope: undefined },
      { dst: "10.10.1.1", gateway: undefined, dev: "eth1", scope: "link" },
    ],
    main: ["10.10.1.0/24 eth0"],
    rules: [{ priority: 32765, src: "10.10.1.20", table: "2" }],
    link: [{ mtu: 9001, up: true, addrs: ["10.10.1.20/24"] }],
  };
  assert.deepEqual(await witness(), expected);
  // The ENI's table really routes traffic from the ENI address (a lookup; nothing is sent).
  assert.match(
    await node.ip("route", "get", "198.51.100.7", "from", "10.10.1.20"),
    /via 10\.10\.1\.1 dev eth1 table 2/,
  );

  // Idempotent: a second run changes nothing.
  await setupEniNetwork(nl, {
    eniIp: "10.10.1.20",
    mac: ENI_MAC,
    subnetCidr: "10.10.1.0/24",
    deviceNumber: 1,
  });
  assert.deepEqual(await witness(), expected);

  assert.equal(teardownEniNetwork(nl, "10.10.1.20"), 1);
  assert.deepEqual((await rules(node)).filter((r) => r.src === "10.10.1.20"), []);
});

Deno.test("setupEniNetwork() uses the card table, reuses an earlier table, and rejects bad input", async () => {
  await using node = await ScratchNetns.create("tnod");
  await using vpc = await ScratchNetns.create("tnod");
  await fakeEni(node, vpc, "eth2", "02:00:00:00:02:02");
  await fakeEni(node, vpc, "eth3", "02:00:00:00:03:03");
  using nl = Netlink.openIn(node.path);
  const card1 = await setupEniNetwork(nl, {
    eniIp: "10.20.0.7",
    mac: "02:00:00:00:02:02",
    subnetCidr: "10.20.0.0/20",
    deviceNumber: 1,
    networkCard: 1,
  });
  assert.equal(card1.table, 10101);
  assert.equal(card1.gateway, "10.20.0.1");
  // An ENI on card 2 whose single rule an older version put in table 8: keep it, add no rule.
  await node.ip("rule", "add", "from", "10.30.0.9", "lookup", "8", "prio", "32765");
  const reused = await setupEniNetwork(nl, {
    eniIp: "10.30.0.9",
    mac: "02:00:00:00:03:03",
    subnetCidr: "10.30.0.0/24",
    deviceNumber: 3,
    networkCard: 2,
  });
  assert.equal(reused.table, 8);
  assert.deepEqual((await rules(node)).filter((r) => r.src === "10.30.0.9").map((r) => r.table), [
    "8",
  ]);
  assert.equal((await node.ipJson("route", "show", "table", "8")).length, 2);

  await assert.rejects(
    setupEniNetwork(nl, {
      eniIp: "10.0.0.5",
      mac: "02:00:00:00:09:09",
      subnetCidr: "10.0.0.0/24",
      deviceNumber: 2,
    }, { linkRetry: FAST }),
    (e) => e instanceof LinkNotFoundError && e.mac === "02:00:00:00:09:09" && e.attempts === 2,
  );
  await assert.rejects(
    setupEniNetwork(nl, {
      eniIp: "10.0.0.5",
      mac: "02:00:00:00:02:02",
      subnetCidr: "10.0.0.0/24",
      deviceNumber: 0,
    }),
    RangeError,
  );
  assert.deepEqual([
    routeTableId(0),
    routeTableId(1),
    routeTableId(5, 0),
    routeTableId(1, 1),
    routeTableId(2, 3),
    routeTableId(0, 1),
  ], [254, 2, 6, 10101, 10302, 10100]);
});

Deno.test("setupHostNetwork() sets the primary MTU, fwmark and external-service rules, idempotently", async () => {
  await using node = await ScratchNetns.create("tnod");
  await using vpc = await ScratchNetns.create("tnod");
  await fakeEni(node, vpc, "ens5", PRIMARY_MAC);
  // Someone else's rule at 1535 (other table) must survive; a stale one of ours must go.
  await node.ip("rule", "add", "to", "10.200.0.0/16", "lookup", "100", "prio", "1535");
  await node.ip("rule", "add", "to", "10.201.0.0/16", "lookup", "main", "prio", "1535");
  using nl = Netlink.openIn(node.path);
  const settings = {
    primaryMac: PRIMARY_MAC,
    externalServiceCidrs: ["10.100.0.0/16", " bogus", "192.168.5.9/24"],
  };
  const result = await setupHostNetwork(nl, settings, { linkRetry: FAST });
  assert.deepEqual(result, {
    primaryInterface: "ens5",
    fwmarkRule: true,
    externalServiceCidrs: ["10.100.0.0/16", "192.168.5.0/24"],
  });
  const ours = async () =>
    (await rules(node)).filter((r) => r.priority === 1024 || r.priority === 1535)
      .map((r) =>
        `${r.priority} ${r.fwmark ? `${r.fwmark}/${r.fwmask}` : ""}${
          r.dst ? `${r.dst}/${r.dstlen}` : ""
        } ${r.table}`
      )
      .sort();
  const expected = [
    "1024 0x80/0x80 main",
    "1535 10.100.0.0/16 main",
    "1535 10.200.0.0/16 100",
    "1535 192.168.5.0/24 main",
  ];
  assert.deepEqual(await ours(), expected);
  assert.equal((await node.ipJson<{ mtu: number }[]>("link", "show", "ens5"))[0]?.mtu, 9001);
  await setupHostNetwork(nl, settings);
  assert.deepEqual(await ours(), expected);

  await setupHostNetwork(nl, { primaryMac: PRIMARY_MAC, connmark: 0x4000, mtu: 1500 });
  assert.deepEqual(await ours(), ["1024 0x4000/0x4000 main", "1535 10.200.0.0/16 100"]);
  assert.equal((await node.ipJson<{ mtu: number }[]>("link", "show", "ens5"))[0]?.mtu, 1500);
  const external = await setupHostNetwork(nl, {
    primaryMac: PRIMARY_MAC,
    externalSnat: true,
    nodePortSupport: false,
  });
  assert.equal(external.fwmarkRule, false);
  assert.deepEqual(await ours(), ["1535 10.200.0.0/16 100"]);
  await assert.rejects(
    setupHostNetwork(nl, { primaryMac: "02:00:00:00:00:99" }, { linkRetry: FAST }),
    LinkNotFoundError,
  );
  assert.ok(hostLinkNames(nl).has("ens5"));
});

Deno.test("migratePodRules() leaves one from-rule at 1536 per pod; deletePodRules() clears a pod", async () => {
  await using node = await ScratchNetns.create("tnod");
  await node.ip(
    "rule",
    "add",
    "from",
    "10.10.1.50",
    "to",
    "10.10.0.0/16",
    "lookup",
    "3",
    "prio",
    "1536",
  );
  await node.ip(
    "rule",
    "add",
    "from",
    "10.10.1.50",
    "to",
    "10.11.0.0/16",
    "lookup",
    "3",
    "prio",
    "1536",
  );
  await node.ip("rule", "add", "from", "10.10.1.51", "lookup", "2", "prio", "1536");
  await node.ip("rule", "add", "to", "10.10.1.51", "lookup", "main", "prio", "512");
  using nl = Netlink.openIn(node.path);
  assert.deepEqual(migratePodRules(nl, ["10.10.1.50", "10.10.1.51", "10.10.1.52"]), ["10.10.1.50"]);
  const podRules = async () =>
    (await rules(node)).filter((r) => r.priority === 1536 || r.priority === 512)
      .map((r) => `${r.priority} ${r.src === "all" ? "-" : r.src} ${r.dst ?? "-"} ${r.table}`)
      .sort();
  assert.deepEqual(await podRules(), [
    "1536 10.10.1.50 - 3",
    "1536 10.10.1.51 - 2",
    "512 - 10.10.1.51 main",
  ]);
  assert.deepEqual(migratePodRules(nl, ["10.10.1.50", "10.10.1.51"]), []);
  assert.equal(deletePodRules(nl, "10.10.1.51"), 2);
  assert.deepEqual(await podRules(), ["1536 10.10.1.50 - 3"]);
});

Deno.test("applyNodeSysctls() sets rp_filter=2 on the primary ENI and tcp_early_demux", async () => {
  await using node = await ScratchNetns.create("tnod");
  await using vpc = await ScratchNetns.create("tnod");
  await fakeEni(node, vpc, "eth0", PRIMARY_MAC);
  const first = withNetns(
    node.path,
    () => applyNodeSysctls({ primaryInterface: "eth0", disableTcpEarlyDemux: true }),
  );
  assert.deepEqual(first.map((w) => `${w.key}=${w.value}`), [
    "net/ipv4/conf/eth0/rp_filter=2",
    "net/ipv4/tcp_early_demux=0",
  ]);
  assert.equal((await node.exec(["sysctl", "-n", "net.ipv4.conf.eth0.rp_filter"])).trim(), "2");
  assert.equal((await node.exec(["sysctl", "-n", "net.ipv4.tcp_early_demux"])).trim(), "0");
  const again = withNetns(
    node.path,
    () => applyNodeSysctls({ primaryInterface: "eth0", disableTcpEarlyDemux: true }),
  );
  assert.ok(again.every((w) => w.previous === undefined), "second run rewrote nothing");
});
