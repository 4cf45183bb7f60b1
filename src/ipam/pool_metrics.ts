/** Publishes the pool's gauges (upstream names plus ours) after every change of the pool. */
import type { Metrics } from "../ops/metrics.ts";
import type { Datastore } from "./datastore.ts";
import type { PoolSettings } from "./pool.ts";
import { PREFIX_SIZE } from "./pool.ts";

export function publishPoolMetrics(metrics: Metrics, ds: Datastore, settings: PoolSettings): void {
  const stats = ds.stats();
  metrics.eniAllocated.set(stats.enis);
  metrics.totalIps.set(stats.total);
  metrics.assignedIps.set(stats.assigned);
  metrics.availableIps.set(stats.available);
  metrics.cooldownIps.set(stats.cooling);
  metrics.totalPrefixes.set(stats.prefixes);
  const maxEnis = Math.max(0, settings.maxEnis - settings.unmanagedEnis);
  const perEni = ds.mode === "prefix-delegation"
    ? settings.slotsPerEni * PREFIX_SIZE
    : settings.slotsPerEni;
  metrics.eniMax.set(maxEnis);
  metrics.ipMax.set(maxEnis * perEni);
  metrics.assignedPerEni.reset();
  for (const eni of stats.perEni) metrics.assignedPerEni.labels(eni.id).set(eni.assigned);
  metrics.assignedPerCidr.reset();
  for (const eni of ds.view().enis) {
    for (const cidr of eni.cidrs) metrics.assignedPerCidr.labels(cidr.cidr).set(cidr.assigned);
  }
}
