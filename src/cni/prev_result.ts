/**
 * Reads upstream's bookkeeping back out of a prevResult (spec §4.5, §4.6): the dummy
 * interface's `mac` (VLAN id) and `sandbox` (device number), each container interface's `mac`
 * (node route table) and address. DEL uses it when ipamd cannot answer, CHECK to know what to
 * look for; it reads results written by upstream's plugin too.
 */
import type { Logger } from "../ops/log.ts";
import { containerIfName, dummyInterfaceName } from "./names.ts";
import type { CniResult, PodArgs } from "./types.ts";

export interface PodEntry {
  hostVeth?: string;
  containerIf: string;
  ip: string;
  routeTableId: number;
}

export type Bookkeeping =
  | { kind: "branch"; vlanId: number; ip: string }
  | { kind: "regular"; entries: PodEntry[] };

/**
 * Reads upstream's bookkeeping out of a prevResult (§4.5). Anything unreadable is logged and
 * ignored: DEL then relies on ipamd alone.
 */
export async function bookkeeping(
  a: { ifName: string; args: PodArgs; pod: { podNamespace: string; podName: string } },
  prev: CniResult,
  log: Logger,
): Promise<Bookkeeping | undefined> {
  const interfaces = prev.interfaces ?? [];
  const dummyName = await dummyInterfaceName(a.pod);
  // Pods added by upstream's plugin were named from the pod name alone.
  const upstreamDummy = await dummyInterfaceName({
    podNamespace: a.args.podNamespace,
    podName: a.args.podName,
  });
  const dummy = interfaces.find((i) => i.name === dummyName || i.name === upstreamDummy);
  if (!dummy) return undefined;
  const vlanId = decimal(dummy.mac);
  const device = decimal(dummy.sandbox);
  if (vlanId === undefined) {
    log.warn("prevResult: malformed VLAN id in the dummy interface; ignoring it", { dummy });
    return undefined;
  }
  const ipOf = (ifIndex: number) => (prev.ips ?? []).filter((ip) => ip.interface === ifIndex);
  if (vlanId !== 0) {
    const contIndex = interfaces.findIndex((i) => i.name === a.ifName);
    const ips = ipOf(contIndex);
    if (contIndex < 0 || ips.length !== 1) {
      log.warn("prevResult: branch pod without exactly one container address", { ips });
      return undefined;
    }
    return { kind: "branch", vlanId, ip: ips[0]!.address.split("/")[0]! };
  }
  if (device === undefined) return undefined;
  const defaultTable = device === 0 ? 254 : device + 1;
  const entries: PodEntry[] = [];
  const count = Math.floor((interfaces.length - 1) / 2);
  for (let i = 0; i < count; i++) {
    const name = containerIfName(a.ifName, i);
    const contIndex = interfaces.findIndex((x) => x.name === name);
    const ips = ipOf(contIndex);
    if (contIndex < 0 || ips.length !== 1) continue;
    const table = interfaces[contIndex]!.mac ? decimal(interfaces[contIndex]!.mac) : defaultTable;
    if (table === undefined) return undefined;
    const before = interfaces[contIndex - 1];
    entries.push({
      ...(before && !before.sandbox ? { hostVeth: before.name } : {}),
      containerIf: name,
      ip: ips[0]!.address.split("/")[0]!,
      routeTableId: table,
    });
  }
  return { kind: "regular", entries };
}

function decimal(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}
