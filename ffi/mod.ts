/**
 * The only module src/ imports from ffi/: netlink (links, addresses, routes, rules,
 * neighbours) through libnl, network namespaces and sysctls through libc. Nothing here hands
 * out pointers. Libraries are opened on first use.
 */

export type { Family } from "./addr.ts";
export type { Address, AddressOptions, Scope } from "./addrs.ts";
export { isExists, isNotFound, NetlinkError } from "./errors.ts";
export type { Link, LinkRef, VethOptions } from "./links.ts";
export type { Neighbour } from "./neigh.ts";
export { Netlink } from "./netlink.ts";
export {
  createNetns,
  deleteNetns,
  NETNS_RUN_DIR,
  netnsId,
  netnsPath,
  startNetnsId,
  withNetns,
} from "./netns.ts";
export { processStartTime } from "./proc.ts";
export type { Route, RouteSpec } from "./routes.ts";
export type { Rule, RuleSpec } from "./rules.ts";
export { readSysctl, writeSysctl } from "./sysctl.ts";
