import assert from "node:assert/strict";
import {
  createNetns,
  deleteNetns,
  isExists,
  isNotFound,
  Netlink,
  NETNS_RUN_DIR,
  netnsId,
  readSysctl,
  startNetnsId,
  withNetns,
  writeSysctl,
} from "../../ffi/mod.ts";
import { ip, ipJson, randomId, run, scratchNetns } from "../lab/scratch_netns.ts";

/** The namespace a freshly spawned child process lands in. */
function childNetns(): string {
  return run("readlink", ["/proc/self/ns/net"]).trim();
}

Deno.test("withNetns() returns the thread to its namespace, also when the callback throws", () => {
  using s = scratchNetns(1);
  const path = s.paths[0]!;
  const home = netnsId();
  const target = netnsId(path);
  assert.notEqual(home, target);
  assert.equal(childNetns(), home);
  assert.equal(startNetnsId(), home);

  assert.deepEqual(withNetns(path, () => [netnsId(), childNetns()]), [target, target]);
  assert.equal(netnsId(), home);
  assert.equal(childNetns(), home);

  assert.throws(
    () =>
      withNetns(path, () => {
        assert.equal(netnsId(), target);
        throw new RangeError("boom");
      }),
    RangeError,
  );
  assert.equal(netnsId(), home);
  assert.equal(childNetns(), home);

  // Nested switches unwind in order.
  using other = scratchNetns(1);
  withNetns(path, () => {
    withNetns(other.paths[0]!, () => assert.equal(netnsId(), netnsId(other.paths[0]!)));
    assert.equal(netnsId(), target);
  });
  assert.equal(netnsId(), home);
});

Deno.test("withNetns() refuses asynchronous callbacks and still switches back", () => {
  using s = scratchNetns(1);
  const path = s.paths[0]!;
  const home = netnsId();
  assert.throws(() => withNetns(path, async () => {}), TypeError);
  assert.throws(() => withNetns(path, () => Promise.resolve(1)), TypeError);
  assert.throws(() => withNetns(path, () => ({ then: () => {} })), TypeError);
  assert.equal(netnsId(), home);
  assert.equal(childNetns(), home);
  assert.throws(() => withNetns("/var/run/netns/tffi-does-not-exist", () => 1), isNotFound);
  assert.equal(netnsId(), home);
});

Deno.test("a socket from Netlink.openIn() keeps working on its namespace after the switch back", () => {
  using s = scratchNetns(1);
  using nl = Netlink.openIn(s.paths[0]!);
  assert.equal(netnsId(), startNetnsId());
  nl.createVeth({ name: "o0", peerName: "o1" });
  assert.deepEqual(nl.links().map((l) => l.name).sort(), ["lo", "o0", "o1"]);
  assert.deepEqual(ipJson(s.names[0]!, "link", "show").map((l) => l.ifname).sort(), [
    "lo",
    "o0",
    "o1",
  ]);
});

Deno.test("createNetns()/deleteNetns() behave like `ip netns add/del`", () => {
  const name = `tffi-${randomId()}-c`;
  try {
    const path = createNetns(name);
    assert.equal(path, `${NETNS_RUN_DIR}/${name}`);
    assert.ok(run("ip", ["netns", "list"]).split("\n").some((l) => l.split(" ")[0] === name));
    assert.deepEqual(ipJson(name, "link", "show").map((l) => l.ifname), ["lo"]);
    assert.notEqual(netnsId(path), startNetnsId());
    assert.equal(netnsId(), startNetnsId());
    assert.throws(() => createNetns(name), (e: unknown) => isExists(e));
    // A second bind mount stacked on the first (as `ip netns attach` could leave) goes too.
    run("mount", ["--bind", path, path]);
    deleteNetns(name);
    assert.throws(() => Deno.statSync(path), Deno.errors.NotFound);
    assert.ok(!Deno.readTextFileSync("/proc/mounts").includes(path));
    deleteNetns(name);
    assert.throws(() => createNetns("bad/name"), TypeError);
    assert.throws(() => netnsId("/etc/hostname"));
  } finally {
    deleteNetns(name);
  }
});

Deno.test("sysctls are read and written in the thread's current namespace", () => {
  using s = scratchNetns(1);
  const [ns, path] = [s.names[0]!, s.paths[0]!];
  const hostForward = readSysctl("net.ipv4.ip_forward");
  using nl = Netlink.openIn(path);
  nl.createVeth({ name: "s0.5", peerName: "s1" });
  withNetns(path, () => {
    writeSysctl("net.ipv4.ip_forward", hostForward === "1" ? "0" : "1");
    writeSysctl("net/ipv4/conf/s0.5/rp_filter", "2");
    writeSysctl("net.ipv4.conf.all.rp_filter", "0");
  });
  assert.equal(readSysctl("net.ipv4.ip_forward"), hostForward);
  const inNs = (key: string) => run("ip", ["netns", "exec", ns, "sysctl", "-n", key]).trim();
  assert.equal(inNs("net.ipv4.ip_forward"), hostForward === "1" ? "0" : "1");
  assert.equal(inNs("net/ipv4/conf/s0.5/rp_filter"), "2");
  assert.equal(withNetns(path, () => readSysctl("net/ipv4/conf/s0.5/rp_filter")), "2");
  assert.throws(() => readSysctl("net.ipv4.conf.nosuch0.rp_filter"), isNotFound);
  assert.throws(() => readSysctl("../../etc/passwd"), TypeError);
});

Deno.test("the API works under exactly aws-cni's permission flags (no --allow-all)", () => {
  const name = `tffi-${randomId()}-p`;
  try {
    const probe = new URL("./fixtures/ffi_perms_probe.ts", import.meta.url).pathname;
    const config = new URL("../../deno.json", import.meta.url).pathname;
    const out = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--quiet",
        "--cached-only",
        "--allow-read",
        "--allow-write",
        "--allow-net",
        "--allow-env",
        "--allow-ffi",
        "--config",
        config,
        probe,
        name,
      ],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const report = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(report.home, report.back);
    assert.notEqual(report.home, report.target);
    assert.equal(report.target, netnsId(`${NETNS_RUN_DIR}/${name}`));
    assert.equal(report.forward, "1");
    assert.deepEqual(report.links, ["lo", "p0", "p1"]);
    assert.match(ip(name, "route", "show", "table", "77"), /10\.78\.0\.0\/16 via 10\.77\.0\.2/);
    assert.match(ip(name, "rule", "show"), /777:\s+from 10\.77\.0\.0\/24 lookup 77/);
    assert.match(ip(name, "neigh", "show"), /10\.77\.0\.2 dev p0 lladdr 02:00:00:00:77:02 PERM/);
  } finally {
    deleteNetns(name);
  }
});
