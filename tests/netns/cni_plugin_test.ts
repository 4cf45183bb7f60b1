/**
 * The real plugin end to end: `deno run` with aws-cni's exact permission flags on cni.ts,
 * inside a lab node namespace (as ipamd's node would run it), CNI_* environment and the
 * configuration on stdin, against the ipamd stub behind the real RPC server.
 */
import assert from "node:assert/strict";
import { IpamdStub } from "../lab/ipamd_stub.ts";
import { ip, ipJson, scratchNetns } from "../lab/scratch_netns.ts";

const CNI = new URL("../../cni.ts", import.meta.url).pathname;
/** The flags the Makefile's CNI_PERMS gives aws-cni (launcher and `deno compile`). */
const CNI_PERMS = ["--allow-read", "--allow-write", "--allow-net", "--allow-env", "--allow-ffi"];
const NODE_IP = "192.168.77.1";

interface Invocation {
  code: number;
  // deno-lint-ignore no-explicit-any
  out: any;
  stderr: string;
  ms: number;
}

async function plugin(
  node: string,
  command: string,
  conf: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<Invocation> {
  const started = performance.now();
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      node,
      Deno.execPath(),
      "run",
      "--quiet",
      "--no-prompt",
      ...CNI_PERMS,
      CNI,
    ],
    clearEnv: true,
    env: {
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      CNI_COMMAND: command,
      CNI_CONTAINERID: "c0ffee01",
      CNI_IFNAME: "eth0",
      CNI_PATH: "/usr/lib/cni",
      CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=sample-pod",
      ...env,
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(conf)));
  await writer.close();
  const result = await child.output();
  const text = new TextDecoder().decode(result.stdout);
  return {
    code: result.code,
    out: text === "" ? undefined : JSON.parse(text),
    stderr: new TextDecoder().decode(result.stderr),
    ms: performance.now() - started,
  };
}

async function lab(
  pool: Array<{ ip: string; deviceNumber?: number; routeTableId?: number }>,
  perPod = 1,
) {
  const s = scratchNetns(2, "tcni");
  const [node, pod] = s.names as [string, string];
  ip(node, "link", "set", "lo", "up");
  ip(node, "addr", "add", `${NODE_IP}/32`, "dev", "lo");
  ip(pod, "link", "set", "lo", "up");
  const stub = await IpamdStub.start({ pool, perPod });
  const logDir = await Deno.makeTempDir({ prefix: "tcni-log-" });
  return {
    node,
    pod,
    podPath: s.paths[1]!,
    stub,
    logFile: `${logDir}/plugin.log`,
    conf: {
      cniVersion: "1.0.0",
      name: "aws-cni",
      type: "aws-cni",
      mtu: "9001",
      ipamdSocket: stub.socketPath,
      pluginLogFile: `${logDir}/plugin.log`,
      pluginLogLevel: "DEBUG",
    },
    async [Symbol.asyncDispose]() {
      await stub[Symbol.asyncDispose]();
      s[Symbol.dispose]();
      await Deno.remove(logDir, { recursive: true });
    },
  };
}

function nodeState(node: string) {
  return {
    links: ipJson(node, "link", "show").map((l) => l.ifname).sort(),
    routes: ipJson(node, "-4", "route", "show", "table", "all")
      .filter((r) => r.table !== "local").map((r) => `${r.dst} ${r.dev ?? ""} ${r.table ?? ""}`),
    rules: ipJson(node, "-4", "rule", "show").map((r) => `${r.priority} ${r.src} ${r.dst ?? ""}`),
  };
}

function ping(ns: string, target: string): boolean {
  return new Deno.Command("ip", {
    args: ["netns", "exec", ns, "ping", "-c1", "-W1", "-q", target],
    stdout: "null",
    stderr: "null",
  }).outputSync().success;
}

