/**
 * The libcni driver against Debian's reference plugins (ptp + host-local) inside a lab node:
 * proves the harness that later drives aws-cni the same way.
 */
import assert from "node:assert/strict";
import { CniDriver, CniError, type CniResult, writeConflist } from "../lab/cnitool.ts";
import { nsExec } from "../lab/namespaces.ts";
import { netnsState } from "../lab/netns_state.ts";
import { hostLocalLeases, ptpHostLocalConflist } from "../lab/reference_plugins.ts";
import { createLab } from "../lab/lab_nodes.ts";
import { testScope } from "../lab/scope.ts";

function podAddress(result: CniResult): string {
  const address = result.ips?.[0]?.address;
  assert.ok(address, `ADD result has no address: ${JSON.stringify(result)}`);
  return address.split("/")[0]!;
}

Deno.test("cnitool ADD gives two ptp pods addresses that ping each other; CHECK passes; DEL leaves nothing", async () => {
  await using scope = testScope("thar");
  const dir = await scope.tempDir("ptp");
  const node = createLab({ prefix: "thar", cleanup: scope.cleanup }).nodes[0]!.netns;
  const podA = await scope.netns("pa");
  const podB = await scope.netns("pb");
  const conflist = ptpHostLocalConflist({
    name: "thar-ptp",
    subnet: "10.250.7.0/24",
    dataDir: `${dir}/ipam`,
  });
  const cni = new CniDriver(node, {
    conflistFile: await writeConflist(dir, conflist),
    cacheDir: `${dir}/cache`,
  });
  const before = await netnsState(node);

  const ipA = podAddress(await cni.add(podA, "thar-a"));
  const ipB = podAddress(await cni.add(podB, "thar-b"));
  assert.notEqual(ipA, ipB);
  assert.deepEqual(await hostLocalLeases(`${dir}/ipam`, "thar-ptp"), [ipA, ipB].sort());
  await cni.check(podA, "thar-a");
  await cni.check(podB, "thar-b");

  // Both pods route only through the node, which has no link out of the lab.
  const viaEth0 = await nsExec(podA, ["ip", "route", "get", ipB]);
  assert.match(viaEth0.stdout, /dev eth0/);
  await nsExec(podA, ["ping", "-c", "1", "-W", "2", ipB], { timeoutMs: 10_000 });
  await nsExec(podB, ["ping", "-c", "1", "-W", "2", ipA], { timeoutMs: 10_000 });

  await cni.del(podA, "thar-a");
  await cni.del(podB, "thar-b");
  await cni.del(podB, "thar-b"); // DEL is idempotent
  assert.deepEqual(await netnsState(node), before);
  assert.deepEqual(await hostLocalLeases(`${dir}/ipam`, "thar-ptp"), []);
  const podLinks = (await netnsState(podA)).links;
  assert.deepEqual(podLinks, ["lo"]);
});

Deno.test("a failed ADD surfaces as CniError with the plugin's code and message; VERSION lists versions", async () => {
  await using scope = testScope("thar");
  const dir = await scope.tempDir("ptp");
  const node = createLab({ prefix: "thar", cleanup: scope.cleanup }).nodes[0]!.netns;
  const podA = await scope.netns("pa");
  const podB = await scope.netns("pb");
  // A /30 leaves host-local one address after the gateway.
  const conflist = ptpHostLocalConflist({
    name: "thar-full",
    subnet: "10.250.10.0/30",
    dataDir: `${dir}/ipam`,
  });
  const cni = new CniDriver(node, {
    conflistFile: await writeConflist(dir, conflist),
    cacheDir: `${dir}/cache`,
  });
  assert.ok((await cni.version("ptp")).includes("1.0.0"));

  await cni.add(podA, "thar-a");
  const error = await cni.add(podB, "thar-b").catch((e) => e);

  assert.ok(error instanceof CniError, String(error));
  assert.equal(error.op, "ADD");
  assert.equal(error.containerId, "thar-b");
  assert.ok(error.code > 0);
  assert.match(error.message, /no IP addresses available/);
  await cni.del(podB, "thar-b"); // what a runtime does after a failed ADD
  await cni.del(podA, "thar-a");
  assert.deepEqual(await hostLocalLeases(`${dir}/ipam`, "thar-full"), []);
});
