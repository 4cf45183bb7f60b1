/**
 * Reconciliation with the instance (spec §3.8): ENIs attached or detached behind ipamd's back,
 * addresses added or removed on an ENI by someone else. IMDS is read first (cheap); where it
 * disagrees with the datastore, EC2 is the truth, because IMDS lags. Addresses ipamd itself
 * released in the last minute are never re-adopted from a stale view.
 */
import type { Logger } from "../ops/log.ts";
import type { Metrics } from "../ops/metrics.ts";
import { deletePodRules } from "../node/pod_rules.ts";
import type { EniMetadata } from "../aws/imds_metadata.ts";
import { RECONCILE_COOLDOWN_MS } from "./manager.ts";
import type { NodeRuntime } from "./node_init.ts";

export interface ReconcileOptions {
  node: NodeRuntime;
  /** CIDRs ipamd released recently, by release time (the manager's). */
  released: Map<string, number>;
  logger: Logger;
  metrics: Metrics;
  now?: () => number;
}

export interface ReconcileReport {
  adoptedEnis: string[];
  removedEnis: string[];
  addedCidrs: string[];
  removedCidrs: string[];
  /** Pods whose address vanished from EC2 (their rules were removed). */
  lostPods: string[];
}

export async function reconcile(options: ReconcileOptions): Promise<ReconcileReport> {
  const { node, logger, metrics } = options;
  const now = options.now ?? Date.now;
  const report: ReconcileReport = {
    adoptedEnis: [],
    removedEnis: [],
    addedCidrs: [],
    removedCidrs: [],
    lostPods: [],
  };
  for (const [cidr, at] of options.released) {
    if (now() - at > RECONCILE_COOLDOWN_MS) options.released.delete(cidr);
  }
  const all = await node.imds.listEnis();
  const attached = all.filter((m) => m.networkCard === 0);
  if (attached.length === 0) throw new RangeError("IMDS lists no ENI at all; skipping reconcile");
  // An unmanaged ENI that went away no longer takes a slot.
  const attachedIds = new Set(all.map((m) => m.eniId));
  for (const id of node.unmanaged) if (!attachedIds.has(id)) node.unmanaged.delete(id);

  // VPC CIDRs can grow (associated CIDR blocks): keep SNAT exemptions current.
  const vpcCidrs = attached.find((m) => m.eniId === node.primary.eniId)?.vpcCidrs;
  if (vpcCidrs && vpcCidrs.join() !== node.vpcCidrs.join()) {
    logger.info("VPC CIDRs changed; updating SNAT rules", { from: node.vpcCidrs, to: vpcCidrs });
    await node.applySnat(vpcCidrs);
    node.vpcCidrs = vpcCidrs;
  }

  const known = new Set(node.ds.view().enis.map((e) => e.id));
  // Attached since we last looked: EC2 says whether they are ours (spec §3.8 steps 2–3).
  const unknown = attached.filter((m) => !known.has(m.eniId) && !node.unmanaged.has(m.eniId));
  const leaveAlone = await node.vetEnis(unknown.map((m) => m.eniId));
  for (const meta of attached) {
    if (node.unmanaged.has(meta.eniId) || leaveAlone.has(meta.eniId)) continue;
    if (!known.has(meta.eniId)) {
      await node.adoptEni(meta);
      metrics.reconcileCount.labels("eniReconcileAdd").inc();
      report.adoptedEnis.push(meta.eniId);
      continue;
    }
    await reconcileCidrs(meta, { ...options, report, now });
  }
  const present = new Set(attached.map((m) => m.eniId));
  for (const eniId of known) {
    if (present.has(eniId)) continue;
    const lost = node.ds.removeEni(eniId, { force: true });
    node.forgetEni(eniId);
    for (const a of lost) deletePodRules(node.nl, a.ipv4);
    metrics.reconcileCount.labels("eniReconcileDel").inc();
    if (lost.length > 0) {
      metrics.forceRemovedEnis.inc();
      metrics.forceRemovedIps.inc(lost.length);
    }
    report.removedEnis.push(eniId);
    report.lostPods.push(...lost.map((a) => a.ipv4));
  }
  if (Object.values(report).some((list) => list.length > 0)) {
    logger.info("reconciled with the instance", { ...report });
  }
  return report;
}

async function reconcileCidrs(
  meta: EniMetadata,
  context: ReconcileOptions & { report: ReconcileReport; now: () => number },
): Promise<void> {
  const { node, logger, metrics, report } = context;
  const eni = node.ds.view().enis.find((e) => e.id === meta.eniId);
  if (!eni) return;
  const have = new Set(eni.cidrs.map((c) => c.cidr));
  const fromImds = [...meta.ipv4s.slice(1).map((ip) => `${ip}/32`), ...meta.ipv4Prefixes];
  if (sameSet(have, fromImds)) return;
  // IMDS lags behind EC2 in both directions: ask EC2 before changing anything.
  let truth: string[];
  if (node.ops) {
    try {
      truth = await node.ops.cidrsOf(meta.eniId);
    } catch (error) {
      logger.warn("EC2 describe failed; ENI left as is until the next reconcile", {
        eni: meta.eniId,
        error,
      });
      return;
    }
  } else {
    truth = fromImds;
  }
  for (const cidr of truth) {
    if (have.has(cidr) || context.released.has(cidr)) continue;
    node.ds.addCidr(meta.eniId, cidr);
    metrics.reconcileCount.labels("eniDataStorePoolReconcileAdd").inc();
    report.addedCidrs.push(cidr);
  }
  const wanted = new Set(truth);
  for (const cidr of have) {
    if (wanted.has(cidr)) continue;
    const lost = node.ds.removeCidr(meta.eniId, cidr, { force: true });
    for (const a of lost) deletePodRules(node.nl, a.ipv4);
    metrics.reconcileCount.labels("eniIPPoolReconcileDel").inc();
    if (lost.length > 0) metrics.forceRemovedIps.inc(lost.length);
    report.removedCidrs.push(cidr);
    report.lostPods.push(...lost.map((a) => a.ipv4));
  }
}

function sameSet(a: Set<string>, b: string[]): boolean {
  return a.size === b.length && b.every((x) => a.has(x));
}
