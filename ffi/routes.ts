/** Routes: list (all tables), add, replace, delete. */

import {
  AF_UNSPEC,
  afOf,
  type Family,
  familyOf,
  familyOfAf,
  ipString,
  parseIp,
  type Pointer,
  withAddr,
} from "./addr.ts";
import { type Scope, scopeName, scopeNumber } from "./addrs.ts";
import { check, isNotFound } from "./errors.ts";
import { rtnl } from "./libnl.ts";
import { linkIndex, type LinkRef } from "./links.ts";
import { dump, NLM_F_EXCL, NLM_F_REPLACE } from "./socket.ts";

export interface RouteSpec {
  /** "10.0.0.5/32", "10.0.0.0/16" or "default". */
  dst: string;
  /** Default 254 (main). */
  table?: number;
  /** Output device by name or ifindex. */
  link?: LinkRef;
  gateway?: string;
  /** Default: "link" without gateway, "universe" with one. */
  scope?: Scope;
  /** Preferred source address. */
  src?: string;
  onlink?: boolean;
  /** Default: from gateway, then dst, else 4. */
  family?: Family;
  /** Route priority (`ip route ... metric N`); default 0 (IPv4) or 1024 (IPv6, kernel). */
  metric?: number;
}

export interface Route extends RouteSpec {
  table: number;
  scope: Scope;
  family: Family;
  ifindex?: number;
  /** "unicast", "local", "broadcast", "blackhole", "unreachable", ... */
  type: string;
}

const TYPES = [
  "unspec",
  "unicast",
  "local",
  "broadcast",
  "anycast",
  "multicast",
  "blackhole",
  "unreachable",
  "prohibit",
  "throw",
  "nat",
  "xresolve",
];
const RTN_UNICAST = 1;
const RTPROT_BOOT = 3; // what `ip route add` uses
const RT_TABLE_MAIN = 254;
const RTNH_F_ONLINK = 4;

export function describeRoute(r: RouteSpec): string {
  let s = r.dst;
  if (r.gateway) s += ` via ${r.gateway}`;
  if (r.link !== undefined) s += ` dev ${r.link}`;
  if (r.table !== undefined && r.table !== RT_TABLE_MAIN) s += ` table ${r.table}`;
  if (r.metric !== undefined) s += ` metric ${r.metric}`;
  return s;
}

function checkU32(n: number, what: string, min = 0): number {
  if (!Number.isInteger(n) || n < min || n > 0xffffffff) {
    throw new TypeError(`${what}: ${n} is out of range (${min}-4294967295)`);
  }
  return n;
}

export function routeFamily(spec: RouteSpec, op: string): Family {
  const family = spec.family ?? (spec.gateway ? familyOf(spec.gateway) : undefined) ??
    familyOf(spec.dst) ?? 4;
  for (const [what, text] of [["dst", spec.dst], ["gateway", spec.gateway], ["src", spec.src]]) {
    const f = text === undefined ? undefined : familyOf(text);
    if (f !== undefined && f !== family) {
      throw new TypeError(`${op}: ${what} "${text}" is not an IPv${family} address`);
    }
  }
  return family;
}

