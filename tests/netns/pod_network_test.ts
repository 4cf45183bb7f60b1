/**
 * Pod wiring against the real kernel: a lab "node" namespace and a "pod" namespace, checked
 * with `ip -j` as the witness and with bounded pings (inside the lab only).
 */
import assert from "node:assert/strict";
import { Netlink } from "../../ffi/mod.ts";
import { PodNetworkError } from "../../src/cni/errors.ts";
import {
  inspectPodInterface,
  type PodInterfaceSpec,
  randomMac,
  removePodInterface,
  teardownBranchHost,
  teardownHost,
  wirePodInterface,
} from "../../src/cni/pod_network.ts";
import { ip, ipJson, run, scratchNetns } from "../lab/scratch_netns.ts";

const NODE_IP = "192.168.77.1";

interface Lab extends Disposable {
  node: string;
  pod: string;
  spec: PodInterfaceSpec;
}

/** A node namespace (with an address on lo to ping from) and an empty pod namespace. */
function lab(overrides: Partial<PodInterfaceSpec> = {}): Lab {
  const s = scratchNetns(2, "tcni");
  const [node, pod] = s.names as [string, string];
  ip(node, "link", "set", "lo", "up");
  ip(node, "addr", "add", `${NODE_IP}/32`, "dev", "lo");
  ip(pod, "link", "set", "lo", "up");
  return {
    node,
    pod,
    spec: {
      podNetns: s.paths[1]!,
      hostNetns: s.paths[0]!,
      hostVeth: "enitcni0000001",
      containerIf: "eth0",
      ip: "10.213.0.5",
      index: 0,
      routeTableId: 254,
      mtu: 9001,
      ...overrides,
    },
    [Symbol.dispose]: () => s[Symbol.dispose](),
  };
}

function sysctl(ns: string, key: string): string {
  return run("ip", ["netns", "exec", ns, "cat", `/proc/sys/${key}`]).trim();
}

function ping(ns: string, target: string): boolean {
  const out = new Deno.Command("ip", {
    args: ["netns", "exec", ns, "ping", "-c1", "-W1", "-q", target],
    stdout: "null",
    stderr: "null",
  }).outputSync();
  return out.success;
}

/** What pod wiring may leave in the node namespace: routes, rules and links. */
function nodeState(node: string) {
  return {
    links: ipJson(node, "link", "show").map((l) => l.ifname).sort(),
    routes: ipJson(node, "-4", "route", "show", "table", "all")
      .filter((r) => r.table !== "local").map((r) => `${r.dst} ${r.dev ?? ""} ${r.table ?? ""}`),
    rules: ipJson(node, "-4", "rule", "show").map((r) => `${r.priority} ${r.src} ${r.dst ?? ""}`),
  };
}

function podLinks(pod: string): string[] {
  return ipJson(pod, "link", "show").map((l) => l.ifname).sort();
}

