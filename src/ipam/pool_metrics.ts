/**
 * Publishes the pool's gauges (upstream names plus ours) after every change of the pool. The
 * per-CIDR and per-ENI gauges are updated incrementally: on a node with 700 pods, rewriting
 * every label set on every ADD cost more CPU and garbage than the ADD itself.
 */
import type { Gauge } from "prom-client";
import type { Metrics } from "../ops/metrics.ts";
import type { Datastore } from "./datastore.ts";
import type { PoolSettings } from "./pool.ts";
import { PREFIX_SIZE } from "./pool.ts";

const published = new WeakMap<Gauge<string>, Map<string, number>>();

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
  syncLabels(metrics.assignedPerEni, new Map(stats.perEni.map((e) => [e.id, e.assigned])));
  const perCidr = new Map<string, number>();
  for (const eni of ds.view().enis) {
    for (const cidr of eni.cidrs) perCidr.set(cidr.cidr, cidr.assigned);
  }
  syncLabels(metrics.assignedPerCidr, perCidr);
}

/** Sets changed label values and removes vanished labels; untouched labels cost nothing. */
function syncLabels(gauge: Gauge<string>, values: Map<string, number>): void {
  let last = published.get(gauge);
  if (!last) published.set(gauge, last = new Map());
  for (const [label, value] of values) {
    if (last.get(label) === value) continue;
    gauge.labels(label).set(value);
    last.set(label, value);
  }
  for (const label of [...last.keys()]) {
    if (values.has(label)) continue;
    gauge.remove(label);
    last.delete(label);
  }
}