/** A route object for a request; `forDelete` leaves type, protocol and scope as wildcards. */
function withRoute<T>(
  sock: Pointer,
  spec: RouteSpec,
  op: string,
  forDelete: boolean,
  fn: (route: Pointer) => T,
): T {
  const r = rtnl();
  const family = routeFamily(spec, op);
  const route = r.rtnl_route_alloc();
  if (route === null) throw new RangeError(`${op}: out of memory`);
  try {
    check(r.rtnl_route_set_family(route, afOf(family)), op);
    withAddr(parseIp(spec.dst, family, op), (a) => check(r.rtnl_route_set_dst(route, a), op));
    r.rtnl_route_set_table(route, checkU32(spec.table ?? RT_TABLE_MAIN, `${op} table`, 1));
    if (spec.metric !== undefined) r.rtnl_route_set_priority(route, checkU32(spec.metric, op));
    if (spec.src !== undefined) {
      withAddr(
        parseIp(spec.src, family, op),
        (a) => check(r.rtnl_route_set_pref_src(route, a), op),
      );
    }
    if (forDelete) {
      check(r.rtnl_route_set_type(route, 0), op);
      r.rtnl_route_set_protocol(route, 0);
      r.rtnl_route_set_scope(route, scopeNumber(spec.scope ?? "nowhere"));
    } else {
      check(r.rtnl_route_set_type(route, RTN_UNICAST), op);
      r.rtnl_route_set_protocol(route, RTPROT_BOOT);
      r.rtnl_route_set_scope(
        route,
        scopeNumber(spec.scope ?? (spec.gateway ? "universe" : "link")),
      );
    }
    if (spec.link !== undefined || spec.gateway !== undefined || spec.onlink) {
      const nh = r.rtnl_route_nh_alloc();
      if (nh === null) throw new RangeError(`${op}: out of memory`);
      try {
        if (spec.link !== undefined) {
          r.rtnl_route_nh_set_ifindex(nh, linkIndex(sock, spec.link, op));
        }
        if (spec.gateway !== undefined) {
          withAddr(parseIp(spec.gateway, family, op), (a) => r.rtnl_route_nh_set_gateway(nh, a));
        }
        if (spec.onlink) r.rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
      } catch (e) {
        r.rtnl_route_nh_free(nh);
        throw e;
      }
      r.rtnl_route_add_nexthop(route, nh); // the route owns it from here
    }
    return fn(route);
  } finally {
    r.rtnl_route_put(route);
  }
}

function toRoute(obj: Pointer): Route | undefined {
  const r = rtnl();
  const family = familyOfAf(r.rtnl_route_get_family(obj));
  const dst = ipString(r.rtnl_route_get_dst(obj), "route");
  if (family === undefined || dst === undefined) return undefined;
  const route: Route = {
    dst,
    family,
    table: r.rtnl_route_get_table(obj),
    scope: scopeName(r.rtnl_route_get_scope(obj)),
    type: TYPES[r.rtnl_route_get_type(obj)] ?? String(r.rtnl_route_get_type(obj)),
  };
  const src = ipString(r.rtnl_route_get_pref_src(obj));
  if (src) route.src = src;
  const metric = r.rtnl_route_get_priority(obj);
  if (metric > 0) route.metric = metric;
  if (r.rtnl_route_get_nnexthops(obj) > 0) {
    const nh = r.rtnl_route_nexthop_n(obj, 0);
    if (nh !== null) {
      const ifindex = r.rtnl_route_nh_get_ifindex(nh);
      if (ifindex > 0) [route.ifindex, route.link] = [ifindex, ifindex];
      const gateway = ipString(r.rtnl_route_nh_get_gateway(nh));
      if (gateway) route.gateway = gateway;
      if (r.rtnl_route_nh_get_flags(nh) & RTNH_F_ONLINK) route.onlink = true;
    }
  }
  return route;
}

export function listRoutes(
  sock: Pointer,
  filter: { table?: number; family?: Family } = {},
): Route[] {
  const af = filter.family === undefined ? AF_UNSPEC : afOf(filter.family);
  return dump(sock, "routes", af, (obj) => {
    if (filter.table !== undefined && rtnl().rtnl_route_get_table(obj) !== filter.table) {
      return undefined;
    }
    const route = toRoute(obj);
    if (route && filter.family !== undefined && route.family !== filter.family) return undefined;
    return route;
  });
}

export function addRoute(sock: Pointer, spec: RouteSpec): void {
  const op = `addRoute ${describeRoute(spec)}`;
  withRoute(
    sock,
    spec,
    op,
    false,
    (route) => check(rtnl().rtnl_route_add(sock, route, NLM_F_EXCL), op),
  );
}

export function replaceRoute(sock: Pointer, spec: RouteSpec): void {
  const op = `replaceRoute ${describeRoute(spec)}`;
  withRoute(
    sock,
    spec,
    op,
    false,
    (route) => check(rtnl().rtnl_route_add(sock, route, NLM_F_REPLACE), op),
  );
}

export function deleteRoute(sock: Pointer, spec: RouteSpec): void {
  const op = `deleteRoute ${describeRoute(spec)}`;
  withRoute(sock, spec, op, true, (route) => check(rtnl().rtnl_route_delete(sock, route, 0), op));
}

export function deleteRouteIfExists(sock: Pointer, spec: RouteSpec): boolean {
  try {
    deleteRoute(sock, spec);
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}
