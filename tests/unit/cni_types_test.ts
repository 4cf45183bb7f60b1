import assert from "node:assert/strict";
import {
  type CniResult,
  compareVersions,
  convertResult,
  parseCniArgs,
  parseNetConf,
  parsePrevResult,
  podMtu,
} from "../../src/cni/types.ts";
import { ConfigError, EnvError } from "../../src/cni/errors.ts";

/** The upstream example of §4.6, in our 1.1.0 form, plus fields only 1.1.0 knows. */
const RESULT: CniResult = {
  cniVersion: "1.1.0",
  interfaces: [
    { name: "enib5faff8a083" },
    { name: "eth0", mac: "254", sandbox: "/var/run/netns/pod", mtu: 9001 },
    { name: "dummyb5faff8a083", mac: "0", sandbox: "0" },
  ],
  ips: [{ address: "192.168.9.106/32", interface: 1 }],
  routes: [{ dst: "0.0.0.0/0", gw: "169.254.1.1", table: 254, mtu: 9001 }],
  dns: {},
};

Deno.test("convertResult() to 0.4.0 matches upstream's example, with ip versions", () => {
  assert.deepEqual(convertResult({ ...RESULT, routes: undefined }, "0.4.0"), {
    cniVersion: "0.4.0",
    interfaces: [
      { name: "enib5faff8a083" },
      { name: "eth0", mac: "254", sandbox: "/var/run/netns/pod" },
      { name: "dummyb5faff8a083", mac: "0", sandbox: "0" },
    ],
    ips: [{ version: "4", interface: 1, address: "192.168.9.106/32" }],
    dns: {},
  });
  // Same key order as libcni's Go structs, so the JSON text reads like upstream's.
  assert.equal(
    JSON.stringify(convertResult({ ...RESULT, routes: undefined }, "0.4.0")),
    '{"cniVersion":"0.4.0","interfaces":[{"name":"enib5faff8a083"},' +
      '{"name":"eth0","mac":"254","sandbox":"/var/run/netns/pod"},' +
      '{"name":"dummyb5faff8a083","mac":"0","sandbox":"0"}],' +
      '"ips":[{"version":"4","interface":1,"address":"192.168.9.106/32"}],"dns":{}}',
  );
});

Deno.test("convertResult() keeps 1.1.0-only fields for 1.1.0 and drops them for 1.0.0", () => {
  const current = convertResult(RESULT, "1.1.0");
  assert.deepEqual((current.interfaces as unknown[])[1], {
    name: "eth0",
    mac: "254",
    mtu: 9001,
    sandbox: "/var/run/netns/pod",
  });
  assert.deepEqual(current.routes, [{
    dst: "0.0.0.0/0",
    gw: "169.254.1.1",
    mtu: 9001,
    table: 254,
  }]);
  assert.deepEqual(current.ips, [{ interface: 1, address: "192.168.9.106/32" }]);
  const v1 = convertResult(RESULT, "1.0.0");
  assert.equal(v1.cniVersion, "1.0.0");
  assert.deepEqual((v1.interfaces as unknown[])[1], {
    name: "eth0",
    mac: "254",
    sandbox: "/var/run/netns/pod",
  });
  assert.deepEqual(v1.routes, [{ dst: "0.0.0.0/0", gw: "169.254.1.1" }]);
  assert.deepEqual(
    v1.ips,
    [{ interface: 1, address: "192.168.9.106/32" }],
    "no ip version in 1.0.0",
  );
});

Deno.test("convertResult() to 0.3.0 and 0.3.1 has the 0.4.0 shape with the asked version", () => {
  for (const version of ["0.3.0", "0.3.1"]) {
    const out = convertResult(RESULT, version);
    assert.equal(out.cniVersion, version);
    assert.deepEqual(out.ips, [{ version: "4", interface: 1, address: "192.168.9.106/32" }]);
    assert.deepEqual(out.routes, [{ dst: "0.0.0.0/0", gw: "169.254.1.1" }]);
  }
  const v6 = convertResult({ cniVersion: "1.1.0", ips: [{ address: "fd00::5/128" }] }, "0.3.1");
  assert.deepEqual(v6.ips, [{ version: "6", address: "fd00::5/128" }]);
});

Deno.test("convertResult() to 0.2.0 and 0.1.0 keeps the first address of each family", () => {
  const two: CniResult = {
    cniVersion: "1.1.0",
    ips: [
      { address: "10.0.0.5/32", gateway: "169.254.1.1", interface: 1 },
      { address: "10.0.0.6/32" },
      { address: "fd00::5/128" },
    ],
    routes: [{ dst: "0.0.0.0/0", gw: "169.254.1.1" }, { dst: "::/0" }],
    dns: { nameservers: ["10.0.0.2"] },
  };
  for (const version of ["0.1.0", "0.2.0"]) {
    assert.deepEqual(convertResult(two, version), {
      cniVersion: version,
      ip4: {
        ip: "10.0.0.5/32",
        gateway: "169.254.1.1",
        routes: [{ dst: "0.0.0.0/0", gw: "169.254.1.1" }],
      },
      ip6: { ip: "fd00::5/128", routes: [{ dst: "::/0" }] },
      dns: { nameservers: ["10.0.0.2"] },
    });
  }
  assert.throws(() => convertResult({ cniVersion: "1.1.0" }, "0.2.0"), ConfigError);
});

