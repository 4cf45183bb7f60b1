/** The driver's bench and parallel commands, with ptp + host-local (shape and success only). */
import assert from "node:assert/strict";
import { CniDriver, type LatencyStats, writeConflist } from "../lab/cnitool.ts";
import { netnsState } from "../lab/netns_state.ts";
import { hostLocalLeases, ptpHostLocalConflist } from "../lab/reference_plugins.ts";
import { createLab } from "../lab/lab_nodes.ts";
import { testScope } from "../lab/scope.ts";

function assertStats(stats: LatencyStats, n: number): void {
  assert.equal(stats.n, n);
  assert.equal(stats.failed, 0);
  assert.equal(stats.samplesMs.length, n);
  assert.ok(stats.samplesMs.every((s) => s > 0));
  assert.ok(stats.minMs <= stats.p50Ms && stats.p50Ms <= stats.p90Ms);
  assert.ok(stats.p90Ms <= stats.p99Ms && stats.p99Ms <= stats.maxMs);
}

Deno.test("cnitool bench runs 20 ADDs then 20 DELs and reports latency percentiles", async () => {
  await using scope = testScope("thar");
  const dir = await scope.tempDir("bench");
  const node = createLab({ prefix: "thar", cleanup: scope.cleanup }).nodes[0]!.netns;
  const conflist = ptpHostLocalConflist({
    name: "thar-bench",
    subnet: "10.250.8.0/24",
    dataDir: `${dir}/ipam`,
  });
  const cni = new CniDriver(node, {
    conflistFile: await writeConflist(dir, conflist),
    cacheDir: `${dir}/cache`,
  });
  const before = await netnsState(node);

  const report = await cni.bench({ n: 20, idPrefix: "thar-bench" });

  assert.equal(report.ok, true, JSON.stringify(report.failures));
  assert.equal(report.command, "bench");
  assert.equal(report.network, "thar-bench");
  assertStats(report.add, 20);
  assertStats(report.del, 20);
  assert.deepEqual(report.failures, []);
  // deno-lint-ignore no-console -- the figures the report quotes
  console.log(
    `ptp+host-local via libcni (n=20): ADD p50 ${report.add.p50Ms} ms p90 ${report.add.p90Ms} ms; DEL p50 ${report.del.p50Ms} ms p90 ${report.del.p90Ms} ms`,
  );
  assert.deepEqual(await netnsState(node), before);
  assert.deepEqual(await hostLocalLeases(`${dir}/ipam`, "thar-bench"), []);
});

Deno.test("cnitool parallel runs 20 concurrent ADDs with distinct addresses, then DELs them all", async () => {
  await using scope = testScope("thar");
  const dir = await scope.tempDir("par");
  const node = createLab({ prefix: "thar", cleanup: scope.cleanup }).nodes[0]!.netns;
  const conflist = ptpHostLocalConflist({
    name: "thar-par",
    subnet: "10.250.9.0/24",
    dataDir: `${dir}/ipam`,
  });
  const cni = new CniDriver(node, {
    conflistFile: await writeConflist(dir, conflist),
    cacheDir: `${dir}/cache`,
  });

  const report = await cni.parallel({ n: 20 });

  assert.equal(report.ok, true, JSON.stringify(report.add.filter((op) => op.error)));
  const addresses = report.add.map((op) => op.result?.ips?.[0]?.address);
  assert.equal(addresses.filter((a) => a !== undefined).length, 20);
  assert.equal(new Set(addresses).size, 20, `duplicate addresses: ${addresses.join(" ")}`);
  assert.equal(report.del?.length, 20);
  assert.ok(report.del?.every((op) => op.error === undefined));
  assert.deepEqual(await hostLocalLeases(`${dir}/ipam`, "thar-par"), []);
});
