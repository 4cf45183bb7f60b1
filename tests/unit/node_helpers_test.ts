import assert from "node:assert/strict";
import { formatIpv4, parseIpv4, parseIpv4Cidr, subnetGateway } from "../../src/ipv4.ts";
import { planNodeSysctls } from "../../src/node/sysctl.ts";

Deno.test("parseIpv4Cidr() normalises to network form and refuses anything else", () => {
  assert.deepEqual(parseIpv4Cidr("10.0.3.7/16"), {
    network: "10.0.0.0",
    prefixLength: 16,
    cidr: "10.0.0.0/16",
  });
  assert.equal(parseIpv4Cidr("0.0.0.0/0")?.cidr, "0.0.0.0/0");
  assert.equal(parseIpv4Cidr("255.255.255.255/32")?.cidr, "255.255.255.255/32");
  for (
    const bad of ["10.0.0.0", "10.0.0.0/33", "10.0.0/8", "01.0.0.0/8", "fd00::/8", "a.b.c.d/8"]
  ) {
    assert.equal(parseIpv4Cidr(bad), undefined, bad);
  }
  assert.equal(formatIpv4(parseIpv4("192.168.1.254") ?? 0), "192.168.1.254");
});

Deno.test("subnetGateway() is the subnet base + 1", () => {
  assert.equal(subnetGateway("10.10.0.0/16"), "10.10.0.1");
  assert.equal(subnetGateway("10.10.1.77/24"), "10.10.1.1");
  assert.throws(() => subnetGateway("nope"), TypeError);
});

Deno.test("planNodeSysctls() follows the init container: rp_filter, early demux, IPv6 extras", () => {
  assert.deepEqual(planNodeSysctls({ primaryInterface: "ens5" }), [
    { key: "net/ipv4/conf/ens5/rp_filter", value: "2", optional: false },
    { key: "net/ipv4/tcp_early_demux", value: "1", optional: true },
  ]);
  const v6 = planNodeSysctls({
    primaryInterface: "eth0",
    disableTcpEarlyDemux: true,
    enableIpv6: true,
  });
  assert.deepEqual(v6.map((w) => `${w.key}=${w.value}`), [
    "net/ipv4/conf/eth0/rp_filter=2",
    "net/ipv4/tcp_early_demux=0",
    "net/ipv6/conf/all/disable_ipv6=0",
    "net/ipv6/conf/all/forwarding=1",
    "net/ipv6/conf/eth0/accept_ra=2",
  ]);
  assert.equal(planNodeSysctls({ primaryInterface: "eth0", enableV6Egress: true }).length, 4);
});
