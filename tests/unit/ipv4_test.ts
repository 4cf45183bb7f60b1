import assert from "node:assert/strict";
import {
  cidrContains,
  cidrSize,
  formatCidr,
  formatIpv4,
  maskOf,
  parseCidr,
  parseIpv4,
} from "../../src/ipv4.ts";

Deno.test("parseIpv4() accepts dotted quads only, as Go's net.ParseIP does for IPv4", () => {
  assert.equal(parseIpv4("10.0.0.5"), 0x0a000005);
  assert.equal(parseIpv4("255.255.255.255"), 0xffffffff);
  for (const bad of ["10.0.0", "10.0.0.256", "010.0.0.1", " 10.0.0.1", "10.0.0.1/32", "::1", ""]) {
    assert.equal(parseIpv4(bad), undefined, bad);
  }
});

Deno.test("formatIpv4() inverts parseIpv4()", () => {
  for (const ip of ["0.0.0.0", "10.0.0.5", "192.168.255.1", "255.255.255.255"]) {
    assert.equal(formatIpv4(parseIpv4(ip)!), ip);
  }
});

Deno.test("parseCidr() normalises to the network, like Go's net.ParseCIDR", () => {
  assert.equal(formatCidr(parseCidr("10.1.2.3/16")!), "10.1.0.0/16");
  assert.equal(formatCidr(parseCidr("0.0.0.0/0")!), "0.0.0.0/0");
  assert.equal(formatCidr(parseCidr("10.0.0.20/28")!), "10.0.0.16/28");
  for (const bad of ["10.0.0.0", "10.0.0.0/33", "10.0.0.0/08", "10.0.0.0/", "fe80::/10"]) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
});

Deno.test("cidrContains(), cidrSize() and maskOf() agree on /0, /28 and /32", () => {
  const prefix = parseCidr("10.0.0.16/28")!;
  assert.equal(cidrSize(prefix), 16);
  assert.ok(cidrContains(prefix, parseIpv4("10.0.0.16")!));
  assert.ok(cidrContains(prefix, parseIpv4("10.0.0.31")!));
  assert.ok(!cidrContains(prefix, parseIpv4("10.0.0.32")!));
  assert.ok(cidrContains(parseCidr("0.0.0.0/0")!, parseIpv4("203.0.113.9")!));
  assert.equal(cidrSize(parseCidr("10.0.0.5/32")!), 1);
  assert.deepEqual([maskOf(0), maskOf(24), maskOf(32)], [0, 0xffffff00, 0xffffffff]);
});
