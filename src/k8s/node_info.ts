/**
 * What ipamd needs to know about its own Node (MY_NODE_NAME): labels and annotations (ENIConfig
 * selection, per-node overrides), the unschedulable taint (AWS_MANAGE_ENIS_NON_SCHEDULABLE) and
 * `status.capacity.pods` (max pods, spec §3.3 step 16).
 */
import type { CallOptions, K8sClient } from "./client.ts";
import type { NodeObject, Taint } from "./types.ts";

export const UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable";
/** Upstream's fallback when neither the Node nor eni-max-pods.txt gives max pods. */
export const DEFAULT_MAX_PODS = 110;
/** Upstream reads the Node with a 3 s deadline. */
export const NODE_READ_TIMEOUT_MS = 3000;

export interface NodeInfo {
  name: string;
  uid: string;
  resourceVersion: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  taints: Taint[];
  /**
   * The node carries `node.kubernetes.io/unschedulable:NoSchedule` (added when it is cordoned):
   * with AWS_MANAGE_ENIS_NON_SCHEDULABLE=false ipamd then attaches and frees no ENIs or IPs.
   */
  unschedulable: boolean;
  /** `status.capacity.pods`, when present and a whole number. */
  maxPods: number | undefined;
  providerId: string | undefined;
}

export function nodeInfoFromObject(node: NodeObject): NodeInfo {
  const taints = (node.spec?.taints ?? []).map((t) => ({ ...t }));
  return {
    name: node.metadata.name,
    uid: node.metadata.uid ?? "",
    resourceVersion: node.metadata.resourceVersion ?? "",
    labels: { ...node.metadata.labels },
    annotations: { ...node.metadata.annotations },
    taints,
    unschedulable: taints.some((t) => t.key === UNSCHEDULABLE_TAINT && t.effect === "NoSchedule"),
    maxPods: parseCount(node.status?.capacity?.pods),
    providerId: node.spec?.providerID,
  };
}

export async function readNodeInfo(
  client: K8sClient,
  name: string,
  options: CallOptions = {},
): Promise<NodeInfo> {
  const node = await client.getNode(name, { timeoutMs: NODE_READ_TIMEOUT_MS, ...options });
  return nodeInfoFromObject(node);
}

/** AWS_MANAGE_ENIS_NON_SCHEDULABLE: may ipamd attach/free ENIs and IPs on this node now? */
export function mayManageEnis(node: NodeInfo | undefined, manageNonSchedulable: boolean): boolean {
  return manageNonSchedulable || !node?.unschedulable;
}

/**
 * A Kubernetes quantity that must be a plain count ("110", "1k"): pods capacity. Returns
 * undefined for anything else rather than guessing.
 */
export function parseCount(quantity: string | undefined): number | undefined {
  if (quantity === undefined) return undefined;
  const m = /^(\d+)(k|M)?$/.exec(quantity.trim());
  if (!m) return undefined;
  const value = Number(m[1]) * (m[2] === "k" ? 1000 : m[2] === "M" ? 1_000_000 : 1);
  return Number.isSafeInteger(value) ? value : undefined;
}
