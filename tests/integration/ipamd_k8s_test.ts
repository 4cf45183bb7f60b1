// ipamd's Kubernetes integration end to end (issue 6 item 5): the real ipamd in a node of
// `ipamd sim`, talking to the wire-level API stub served inside that node's namespace; the real
// kubectl changes the Node, the simulator's /state shows what EC2 was asked to do.
// deno-lint-ignore-file no-console -- measured latencies belong in the test output
import assert from "node:assert/strict";
import { type Ipamd, IpamdError, startIpamd } from "../lab/ipamd.ts";
import {
  enisOf,
  holds,
  introspectStatus,
  ipamdLog,
  poolOf as pool,
  secondaryIps,
  waitFor,
} from "../lab/lab_observe.ts";
import { startNodeApiServer } from "../lab/node_api_server.ts";
import { rpcCall } from "../lab/rpc_client.ts";
import { RpcError } from "../../src/rpc/protocol.ts";
import { testScope } from "../lab/scope.ts";
import { type LabNode, startSim } from "../lab/sim.ts";
import { REPO_ROOT } from "../lab/paths.ts";

/** Runs only the steps whose name contains this (development: IPAMD_K8S_STEP=cordon). */
const ONLY = Deno.env.get("IPAMD_K8S_STEP");
const LATE = "with the API server down at start, ipamd runs without it after the 30 s wait " +
  "and reads the Node once the server is back";
/** The late API server's port on that node's loopback (the node's own namespace: free). */
const LATE_PORT = 16443;
const WARM_IP = "vpc-cni-deno.dev/warm-ip-target";
const MAX_ENI = "vpc-cni-deno.dev/max-eni";
const TAINT = "node.kubernetes.io/unschedulable:NoSchedule";
const ENICONFIG_LABEL = "k8s.amazonaws.com/eniConfig";

