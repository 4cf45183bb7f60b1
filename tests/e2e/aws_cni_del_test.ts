/**
 * aws-cni DEL when things are already gone (the pod's namespace, the assignment, ipamd itself),
 * and STATUS and GC run directly on the installed plugin (libcni 1.1.2 has neither) against
 * real ipamd in a simulated EC2 node.
 */
import assert from "node:assert/strict";
import { type Netns, nsExec } from "../lab/namespaces.ts";
import { netnsState } from "../lab/netns_state.ts";
import { testScope } from "../lab/scope.ts";
import { run } from "../lab/command.ts";
import {
  invokePlugin,
  ipamdPods,
  pluginConf,
  podResidue,
  startAwsCniLab,
} from "../lab/aws_cni_lab.ts";

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function podArgs(name: string) {
  return { K8S_POD_NAMESPACE: "default", K8S_POD_NAME: name };
}

Deno.test("aws-cni DEL after the namespace is gone, repeated, and with ipamd stopped; then GC and STATUS on the plugin", async (t) => {
  await using scope = testScope("tce2");
  const lab = await startAwsCniLab(scope, { nodes: 1, ipamdEnv: { WARM_IP_TARGET: "3" } });
  const node = lab.nodes[0]!;
  const before = await netnsState(node.netns);
  const heldBy = async (id: string) =>
    (await ipamdPods(node)).filter((p) => p.containerId === id).map((p) => p.ipv4);

  await t.step("DEL after the runtime removed the pod's namespace", async () => {
    const gone = await scope.netns("gone");
    const result = await node.cni.add(gone, "tce2-gone", { args: podArgs("gone") });
    const ip = result.ips![0]!.address.split("/")[0]!;
    assert.deepEqual(await heldBy("tce2-gone"), [ip]);
    await run(["ip", "netns", "del", gone.name]);
    // The kernel removes the namespace, and the veth with it, asynchronously; routes and rules stay.
    await waitFor(async () => !(await podResidue(node)).some((r) => r.startsWith("link ")));
    assert.match((await podResidue(node)).join("\n"), new RegExp(`rule 512:.*${ip}`));

    await node.cni.del(gone, "tce2-gone", { args: podArgs("gone") });

    assert.deepEqual(await podResidue(node), []);
    assert.deepEqual(await heldBy("tce2-gone"), []);
  });

  await t.step("a repeated DEL succeeds and changes nothing", async () => {
    const log = (await Deno.readTextFile(node.pluginLog)).length;
    await node.cni.del(
      `/var/run/netns/tce2-never-${crypto.randomUUID().slice(0, 6)}`,
      "tce2-gone",
      {
        args: podArgs("gone"),
      },
    );
    assert.deepEqual(await podResidue(node), []);
    const tail = (await Deno.readTextFile(node.pluginLog)).slice(log);
    assert.match(tail, /ipamd holds nothing for this container \(repeated DEL\)/);
  });

  let stale = "";
  let kept = "";
  let live: Netns | undefined;
  await t.step("DEL while ipamd is stopped tears the pod down from prevResult", async () => {
    const pod = await scope.netns("stale");
    live = await scope.netns("live");
    stale = (await node.cni.add(pod, "tce2-stale", { args: podArgs("stale") })).ips![0]!.address
      .split("/")[0]!;
    kept = (await node.cni.add(live, "tce2-live", { args: podArgs("live") })).ips![0]!.address
      .split("/")[0]!;
    await node.ipamd.stop();
    const log = (await Deno.readTextFile(node.pluginLog)).length;

    await node.cni.del(pod, "tce2-stale", { args: podArgs("stale") });

    const tail = (await Deno.readTextFile(node.pluginLog)).slice(log);
    assert.match(tail, /tearing down from prevResult/);
    const residue = await podResidue(node);
    assert.equal(residue.filter((r) => r.includes(stale)).length, 0, residue.join("\n"));
    assert.ok(residue.some((r) => r.includes(kept)), "the other pod is untouched");
    assert.deepEqual((await netnsState(pod)).links, ["lo"]);
    const probe = await nsExec(node.netns, ["ip", "route", "get", stale]);
    assert.doesNotMatch(probe.stdout, /dev eni/);
  });

  await t.step(
    "STATUS on the plugin: 50 while ipamd is down, success once it is back",
    async () => {
      const conf = await pluginConf(node, "1.1.0");
      const down = await invokePlugin(node, "STATUS", conf);
      assert.equal(down.code, 1);
      assert.equal(down.out?.code, 50, JSON.stringify(down.out));
      assert.match(String(down.out?.msg), /ipamd cannot serve pods/);

      node.ipamd.start();
      await node.ipamd.waitReady();
      const up = await invokePlugin(node, "STATUS", conf);
      assert.equal(up.code, 0, JSON.stringify(up.out) + up.stderr);
      assert.equal(up.out, undefined, "STATUS prints nothing on success");
      // Restoring its checkpoint, ipamd drops the assignment whose host veth is gone (spec §3.7).
      assert.deepEqual(await heldBy("tce2-stale"), []);
      assert.deepEqual(await heldBy("tce2-live"), [kept]);
    },
  );

  await t.step("GC on the plugin releases attachments the runtime no longer lists", async () => {
    const orphanNs = await scope.netns("orphan");
    const orphan = (await node.cni.add(orphanNs, "tce2-orphan", { args: podArgs("orphan") }))
      .ips![0]!.address.split("/")[0]!;
    const valid = [{ containerID: "tce2-live", ifname: "eth0" }];
    const conf = { ...await pluginConf(node, "1.1.0"), "cni.dev/valid-attachments": valid };
    const withoutList = await invokePlugin(node, "GC", await pluginConf(node, "1.1.0"));
    assert.equal(withoutList.out?.code, 7, "GC without the valid list must not release anything");
    assert.deepEqual(await heldBy("tce2-orphan"), [orphan]);

    const gc = await invokePlugin(node, "GC", conf);

    assert.equal(gc.code, 0, JSON.stringify(gc.out) + gc.stderr);
    assert.deepEqual(await heldBy("tce2-orphan"), []);
    assert.deepEqual(await heldBy("tce2-live"), [kept]);
    // GC removed the orphan's node routes and rules; its veth goes with its namespace.
    const residue = await podResidue(node);
    assert.equal(residue.filter((r) => r.includes(orphan)).length, 0, residue.join("\n"));
    assert.ok(residue.some((r) => r.includes(kept)), "the live pod is untouched");
    await run(["ip", "netns", "del", orphanNs.name]);
    const links = async () => (await podResidue(node)).filter((r) => r.startsWith("link "));
    await waitFor(async () => (await links()).length === 1); // the live pod's veth
  });

  await t.step("the last pod's DEL leaves the node as it was", async () => {
    assert.ok(live);
    await node.cni.del(live, "tce2-live", { args: podArgs("live") });
    assert.deepEqual(await ipamdPods(node), []);
    assert.deepEqual(await podResidue(node), []);
    assert.deepEqual(await netnsState(node.netns), before);
  });
});