Deno.test("wirePodInterface() wires pod and node exactly like upstream, and they ping", () => {
  using l = lab();
  const before = nodeState(l.node);
  const wired = wirePodInterface(l.spec);

  // Node side.
  const [veth] = ipJson(l.node, "link", "show", "dev", l.spec.hostVeth);
  assert.equal(veth.mtu, 9001);
  assert.ok(veth.flags.includes("UP"));
  assert.equal(veth.address, wired.hostVethMac);
  const firstByte = parseInt(wired.hostVethMac.slice(0, 2), 16);
  assert.equal(firstByte & 0x03, 0x02, "locally administered unicast MAC");
  const routes = ipJson(l.node, "-4", "route", "show", "table", "main");
  assert.deepEqual(routes.find((r) => r.dst === "10.213.0.5"), {
    dst: "10.213.0.5",
    dev: l.spec.hostVeth,
    scope: "link",
    flags: [],
  });
  const rules = ipJson(l.node, "-4", "rule", "show");
  assert.deepEqual(rules.filter((r) => r.priority === 512), [
    { priority: 512, src: "all", dst: "10.213.0.5", table: "main" },
  ]);
  assert.equal(rules.some((r) => r.priority === 1536), false, "primary ENI: no 1536 rule");
  const conf = `net/ipv6/conf/${l.spec.hostVeth}`;
  assert.deepEqual(
    [sysctl(l.node, `${conf}/accept_ra`), sysctl(l.node, `${conf}/accept_redirects`)],
    ["0", "1"],
  );
  assert.equal(sysctl(l.node, `${conf}/forwarding`), "0");

  // Pod side.
  const [eth0] = ipJson(l.pod, "addr", "show", "dev", "eth0");
  assert.equal(eth0.mtu, 9001);
  assert.ok(eth0.flags.includes("UP"));
  assert.equal(eth0.address, wired.containerMac);
  assert.deepEqual(
    eth0.addr_info.filter((a: { family: string }) => a.family === "inet")
      .map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`),
    ["10.213.0.5/32"],
  );
  const podRoutes = ipJson(l.pod, "-4", "route", "show").map((r) =>
    `${r.dst} ${r.gateway ?? "-"} ${r.dev} ${r.scope ?? "global"}`
  );
  assert.deepEqual(podRoutes.sort(), [
    "169.254.1.1 - eth0 link",
    "default 169.254.1.1 eth0 global",
  ]);
  assert.deepEqual(ipJson(l.pod, "neigh", "show", "dev", "eth0"), [
    { dst: "169.254.1.1", lladdr: wired.hostVethMac, state: ["PERMANENT"] },
  ]);

  assert.deepEqual(inspectPodInterface(l.spec), [], "CHECK finds nothing wrong");
  assert.ok(ping(l.node, "10.213.0.5"), "node -> pod");
  assert.ok(ping(l.pod, NODE_IP), "pod -> node");

  teardownHost({ ip: l.spec.ip, routeTableId: 254, hostNetns: l.spec.hostNetns });
  removePodInterface(l.spec);
  assert.deepEqual(nodeState(l.node), before, "teardown leaves the node as it was");
  assert.deepEqual(podLinks(l.pod), ["lo"]);
});

Deno.test("wirePodInterface() adds the 1536 rule for a secondary ENI table and honours MTU", () => {
  using l = lab({ routeTableId: 3, mtu: 1500, ip: "10.213.0.6" });
  wirePodInterface(l.spec);
  const rules = ipJson(l.node, "-4", "rule", "show");
  assert.deepEqual(rules.filter((r) => r.priority === 1536), [
    { priority: 1536, src: "10.213.0.6", table: "3" },
  ]);
  assert.equal(ipJson(l.node, "link", "show", "dev", l.spec.hostVeth)[0].mtu, 1500);
  assert.equal(ipJson(l.pod, "link", "show", "dev", "eth0")[0].mtu, 1500);
  assert.deepEqual(inspectPodInterface(l.spec), []);

  assert.equal(
    teardownHost({ ip: l.spec.ip, routeTableId: 3, hostNetns: l.spec.hostNetns }),
    "removed",
  );
  const after = ipJson(l.node, "-4", "rule", "show").map((r) => r.priority);
  assert.deepEqual(after, [0, 32766, 32767]);
  assert.equal(
    ipJson(l.node, "-4", "route", "show", "table", "main").some((r) => r.dst === "10.213.0.6"),
    false,
  );
  // Idempotent: a second teardown finds nothing and does not fail.
  assert.equal(
    teardownHost({ ip: l.spec.ip, routeTableId: 3, hostNetns: l.spec.hostNetns }),
    "removed",
  );
});

Deno.test("wirePodInterface() for interface 1 uses gateway .2, pod table 1 and rule prio 1", () => {
  using l = lab({ index: 1, containerIf: "mNicIf1", routeTableId: 10101, ip: "10.213.1.7" });
  wirePodInterface(l.spec);
  const rules = ipJson(l.pod, "-4", "rule", "show").filter((r) => r.priority === 1);
  assert.deepEqual(rules, [{ priority: 1, src: "10.213.1.7", table: "1" }]);
  const routes = ipJson(l.pod, "-4", "route", "show", "table", "1").map((r) =>
    `${r.dst} ${r.gateway ?? "-"} ${r.dev}`
  );
  assert.deepEqual(routes.sort(), ["169.254.1.2 - mNicIf1", "default 169.254.1.2 mNicIf1"]);
  assert.equal(ipJson(l.pod, "-4", "route", "show", "table", "main").length, 0);
  assert.deepEqual(inspectPodInterface(l.spec), []);
});

Deno.test("wirePodInterface() rolls back completely when any step fails", () => {
  using l = lab();
  const before = nodeState(l.node);
  const steps: string[] = [];
  wirePodInterface(l.spec, { onStep: (s) => steps.push(s) });
  removePodInterface(l.spec);
  assert.deepEqual(nodeState(l.node), before);
  assert.ok(steps.length >= 12, `steps: ${steps.join(" | ")}`);
  for (const failing of steps) {
    assert.throws(
      () =>
        wirePodInterface(l.spec, {
          onStep: (s) => {
            if (s === failing) throw new Error(`injected failure after "${s}"`);
          },
        }),
      /injected failure/,
      `no failure surfaced for "${failing}"`,
    );
    assert.deepEqual(nodeState(l.node), before, `node clean after a failure at "${failing}"`);
    assert.deepEqual(podLinks(l.pod), ["lo"], `pod clean after a failure at "${failing}"`);
  }
});

Deno.test("wirePodInterface() fails with a typed error when the pod already has the interface", () => {
  using l = lab();
  ip(l.pod, "link", "add", "eth0", "type", "veth", "peer", "name", "other0");
  const before = nodeState(l.node);
  assert.throws(
    () => wirePodInterface(l.spec),
    (e) => e instanceof PodNetworkError && /create veth/.test(e.step) && e.errno === "EEXIST",
  );
  assert.deepEqual(nodeState(l.node), before);
});

Deno.test("wirePodInterface() replaces a stale host veth of the same name", () => {
  using l = lab();
  ip(l.node, "link", "add", l.spec.hostVeth, "type", "veth", "peer", "name", "stale0");
  wirePodInterface(l.spec);
  assert.equal(ipJson(l.node, "link", "show").some((x) => x.ifname === "stale0"), false);
  assert.deepEqual(inspectPodInterface(l.spec), []);
});

Deno.test("inspectPodInterface() names each thing that is missing", () => {
  using l = lab({ routeTableId: 2 });
  wirePodInterface(l.spec);
  ip(l.pod, "neigh", "del", "169.254.1.1", "dev", "eth0");
  ip(l.node, "rule", "del", "prio", "512");
  ip(l.node, "rule", "del", "prio", "1536");
  ip(l.pod, "route", "del", "default");
  const problems = inspectPodInterface(l.spec);
  assert.deepEqual(problems, [
    'node: rule "to 10.213.0.5/32 lookup main prio 512" missing',
    'node: rule "from 10.213.0.5/32 lookup 2 prio 1536" missing',
    "pod: no default route via 169.254.1.1 on eth0",
    "pod: no permanent neighbour entry for 169.254.1.1",
  ]);
  ip(l.node, "link", "set", l.spec.hostVeth, "down");
  ip(l.pod, "addr", "flush", "dev", "eth0");
  const more = inspectPodInterface(l.spec);
  assert.ok(more.includes(`node: host veth ${l.spec.hostVeth} is down`), more.join("\n"));
  assert.ok(more.some((p) => p.startsWith("pod: eth0 lacks 10.213.0.5/32")), more.join("\n"));
});

Deno.test("teardownHost() leaves an address alone that another pod's veth now routes", () => {
  using l = lab();
  wirePodInterface(l.spec);
  const outcome = teardownHost({
    ip: l.spec.ip,
    routeTableId: 254,
    hostNetns: l.spec.hostNetns,
    onlyIfHostVeth: "eniolderpod001",
  });
  assert.equal(outcome, "foreign");
  assert.deepEqual(inspectPodInterface(l.spec), [], "the current pod is untouched");
  const ours = teardownHost({
    ip: l.spec.ip,
    routeTableId: 254,
    hostNetns: l.spec.hostNetns,
    onlyIfHostVeth: l.spec.hostVeth,
  });
  assert.equal(ours, "removed");
  assert.equal(ipJson(l.node, "-4", "rule", "show").some((r) => r.priority === 512), false);
});

Deno.test("teardownBranchHost() removes the VLAN link, prio-10 rules and the pod's host state", () => {
  using l = lab();
  // The kernel here has no 802.1Q: a veth named like upstream's VLAN link stands in for it.
  ip(l.node, "link", "add", "vlan.eth.7", "type", "veth", "peer", "name", "vlanpeer7");
  ip(l.node, "rule", "add", "iif", "vlan.eth.7", "lookup", "107", "prio", "10");
  ip(l.node, "rule", "add", "iif", "enibranch0001", "lookup", "107", "prio", "10");
  ip(l.node, "rule", "add", "to", "10.213.0.9/32", "lookup", "main", "prio", "512");
  ip(l.node, "rule", "add", "from", "10.213.0.9/32", "lookup", "107", "prio", "1536");
  teardownBranchHost({ vlanId: 7, ip: "10.213.0.9", hostNetns: l.spec.hostNetns });
  assert.deepEqual(ipJson(l.node, "-4", "rule", "show").map((r) => r.priority), [0, 32766, 32767]);
  assert.equal(ipJson(l.node, "link", "show").some((x) => x.ifname === "vlan.eth.7"), false);
});

Deno.test("randomMac() never returns a MAC a node link already has", () => {
  using nl = Netlink.open();
  const taken = nl.links().map((link) => ({ mac: link.mac }));
  for (let i = 0; i < 200; i++) {
    const mac = randomMac(taken);
    assert.match(mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    assert.equal(parseInt(mac.slice(0, 2), 16) & 0x03, 0x02);
    assert.ok(!taken.some((t) => t.mac === mac));
  }
});