Deno.test("parsePrevResult() reads results of 0.4.0, 1.0.0 and legacy shapes", () => {
  const v040 = parsePrevResult(convertResult(RESULT, "0.4.0"));
  assert.deepEqual(v040?.ips, [{ address: "192.168.9.106/32", interface: 1 }]);
  assert.deepEqual(v040?.interfaces?.[2], { name: "dummyb5faff8a083", mac: "0", sandbox: "0" });
  assert.deepEqual(parsePrevResult({ cniVersion: "0.2.0", ip4: { ip: "10.1.1.1/32" } })?.ips, [
    { address: "10.1.1.1/32" },
  ]);
  assert.equal(parsePrevResult("nonsense"), undefined);
  assert.deepEqual(parsePrevResult({ interfaces: [3, { name: "x" }], ips: [{}] }), {
    cniVersion: "",
    interfaces: [{ name: "x" }],
    ips: [],
  });
});

Deno.test("compareVersions() orders spec versions numerically", () => {
  assert.equal(compareVersions("0.4.0", "0.3.1"), 1);
  assert.equal(compareVersions("1.0.0", "1.1.0"), -1);
  assert.equal(compareVersions("1.1.0", "1.1.0"), 0);
  assert.equal(compareVersions("0.10.0", "0.9.0"), 1);
});

Deno.test("parseNetConf() reads upstream's fields with upstream's defaults", () => {
  const conf = parseNetConf(JSON.stringify({
    cniVersion: "0.4.0",
    name: "aws-cni",
    type: "aws-cni",
    mtu: "1500",
    pluginLogFile: "/tmp/x/plugin.log",
    pluginLogLevel: "DEBUG",
    runtimeConfig: {
      "io.kubernetes.cri.pod-annotations": { "k8s.amazonaws.com/nicConfig": "x", n: 1 },
    },
  }));
  assert.equal(conf.vethPrefix, "eni");
  assert.equal(conf.mtu, 1500);
  assert.equal(conf.podSGEnforcingMode, "strict");
  assert.equal(conf.pluginLogLevel, "debug");
  assert.equal(conf.pluginLogFile, "/tmp/x/plugin.log");
  assert.equal(conf.ipamdSocket, "/var/run/aws-node/ipamd.sock");
  assert.equal(conf.addWaitMs, undefined, "unset: ipamd applies its own POD_IP_WAIT_SECONDS");
  assert.deepEqual(conf.podAnnotations, { "k8s.amazonaws.com/nicConfig": "x" });
  const minimal = parseNetConf('{"name":"n"}');
  assert.equal(minimal.cniVersion, "0.1.0", "no cniVersion means 0.1.0, like libcni");
  assert.equal(minimal.pluginLogFile, undefined, "no file: stderr");
  assert.equal(parseNetConf('{"name":"n","pluginLogFile":"stdout"}').pluginLogFile, undefined);
});

Deno.test("parseNetConf() rejects bad input with the right problem and field", () => {
  const cases: Array<[string, string, string | undefined]> = [
    ["{", "decode", undefined],
    ["[]", "decode", undefined],
    ['{"cniVersion":"1.0.0"}', "invalid", "name"],
    ['{"name":"bad name"}', "invalid", "name"],
    ['{"name":"n","cniVersion":"2.0.0"}', "version", "cniVersion"],
    ['{"name":"n","cniVersion":1}', "decode", "cniVersion"],
    ['{"name":"n","vethPrefix":"toolong"}', "invalid", "vethPrefix"],
    ['{"name":"n","podSGEnforcingMode":"lax"}', "invalid", "podSGEnforcingMode"],
    ['{"name":"n","ipamdSocket":"relative.sock"}', "invalid", "ipamdSocket"],
    ['{"name":"n","addWaitMs":-1}', "invalid", "addWaitMs"],
    ['{"name":"n","cni.dev/valid-attachments":{}}', "decode", "cni.dev/valid-attachments"],
    ['{"name":"n","cni.dev/valid-attachments":[{"id":1}]}', "decode", "cni.dev/valid-attachments"],
  ];
  for (const [text, problem, field] of cases) {
    assert.throws(
      () => parseNetConf(text),
      (e) => e instanceof ConfigError && e.problem === problem && e.field === field,
      text,
    );
  }
});

Deno.test("parseNetConf() reads GC's valid attachments under both names libcni sends", () => {
  const list = [{ containerID: "c1", ifname: "eth0" }];
  for (const key of ["cni.dev/valid-attachments", "cni.dev/attachments"]) {
    const conf = parseNetConf(JSON.stringify({ name: "n", cniVersion: "1.1.0", [key]: list }));
    assert.deepEqual(conf.validAttachments, [{ containerId: "c1", ifName: "eth0" }]);
  }
});

Deno.test("podMtu() falls back to 9001 outside 576-9001 like upstream's GetPodMTU", () => {
  assert.equal(podMtu("9001").value, 9001);
  assert.equal(podMtu("576").value, 576);
  assert.equal(podMtu(1500).value, 1500);
  for (const bad of ["575", "9002", "abc", "1500.5", " 1500"]) {
    const mtu = podMtu(bad);
    assert.equal(mtu.value, 9001, bad);
    assert.match(mtu.problem ?? "", /using 9001/);
  }
});

Deno.test("parseCniArgs() reads the K8S_* keys and ignores others", () => {
  assert.deepEqual(
    parseCniArgs(
      "IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-x;" +
        "K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1;OTHER=z",
    ),
    {
      podName: "coredns-x",
      podNamespace: "kube-system",
      podInfraContainerId: "abc",
      podUid: "u-1",
    },
  );
  assert.throws(
    () => parseCniArgs("K8S_POD_NAME"),
    (e) => e instanceof EnvError && e.variables[0] === "CNI_ARGS",
  );
});
