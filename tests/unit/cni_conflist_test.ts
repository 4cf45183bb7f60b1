import assert from "node:assert/strict";
import { installConflist, renderConflist } from "../../src/cni/conflist.ts";
import { parseNetConf } from "../../src/cni/types.ts";

Deno.test("renderConflist() renders upstream's conflist with our socket and log fields", () => {
  const list = JSON.parse(renderConflist());
  assert.deepEqual(list, {
    cniVersion: "0.4.0",
    name: "aws-cni",
    disableCheck: true,
    plugins: [
      {
        name: "aws-cni",
        type: "aws-cni",
        vethPrefix: "eni",
        mtu: "9001",
        podSGEnforcingMode: "strict",
        pluginLogFile: "/var/log/aws-routed-eni/plugin.log",
        pluginLogLevel: "DEBUG",
        ipamdSocket: "/var/run/aws-node/ipamd.sock",
        capabilities: { "io.kubernetes.cri.pod-annotations": true },
      },
      { type: "portmap", capabilities: { portMappings: true }, snat: true },
    ],
  });
});

Deno.test("renderConflist() chains bandwidth and tuning when enabled, in upstream's order", () => {
  const list = JSON.parse(renderConflist({
    bandwidth: true,
    disablePodV6: true,
    ipamdSocket: "/run/lab/node1/ipamd.sock",
    pluginLogFile: "/run/lab/node1/plugin.log",
    addWaitMs: 5000,
    mtu: 1500,
  }));
  assert.deepEqual(list.plugins.map((p: { type: string }) => p.type), [
    "aws-cni",
    "portmap",
    "bandwidth",
    "tuning",
  ]);
  assert.deepEqual(list.plugins[2], { type: "bandwidth", capabilities: { bandwidth: true } });
  assert.equal(list.plugins[3].sysctl["net.ipv6.conf.all.disable_ipv6"], "1");
  // What aws-cni reads back from its entry of the list.
  const conf = parseNetConf(JSON.stringify({ ...list.plugins[0], cniVersion: list.cniVersion }));
  assert.equal(conf.ipamdSocket, "/run/lab/node1/ipamd.sock");
  assert.equal(conf.pluginLogFile, "/run/lab/node1/plugin.log");
  assert.equal(conf.addWaitMs, 5000);
  assert.equal(conf.mtu, 1500);
});

Deno.test("renderConflist() refuses values aws-cni or upstream's entrypoint would refuse", () => {
  for (
    const bad of [
      { vethPrefix: "toolong" },
      { vethPrefix: "eth" },
      { vethPrefix: "vlan" },
      { mtu: 575 },
      { mtu: 9002 },
      { pluginLogFile: "stdout" },
      { ipamdSocket: "ipamd.sock" },
      { cniVersion: "2.0.0" },
      { name: "has space" },
    ]
  ) {
    assert.throws(() => renderConflist(bad), RangeError, JSON.stringify(bad));
  }
});

Deno.test("installConflist() writes atomically and leaves no temporary file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcni-conf-" });
  try {
    const path = await installConflist(`${dir}/net.d`, renderConflist());
    assert.equal(path, `${dir}/net.d/10-aws.conflist`);
    await installConflist(`${dir}/net.d`, renderConflist({ mtu: 1500 }));
    const names = [];
    for await (const e of Deno.readDir(`${dir}/net.d`)) names.push(e.name);
    assert.deepEqual(names, ["10-aws.conflist"]);
    assert.equal(JSON.parse(await Deno.readTextFile(path)).plugins[0].mtu, "1500");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o644);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
