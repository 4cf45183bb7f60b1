/**
 * `ipamd enis`: the ENIs, their addresses and prefixes, and which pod holds which address, built
 * from the introspection API (`/v1/enis` + `/v1/pods` + `/v1/pool`). `buildEnisView` gives the
 * stable `--json` shape (README "ipamd enis --json"); `renderEnis` the tables for people.
 */
import { parseIpv4 } from "../../ipv4.ts";
import { renderTable } from "../table.ts";
import type { PodEntry, PoolInfo, UpstreamEnis } from "./introspection_types.ts";

export type AddressState = "assigned" | "cooling";

export interface AddressView {
  ip: string;
  state: AddressState;
  /** The pod holding the address (assigned), from the CNI_ARGS of its ADD. */
  pod?: { namespace: string; name: string };
  containerId?: string;
  ifName?: string;
  assignedAt?: string;
  /** Cooling: when the address may be handed out again. */
  availableAt?: string;
}

export interface CidrView {
  /** "10.0.5.7/32" (secondary IP) or "10.0.16.16/28" (delegated prefix). */
  cidr: string;
  prefix: boolean;
  /** Addresses in the CIDR usable by pods (1 for a /32, 16 for a /28). */
  size: number;
  /** Only the assigned and cooling ones; `free` counts the rest. */
  addresses: AddressView[];
  free: number;
}

export interface EniView {
  id: string;
  deviceNumber: number;
  primary: boolean;
  trunk: boolean;
  efa: boolean;
  /** No pod addresses from this ENI (custom networking's primary ENI, excluded subnet). */
  excluded: boolean;
  /** 254 = main (the primary ENI). */
  routeTableId: number;
  subnetId: string;
  counts: Counts;
  cidrs: CidrView[];
}

export interface Counts {
  total: number;
  assigned: number;
  cooling: number;
  /** Free and out of cooldown on ENIs that give pods addresses. */
  available: number;
}

export interface EnisView {
  ready: boolean;
  instanceId?: string;
  instanceType?: string;
  mode?: string;
  totals: Counts & { enis: number; prefixes: number };
  enis: EniView[];
}

export function buildEnisView(
  enis: UpstreamEnis,
  pods: readonly PodEntry[],
  pool: PoolInfo,
): EnisView {
  const byIp = new Map(pods.map((p) => [p.ipv4, p]));
  const cooling = new Map((pool.cooling ?? []).map((c) => [c.ipv4, c.availableAt]));
  const views: EniView[] = [];
  for (const card of Object.values(enis)) {
    for (const eni of Object.values(card.ENIs)) {
      const cidrs = Object.entries(eni.AvailableIPv4Cidrs).map(([text, c]): CidrView => {
        const size = c.IsPrefix ? 2 ** (32 - Number(text.split("/")[1] ?? 32)) : 1;
        const addresses: AddressView[] = [];
        for (const a of Object.values(c.IPAddresses)) {
          if (a.IPAMKey.networkName !== "") {
            const pod = byIp.get(a.Address);
            const namespace = a.IPAMMetadata.k8sPodNamespace ?? pod?.podNamespace ?? "";
            const name = a.IPAMMetadata.k8sPodName ?? pod?.podName ?? "";
            addresses.push({
              ip: a.Address,
              state: "assigned",
              ...(namespace || name ? { pod: { namespace, name } } : {}),
              ...(pod ? { containerId: pod.containerId, ifName: pod.ifName } : {}),
              assignedAt: a.AssignedTime,
            });
          } else if (cooling.has(a.Address)) {
            addresses.push({
              ip: a.Address,
              state: "cooling",
              availableAt: cooling.get(a.Address)!,
            });
          }
        }
        addresses.sort((x, y) => ipOrder(x.ip, y.ip));
        return { cidr: text, prefix: c.IsPrefix, size, addresses, free: size - addresses.length };
      }).sort((x, y) => ipOrder(x.cidr, y.cidr));
      const assigned = count(cidrs, "assigned");
      const coolingCount = count(cidrs, "cooling");
      const total = cidrs.reduce((n, c) => n + c.size, 0);
      views.push({
        id: eni.ID,
        deviceNumber: eni.DeviceNumber,
        primary: eni.IsPrimary,
        trunk: eni.IsTrunk,
        efa: eni.IsEFA,
        excluded: eni.IsExcludedForPodIPs,
        routeTableId: eni.RouteTableID,
        subnetId: eni.SubnetID,
        counts: {
          total,
          assigned,
          cooling: coolingCount,
          available: eni.IsExcludedForPodIPs ? 0 : total - assigned - coolingCount,
        },
        cidrs,
      });
    }
  }
  views.sort((a, b) => a.deviceNumber - b.deviceNumber || a.id.localeCompare(b.id));
  const sum = (key: keyof Counts) => views.reduce((n, e) => n + e.counts[key], 0);
  return {
    ready: pool.ready,
    ...(pool.instanceId ? { instanceId: pool.instanceId } : {}),
    ...(pool.instanceType ? { instanceType: pool.instanceType } : {}),
    ...(pool.mode ? { mode: pool.mode } : {}),
    totals: {
      enis: views.length,
      prefixes: views.reduce((n, e) => n + e.cidrs.filter((c) => c.prefix).length, 0),
      total: sum("total"),
      assigned: sum("assigned"),
      cooling: sum("cooling"),
      available: sum("available"),
    },
    enis: views,
  };
}

