/**
 * A lab ipamd's HTTP endpoints, read from inside its node namespace (where they listen on
 * loopback) with curl: introspection (/v1/enis, /v1/pods, /v1/pool) and Prometheus metrics.
 * The types cover the fields tests and the demo read, not every field served.
 */
import { type Netns, nsExec } from "./namespaces.ts";
import { type MetricSample, parseMetrics } from "./prometheus.ts";

export const INTROSPECTION_ADDRESS = "127.0.0.1:61679";
export const METRICS_ADDRESS = "127.0.0.1:61678";

/** Upstream's /v1/enis: keyed by network card, then by ENI id. */
export type EnisJson = Record<string, {
  TotalIPs: number;
  AssignedIPs: number;
  ENIs: Record<string, EniJson>;
}>;

export interface EniJson {
  ID: string;
  IsPrimary: boolean;
  DeviceNumber: number;
  RouteTableID: number;
  SubnetID: string;
  AvailableIPv4Cidrs: Record<string, {
    IsPrefix: boolean;
    IPAddresses: Record<string, {
      Address: string;
      IPAMMetadata: { k8sPodNamespace?: string; k8sPodName?: string };
    }>;
  }>;
}

/** Ours: /v1/pods, one entry per assignment. */
export interface PodJson {
  podNamespace: string;
  podName: string;
  ipv4: string;
  eniId: string;
  deviceNumber: number;
  routeTableId: number;
  containerId: string;
  ifName: string;
}

/** Ours: /v1/pool (the parts read here). */
export interface PoolJson {
  ready: boolean;
  mode?: string;
  limits?: { maxEnis: number; ipv4PerEni: number; maxPods: number };
  settings?: { warmEniTarget: number; warmIpTarget: number; minimumIpTarget: number };
  counts?: { total: number; assigned: number; available: number; cooling: number; enis: number };
  waitingAdds?: number;
  plan?: { reason: string; low: boolean; canGrow: boolean; actions: unknown[] };
}

export interface HttpOptions {
  /** host:port (default: the upstream default for the endpoint). */
  address?: string;
  timeoutMs?: number;
}

/** GET http://<address><path> inside `ns`; throws CommandError on a refused or failed request. */
export async function httpGet(ns: Netns, url: string, timeoutMs = 5_000): Promise<string> {
  const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  const out = await nsExec(ns, ["curl", "-sS", "--fail", "--max-time", seconds, url], {
    timeoutMs: timeoutMs + 5_000,
  });
  return out.stdout;
}

export async function introspect<T>(
  ns: Netns,
  path: `/v1/${string}`,
  options: HttpOptions = {},
): Promise<T> {
  const address = options.address ?? INTROSPECTION_ADDRESS;
  return JSON.parse(await httpGet(ns, `http://${address}${path}`, options.timeoutMs)) as T;
}

export async function scrapeMetrics(ns: Netns, options: HttpOptions = {}): Promise<MetricSample[]> {
  const address = options.address ?? METRICS_ADDRESS;
  return parseMetrics(await httpGet(ns, `http://${address}/metrics`, options.timeoutMs));
}
