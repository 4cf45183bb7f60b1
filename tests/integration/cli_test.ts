/**
 * The node CLI against a real ipamd in a lab node (`ipamd sim` + `ipamd run`), every command run
 * as a subprocess of the `build/bin/ipamd` launcher inside the node's namespace, in the order of
 * a node's life: init container, daemon start (probe before and after ready), pods through
 * aws-cni, enis/pods/status, doctor on a healthy node and after breaking it by hand, a pod
 * deleted (cooling), the daemon stopped. Ends with ipamd's log: JSON lines, no credentials.
 */
import assert from "node:assert/strict";
import type { EnisView } from "../../src/ops/cli/enis_view.ts";
import type { DoctorReport } from "../../src/ops/cli/doctor_report.ts";
import type { PodView } from "../../src/ops/cli/pods.ts";
import { CniDriver } from "../lab/cnitool.ts";
import type { RunResult } from "../lab/command.ts";
import { startIpamd } from "../lab/ipamd.ts";
import { nsExec } from "../lab/namespaces.ts";
import { IPAMD_BIN, REFERENCE_PLUGIN_DIR, SYSTEM_PATH } from "../lab/paths.ts";
import { testScope } from "../lab/scope.ts";
import { type LabNode, startSim } from "../lab/sim.ts";

/** Runs `ipamd <args>` in the node with the node's environment (as in the aws-node pod). */
function ipamd(
  node: LabNode,
  args: string[],
  env: Record<string, string> = {},
): Promise<RunResult> {
  return nsExec(node.netns, [IPAMD_BIN, ...args], {
    env: { PATH: SYSTEM_PATH, ...node.info.env, ...env },
    clearEnv: true,
    allowFailure: true,
    timeoutMs: 45_000,
  });
}

function show(out: RunResult): string {
  return `exit ${out.code}\n--- stdout\n${out.stdout}\n--- stderr\n${out.stderr}`;
}

function checkOf(report: DoctorReport, id: string) {
  const found = report.checks.find((c) => c.id === id);
  assert.ok(found, `no check ${id}`);
  return found;
}

