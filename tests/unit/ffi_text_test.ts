import assert from "node:assert/strict";
import { familyOf, formatIPv6 } from "../../ffi/addr.ts";
import { sysctlPath } from "../../ffi/sysctl.ts";

function v6(groups: number[]): Uint8Array {
  const b = new Uint8Array(16);
  groups.forEach((g, i) => [b[2 * i], b[2 * i + 1]] = [g >> 8, g & 0xff]);
  return b;
}

Deno.test("formatIPv6() writes RFC 5952 text", () => {
  assert.equal(formatIPv6(v6([0, 0, 0, 0, 0, 0, 0, 1])), "::1");
  assert.equal(formatIPv6(v6([0, 0, 0, 0, 0, 0, 0, 0])), "::");
  assert.equal(formatIPv6(v6([0xfd00, 0x20, 0, 0, 0, 0, 0, 1])), "fd00:20::1");
  assert.equal(
    formatIPv6(v6([0xfe80, 0, 0, 0, 0xcca8, 0xd5ff, 0xfec7, 0x8bad])),
    "fe80::cca8:d5ff:fec7:8bad",
  );
  // A single zero group is not compressed; the first of two equal runs is.
  assert.equal(formatIPv6(v6([1, 0, 2, 3, 4, 5, 6, 7])), "1:0:2:3:4:5:6:7");
  assert.equal(formatIPv6(v6([1, 0, 0, 2, 0, 0, 3, 4])), "1::2:0:0:3:4");
  assert.equal(formatIPv6(v6([1, 0, 0, 2, 0, 0, 0, 4])), "1:0:0:2::4");
  assert.equal(formatIPv6(v6([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001])), "::ffff:10.0.0.1");
});

Deno.test("familyOf() tells families apart by spelling; default has none", () => {
  assert.equal(familyOf("10.0.0.1/32"), 4);
  assert.equal(familyOf("fd00::1"), 6);
  assert.equal(familyOf("default"), undefined);
});

Deno.test("sysctlPath() accepts dotted and slashed keys and refuses escapes", () => {
  assert.equal(sysctlPath("net.ipv4.ip_forward"), "/proc/sys/net/ipv4/ip_forward");
  assert.equal(
    sysctlPath("net/ipv4/conf/eth0.5/rp_filter"),
    "/proc/sys/net/ipv4/conf/eth0.5/rp_filter",
  );
  for (const bad of ["", "/etc/passwd", "net/../../etc", "net//x"]) {
    assert.throws(() => sysctlPath(bad), TypeError, bad);
  }
});
