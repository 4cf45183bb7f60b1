import assert from "node:assert/strict";
import { Netlink, processStartTime } from "../../ffi/mod.ts";
import {
  assertNotHostNetns,
  EC2_ADDRESS,
  HostNamespaceError,
  IMDS_ADDRESS,
  INTERNET_ADDRESS,
  Lab,
  type LabNode,
} from "../../src/sim/lab.ts";
import { ip, ipJson, run } from "../lab/scratch_netns.ts";

const NODE1 = { primaryIp: "10.10.0.11", mac: "02:10:00:00:00:11" };
const NODE2 = { primaryIp: "10.10.0.12", mac: "02:10:00:00:00:12" };
const ENI1 = { mac: "02:10:00:00:01:11", primaryIp: "10.10.0.20" };

function twoNodeLab(): { lab: Lab; n1: LabNode; n2: LabNode; r: string } {
  const lab = Lab.create({ prefix: "tffi" });
  try {
    const r = lab.addRouter().netns;
    const common = { prefixLen: 20, gateway: "10.10.0.1" };
    const n1 = lab.addNode({ name: "node-1", ...NODE1, ...common });
    const n2 = lab.addNode({ name: "node-2", ...NODE2, ...common });
    return { lab, n1, n2, r };
  } catch (e) {
    lab.destroy();
    throw e;
  }
}

/** Bounded ping inside a lab namespace (never from the host). */
function ping(ns: string, target: string): boolean {
  const out = new Deno.Command("ip", {
    args: ["netns", "exec", ns, "ping", "-c", "2", "-i", "0.2", "-W", "1", "-q", target],
    stdout: "null",
    stderr: "null",
  }).outputSync();
  return out.success;
}

function sysctlIn(ns: string, key: string): string {
  return run("ip", ["netns", "exec", ns, "sysctl", "-n", key]).trim();
}

function routeGet(ns: string, target: string): string {
  const out = new Deno.Command("ip", { args: ["-n", ns, "route", "get", target] }).outputSync();
  return new TextDecoder().decode(out.success ? out.stdout : out.stderr);
}

Deno.test("lab: router and two nodes are wired as in the contract and reach each other", () => {
  const { lab, n1, n2, r } = twoNodeLab();
  try {
    assert.equal(n1.netns, `tffi-${lab.id}-n1`);
    assert.equal(r, `tffi-${lab.id}-r`);
    const [eth0] = ipJson(n1.netns, "-d", "addr", "show", "eth0");
    assert.equal(eth0.address, NODE1.mac);
    assert.equal(eth0.mtu, 9001);
    assert.ok(eth0.flags.includes("UP"));
    assert.deepEqual(
      eth0.addr_info.filter((a: { family: string }) => a.family === "inet").map((
        a: { local: string; prefixlen: number },
      ) => `${a.local}/${a.prefixlen}`),
      ["10.10.0.11/20"],
    );
    assert.equal(ipJson(n1.netns, "route", "show", "default")[0].gateway, "10.10.0.1");
    assert.deepEqual(ipJson(n1.netns, "link", "show").map((l) => l.ifname).sort(), ["eth0", "lo"]);

    const [peer] = ipJson(r, "addr", "show", "n1d0");
    assert.equal(peer.mtu, 9001);
    assert.ok(peer.flags.includes("UP"));
    const v4 = (info: { family: string; local: string }[]) =>
      info.filter((a) => a.family === "inet").map((a) => a.local);
    assert.deepEqual(v4(peer.addr_info), ["10.10.0.1"]);
    assert.equal(ip(r, "route", "show", "10.10.0.11/32").trim(), "10.10.0.11 dev n1d0 scope link");
    assert.match(
      ip(r, "neigh", "show", "dev", "n1d0"),
      /10\.10\.0\.11 lladdr 02:10:00:00:00:11 PERMANENT/,
    );
    assert.equal(
      ip(r, "route", "show", "10.10.0.0/20").trim(),
      "",
      "gateway /32 added a prefix route",
    );
    const lo = ipJson(r, "addr", "show", "lo")[0].addr_info.map((a: { local: string }) => a.local);
    for (const a of [IMDS_ADDRESS, EC2_ADDRESS, INTERNET_ADDRESS]) assert.ok(lo.includes(a), a);
    assert.equal(sysctlIn(r, "net.ipv4.ip_forward"), "1");
    assert.equal(sysctlIn(r, "net.ipv4.conf.all.rp_filter"), "0");
    assert.equal(sysctlIn(r, "net.ipv4.conf.n2d0.proxy_arp"), "1");
    assert.equal(sysctlIn(r, "net.ipv4.conf.n2d0.rp_filter"), "0");

    assert.ok(ping(n1.netns, IMDS_ADDRESS), "node 1 -> IMDS");
    assert.ok(ping(n1.netns, NODE2.primaryIp), "node 1 -> node 2 through the router");
    assert.ok(ping(n2.netns, INTERNET_ADDRESS), "node 2 -> internet host");
  } finally {
    lab.destroy();
  }
});