Deno.test("the node CLI drives a lab node through init, start, pods, doctor and stop", async (t) => {
  await using scope = testScope("tcli");
  const sim = await startSim({
    nodes: 1,
    instanceType: "t3.small",
    // DescribeInstanceTypes runs during node init: 4 s of it is a window to probe "not ready".
    args: ["--prefix", "tcli", "--latency", "none,DescribeInstanceTypes=4000"],
    cleanup: scope.cleanup,
  });
  const node = sim.nodes[0]!;
  const state = node.info.stateDir;
  const sock = node.info.env.IPAMD_SOCKET_PATH!;
  const cniPath = `${state}/opt/cni/bin:${REFERENCE_PLUGIN_DIR}`;
  const hostSysctls = await Promise.all(
    ["net/ipv4/conf/all/rp_filter", "net/ipv4/tcp_early_demux"].map((k) =>
      Deno.readTextFile(`/proc/sys/${k}`)
    ),
  );

  await t.step("status reports an absent daemon: exit 1, probe exit 2", async () => {
    const status = await ipamd(node, ["status"]);
    assert.equal(status.code, 1, show(status));
    assert.equal(
      status.stderr.trim(),
      `ipamd status: cannot reach ipamd at ${sock}: is aws-node running on this node? ` +
        "(no such socket)",
    );
    const probe = await ipamd(node, ["status", "--probe"]);
    assert.equal(probe.code, 2, show(probe));
    const usage = await ipamd(node, ["status", "--probe", "--rpc-timeout", "soon"]);
    assert.equal(usage.code, 1, "grpc-health-probe's code for bad arguments");
    assert.equal((await ipamd(node, ["enis", "--nope"])).code, 2);
  });

  await t.step(
    "config: a valid environment, then the daemon's own error for an invalid one",
    async () => {
      const ok = await ipamd(node, ["config", "--json"]);
      assert.equal(ok.code, 0, show(ok));
      const view = JSON.parse(ok.stdout);
      assert.equal(view.valid, true);
      const socket = view.settings.find((s: { name: string }) => s.name === "IPAMD_SOCKET_PATH");
      assert.deepEqual([socket.value, socket.source, socket.origin], [sock, "environment", "ours"]);
      const bad = { WARM_IP_TARGET: "-1", "ENABLE_IPv6": "yes" };
      const config = await ipamd(node, ["config"], bad);
      assert.equal(config.code, 1, show(config));
      const daemon = await ipamd(node, ["run"], bad);
      assert.equal(daemon.code, 1, show(daemon));
      const problems = (text: string) => text.split("\n").filter((l) => l.startsWith("  "));
      assert.deepEqual(problems(config.stderr), [
        '  WARM_IP_TARGET="-1": a decimal integer ≥ 0',
        '  ENABLE_IPv6="yes": 1, t, T, TRUE, true, True or 0, f, F, FALSE, false, False',
      ]);
      assert.deepEqual(problems(config.stderr), problems(daemon.stderr));
      assert.match(config.stderr, /^ipamd config: invalid configuration \(2 problems\)/);
    },
  );

  await t.step(
    "init installs aws-cni and sets rp_filter; a second run changes nothing",
    async () => {
      const first = await ipamd(node, ["init", "--json"]);
      assert.equal(first.code, 0, show(first));
      const report = JSON.parse(first.stdout);
      assert.equal(report.plugin.path, `${state}/opt/cni/bin/aws-cni`);
      assert.equal(report.primaryInterface, "eth0");
      const rp = await nsExec(node.netns, ["cat", "/proc/sys/net/ipv4/conf/eth0/rp_filter"]);
      assert.equal(rp.stdout.trim(), "2");
      const second = await ipamd(node, ["init", "--json"]);
      assert.equal(second.code, 0, show(second));
      const again = JSON.parse(second.stdout);
      assert.equal(again.plugin.changed, false);
      assert.deepEqual(again.sysctls.map((s: { changed: boolean }) => s.changed), [false, false]);
      assert.match(
        (await ipamd(node, ["init"])).stdout,
        /aws-cni is up to date\n.*\n.*rp_filter = 2 \(unchanged\)/,
      );
    },
  );

  const home = await scope.tempDir("home");
  // HOME without ~/.aws: the daemon's only credentials are the instance role's, from IMDS.
  const daemon = await startIpamd(node, { env: { HOME: home }, cleanup: scope.cleanup });

  await t.step(
    "probe says NOT_SERVING (4) while the node initialises, then SERVING (0)",
    async () => {
      let sawNotReady = false;
      const deadline = Date.now() + 40_000;
      for (;;) {
        const probe = await ipamd(node, ["status", "--probe"]);
        if (probe.code === 4) {
          sawNotReady = true;
          assert.match(probe.stderr, /NOT_SERVING \(ipamd is not ready: initialising the node\)/);
          const status = await ipamd(node, ["status"]);
          if (status.code === 0 && /not ready/.test(status.stdout)) {
            assert.match(status.stdout, /^ipamd \S+: not ready \(initialising the node\)/);
          }
        }
        if (probe.code === 0) {
          assert.equal(probe.stdout.trim(), "status: SERVING");
          break;
        }
        assert.ok([2, 4].includes(probe.code), show(probe));
        assert.ok(Date.now() < deadline, "ipamd did not become ready");
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(sawNotReady, "the 4 s node init was never seen as NOT_SERVING");
      await daemon.waitReady({ timeoutMs: 10_000 });
    },
  );

  const podNs = await Promise.all([0, 1, 2, 3].map((i) => scope.netns(`p${i}`)));
  await t.step("four pods through aws-cni: the fourth lands on a secondary ENI", async () => {
    const driver = new CniDriver(node.netns, {
      conflistFile: `${state}/etc/cni/net.d/10-aws.conflist`,
      cacheDir: await scope.tempDir("cnicache"),
      pluginDirs: cniPath.split(":"),
    });
    for (const [i, ns] of podNs.entries()) {
      await driver.add(ns, `c${i}`, {
        args: { K8S_POD_NAMESPACE: i < 3 ? "default" : "kube-system", K8S_POD_NAME: `p${i}` },
      });
    }
  });

  let pods: PodView[] = [];
  await t.step("the pool settles (no growth in flight) before the checks", async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const s = JSON.parse((await ipamd(node, ["status", "--json"])).stdout);
      if (s.pool?.plan && !s.pool.plan.low && s.pool.plan.actions.length === 0) break;
      assert.ok(Date.now() < deadline, `the pool did not settle: ${JSON.stringify(s.pool?.plan)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  });

  await t.step("pods lists every pod with its ENI, table and veth; -n filters", async () => {
    const out = await ipamd(node, ["pods", "--json"]);
    assert.equal(out.code, 0, show(out));
    pods = JSON.parse(out.stdout);
    assert.deepEqual(pods.map((p) => `${p.podNamespace}/${p.podName}`), [
      "default/p0",
      "default/p1",
      "default/p2",
      "kube-system/p3",
    ]);
    assert.ok(pods.some((p) => p.routeTableId !== 254), "a pod on a secondary ENI");
    for (const p of pods) assert.match(p.hostVeth, /^eni[0-9a-f]{11}$/);
    const links = await nsExec(node.netns, ["ip", "-o", "link"]);
    for (const p of pods) assert.match(links.stdout, new RegExp(`: ${p.hostVeth}@`));
    const table = await ipamd(node, ["pods", "-n", "kube-system"]);
    assert.match(table.stdout, /^NAMESPACE\s+NAME\s+ADDRESS\s+ENI\s+DEVICE\s+TABLE\s+VETH/);
    assert.equal(table.stdout.trim().split("\n").length, 2, table.stdout);
    assert.match((await ipamd(node, ["pods", "-n", "none"])).stdout, /No pods in namespace none/);
  });

  await t.step("enis shows each ENI and which pod holds which address", async () => {
    const out = await ipamd(node, ["enis", "--json"]);
    assert.equal(out.code, 0, show(out));
    const view: EnisView = JSON.parse(out.stdout);
    assert.equal(view.totals.assigned, 4);
    assert.ok(view.enis.length >= 2);
    const holders = view.enis.flatMap((e) =>
      e.cidrs.flatMap((c) =>
        c.addresses.map((a) => `${a.ip} ${a.pod?.namespace}/${a.pod?.name} ${e.routeTableId}`)
      )
    ).sort();
    assert.deepEqual(
      holders,
      pods.map((p) => `${p.ipv4} ${p.podNamespace}/${p.podName} ${p.routeTableId}`).sort(),
    );
    const text = await ipamd(node, ["enis"]);
    for (const p of pods) {
      assert.match(
        text.stdout,
        new RegExp(
          `\\s${p.ipv4.replaceAll(".", "\\.")}\\s+assigned\\s+${p.podNamespace}/${p.podName}\\n`,
        ),
      );
    }
    const status = await ipamd(node, ["status", "--json"]);
    const s = JSON.parse(status.stdout);
    assert.equal(s.status.assignedIPs, 4);
    assert.equal(s.pool.instanceId, node.info.instanceId);
  });

  const doctor = async (): Promise<{ out: RunResult; report: DoctorReport }> => {
    const out = await ipamd(node, ["doctor", "--json"], { CNI_PATH: cniPath });
    return { out, report: JSON.parse(out.stdout) };
  };

  await t.step("doctor passes every check on the healthy node", async () => {
    const { out, report } = await doctor();
    assert.equal(out.code, 0, show(out));
    const notPass = report.checks.filter((c) => c.status !== "PASS");
    assert.deepEqual(notPass, [], JSON.stringify(notPass, null, 2));
    assert.equal(report.checks.length, 14);
    assert.match(checkOf(report, "pods").summary, /^4 pods:/);
    assert.match(checkOf(report, "enis").summary, /secondary ENI/);
    const text = await ipamd(node, ["doctor"], { CNI_PATH: cniPath });
    assert.match(text.stdout, /\n0 failed, 0 warnings, 14 passed\.\n$/);
  });

  await t.step("doctor fails a pod whose rule 512 was deleted, naming the fix", async () => {
    const victim = pods[1]!;
    const rule = ["rule", "del", "to", `${victim.ipv4}/32`, "lookup", "main", "prio", "512"];
    await nsExec(node.netns, ["ip", ...rule]);
    try {
      const { out, report } = await doctor();
      assert.equal(out.code, 1, show(out));
      const pods = checkOf(report, "pods");
      assert.equal(pods.status, "FAIL");
      assert.deepEqual(pods.details, [
        `default/p1 ${victim.ipv4}: rule 512 missing (restore: ip rule add to ${victim.ipv4}/32 ` +
        "lookup main prio 512)",
      ]);
      assert.match(pods.remedy ?? "", /kubectl delete pod -n default p1/);
      assert.deepEqual(report.checks.filter((c) => c.status === "FAIL").map((c) => c.id), ["pods"]);
    } finally {
      await nsExec(node.netns, [
        "ip",
        "rule",
        "add",
        "to",
        `${victim.ipv4}/32`,
        "lookup",
        "main",
        "prio",
        "512",
      ]);
    }
  });

  await t.step(
    "doctor fails a removed conflist and says ipamd reinstalls it on restart",
    async () => {
      const conflist = `${state}/etc/cni/net.d/10-aws.conflist`;
      await Deno.rename(conflist, `${conflist}.moved`);
      try {
        const { out, report } = await doctor();
        assert.equal(out.code, 1, show(out));
        const check = checkOf(report, "conflist");
        assert.equal(check.status, "FAIL");
        assert.match(check.summary, /10-aws\.conflist is missing/);
        assert.match(check.remedy ?? "", /restart aws-node/);
        assert.deepEqual(report.checks.filter((c) => c.status === "FAIL").map((c) => c.id), [
          "conflist",
        ]);
      } finally {
        await Deno.rename(`${conflist}.moved`, conflist);
      }
    },
  );

  await t.step("a deleted pod's address shows as cooling", async () => {
    const driver = new CniDriver(node.netns, {
      conflistFile: `${state}/etc/cni/net.d/10-aws.conflist`,
      cacheDir: await scope.tempDir("cnicache2"),
      pluginDirs: cniPath.split(":"),
    });
    const gone = pods[0]!;
    await driver.del(podNs[0]!, "c0", {
      args: { K8S_POD_NAMESPACE: "default", K8S_POD_NAME: "p0" },
    });
    const view: EnisView = JSON.parse((await ipamd(node, ["enis", "--json"])).stdout);
    const address = view.enis.flatMap((e) => e.cidrs.flatMap((c) => c.addresses)).find((a) =>
      a.ip === gone.ipv4
    );
    assert.ok(address, `${gone.ipv4} not listed`);
    assert.equal(address.state, "cooling");
    assert.ok(Date.parse(address.availableAt!) > Date.now());
    assert.equal(view.totals.cooling, 1);
    const text = (await ipamd(node, ["enis"])).stdout;
    assert.match(
      text,
      new RegExp(`${gone.ipv4.replaceAll(".", "\\.")}\\s+cooling \\(\\d+s left\\)`),
    );
  });

  await t.step("after SIGTERM the probe cannot connect (2)", async () => {
    await daemon.stop();
    const probe = await ipamd(node, ["status", "--probe"]);
    assert.equal(probe.code, 2, show(probe));
    assert.match(probe.stderr, /cannot reach ipamd at .*: is aws-node running on this node\?/);
  });

  await t.step(
    "ipamd's log is JSON lines and holds no credential of the instance role",
    async () => {
      const token = (await nsExec(node.netns, [
        "curl",
        "-sf",
        "-X",
        "PUT",
        "-H",
        "X-aws-ec2-metadata-token-ttl-seconds: 60",
        "http://169.254.169.254/latest/api/token",
      ])).stdout;
      const get = async (path: string) =>
        (await nsExec(node.netns, [
          "curl",
          "-sf",
          "-H",
          `X-aws-ec2-metadata-token: ${token}`,
          `http://169.254.169.254/latest/meta-data/iam/security-credentials/${path}`,
        ])).stdout;
      const role = (await get("")).trim();
      const creds = JSON.parse(await get(role));
      const secrets = [creds.AccessKeyId, creds.SecretAccessKey, creds.Token] as string[];
      assert.ok(secrets.every((s) => typeof s === "string" && s.length >= 16));
      const log = await Deno.readTextFile(node.info.env.AWS_VPC_K8S_CNI_LOG_FILE!);
      const plugin = await Deno.readTextFile(node.info.env.AWS_VPC_K8S_PLUGIN_LOG_FILE!);
      for (const text of [log, plugin]) {
        for (const line of text.trimEnd().split("\n")) {
          const entry = JSON.parse(line);
          assert.ok(["debug", "info", "warn", "error"].includes(entry.level), line);
        }
        for (const secret of secrets) {
          assert.ok(
            !text.includes(secret),
            "a credential reached a log",
          );
        }
        assert.ok(!text.includes(token), "the IMDS token reached a log");
      }
      // EC2 was really called with those credentials (addresses were assigned), at debug level.
      assert.match(log, /"msg":"addresses added"/);
      assert.match(log, /"level":"debug"/);
    },
  );

  const after = await Promise.all(
    ["net/ipv4/conf/all/rp_filter", "net/ipv4/tcp_early_demux"].map((k) =>
      Deno.readTextFile(`/proc/sys/${k}`)
    ),
  );
  assert.deepEqual(after, hostSysctls, "the host's sysctls are untouched");
});
