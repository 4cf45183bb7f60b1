/** Neighbour (ARP / NDP) entries; the ones we write are permanent. */

import {
  AF_UNSPEC,
  familyOf,
  familyOfAf,
  ipString,
  macString,
  parseIp,
  parseMac,
  type Pointer,
  withAddr,
} from "./addr.ts";
import { check, isNotFound } from "./errors.ts";
import { rtnl } from "./libnl.ts";
import { describeLink, linkIndex, type LinkRef } from "./links.ts";
import { dump, NLM_F_CREATE, NLM_F_REPLACE } from "./socket.ts";

export interface Neighbour {
  ifindex: number;
  ip: string;
  /** "" while unresolved. */
  mac: string;
  permanent: boolean;
}

const NUD_PERMANENT = 0x80;

export function listNeighbours(sock: Pointer, filter: { link?: LinkRef } = {}): Neighbour[] {
  const r = rtnl();
  const index = filter.link === undefined ? 0 : linkIndex(sock, filter.link, "neighbours");
  return dump(sock, "neighbours", AF_UNSPEC, (obj): Neighbour | undefined => {
    if (familyOfAf(r.rtnl_neigh_get_family(obj)) === undefined) return undefined;
    const ifindex = r.rtnl_neigh_get_ifindex(obj);
    const ip = ipString(r.rtnl_neigh_get_dst(obj));
    if (ip === undefined || (index > 0 && ifindex !== index)) return undefined;
    return {
      ifindex,
      ip,
      mac: macString(r.rtnl_neigh_get_lladdr(obj)),
      permanent: (r.rtnl_neigh_get_state(obj) & NUD_PERMANENT) !== 0,
    };
  });
}

function withNeigh<T>(
  sock: Pointer,
  n: { link: LinkRef; ip: string },
  op: string,
  fn: (obj: Pointer) => T,
): T {
  const r = rtnl();
  const family = familyOf(n.ip);
  if (family === undefined) throw new TypeError(`${op}: "${n.ip}" is not an IP address`);
  const obj = r.rtnl_neigh_alloc();
  if (obj === null) throw new RangeError(`${op}: out of memory`);
  try {
    r.rtnl_neigh_set_ifindex(obj, linkIndex(sock, n.link, op));
    withAddr(parseIp(n.ip, family, op), (a) => check(r.rtnl_neigh_set_dst(obj, a), op));
    return fn(obj);
  } finally {
    r.rtnl_neigh_put(obj);
  }
}

/** Adds or replaces a permanent entry ip -> mac (`ip neigh replace ... nud permanent`). */
export function replaceNeighbour(
  sock: Pointer,
  n: { link: LinkRef; ip: string; mac: string },
): void {
  const r = rtnl();
  const op = `replaceNeighbour ${n.ip} lladdr ${n.mac} dev ${describeLink(n.link)}`;
  withNeigh(sock, n, op, (obj) => {
    withAddr(parseMac(n.mac, op), (a) => r.rtnl_neigh_set_lladdr(obj, a));
    r.rtnl_neigh_set_state(obj, NUD_PERMANENT);
    check(r.rtnl_neigh_add(sock, obj, NLM_F_CREATE | NLM_F_REPLACE), op);
  });
}

export function deleteNeighbour(sock: Pointer, n: { link: LinkRef; ip: string }): void {
  const op = `deleteNeighbour ${n.ip} dev ${describeLink(n.link)}`;
  withNeigh(sock, n, op, (obj) => check(rtnl().rtnl_neigh_delete(sock, obj, 0), op));
}

export function deleteNeighbourIfExists(sock: Pointer, n: { link: LinkRef; ip: string }): boolean {
  try {
    deleteNeighbour(sock, n);
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}