Deno.test("aws-cni ADD, CHECK, DEL and a repeated DEL on a lab node", async () => {
  await using l = await lab([{ ip: "10.213.0.5" }]);
  const before = nodeState(l.node);
  const env = { CNI_NETNS: l.podPath };
  const add = await plugin(l.node, "ADD", l.conf, env);
  assert.equal(add.code, 0, JSON.stringify(add.out) + add.stderr);
  assert.deepEqual(add.out, {
    cniVersion: "1.0.0",
    interfaces: [
      { name: "enicc21c2d7785" },
      { name: "eth0", mac: "254", sandbox: l.podPath },
      { name: "dummycc21c2d7785", mac: "0", sandbox: "0" },
    ],
    ips: [{ interface: 1, address: "10.213.0.5/32" }],
    dns: {},
  });
  assert.equal(add.stderr, "", "logs went to the plugin log file");
  assert.ok(ping(l.node, "10.213.0.5"), "node -> pod");
  assert.ok(ping(l.pod, NODE_IP), "pod -> node");

  const conf = { ...l.conf, prevResult: add.out };
  const check = await plugin(l.node, "CHECK", conf, env);
  assert.equal(check.code, 0, JSON.stringify(check.out));
  assert.equal(check.out, undefined);

  ip(l.pod, "neigh", "del", "169.254.1.1", "dev", "eth0");
  const broken = await plugin(l.node, "CHECK", conf, env);
  assert.equal(broken.code, 1);
  assert.equal(broken.out.code, 100);
  assert.match(broken.out.msg, /no permanent neighbour entry for 169\.254\.1\.1/);

  const del = await plugin(l.node, "DEL", conf, env);
  assert.equal(del.code, 0, JSON.stringify(del.out));
  assert.equal(del.out, undefined);
  assert.equal(l.stub.held.size, 0);
  // Routes, rules and the veth are gone (CNI spec: DEL deletes CNI_IFNAME in CNI_NETNS).
  assert.deepEqual(nodeState(l.node), before);
  assert.deepEqual(ipJson(l.pod, "link", "show").map((x) => x.ifname), ["lo"]);

  const again = await plugin(l.node, "DEL", conf, env);
  assert.equal(again.code, 0, JSON.stringify(again.out));
  const log = await Deno.readTextFile(l.logFile);
  assert.match(log, /repeated DEL/);
});

Deno.test("aws-cni DEL with ipamd down and the pod namespace gone tears down from prevResult", async () => {
  await using l = await lab([{ ip: "10.213.0.6", deviceNumber: 2, routeTableId: 3 }]);
  const before = nodeState(l.node);
  const add = await plugin(l.node, "ADD", l.conf, { CNI_NETNS: l.podPath });
  assert.equal(add.code, 0, JSON.stringify(add.out));
  assert.deepEqual(ipJson(l.node, "-4", "rule", "show").filter((r) => r.priority === 1536), [
    { priority: 1536, src: "10.213.0.6", table: "3" },
  ]);
  await l.stub.server.close();
  ip(l.node, "link", "del", "enicc21c2d7785"); // as when the runtime deletes the pod's netns
  const del = await plugin(
    l.node,
    "DEL",
    { ...l.conf, prevResult: add.out },
    { CNI_NETNS: `${l.podPath}-gone` },
  );
  assert.equal(del.code, 0, JSON.stringify(del.out));
  assert.deepEqual(nodeState(l.node), before, "no route or rule left behind");
});

