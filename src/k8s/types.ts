/**
 * The Kubernetes objects ipamd reads and writes, as plain JSON shapes with only the fields it
 * uses. Kept free of the SDK's model classes so that pure code (ENIConfig selection, override
 * parsing) and its tests never load @kubernetes/client-node.
 */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Taint {
  key: string;
  value?: string;
  effect: string;
}

export interface NodeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: { taints?: Taint[]; unschedulable?: boolean; providerID?: string };
  status?: { capacity?: Record<string, string>; allocatable?: Record<string, string> };
}

export interface PodObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: { nodeName?: string };
}

/** crd.k8s.amazonaws.com/v1alpha1 ENIConfig (cluster-scoped). */
export interface EniConfigObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: { subnet?: unknown; securityGroups?: unknown };
}

export interface ObjectReference {
  apiVersion?: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

/** events.k8s.io/v1 Event. */
export interface EventObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  /** MicroTime: RFC 3339 with microseconds. */
  eventTime: string;
  series?: { count: number; lastObservedTime: string };
  reportingController: string;
  reportingInstance: string;
  action: string;
  reason: string;
  regarding: ObjectReference;
  note?: string;
  type: "Normal" | "Warning";
}

export interface ServerVersion {
  major: string;
  minor: string;
  gitVersion: string;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
