/**
 * libnl-3 and libnl-route-3 symbols (Debian libnl 3.7.0), bound on first use so that programs
 * pay only for the symbols they call (see dl.ts). Symbol tables only: the
 * safe API is in netlink.ts and the files it delegates to. No symbol is `nonblocking`: netlink
 * sockets are bound to the namespace of the thread that opened them, and only the main thread
 * is ever switched.
 */

import { bindLazily } from "./dl.ts";

const p = "pointer" as const;

export const nlSymbols = {
  nl_socket_alloc: { parameters: [], result: p },
  nl_socket_free: { parameters: [p], result: "void" },
  nl_connect: { parameters: [p, "i32"], result: "i32" },
  nl_socket_get_cb: { parameters: [p], result: p },
  nl_cb_err: { parameters: [p, "i32", "function", p], result: "i32" },
  nl_cb_put: { parameters: [p], result: "void" },
  nl_cb_clone: { parameters: [p], result: p },
  nl_cb_set: { parameters: [p, "i32", "i32", "function", p], result: "i32" },
  nl_send_simple: { parameters: [p, "i32", "i32", "buffer", "usize"], result: "i32" },
  nl_recvmsgs: { parameters: [p, p], result: "i32" },
  nl_msg_parse: { parameters: [p, "function", p], result: "i32" },
  nl_geterror: { parameters: ["i32"], result: p },
  nl_addr_parse: { parameters: ["buffer", "i32", "buffer"], result: "i32" },
  nl_addr_build: { parameters: ["i32", "buffer", "usize"], result: p },
  nl_addr_put: { parameters: [p], result: "void" },
  nl_addr_get_family: { parameters: [p], result: "i32" },
  nl_addr_get_binary_addr: { parameters: [p], result: p },
  nl_addr_get_len: { parameters: [p], result: "u32" },
  nl_addr_get_prefixlen: { parameters: [p], result: "u32" },
  nl_addr_set_prefixlen: { parameters: [p, "i32"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

export const routeSymbols = {
  // links
  rtnl_link_alloc: { parameters: [], result: p },
  rtnl_link_put: { parameters: [p], result: "void" },
  rtnl_link_get_kernel: { parameters: [p, "i32", "buffer", "buffer"], result: "i32" },
  rtnl_link_add: { parameters: [p, p, "i32"], result: "i32" },
  rtnl_link_change: { parameters: [p, p, p, "i32"], result: "i32" },
  rtnl_link_delete: { parameters: [p, p], result: "i32" },
  rtnl_link_get_name: { parameters: [p], result: p },
  rtnl_link_set_name: { parameters: [p, "buffer"], result: "void" },
  rtnl_link_get_ifindex: { parameters: [p], result: "i32" },
  rtnl_link_set_ifindex: { parameters: [p, "i32"], result: "void" },
  rtnl_link_get_addr: { parameters: [p], result: p },
  rtnl_link_set_addr: { parameters: [p, p], result: "void" },
  rtnl_link_get_mtu: { parameters: [p], result: "u32" },
  rtnl_link_set_mtu: { parameters: [p, "u32"], result: "void" },
  rtnl_link_get_flags: { parameters: [p], result: "u32" },
  rtnl_link_set_flags: { parameters: [p, "u32"], result: "void" },
  rtnl_link_unset_flags: { parameters: [p, "u32"], result: "void" },
  rtnl_link_get_type: { parameters: [p], result: p },
  rtnl_link_get_master: { parameters: [p], result: "i32" },
  rtnl_link_set_ns_fd: { parameters: [p, "i32"], result: "void" },
  rtnl_link_veth_alloc: { parameters: [], result: p },
  rtnl_link_veth_get_peer: { parameters: [p], result: p },
  // addresses
  rtnl_addr_alloc: { parameters: [], result: p },
  rtnl_addr_put: { parameters: [p], result: "void" },
  rtnl_addr_add: { parameters: [p, p, "i32"], result: "i32" },
  rtnl_addr_delete: { parameters: [p, p, "i32"], result: "i32" },
  rtnl_addr_get_ifindex: { parameters: [p], result: "i32" },
  rtnl_addr_set_ifindex: { parameters: [p, "i32"], result: "void" },
  rtnl_addr_get_local: { parameters: [p], result: p },
  rtnl_addr_set_local: { parameters: [p, p], result: "i32" },
  rtnl_addr_get_family: { parameters: [p], result: "i32" },
  rtnl_addr_get_scope: { parameters: [p], result: "i32" },
  rtnl_addr_set_scope: { parameters: [p, "i32"], result: "void" },
  rtnl_addr_get_flags: { parameters: [p], result: "u32" },
  rtnl_addr_set_flags: { parameters: [p, "u32"], result: "void" },
  // routes
  rtnl_route_alloc: { parameters: [], result: p },
  rtnl_route_put: { parameters: [p], result: "void" },
  rtnl_route_add: { parameters: [p, p, "i32"], result: "i32" },
  rtnl_route_delete: { parameters: [p, p, "i32"], result: "i32" },
  rtnl_route_get_family: { parameters: [p], result: "u8" },
  rtnl_route_set_family: { parameters: [p, "u8"], result: "i32" },
  rtnl_route_get_table: { parameters: [p], result: "u32" },
  rtnl_route_set_table: { parameters: [p, "u32"], result: "void" },
  rtnl_route_get_scope: { parameters: [p], result: "u8" },
  rtnl_route_set_scope: { parameters: [p, "u8"], result: "void" },
  rtnl_route_get_type: { parameters: [p], result: "u8" },
  rtnl_route_set_type: { parameters: [p, "u8"], result: "i32" },
  rtnl_route_get_protocol: { parameters: [p], result: "u8" },
  rtnl_route_set_protocol: { parameters: [p, "u8"], result: "void" },
  rtnl_route_get_priority: { parameters: [p], result: "u32" },
  rtnl_route_set_priority: { parameters: [p, "u32"], result: "void" },
  rtnl_route_get_dst: { parameters: [p], result: p },
  rtnl_route_set_dst: { parameters: [p, p], result: "i32" },
  rtnl_route_get_pref_src: { parameters: [p], result: p },
  rtnl_route_set_pref_src: { parameters: [p, p], result: "i32" },
  rtnl_route_add_nexthop: { parameters: [p, p], result: "void" },
  rtnl_route_get_nnexthops: { parameters: [p], result: "i32" },
  rtnl_route_nexthop_n: { parameters: [p, "i32"], result: p },
  rtnl_route_nh_alloc: { parameters: [], result: p },
  rtnl_route_nh_free: { parameters: [p], result: "void" },
  rtnl_route_nh_get_ifindex: { parameters: [p], result: "i32" },
  rtnl_route_nh_set_ifindex: { parameters: [p, "i32"], result: "void" },
  rtnl_route_nh_get_gateway: { parameters: [p], result: p },
  rtnl_route_nh_set_gateway: { parameters: [p, p], result: "void" },
  rtnl_route_nh_get_flags: { parameters: [p], result: "u32" },
  rtnl_route_nh_set_flags: { parameters: [p, "u32"], result: "void" },
  // rules
  rtnl_rule_alloc: { parameters: [], result: p },
  rtnl_rule_put: { parameters: [p], result: "void" },
  rtnl_rule_add: { parameters: [p, p, "i32"], result: "i32" },
  rtnl_rule_delete: { parameters: [p, p, "i32"], result: "i32" },
  rtnl_rule_get_family: { parameters: [p], result: "i32" },
  rtnl_rule_set_family: { parameters: [p, "i32"], result: "void" },
  rtnl_rule_get_prio: { parameters: [p], result: "u32" },
  rtnl_rule_set_prio: { parameters: [p, "u32"], result: "void" },
  rtnl_rule_get_table: { parameters: [p], result: "u32" },
  rtnl_rule_set_table: { parameters: [p, "u32"], result: "void" },
  rtnl_rule_get_mark: { parameters: [p], result: "u32" },
  rtnl_rule_set_mark: { parameters: [p, "u32"], result: "void" },
  rtnl_rule_get_mask: { parameters: [p], result: "u32" },
  rtnl_rule_set_mask: { parameters: [p, "u32"], result: "void" },
  rtnl_rule_get_src: { parameters: [p], result: p },
  rtnl_rule_set_src: { parameters: [p, p], result: "i32" },
  rtnl_rule_get_dst: { parameters: [p], result: p },
  rtnl_rule_set_dst: { parameters: [p, p], result: "i32" },
  rtnl_rule_get_iif: { parameters: [p], result: p },
  rtnl_rule_set_iif: { parameters: [p, "buffer"], result: "i32" },
  rtnl_rule_get_action: { parameters: [p], result: "u8" },
  rtnl_rule_set_action: { parameters: [p, "u8"], result: "void" },
  // neighbours
  rtnl_neigh_alloc: { parameters: [], result: p },
  rtnl_neigh_put: { parameters: [p], result: "void" },
  rtnl_neigh_add: { parameters: [p, p, "i32"], result: "i32" },
  rtnl_neigh_delete: { parameters: [p, p, "i32"], result: "i32" },
  rtnl_neigh_get_family: { parameters: [p], result: "i32" },
  rtnl_neigh_get_ifindex: { parameters: [p], result: "i32" },
  rtnl_neigh_set_ifindex: { parameters: [p, "i32"], result: "void" },
  rtnl_neigh_get_dst: { parameters: [p], result: p },
  rtnl_neigh_set_dst: { parameters: [p, p], result: "i32" },
  rtnl_neigh_get_lladdr: { parameters: [p], result: p },
  rtnl_neigh_set_lladdr: { parameters: [p, p], result: "void" },
  rtnl_neigh_get_state: { parameters: [p], result: "i32" },
  rtnl_neigh_set_state: { parameters: [p, "i32"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

let core: Deno.DynamicLibrary<typeof nlSymbols>["symbols"] | undefined;
let route: Deno.DynamicLibrary<typeof routeSymbols>["symbols"] | undefined;

/** libnl-3 (sockets, messages, addresses); each symbol bound on first use (dl.ts). */
export function nl(): Deno.DynamicLibrary<typeof nlSymbols>["symbols"] {
  return core ??= bindLazily("libnl-3.so.200", nlSymbols);
}

/** libnl-route-3 (links, addresses, routes, rules, neighbours); bound like nl(). */
export function rtnl(): Deno.DynamicLibrary<typeof routeSymbols>["symbols"] {
  return route ??= bindLazily("libnl-route-3.so.200", routeSymbols);
}

let routeLoaded = false;

/**
 * Maps libnl-route into the process without binding a symbol. Its load-time constructors
 * register the cache operations that nl_msg_parse needs: before that, every message of a dump
 * is dropped silently (a fresh process listing links saw none).
 */
export function loadRouteLibrary(): void {
  if (routeLoaded) return;
  Deno.dlopen("libnl-route-3.so.200", {});
  routeLoaded = true;
}
