/**
 * Leaked-ENI clean-up (spec §3.9): detached CNI ENIs (`available`, description aws-K8S-…,
 * tagged createdAt, older than 5 minutes) are deleted. Upstream deletes any such ENI in the
 * VPC, so one node can delete an ENI another cluster's node is attaching right now; here a
 * node only deletes ENIs of its own cluster (cluster tag, when CLUSTER_NAME is set) that were
 * created by itself or by an instance that no longer runs. An unparsable createdAt is re-tagged
 * and skipped (upstream treats it as leaked).
 */
import type { Config } from "../config.ts";
import type { Ec2Client } from "../aws/ec2.ts";
import { isNotFound } from "../aws/ec2_errors.ts";
import type { Eni } from "../aws/ec2_types.ts";
import type { Logger } from "../ops/log.ts";
import { ENI_DESCRIPTION_PREFIX, TAG_CLUSTER, TAG_CREATED_AT, TAG_INSTANCE_ID } from "./eni_ops.ts";

export const LEAK_MIN_AGE_MS = 5 * 60_000;

export interface LeakContext {
  ec2: Ec2Client;
  config: Pick<Config, "clusterName">;
  instanceId: string;
  vpcId: string;
  logger: Logger;
  now?: () => number;
}

/** The candidates' decision, pure: which ENIs are leaked, which need a createdAt tag. */
export function judgeLeaks(
  enis: readonly Eni[],
  context: {
    instanceId: string;
    clusterName: string;
    liveInstances: ReadonlySet<string>;
    now: number;
  },
): { leaked: string[]; retag: string[] } {
  const leaked: string[] = [];
  const retag: string[] = [];
  for (const eni of enis) {
    if (eni.status !== "available" || !eni.description.startsWith(ENI_DESCRIPTION_PREFIX)) continue;
    if (context.clusterName && eni.tags[TAG_CLUSTER] !== context.clusterName) continue;
    const owner = eni.tags[TAG_INSTANCE_ID];
    if (!owner) continue;
    if (owner !== context.instanceId && context.liveInstances.has(owner)) continue;
    const created = Date.parse(eni.tags[TAG_CREATED_AT] ?? "");
    if (Number.isNaN(created)) {
      retag.push(eni.eniId);
      continue;
    }
    if (context.now - created < LEAK_MIN_AGE_MS) continue;
    leaked.push(eni.eniId);
  }
  return { leaked, retag };
}

/** One clean-up pass; returns the ENIs deleted. */
export async function cleanLeakedEnis(context: LeakContext): Promise<string[]> {
  const { ec2, config, logger } = context;
  const now = (context.now ?? Date.now)();
  const filters: Record<string, string[]> = {
    "tag-key": [TAG_INSTANCE_ID],
    "status": ["available"],
    "vpc-id": [context.vpcId],
  };
  if (config.clusterName) filters[`tag:${TAG_CLUSTER}`] = [config.clusterName];
  const candidates = await ec2.describeNetworkInterfaces({ filters });
  const owners = [
    ...new Set(candidates.map((e) => e.tags[TAG_INSTANCE_ID]).filter((o): o is string => !!o)),
  ];
  const liveInstances = new Set<string>();
  for (const owner of owners) {
    if (owner === context.instanceId) continue;
    const instance = await ec2.describeInstance(owner).catch((error) => {
      if (isNotFound(error)) return undefined;
      throw error;
    });
    if (instance && instance.state !== "terminated" && instance.state !== "shutting-down") {
      liveInstances.add(owner);
    }
  }
  const { leaked, retag } = judgeLeaks(candidates, {
    instanceId: context.instanceId,
    clusterName: config.clusterName,
    liveInstances,
    now,
  });
  if (retag.length > 0) {
    await ec2.createTags(retag, { [TAG_CREATED_AT]: new Date(now).toISOString() });
  }
  const deleted: string[] = [];
  for (const eniId of leaked) {
    try {
      await ec2.deleteNetworkInterface(eniId);
      deleted.push(eniId);
    } catch (error) {
      if (!isNotFound(error)) logger.warn("cannot delete a leaked ENI", { eni: eniId, error });
    }
  }
  if (deleted.length > 0) logger.info("leaked ENIs deleted", { enis: deleted });
  return deleted;
}
