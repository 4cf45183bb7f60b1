/**
 * aws-cni end to end through libcni (build/bin/cnitool) with real ipamd on two simulated EC2
 * nodes: VPC addresses from the nodes' ENIs, pod traffic across the VPC, a portmap hostPort,
 * CHECK, and a DEL that leaves the node as it was.
 */
import assert from "node:assert/strict";
import { CniError, type CniResult } from "../lab/cnitool.ts";
import { nsExec } from "../lab/namespaces.ts";
import { netnsState } from "../lab/netns_state.ts";
import { testScope } from "../lab/scope.ts";
import {
  checkingConflist,
  ipamdPods,
  nodeEnis,
  podResidue,
  serveHttp,
  startAwsCniLab,
  withoutPortmapChains,
} from "../lab/aws_cni_lab.ts";

const HOST_PORT = 18080;
const POD_PORT = 8080;

function podAddress(result: CniResult): string {
  const address = result.ips?.[0]?.address;
  assert.ok(address, `ADD result has no address: ${JSON.stringify(result)}`);
  assert.match(address, /\/32$/);
  return address.split("/")[0]!;
}

async function ping(from: Parameters<typeof nsExec>[0], to: string): Promise<void> {
  const out = await nsExec(from, ["ping", "-c", "1", "-W", "2", to], {
    allowFailure: true,
    timeoutMs: 10_000,
  });
  assert.ok(out.success, `ping ${from.name} -> ${to} failed: ${out.stdout}${out.stderr}`);
}

Deno.test("aws-cni through libcni: VPC addresses, pod traffic, hostPort, CHECK and DEL on two nodes", async (t) => {
  await using scope = testScope("tce2");
  const dir = await scope.tempDir("traffic");
  // WARM_IP_TARGET keeps the pool on the primary ENI, so the nodes' namespaces do not change
  // under the test and can be compared whole before and after.
  const lab = await startAwsCniLab(scope, { nodes: 2, ipamdEnv: { WARM_IP_TARGET: "3" } });
  const [n1, n2] = lab.nodes as [typeof lab.nodes[0], typeof lab.nodes[0]];
  const podA = await scope.netns("pa");
  const podB = await scope.netns("pb");
  const argsA = { K8S_POD_NAMESPACE: "default", K8S_POD_NAME: "web-a" };
  const argsB = { K8S_POD_NAMESPACE: "default", K8S_POD_NAME: "client-b" };
  const portMappings = [{ hostPort: HOST_PORT, containerPort: POD_PORT, protocol: "tcp" }];
  const before1 = await netnsState(n1.netns);
  const before2 = await netnsState(n2.netns);
  let ipA = "";
  let ipB = "";

  await t.step("ADD gives each pod a /32 from its own node's ENIs, held by ipamd", async () => {
    const resultA = await n1.cni.add(podA, "tce2-a", {
      args: argsA,
      capabilityArgs: { portMappings },
    });
    const resultB = await n2.cni.add(podB, "tce2-b", { args: argsB });
    ipA = podAddress(resultA);
    ipB = podAddress(resultB);
    assert.equal(resultA.cniVersion, "0.4.0", "the conflist's version");
    assert.deepEqual(resultA.interfaces?.map((i) => i.name.replace(/[0-9a-f]{11}$/, "#")), [
      "eni#",
      "eth0",
      "dummy#",
    ]);
    for (
      const [node, ip, id, pod] of [[n1, ipA, "tce2-a", "web-a"], [
        n2,
        ipB,
        "tce2-b",
        "client-b",
      ]] as const
    ) {
      const held = (await ipamdPods(node)).filter((p) => p.containerId === id);
      assert.equal(held.length, 1, `ipamd on ${node.name} holds ${JSON.stringify(held)}`);
      assert.equal(held[0]!.ipv4, ip);
      assert.equal(held[0]!.podName, pod);
      const enis = await nodeEnis(lab, node);
      const eni = enis.find((e) => e.networkInterfaceId === held[0]!.eniId);
      assert.ok(eni, `${held[0]!.eniId} is not attached to ${node.instanceId} in the simulator`);
      assert.ok(
        eni.secondaryIps.includes(ip),
        `${ip} is not a secondary address of ${eni.networkInterfaceId}`,
      );
    }
    assert.notEqual(ipA, ipB);
  });

  await t.step(
    "pods ping each other across the VPC, the router gateway and their own node",
    async () => {
      await ping(podA, ipB);
      await ping(podB, ipA);
      await ping(podA, lab.gateway);
      await ping(podB, lab.gateway);
      await ping(podA, n1.primaryIp);
      await ping(podB, n2.primaryIp);
    },
  );

  await t.step("a portmap hostPort serves HTTP from the pod on the node's address", async () => {
    await serveHttp(scope, podA, { port: POD_PORT, body: "hello from web-a\n" });
    const url = `http://${n1.primaryIp}:${HOST_PORT}/index.html`;
    const local = await nsExec(n1.netns, ["curl", "-sS", "--max-time", "5", url], {
      timeoutMs: 10_000,
    });
    assert.equal(local.stdout, "hello from web-a\n");
    // From the other node, through the VPC router, like a client of a NodePort-less hostPort.
    const remote = await nsExec(n2.netns, ["curl", "-sS", "--max-time", "5", url], {
      timeoutMs: 10_000,
    });
    assert.equal(remote.stdout, "hello from web-a\n");
  });

  await t.step("CHECK passes, then names the node route removed by hand", async () => {
    const checking = await checkingConflist(n2, dir);
    await checking.check(podB, "tce2-b", { args: argsB });
    await nsExec(n2.netns, ["ip", "route", "del", `${ipB}/32`]);
    const error = await checking.check(podB, "tce2-b", { args: argsB }).catch((e) => e);
    assert.ok(error instanceof CniError, `CHECK did not fail: ${error}`);
    assert.equal(error.code, 100);
    assert.equal(
      error.msg,
      `pod network check failed: node: no route to ${ipB}/32 in the main table`,
    );
  });

  await t.step("DEL leaves both nodes as they were and ipamd holds nothing", async () => {
    await n1.cni.del(podA, "tce2-a", { args: argsA, capabilityArgs: { portMappings } });
    await n2.cni.del(podB, "tce2-b", { args: argsB });
    assert.deepEqual(await podResidue(n1), []);
    assert.deepEqual(await podResidue(n2), []);
    assert.deepEqual(
      withoutPortmapChains(await netnsState(n1.netns)),
      withoutPortmapChains(before1),
    );
    assert.deepEqual(await netnsState(n2.netns), before2);
    assert.deepEqual((await netnsState(podA)).links, ["lo"]);
    assert.deepEqual((await netnsState(podB)).links, ["lo"]);
    assert.deepEqual(await ipamdPods(n1), []);
    assert.deepEqual(await ipamdPods(n2), []);
    const unreachable = await nsExec(n1.netns, ["ip", "route", "get", ipA]);
    assert.doesNotMatch(unreachable.stdout, /dev eni/);
  });
});
