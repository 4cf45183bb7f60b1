/**
 * How the demo (demo.ts) prints: step headings, indented prose, tables and figures. Pure text
 * functions plus one writer, so the narrative reads the same everywhere.
 */
// deno-lint-ignore-file no-console -- the demo's narrative is its output
import { renderTable } from "../../src/ops/table.ts";
import type { EnisJson } from "./introspection.ts";

export const INDENT = "  ";

let silenced = false;

/** Stops the narrative (after an interrupt, steps still winding down must not talk over it). */
export function silence(): void {
  silenced = true;
}

export function say(text = ""): void {
  if (!silenced) console.log(text === "" ? "" : indent(text));
}

export function heading(step: number, total: number, title: string): void {
  if (!silenced) console.log(`\n[${step}/${total}] ${title}`);
}

export function indent(text: string, by = INDENT): string {
  return text.split("\n").map((l) => (l === "" ? l : by + l)).join("\n");
}

export function table<T>(
  rows: readonly T[],
  columns: Parameters<typeof renderTable<T>>[1],
): string {
  return renderTable(rows, columns);
}

/** "850 ms" below ten seconds' worth of milliseconds, else "12.3 s". */
export function duration(ms: number): string {
  return ms < 1_000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface AddressRow {
  eni: string;
  device: number;
  primary: boolean;
  address: string;
  pod: string;
}

/** One row per address of /v1/enis (per prefix, unused), ENIs by device, addresses in order. */
export function addressRows(enis: EnisJson): AddressRow[] {
  const rows: AddressRow[] = [];
  const all = Object.values(enis).flatMap((card) => Object.values(card.ENIs));
  for (const eni of all.sort((a, b) => a.DeviceNumber - b.DeviceNumber)) {
    const addresses: Array<{ address: string; pod: string }> = [];
    for (const [cidr, block] of Object.entries(eni.AvailableIPv4Cidrs)) {
      const used = Object.values(block.IPAddresses);
      if (used.length === 0) {
        addresses.push({ address: block.IsPrefix ? cidr : cidr.replace(/\/32$/, ""), pod: "" });
      }
      for (const a of used) {
        const m = a.IPAMMetadata;
        addresses.push({
          address: a.Address,
          pod: m.k8sPodName ? `${m.k8sPodNamespace}/${m.k8sPodName}` : "",
        });
      }
    }
    for (const { address, pod } of addresses.sort((a, b) => ipOrder(a.address, b.address))) {
      rows.push({
        eni: eni.ID,
        device: eni.DeviceNumber,
        primary: eni.IsPrimary,
        address,
        pod: pod || "(warm)",
      });
    }
  }
  return rows;
}

function ipOrder(a: string, b: string): number {
  const n = (ip: string) =>
    ip.split("/")[0]!.split(".").reduce((sum, octet) => sum * 256 + Number(octet), 0);
  return n(a) - n(b);
}

/** The ENI table the demo shows when `ipamd enis` is not available. */
export function eniTable(enis: EnisJson): string {
  const rows = addressRows(enis).map((r, i, all) => ({ ...r, first: all[i - 1]?.eni !== r.eni }));
  return table(rows, [
    { header: "ENI", value: (r) => r.first ? r.eni + (r.primary ? " (primary)" : "") : "" },
    { header: "DEV", value: (r) => r.first ? r.device : "", align: "right" },
    { header: "ADDRESS", value: (r) => r.address },
    { header: "POD", value: (r) => r.pod },
  ]);
}