Deno.test("lab: attach, route a /32 and a /28 to an ENI, traffic, unroute, detach", () => {
  const { lab, n1, n2, r } = twoNodeLab();
  try {
    lab.attach(n1, { deviceIndex: 1, mac: ENI1.mac, gateway: "10.10.0.1" });
    const [eth1] = ipJson(n1.netns, "addr", "show", "eth1");
    assert.equal(eth1.address, ENI1.mac);
    assert.ok(!eth1.flags.includes("UP"), "eth1 must come down, ipamd brings it up");
    assert.deepEqual(eth1.addr_info, []);
    assert.deepEqual(
      ipJson(r, "addr", "show", "n1d1")[0].addr_info.map((a: { local: string }) => a.local),
      [
        "10.10.0.1",
      ],
    );
    assert.throws(() => lab.attach(n1, { deviceIndex: 1, mac: ENI1.mac, gateway: "10.10.0.1" }));

    const eni = { eniPrimaryIp: ENI1.primaryIp, mac: ENI1.mac };
    lab.route(n1, 1, `${ENI1.primaryIp}/32`, eni);
    lab.route(n1, 1, "10.10.0.50/32", eni);
    lab.route(n1, 1, "10.10.0.64/28", eni);
    lab.route(n1, 1, "10.10.0.64/28", eni); // idempotent
    assert.match(routeGet(r, "10.10.0.50"), /10\.10\.0\.50 via 10\.10\.0\.20 dev n1d1/);
    assert.match(routeGet(r, "10.10.0.70"), /10\.10\.0\.70 via 10\.10\.0\.20 dev n1d1/);
    assert.match(routeGet(r, ENI1.primaryIp), /10\.10\.0\.20 dev n1d1/);
    assert.match(
      ip(r, "neigh", "show", "dev", "n1d1"),
      /10\.10\.0\.20 lladdr 02:10:00:00:01:11 PERMANENT/,
    );
    assert.match(routeGet(r, "10.10.0.99"), /unreachable/);

    // What ipamd and the CNI would do on node 1: the ENI up with its primary IP (with
    // rp_filter on, the kernel drops packets arriving on a link without an IPv4 address),
    // addresses from the routed range on lo (standing for pods), loose reverse-path filtering.
    using nl1 = Netlink.openIn(n1.netnsPath);
    nl1.setUp("eth1");
    nl1.addAddress("eth1", `${ENI1.primaryIp}/32`, { noPrefixRoute: true });
    nl1.addAddress("lo", "10.10.0.50/32");
    nl1.addAddress("lo", "10.10.0.65/32");
    run("ip", ["netns", "exec", n1.netns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=2"]);
    run("ip", ["netns", "exec", n1.netns, "sysctl", "-qw", "net.ipv4.conf.eth1.rp_filter=2"]);
    assert.ok(ping(n2.netns, "10.10.0.50"), "node 2 -> routed /32 on node 1's ENI");
    assert.ok(ping(n2.netns, "10.10.0.65"), "node 2 -> address of the routed /28");

    lab.unroute(n1, 1, "10.10.0.64/28");
    lab.unroute(n1, 1, "10.10.0.64/28"); // already gone: fine
    assert.match(routeGet(r, "10.10.0.70"), /unreachable/);
    assert.match(routeGet(r, "10.10.0.50"), /via 10\.10\.0\.20 dev n1d1/);

    lab.detach(n1, 1);
    assert.equal(ipJson(n1.netns, "link", "show").some((l) => l.ifname === "eth1"), false);
    assert.equal(ipJson(r, "link", "show").some((l) => l.ifname === "n1d1"), false);
    assert.match(routeGet(r, "10.10.0.50"), /unreachable/);
    assert.ok(ping(n2.netns, NODE1.primaryIp), "the primary ENI still works");
  } finally {
    lab.destroy();
  }
});

function labLeftovers(lab: Lab): string[] {
  const names = run("ip", ["netns", "list"]).split("\n").map((l) => l.split(" ")[0]!);
  const left = names.filter((n) => n.startsWith(`tffi-${lab.id}-`));
  try {
    Deno.statSync(lab.stateDir);
    left.push(lab.stateDir);
  } catch {
    // gone, as it should be
  }
  return left;
}

Deno.test("lab: destroy() leaves no namespace and no state dir, also after a failure midway", () => {
  const lab = Lab.create({ prefix: "tffi" });
  try {
    lab.addRouter();
    const n1 = lab.addNode({ name: "n", ...NODE1, prefixLen: 20, gateway: "10.10.0.1" });
    assert.ok(Deno.statSync(n1.stateDir).isDirectory);
    const record = JSON.parse(Deno.readTextFileSync(`${lab.stateDir}/lab.json`));
    assert.equal(record.pid, Deno.pid);
    assert.equal(record.pidStart, processStartTime(Deno.pid));
    lab.attach(n1, { deviceIndex: 1, mac: "zz:bad", gateway: "10.10.0.1" }); // throws
    assert.fail("attach with a bad MAC must throw");
  } catch (e) {
    assert.ok(e instanceof TypeError, String(e));
  } finally {
    lab.destroy();
  }
  assert.deepEqual(labLeftovers(lab), []);
  lab.destroy(); // again: nothing to do
  assert.throws(() => lab.addRouter(), /after destroy/);
});

Deno.test("lab: sweepStale() removes the lab of a killed owner and spares live ones", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "tffi-run-" });
  const live = Lab.create({ prefix: "tffi", stateDir: `${runDir}/mine`, id: "mine" });
  try {
    const fixture = new URL("./fixtures/lab_owner.ts", import.meta.url).pathname;
    const config = new URL("../../deno.json", import.meta.url).pathname;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--no-prompt",
        "--cached-only",
        // ipamd's flags: the lab runs inside `ipamd sim`
        "--allow-read",
        "--allow-write",
        "--allow-net",
        "--allow-env",
        "--allow-ffi",
        "--allow-run",
        "--allow-sys",
        "--config",
        config,
        fixture,
        runDir,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let line = "";
    const deadline = setTimeout(() => child.kill("SIGKILL"), 20_000);
    while (!line.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      line += value;
    }
    clearTimeout(deadline);
    try {
      child.kill("SIGKILL");
    } catch {
      // it already died; its lab (if any) is just as stale
    }
    await reader.cancel();
    await child.status;
    const stale = JSON.parse(line);
    assert.ok(run("ip", ["netns", "list"]).includes(stale.node), "the killed owner left its lab");
    const record = JSON.parse(await Deno.readTextFile(`${runDir}/${stale.id}/lab.json`));
    assert.match(record.pidStart, /^\d+$/, "owner start time recorded under ipamd's flags");

    assert.deepEqual(Lab.sweepStale("tffi", { runDir }), [stale.id]);
    const names = run("ip", ["netns", "list"]);
    assert.ok(!names.includes(stale.router) && !names.includes(stale.node));
    assert.throws(() => Deno.statSync(`${runDir}/${stale.id}`), Deno.errors.NotFound);
    assert.ok((await Deno.stat(live.stateDir)).isDirectory, "a live lab was swept");
    assert.deepEqual(Lab.sweepStale("tffi", { runDir }), []);
  } finally {
    live.destroy();
    Lab.sweepStale("tffi", { runDir }); // whatever an assertion above left behind
    await Deno.remove(runDir, { recursive: true });
  }
});

Deno.test("lab: the guard refuses the namespace the process started in", () => {
  assert.throws(() => assertNotHostNetns(`/proc/${Deno.pid}/ns/net`, "test"), HostNamespaceError);
  const lab = Lab.create({ prefix: "tffi" });
  try {
    const router = lab.addRouter();
    assertNotHostNetns(router.netnsPath, "test");
    assert.throws(() => Lab.create({ prefix: "tffi", id: lab.id }), Deno.errors.AlreadyExists);
    // Same id, other state dir: refused too, so two labs can never share namespace names.
    const elsewhere = Deno.makeTempDirSync({ prefix: "tffi-run-" });
    try {
      assert.throws(
        () => Lab.create({ prefix: "tffi", id: lab.id, stateDir: `${elsewhere}/x` }),
        Deno.errors.AlreadyExists,
      );
    } finally {
      Deno.removeSync(elsewhere, { recursive: true });
    }
  } finally {
    lab.destroy();
  }
});