Deno.test("aws-cni ADD that fails after the assignment rolls back and releases the address", async () => {
  // A multi-NIC pod whose second interface cannot be created: the first is fully wired, then
  // everything must be undone.
  await using l = await lab([
    { ip: "10.213.0.7" },
    { ip: "10.213.1.7", deviceNumber: 1, routeTableId: 10101 },
  ], 2);
  ip(l.pod, "link", "add", "mNicIf1", "type", "veth", "peer", "name", "squatter");
  const nodeBefore = nodeState(l.node);
  const podBefore = ipJson(l.pod, "link", "show").map((x) => x.ifname).sort();
  const add = await plugin(l.node, "ADD", l.conf, { CNI_NETNS: l.podPath });
  assert.equal(add.code, 1);
  assert.equal(add.out.code, 11);
  assert.match(add.out.msg, /create veth/);
  assert.deepEqual(nodeState(l.node), nodeBefore);
  assert.deepEqual(ipJson(l.pod, "link", "show").map((x) => x.ifname).sort(), podBefore);
  assert.equal(ipJson(l.pod, "-4", "route", "show").length, 0);
  assert.deepEqual(l.stub.callsOf("ipam.del").map((p) => p.reason), ["SetupNSFailed"]);
  assert.equal(l.stub.held.size, 0, "the address went back to ipamd");
});

Deno.test("aws-cni GC releases a stale attachment and removes its node state; STATUS answers", async () => {
  await using l = await lab([{ ip: "10.213.0.8" }, { ip: "10.213.0.9" }]);
  const conf = { ...l.conf, cniVersion: "1.1.0" };
  const status = await plugin(l.node, "STATUS", conf);
  assert.equal(status.code, 0, JSON.stringify(status.out));
  const first = await plugin(l.node, "ADD", conf, { CNI_NETNS: l.podPath });
  assert.equal(first.code, 0, JSON.stringify(first.out));
  const second = await plugin(l.node, "ADD", conf, {
    CNI_NETNS: l.podPath,
    CNI_IFNAME: "eth1",
    CNI_CONTAINERID: "c0ffee02",
    CNI_ARGS: "K8S_POD_NAMESPACE=default;K8S_POD_NAME=other-pod",
  });
  assert.equal(second.code, 0, JSON.stringify(second.out));
  const gc = await plugin(l.node, "GC", {
    ...conf,
    "cni.dev/valid-attachments": [{ containerID: "c0ffee01", ifname: "eth0" }],
  });
  assert.equal(gc.code, 0, JSON.stringify(gc.out));
  const rules = ipJson(l.node, "-4", "rule", "show").filter((r) => r.priority === 512);
  assert.deepEqual(rules.map((r) => r.dst), ["10.213.0.8"], "only the valid pod's rule is left");
  const routes = ipJson(l.node, "-4", "route", "show").map((r) => r.dst);
  assert.ok(routes.includes("10.213.0.8") && !routes.includes("10.213.0.9"), routes.join(" "));
});

Deno.test("aws-cni ADD, CHECK and DEL take a /proc/<pid>/ns/net namespace path, as ctr passes", async () => {
  // Deno refuses to stat /proc/<pid>/ns/* without --allow-all; the plugin must not need it.
  await using l = await lab([{ ip: "10.213.0.10" }]);
  const holder = new Deno.Command("ip", {
    args: ["netns", "exec", l.pod, "sleep", "60"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const env = { CNI_NETNS: `/proc/${holder.pid}/ns/net` };
    const add = await plugin(l.node, "ADD", l.conf, env);
    assert.equal(add.code, 0, JSON.stringify(add.out));
    assert.deepEqual(add.out.ips, [{ interface: 1, address: "10.213.0.10/32" }]);
    const conf = { ...l.conf, prevResult: add.out };
    const check = await plugin(l.node, "CHECK", conf, env);
    assert.equal(check.code, 0, JSON.stringify(check.out));
    const del = await plugin(l.node, "DEL", conf, env);
    assert.equal(del.code, 0, JSON.stringify(del.out));
    assert.deepEqual(ipJson(l.pod, "link", "show").map((x) => x.ifname), ["lo"]);
    const gone = await plugin(l.node, "ADD", l.conf, { CNI_NETNS: "/proc/999999999/ns/net" });
    assert.equal(gone.out.code, 3, JSON.stringify(gone.out));
  } finally {
    holder.kill("SIGKILL");
    await holder.status;
  }
});
