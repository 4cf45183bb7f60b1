/** IP addresses on links. */

import {
  AF_UNSPEC,
  afOf,
  type Family,
  familyOf,
  familyOfAf,
  ipString,
  parseIp,
  type Pointer,
} from "./addr.ts";
import { check, isExists, isNotFound } from "./errors.ts";
import { nl, rtnl } from "./libnl.ts";
import { describeLink, linkIndex, type LinkRef } from "./links.ts";
import { dump, NLM_F_EXCL } from "./socket.ts";

export type Scope = "universe" | "site" | "link" | "host" | "nowhere";

export interface Address {
  ifindex: number;
  cidr: string;
  family: Family;
  scope: Scope;
}

export interface AddressOptions {
  /** IFA_F_NOPREFIXROUTE: no route for the address's prefix is added. */
  noPrefixRoute?: boolean;
  scope?: Scope;
}

const SCOPES: Record<Scope, number> = {
  universe: 0,
  site: 200,
  link: 253,
  host: 254,
  nowhere: 255,
};

export function scopeNumber(scope: Scope): number {
  const n = SCOPES[scope];
  if (n === undefined) throw new TypeError(`scope "${scope}" is not one of ${Object.keys(SCOPES)}`);
  return n;
}

export function scopeName(n: number): Scope {
  const found = (Object.keys(SCOPES) as Scope[]).find((s) => SCOPES[s] === n);
  return found ?? "universe";
}

const IFA_F_NOPREFIXROUTE = 0x200;

export function listAddresses(
  sock: Pointer,
  filter: { link?: LinkRef; family?: Family } = {},
): Address[] {
  const r = rtnl();
  const index = filter.link === undefined ? 0 : linkIndex(sock, filter.link, "addresses");
  const af = filter.family === undefined ? AF_UNSPEC : afOf(filter.family);
  return dump(sock, "addresses", af, (obj): Address | undefined => {
    const family = familyOfAf(r.rtnl_addr_get_family(obj));
    const ifindex = r.rtnl_addr_get_ifindex(obj);
    if (family === undefined || (index > 0 && ifindex !== index)) return undefined;
    if (filter.family !== undefined && family !== filter.family) return undefined;
    const cidr = ipString(r.rtnl_addr_get_local(obj), true);
    if (cidr === undefined) return undefined;
    return { ifindex, cidr, family, scope: scopeName(r.rtnl_addr_get_scope(obj)) };
  });
}

function withAddress<T>(
  sock: Pointer,
  link: LinkRef,
  cidr: string,
  op: string,
  fn: (obj: Pointer) => T,
): T {
  const r = rtnl();
  const family = familyOf(cidr);
  if (family === undefined) throw new TypeError(`${op}: "${cidr}" is not an address`);
  const local = parseIp(cidr, family, op);
  const obj = r.rtnl_addr_alloc();
  try {
    if (obj === null) throw new RangeError(`${op}: out of memory`);
    r.rtnl_addr_set_ifindex(obj, linkIndex(sock, link, op));
    check(r.rtnl_addr_set_local(obj, local), op);
    return fn(obj);
  } finally {
    if (obj !== null) r.rtnl_addr_put(obj);
    nl().nl_addr_put(local);
  }
}

export function addAddress(
  sock: Pointer,
  link: LinkRef,
  cidr: string,
  options: AddressOptions = {},
): void {
  const r = rtnl();
  const op = `addAddress ${cidr} dev ${describeLink(link)}`;
  withAddress(sock, link, cidr, op, (obj) => {
    if (options.noPrefixRoute) r.rtnl_addr_set_flags(obj, IFA_F_NOPREFIXROUTE);
    if (options.scope !== undefined) r.rtnl_addr_set_scope(obj, scopeNumber(options.scope));
    check(r.rtnl_addr_add(sock, obj, NLM_F_EXCL), op);
  });
}

export function ensureAddress(
  sock: Pointer,
  link: LinkRef,
  cidr: string,
  options: AddressOptions = {},
): void {
  try {
    addAddress(sock, link, cidr, options);
  } catch (e) {
    if (!isExists(e)) throw e;
  }
}

export function deleteAddress(sock: Pointer, link: LinkRef, cidr: string): void {
  const op = `deleteAddress ${cidr} dev ${describeLink(link)}`;
  withAddress(sock, link, cidr, op, (obj) => check(rtnl().rtnl_addr_delete(sock, obj, 0), op));
}

export function deleteAddressIfExists(sock: Pointer, link: LinkRef, cidr: string): boolean {
  try {
    deleteAddress(sock, link, cidr);
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}
