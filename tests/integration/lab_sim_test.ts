/** tests/lab/sim.ts against the real simulator (`build/bin/ipamd sim`, from `make launchers`). */
import assert from "node:assert/strict";
import { nsExec } from "../lab/namespaces.ts";
import { testScope } from "../lab/scope.ts";
import { startSim } from "../lab/sim.ts";

Deno.test("startSim() returns the lab's nodes, the control API answers, stop() leaves no namespace", async () => {
  await using scope = testScope("thar");
  const sim = await startSim({ nodes: 2, cleanup: scope.cleanup });

  assert.equal(sim.nodes.length, 2);
  const node = sim.nodes[0]!;
  assert.ok(node.info.env.IPAMD_SOCKET_PATH);
  const eth0 = await nsExec(node.netns, ["ip", "-4", "-o", "addr", "show", "eth0"]);
  assert.match(eth0.stdout, new RegExp(`inet ${node.info.primaryIp.replaceAll(".", "\\.")}/`));
  // The router routes each node's primary IP to that node.
  const route = await nsExec(sim.router!, ["ip", "route", "get", sim.nodes[1]!.info.primaryIp]);
  assert.match(route.stdout, /dev n2d0/);
  const state = await sim.control.state();
  const instances = state.instances as Array<{ instanceId: string }>;
  assert.deepEqual(
    instances.map((i) => i.instanceId).sort(),
    sim.nodes.map((n) => n.info.instanceId).sort(),
  );
  await sim.control.resetCounters();

  await sim.stop();

  for (const ns of [sim.router!, ...sim.nodes.map((n) => n.netns)]) {
    await assert.rejects(Deno.lstat(ns.path), Deno.errors.NotFound);
  }
  await assert.rejects(nsExec(node.netns, ["true"]), /not created or adopted/);
});