function count(cidrs: CidrView[], state: AddressState): number {
  return cidrs.reduce((n, c) => n + c.addresses.filter((a) => a.state === state).length, 0);
}

/** Numeric order of addresses and CIDRs (10.0.0.9 before 10.0.0.10). */
export function ipOrder(a: string, b: string): number {
  const value = (s: string) => parseIpv4(s.split("/")[0] ?? "") ?? 0;
  return value(a) - value(b);
}

/** The two tables: one line per ENI, then one per address (every /32; per prefix, the used). */
export function renderEnis(view: EnisView, options: { now?: number } = {}): string {
  const now = options.now ?? Date.now();
  const t = view.totals;
  const who = view.instanceId
    ? `Instance ${view.instanceId}${view.instanceType ? ` (${view.instanceType})` : ""}, `
    : "";
  const header = `${who}${view.mode ?? "unknown"} mode: ${t.enis} ENI${t.enis === 1 ? "" : "s"}, ` +
    `${t.total} addresses (${t.assigned} assigned, ${t.cooling} cooling, ${t.available} available)` +
    (t.prefixes > 0 ? `, ${t.prefixes} /28 prefixes` : "");
  const enis = renderTable(view.enis, [
    { header: "ENI", value: (e) => e.id },
    { header: "DEVICE", value: (e) => e.deviceNumber, align: "right" },
    { header: "TABLE", value: (e) => (e.routeTableId === 254 ? "main" : e.routeTableId) },
    { header: "SUBNET", value: (e) => e.subnetId || undefined },
    { header: "ADDRESSES", value: (e) => e.counts.total, align: "right" },
    { header: "ASSIGNED", value: (e) => e.counts.assigned, align: "right" },
    { header: "COOLING", value: (e) => e.counts.cooling, align: "right" },
    { header: "FREE", value: (e) => e.counts.available, align: "right" },
    { header: "NOTE", value: (e) => notes(e) || "" },
  ]);
  const rows = view.enis.flatMap((eni) => eni.cidrs.flatMap((c) => addressRows(eni, c, now)));
  const addresses = rows.length === 0 ? "(no addresses)" : renderTable(rows, [
    { header: "ENI", value: (r) => r.eni },
    { header: "CIDR", value: (r) => r.cidr },
    { header: "ADDRESS", value: (r) => r.address },
    { header: "STATE", value: (r) => r.state },
    { header: "POD", value: (r) => r.pod },
  ]);
  return `${header}\n\n${enis}\n\n${addresses}`;
}

interface AddressRow {
  eni: string;
  cidr: string;
  address: string;
  state: string;
  pod?: string;
}

function addressRows(eni: EniView, c: CidrView, now: number): AddressRow[] {
  const rows: AddressRow[] = c.addresses.map((a) => ({
    eni: eni.id,
    cidr: c.cidr,
    address: a.ip,
    state: a.state === "cooling" ? `cooling (${remaining(a.availableAt, now)})` : "assigned",
    ...(a.pod ? { pod: `${a.pod.namespace}/${a.pod.name}` } : {}),
  }));
  if (c.free > 0) {
    const address = c.prefix
      ? `(${c.free} ${rows.length > 0 ? "more " : ""}free)`
      : c.cidr.split("/")[0]!;
    rows.push({ eni: eni.id, cidr: c.cidr, address, state: eni.excluded ? "excluded" : "free" });
  }
  return rows;
}

function notes(eni: EniView): string {
  return [
    eni.primary ? "primary" : "",
    eni.trunk ? "trunk" : "",
    eni.efa ? "efa" : "",
    eni.excluded ? "excluded from pods" : "",
  ].filter(Boolean).join(", ");
}

function remaining(availableAt: string | undefined, now: number): string {
  const ms = availableAt ? Date.parse(availableAt) - now : NaN;
  if (!Number.isFinite(ms)) return "?";
  return ms <= 0 ? "ending" : `${Math.ceil(ms / 1000)}s left`;
}