Deno.test("ipamd and the Kubernetes API server, end to end in a lab node", async (t) => {
  await using scope = testScope("tkit");
  const sim = await startSim({
    nodes: 1,
    instanceType: "m5.large",
    args: ["--prefix", "tkit"],
    cleanup: scope.cleanup,
  });
  const runStep = (name: string, fn: () => Promise<void>) =>
    t.step({ name, fn, ignore: ONLY !== undefined && !name.includes(ONLY) });
  let first: LabNode | undefined = sim.nodes[0];
  // Started now, checked by the LATE step: the 30 s start-up wait overlaps the other steps.
  let late: { node: LabNode; ipamd: Ipamd; startedAt: number } | undefined;
  if (ONLY === undefined || LATE.includes(ONLY)) {
    const node = await sim.addNode({ instanceType: "m5.large" });
    const down = await startNodeApiServer(node, { scope, port: LATE_PORT });
    await down.close(); // ipamd's kubeconfig points at a port nothing listens on
    const startedAt = performance.now();
    const ipamd = await startIpamd(node, {
      env: { ...down.env, WARM_IP_TARGET: "20" },
      cleanup: scope.cleanup,
    });
    late = { node, ipamd, startedAt };
  }
  // Custom networking's pod subnet and security group, made once.
  let made: Promise<{ subnet: string; group: string }> | undefined;
  const podNetwork = () =>
    made ??= (async () => ({
      subnet: String((await sim.control.addSubnet({ cidr: "10.10.32.0/20" })).subnetId),
      group: String((await sim.control.addSecurityGroup({ name: "tkit-pods" })).groupId),
    }))();
  const nextNode = async () => {
    const node = first ?? await sim.addNode({ instanceType: "m5.large" });
    first = undefined;
    return node;
  };

  await runStep("max pods comes from the Node's capacity and caps the pool", async () => {
    await using step = testScope("tkit");
    const node = await nextNode();
    const api = await startNodeApiServer(node, { scope: step, pods: "8" });
    const ipamd = await startIpamd(node, {
      env: { ...api.env, WARM_IP_TARGET: "20" },
      cleanup: step.cleanup,
    });
    await ipamd.waitReady({ timeoutMs: 30_000 });
    const p = await pool(node);
    assert.equal(p.limits.maxPods, 8, "m5.large alone would allow 29");
    await waitFor("the pool reaches max pods", async () => (await pool(node)).counts.total === 8);
    await holds(
      "EC2 gave the node no more than 8",
      async () => await secondaryIps(sim, node) === 8,
      1000,
    );
    assert.equal((await introspectStatus(node.netns, "/v1/eni-configs")).body, "default");

    // kubelet reports a new capacity (restarted with another --max-pods): followed live.
    const t0 = performance.now();
    const patched = await api.kubectl(
      "patch",
      "node",
      api.nodeName,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { capacity: { pods: "12" } } }),
    );
    assert.equal(patched.code, 0, patched.stderr);
    const grewMs = await waitFor(
      "the pool follows the new max pods",
      async () => await secondaryIps(sim, node) === 12,
      { since: t0 },
    );
    assert.equal((await pool(node)).limits.maxPods, 12);
    console.log(`  capacity.pods 8 → 12: EC2 at 12 after ${grewMs} ms`);
  });

  await runStep(
    "without an API server ipamd starts at once and uses the instance's limits",
    async () => {
      await using step = testScope("tkit");
      const node = await nextNode();
      const started = performance.now();
      const ipamd = await startIpamd(node, { env: { WARM_IP_TARGET: "2" }, cleanup: step.cleanup });
      await ipamd.waitReady({ timeoutMs: 20_000 });
      const readyMs = Math.round(performance.now() - started);
      console.log(`  no API server: ipamd ready in ${readyMs} ms`);
      assert.ok(readyMs < 20_000);
      assert.equal((await pool(node)).limits.maxPods, 29, "3 ENIs x 9 IPs + 2");
      const eniConfigs = await introspectStatus(node.netns, "/v1/eni-configs");
      assert.equal(eniConfigs.status, 404);
      assert.ok(
        (await ipamdLog(node)).some((l) => l.msg === "running without the Kubernetes API server"),
      );
    },
  );

  await runStep(
    "a warm-ip-target node annotation changes the pool live; an invalid one is a Warning event",
    async () => {
      await using step = testScope("tkit");
      const node = await nextNode();
      const api = await startNodeApiServer(node, { scope: step });
      const ipamd = await startIpamd(node, {
        env: { ...api.env, WARM_IP_TARGET: "2" },
        cleanup: step.cleanup,
      });
      await ipamd.waitReady({ timeoutMs: 30_000 });
      await waitFor("the pool holds the env's 2", async () => await secondaryIps(sim, node) === 2);
      const pid = ipamd.pid;

      const bad = await api.kubectl("annotate", "node", api.nodeName, `${WARM_IP}=lots`);
      assert.equal(bad.code, 0, bad.stderr);
      await waitFor(
        "an InvalidNodeOverride event",
        () => api.events("InvalidNodeOverride").length > 0,
      );
      const [event] = api.events("InvalidNodeOverride");
      assert.equal(event!.type, "Warning");
      assert.deepEqual(
        [(event!.regarding as { kind: string }).kind, (event!.regarding as { name: string }).name],
        ["Node", api.nodeName],
      );
      assert.match(
        String(event!.note),
        /warm-ip-target must be a whole number.*"lots".*WARM_IP_TARGET/,
      );
      assert.equal((await pool(node)).settings.warmIpTarget, 2, "the env value is kept");
      await holds("the pool stays at 2", async () => await secondaryIps(sim, node) === 2, 1000);

      const t1 = performance.now();
      const set = await api.kubectl(
        "annotate",
        "--overwrite",
        "node",
        api.nodeName,
        `${WARM_IP}=6`,
      );
      assert.equal(set.code, 0, set.stderr);
      const grewMs = await waitFor(
        "the pool grows to 6",
        async () => await secondaryIps(sim, node) === 6,
        { since: t1 },
      );
      assert.equal((await pool(node)).settings.warmIpTarget, 6);

      const t2 = performance.now();
      const removed = await api.kubectl("annotate", "node", api.nodeName, `${WARM_IP}-`);
      assert.equal(removed.code, 0, removed.stderr);
      const shrankMs = await waitFor(
        "the pool goes back to 2",
        async () => await secondaryIps(sim, node) === 2,
        { since: t2 },
      );
      assert.equal((await pool(node)).settings.warmIpTarget, 2);
      assert.equal(ipamd.pid, pid, "no restart");
      assert.equal(api.events("InvalidNodeOverride").length, 1);
      console.log(`  kubectl annotate → EC2: grew in ${grewMs} ms, shrank in ${shrankMs} ms`);

      // max-eni too: 15 warm IPs wanted, but only the primary ENI (9 IPs) allowed.
      const capped = await api.kubectl(
        "annotate",
        "node",
        api.nodeName,
        `${MAX_ENI}=1`,
        `${WARM_IP}=15`,
      );
      assert.equal(capped.code, 0, capped.stderr);
      await waitFor("the primary ENI fills up", async () => await secondaryIps(sim, node) === 9);
      await holds("no second ENI", async () => (await enisOf(sim, node)).length === 1, 1000);
      const p = await pool(node);
      assert.equal(p.settings.maxEnis, 1);
      assert.equal(p.plan.blocked?.code, "no-room");
    },
  );

  await runStep(
    "custom networking waits for the API server, then puts new ENIs in the ENIConfig's subnet and security groups",
    async () => {
      await using step = testScope("tkit");
      const { subnet, group } = await podNetwork();
      const node = await nextNode();
      const api = await startNodeApiServer(node, {
        scope: step,
        labels: { [ENICONFIG_LABEL]: "tkit-pods" },
      });
      const crd = await api.kubectl("apply", "-f", `${REPO_ROOT}/manifests/eniconfig-crd.yaml`);
      assert.equal(crd.code, 0, crd.stderr);
      const applied = await api.apply({
        apiVersion: "crd.k8s.amazonaws.com/v1alpha1",
        kind: "ENIConfig",
        metadata: { name: "tkit-pods" },
        spec: { subnet, securityGroups: [group] },
      });
      assert.equal(applied.code, 0, applied.stderr);
      // Custom networking needs the API server: while /version fails, ipamd waits (not ready).
      let healthy = false;
      api.stub.intercept = (request) =>
        !healthy && request.path === "/version"
          ? Response.json({
            kind: "Status",
            apiVersion: "v1",
            status: "Failure",
            reason: "ServiceUnavailable",
            message: "etcd is down",
            code: 503,
          }, { status: 503 })
          : undefined;
      const ipamd = await startIpamd(node, {
        env: { ...api.env, AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: "true", WARM_IP_TARGET: "3" },
        cleanup: step.cleanup,
      });
      await waitFor(
        "ipamd waits for the API server",
        () => api.stub.requestsTo("GET", "/version").length >= 2,
      );
      assert.equal(ipamd.running, true);
      assert.equal((await ipamd.status()).ready, false);
      assert.equal((await enisOf(sim, node)).length, 1);
      healthy = true;
      await ipamd.waitReady({ timeoutMs: 30_000 });
      await waitFor(
        "3 pod addresses on a secondary ENI",
        async () => await secondaryIps(sim, node) === 3,
      );
      const [primary, ...others] = await enisOf(sim, node);
      assert.equal(primary!.networkInterfaceId, node.info.primaryEniId);
      assert.deepEqual(primary!.secondaryIps, [], "the primary ENI serves no pods");
      assert.equal(others.length, 1);
      assert.equal(others[0]!.subnetId, subnet);
      assert.deepEqual(others[0]!.securityGroupIds, [group]);
      assert.equal((await introspectStatus(node.netns, "/v1/eni-configs")).body, "tkit-pods");
      // Upstream precedence, followed live: annotation over label, external label over both.
      const eniConfigs = async () => (await introspectStatus(node.netns, "/v1/eni-configs")).body;
      const annotated = await api.kubectl(
        "annotate",
        "node",
        api.nodeName,
        `${ENICONFIG_LABEL}=tkit-by-annotation`,
      );
      assert.equal(annotated.code, 0, annotated.stderr);
      await waitFor("the annotation wins", async () => await eniConfigs() === "tkit-by-annotation");
      const external = await api.kubectl(
        "label",
        "node",
        api.nodeName,
        "vpc.amazonaws.com/externalEniConfig=tkit-external",
      );
      assert.equal(external.code, 0, external.stderr);
      await waitFor("the external label wins", async () => await eniConfigs() === "tkit-external");
    },
  );

  await runStep(
    "custom networking with a missing ENIConfig creates no ENI, says why, and recovers once it exists",
    async () => {
      await using step = testScope("tkit");
      const node = await nextNode();
      const api = await startNodeApiServer(node, {
        scope: step,
        labels: { [ENICONFIG_LABEL]: "tkit-missing" },
      });
      const crd = await api.kubectl("apply", "-f", `${REPO_ROOT}/manifests/eniconfig-crd.yaml`);
      assert.equal(crd.code, 0, crd.stderr);
      const ipamd = await startIpamd(node, {
        env: { ...api.env, AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: "true", WARM_IP_TARGET: "3" },
        cleanup: step.cleanup,
      });
      await ipamd.waitReady({ timeoutMs: 30_000 });
      const said = (await ipamdLog(node)).find((l) => l.level === "error");
      assert.match(String(said?.msg), /custom networking: this node's ENIConfig is not usable/);
      assert.match(
        String((said?.error as { message?: unknown } | undefined)?.message),
        /ENIConfig "tkit-missing" is not available \(no ENIConfig with that name\); create it/,
      );
      await holds("no ENI is created", async () => (await enisOf(sim, node)).length === 1, 1500);
      assert.equal(await secondaryIps(sim, node), 0);
      assert.equal((await introspectStatus(node.netns, "/v1/eni-configs")).body, "tkit-missing");

      // Not fatal: the ENI comes at the next attempt after the ENIConfig is created.
      const { subnet, group } = await podNetwork();
      const t0 = performance.now();
      const applied = await api.apply({
        apiVersion: "crd.k8s.amazonaws.com/v1alpha1",
        kind: "ENIConfig",
        metadata: { name: "tkit-missing" },
        spec: { subnet, securityGroups: [group] },
      });
      assert.equal(applied.code, 0, applied.stderr);
      const recoveredMs = await waitFor(
        "an ENI in the ENIConfig's subnet",
        async () => (await enisOf(sim, node)).some((e) => e.subnetId === subnet),
        { ms: 25_000, since: t0 },
      );
      console.log(`  ENIConfig created → ENI after ${recoveredMs} ms (backoff)`);
    },
  );

  await runStep("the unschedulable taint holds growth; removing it resumes", async () => {
    await using step = testScope("tkit");
    const node = await nextNode();
    const api = await startNodeApiServer(node, { scope: step });
    const ipamd = await startIpamd(node, {
      env: { ...api.env, WARM_IP_TARGET: "2" },
      cleanup: step.cleanup,
    });
    await ipamd.waitReady({ timeoutMs: 30_000 });
    await waitFor("the pool holds 2", async () => await secondaryIps(sim, node) === 2);

    const taint = await api.kubectl("taint", "node", api.nodeName, TAINT);
    assert.equal(taint.code, 0, taint.stderr);
    const more = await api.kubectl("annotate", "node", api.nodeName, `${WARM_IP}=6`);
    assert.equal(more.code, 0, more.stderr);
    await waitFor("ipamd wants 6 but holds", async () => {
      const p = await pool(node);
      return p.settings.warmIpTarget === 6 && p.plan.blocked?.code === "held";
    });
    await holds("no growth while cordoned", async () => await secondaryIps(sim, node) === 2, 1500);

    const t3 = performance.now();
    const untaint = await api.kubectl("taint", "node", api.nodeName, `${TAINT}-`);
    assert.equal(untaint.code, 0, untaint.stderr);
    const kubectlMs = Math.round(performance.now() - t3);
    const resumedMs = await waitFor(
      "growth resumes",
      async () => await secondaryIps(sim, node) === 6,
      { since: t3 },
    );
    console.log(`  kubectl taint - (${kubectlMs} ms) → growth in ${resumedMs} ms`);
    // The untaint wakes the pool manager: not its next 5 s tick.
    assert.ok(resumedMs - kubectlMs < 2000, `${resumedMs - kubectlMs} ms after kubectl`);
    const messages = (await ipamdLog(node)).map((l) => l.msg);
    assert.ok(messages.some((m) => String(m).startsWith("node cordoned")));
    assert.ok(messages.some((m) => String(m).startsWith("node schedulable again")));
  });

  // Before the UnauthorizedOperation step: this ipamd must be gone when EC2 starts refusing.
  await runStep(LATE, async () => {
    await using step = testScope("tkit");
    const { node, ipamd, startedAt } = late!;
    await ipamd.waitReady({ timeoutMs: 60_000 });
    const log = await ipamdLog(node);
    const at = (msg: string) => Date.parse(String(log.find((l) => l.msg === msg)?.ts));
    const waitedMs = at("continuing without the API server; probing in the background") -
      at("API server not reachable yet");
    const readyMs = at("ipamd ready") - at("ipamd starting");
    console.log(`  API server down: waited ${waitedMs} ms for it, ready after ${readyMs} ms`);
    assert.ok(waitedMs >= 20_000 && waitedMs < 40_000, `gave up waiting after ${waitedMs} ms`);
    assert.equal((await pool(node)).limits.maxPods, 29, "no Node yet: the instance's limit");
    await waitFor("the pool grows to 20", async () => await secondaryIps(sim, node) === 20);

    const t0 = performance.now();
    await startNodeApiServer(node, { scope: step, port: LATE_PORT, pods: "8" });
    const readMs = await waitFor(
      "max pods from the Node",
      async () => (await pool(node)).limits.maxPods === 8,
      { since: t0 },
    );
    // The start-up probe goes on every 5 s and nudges the node watcher out of its backoff.
    assert.ok(readMs < 10_000, `Node read ${readMs} ms after the API server came back`);
    const shrankMs = await waitFor(
      "the pool gives back what max pods no longer allows",
      async () => await secondaryIps(sim, node) === 8,
      { since: t0 },
    );
    console.log(
      `  API server back: Node read after ${readMs} ms, EC2 at 8 after ${shrankMs} ms ` +
        `(${Math.round((performance.now() - startedAt) / 1000)} s after ipamd started)`,
    );
    await ipamd.stop();
  });

  await runStep(
    "an UnauthorizedOperation that stops node init is reported on the aws-node pod before ipamd exits",
    async () => {
      await using step = testScope("tkit");
      const node = await nextNode();
      const api = await startNodeApiServer(node, { scope: step });
      await sim.control.faults({
        faults: [{ action: "DescribeInstanceTypes", kind: "UnauthorizedOperation" }],
      });
      step.defer("clear the faults", () => sim.control.faults({ faults: [] }));
      const ipamd = await startIpamd(node, { env: api.env, cleanup: step.cleanup });
      const error = await ipamd.waitReady({ timeoutMs: 30_000 }).catch((e) => e);
      assert.ok(error instanceof IpamdError, String(error));
      assert.equal(error.exitStatus?.code, 1);
      const events = api.events("MissingIAMPermissions");
      assert.equal(events.length, 1);
      assert.equal(events[0]!.action, "ec2:DescribeInstanceTypes");
      assert.match(String(events[0]!.note), /ec2:DescribeInstanceTypes.*iam-policy\.json/);
    },
  );

  await runStep(
    "UnauthorizedOperation from EC2 becomes one MissingIAMPermissions event on the aws-node pod",
    async () => {
      await using step = testScope("tkit");
      const node = await nextNode();
      const api = await startNodeApiServer(node, { scope: step });
      await sim.control.resetCounters();
      await sim.control.faults({
        faults: [{ action: "AssignPrivateIpAddresses", kind: "UnauthorizedOperation" }],
      });
      step.defer("clear the faults", () => sim.control.faults({ faults: [] }));
      const ipamd = await startIpamd(node, {
        env: { ...api.env, WARM_IP_TARGET: "2" },
        cleanup: step.cleanup,
      });
      await ipamd.waitReady({ timeoutMs: 30_000 });
      const failures = async () => {
        const counters = await sim.control.counters() as {
          actions: Record<string, { errors: Record<string, number> }>;
        };
        return counters.actions.AssignPrivateIpAddresses?.errors.UnauthorizedOperation ?? 0;
      };
      // A pod waiting for an address makes the pool manager retry every backoff step (1 s,
      // 2 s...), as kubelet's retries of a pending pod would on a real node.
      const add = rpcCall(ipamd.socketPath, "ipam.add", {
        networkName: "aws-cni",
        containerId: "tkit-storm",
        ifName: "eth0",
        podName: "storm",
        podNamespace: "default",
        netns: "/var/run/netns/tkit-none",
        waitMs: 5000,
      }, { timeoutMs: 15_000 }).then(() => undefined, (error: Error) => error);
      await waitFor("a storm of refused calls", async () => await failures() >= 3, { ms: 20_000 });
      const refusedAdd = await add;
      assert.ok(refusedAdd instanceof RpcError, String(refusedAdd));
      console.log(`  the waiting ADD failed with: ${refusedAdd.message}`);
      const events = api.events("MissingIAMPermissions");
      assert.equal(events.length, 1, `${await failures()} refused calls, ${events.length} events`);
      const event = events[0]!;
      const pod = api.stub.get("v1", "Pod", api.podName, "kube-system")!;
      assert.equal(event.type, "Warning");
      assert.equal(event.action, "ec2:AssignPrivateIpAddresses");
      assert.equal(event.reportingController, "aws-node");
      assert.deepEqual(event.regarding, {
        apiVersion: "v1",
        kind: "Pod",
        namespace: "kube-system",
        name: api.podName,
        uid: (pod.metadata as { uid: string }).uid,
      });
      const created = api.stub.requestsTo(
        "POST",
        "/apis/events.k8s.io/v1/namespaces/kube-system/events",
      );
      assert.equal(created.length, 1);
      const listed = await api.kubectl(
        "get",
        "events.v1.events.k8s.io",
        "-n",
        "kube-system",
        "-o",
        "json",
      );
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /MissingIAMPermissions/);

      await sim.control.faults({ faults: [] });
      await waitFor(
        "the pool grows once permitted",
        async () => await secondaryIps(sim, node) === 2,
        { ms: 30_000 },
      );
      // The repeats were counted, not posted: SIGTERM writes the count as the Event's series.
      const refused = await failures();
      const stopped = await ipamd.stop();
      assert.equal(stopped.status.code, 0);
      const [after] = api.events("MissingIAMPermissions");
      assert.equal((after!.series as { count?: number } | undefined)?.count, refused);
      assert.equal(api.events("MissingIAMPermissions").length, 1);
      console.log(`  ${refused} refused EC2 calls → 1 Event, series.count ${refused}`);
    },
  );
});
