import assert from "node:assert/strict";
import { Datastore } from "../../src/ipam/datastore.ts";
import { publishPoolMetrics } from "../../src/ipam/pool_metrics.ts";
import { Metrics } from "../../src/ops/metrics.ts";

const SETTINGS = {
  warmEniTarget: 1,
  warmIpTarget: 0,
  minimumIpTarget: 0,
  warmPrefixTarget: 0,
  maxEnis: 3,
  slotsPerEni: 5,
  maxPods: 17,
  skipPrimary: false,
  unmanagedEnis: 0,
  reservedEniSlots: 0,
};

function series(text: string, name: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(name));
}

Deno.test("publishPoolMetrics() follows assignments and drops the labels of removed CIDRs", async () => {
  const metrics = new Metrics();
  const ds = new Datastore({ mode: "secondary-ip", cooldownMs: 0 });
  ds.addEni({ id: "eni-a", deviceNumber: 0 });
  ds.addCidr("eni-a", "10.0.0.5/32");
  ds.addCidr("eni-a", "10.0.0.6/32");
  publishPoolMetrics(metrics, ds, SETTINGS);
  assert.deepEqual(series(await metrics.render(), "awscni_assigned_ip_per_cidr"), [
    'awscni_assigned_ip_per_cidr{cidr="10.0.0.5/32"} 0',
    'awscni_assigned_ip_per_cidr{cidr="10.0.0.6/32"} 0',
  ]);
  ds.assign({ networkName: "n", containerId: "c", ifName: "eth0" });
  ds.removeCidr("eni-a", "10.0.0.6/32");
  publishPoolMetrics(metrics, ds, SETTINGS);
  const text = await metrics.render();
  assert.deepEqual(series(text, "awscni_assigned_ip_per_cidr"), [
    'awscni_assigned_ip_per_cidr{cidr="10.0.0.5/32"} 1',
  ]);
  assert.deepEqual(series(text, "awscni_assigned_ip_per_eni"), [
    'awscni_assigned_ip_per_eni{eni="eni-a"} 1',
  ]);
  assert.deepEqual(series(text, "awscni_total_ip_addresses"), ["awscni_total_ip_addresses 1"]);
  assert.deepEqual(series(text, "awscni_ip_max"), ["awscni_ip_max 15"]);
});
