/**
 * SNAT as ipamd sets it up (spec §5.4), checked by the receiver: pods wired by the real aws-cni
 * (installed by ipamd, run through libcni's cnitool) connect over TCP to the lab's "internet"
 * host 198.51.100.100 on the router's lo, where a tiny server reports the peer address it sees.
 * On a default node the pod is seen as the node's primary IP — from the primary ENI and from a
 * secondary ENI alike (its reply must come back through the primary ENI, by connmark); on a
 * node with AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS=198.51.100.0/24 it is seen as itself. Every
 * connection is bounded (2 s each, the server lives at most 30 s).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { CniDriver } from "../lab/cnitool.ts";
import { startIpamd } from "../lab/ipamd.ts";
import { type Netns, nsArgv, nsExec } from "../lab/namespaces.ts";
import { REFERENCE_PLUGIN_DIR } from "../lab/paths.ts";
import { introspect, Pods, waitFor } from "../lab/pool_lab.ts";
import { testScope } from "../lab/scope.ts";
import { type LabNode, startSim } from "../lab/sim.ts";

const PEER = fileURLToPath(new URL("../lab/tcp_peer.ts", import.meta.url));
const INTERNET = "198.51.100.100";
const PORT = "7100";

/** Connects from `pod` to INTERNET:PORT, where a server in `router` reports the peer address. */
async function seenBy(router: Netns, pod: Netns): Promise<string> {
  const [program, ...args] = nsArgv(router, [
    Deno.execPath(),
    "run",
    "-A",
    "--no-config",
    PEER,
    "serve",
    PORT,
  ]);
  const server = new Deno.Command(program!, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
    signal: AbortSignal.timeout(30_000),
  }).spawn();
  const stdin = server.stdin.getWriter();
  const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    assert.equal((await lines.read()).value?.trim(), "ready");
    const out = await nsExec(pod, [
      Deno.execPath(),
      "run",
      "-A",
      "--no-config",
      PEER,
      "probe",
      PORT,
      INTERNET,
    ], { timeoutMs: 20_000 });
    return (JSON.parse(out.stdout) as Record<string, string>)[INTERNET]!;
  } finally {
    await stdin.close().catch(() => {});
    await lines.cancel().catch(() => {});
    await server.status;
  }
}

/** ipamd on the node, and a CNI driver for the aws-cni it installs. */
async function nodeWithCni(
  node: LabNode,
  options: { env: Record<string, string>; scope: ReturnType<typeof testScope> },
) {
  const ipamd = await startIpamd(node, { env: options.env, cleanup: options.scope.cleanup });
  await ipamd.waitReady({ timeoutMs: 60_000 });
  const conflistFile = `${node.info.env.HOST_CNI_CONFDIR_PATH}/10-aws.conflist`;
  await waitFor("ipamd installs the conflist", () => Deno.stat(conflistFile), () => true);
  const cni = new CniDriver(node.netns, {
    conflistFile,
    cacheDir: await options.scope.tempDir("cnicache"),
    pluginDirs: [node.info.env.HOST_CNI_BIN_PATH!, REFERENCE_PLUGIN_DIR],
    timeoutMs: 60_000,
  });
  return { ipamd, cni };
}

Deno.test({
  name: "pods are SNATed to the node's primary IP off the VPC, except for excluded CIDRs",
  ignore: Deno.uid() !== 0,
  async fn(t) {
    await using scope = testScope("tipd");
    const sim = await startSim({
      nodes: 2,
      instanceType: "t3.small",
      args: ["--prefix", "tipd"],
      cleanup: scope.cleanup,
    });
    const router = sim.router!;
    const [snatNode, excludedNode] = sim.nodes as [LabNode, LabNode];
    const [snat, excluded] = await Promise.all([
      nodeWithCni(snatNode, { env: {}, scope }),
      nodeWithCni(excludedNode, {
        env: { AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: "198.51.100.0/24" },
        scope,
      }),
    ]);

    await t.step("a pod on the primary ENI is seen as the node's primary IP", async () => {
      const pod = await scope.netns("pod1");
      const result = await snat.cni.add(pod, "tipd-pod1", {
        args: { K8S_POD_NAMESPACE: "default", K8S_POD_NAME: "pod1" },
      });
      const podIp = result.ips![0]!.address.split("/")[0]!;
      assert.notEqual(podIp, snatNode.info.primaryIp);
      assert.equal(await seenBy(router, pod), snatNode.info.primaryIp);
      await snat.cni.del(pod, "tipd-pod1", {
        args: { K8S_POD_NAMESPACE: "default", K8S_POD_NAME: "pod1" },
      });
    });

    await t.step("a pod on a secondary ENI is seen as the node's primary IP too", async () => {
      // Fill the primary ENI's 3 addresses through the API, so the next pod lands on eth1.
      const filler = new Pods(snat.ipamd);
      await filler.addMany("fill", 3);
      const pod = await scope.netns("pod2");
      const result = await snat.cni.add(pod, "tipd-pod2", {
        args: { K8S_POD_NAMESPACE: "default", K8S_POD_NAME: "pod2" },
      });
      const podIp = result.ips![0]!.address.split("/")[0]!;
      const pods = await introspect<
        Array<{ ipv4: string; deviceNumber: number }>
      >(snatNode.netns, "/v1/pods");
      assert.equal(pods.find((p) => p.ipv4 === podIp)?.deviceNumber, 1, "on the second ENI");
      assert.equal(await seenBy(router, pod), snatNode.info.primaryIp);
    });

    await t.step(
      "with the internet range excluded from SNAT the pod is seen as itself",
      async () => {
        const pod = await scope.netns("pod3");
        const result = await excluded.cni.add(pod, "tipd-pod3", {
          args: { K8S_POD_NAMESPACE: "default", K8S_POD_NAME: "pod3" },
        });
        const podIp = result.ips![0]!.address.split("/")[0]!;
        assert.equal(await seenBy(router, pod), podIp);
      },
    );
  },
});
