/**
 * Wires and unwires one pod interface exactly as upstream (spec §4.3, §4.5, §5.5): a veth whose
 * host end is created directly in the node namespace (one netlink call), `ip/32` on the pod
 * end, a link route to 169.254.1.x plus a default route and a permanent neighbour for it, and
 * on the node a /32 route with rules 512 (to the pod) and 1536 (from the pod, secondary ENIs).
 *
 * Everything is synchronous netlink through ffi/: a socket is opened in each namespace and used
 * from here, so nothing ever awaits while the thread is switched into a pod.
 */
import {
  isNotFound,
  type Link,
  Netlink,
  NetlinkError,
  netnsId,
  withNetns,
  writeSysctl,
} from "../../ffi/mod.ts";
import { type Logger, silentLogger } from "../ops/log.ts";
import { EnvError, PodNetworkError } from "./errors.ts";
import { podGateway } from "./names.ts";

export const MAIN_TABLE = 254;
/** Upstream's old numbering of the primary ENI's table; means main. */
const LEGACY_MAIN_TABLE = 1;
export const TO_POD_RULE_PRIORITY = 512;
export const FROM_POD_RULE_PRIORITY = 1536;
/** Inside the pod, for interfaces after the first (multi-NIC). */
export const POD_SOURCE_RULE_PRIORITY = 1;
/** Strict-mode branch-ENI pods (upstream §4.4). */
export const BRANCH_RULE_PRIORITY = 10;

export interface PodInterfaceSpec {
  /** The pod's namespace (CNI_NETNS). */
  podNetns: string;
  /** The node's namespace; default the one aws-cni runs in (tests pass a lab node). */
  hostNetns?: string;
  hostVeth: string;
  containerIf: string;
  /** The pod's address, without prefix length. */
  ip: string;
  /** 0 for the pod's eth0; i > 0 for multi-NIC interface i (gateway and pod table i). */
  index: number;
  /** Node route table for traffic from the pod: 254 (main) for the primary ENI. */
  routeTableId: number;
  mtu: number;
}

export interface WiredInterface {
  hostVethMac: string;
  hostVethIndex: number;
  containerMac: string;
}

export interface WireOptions {
  logger?: Logger;
  /** Called after each step with its name; a test seam to inject failures. */
  onStep?: (step: string) => void;
}

/** Node table for a route-table id from ipamd or a prevResult (0/1 mean main). */
export function hostTable(routeTableId: number): number {
  return routeTableId > LEGACY_MAIN_TABLE ? routeTableId : MAIN_TABLE;
}

function openHost(hostNetns?: string): Netlink {
  return hostNetns ? Netlink.openIn(hostNetns) : Netlink.open();
}

/** Runs one step; a netlink failure becomes a PodNetworkError naming the step. */
function step<T>(name: string, fn: () => T, options?: WireOptions): T {
  let result: T;
  try {
    result = fn();
  } catch (e) {
    if (e instanceof PodNetworkError) throw e;
    const errno = e instanceof NetlinkError ? e.code : undefined;
    throw new PodNetworkError(name, `${name} failed: ${(e as Error).message}`, {
      cause: e,
      errno,
    });
  }
  options?.onStep?.(name);
  return result;
}

/**
 * Wires one interface of a pod. On failure, whatever this call created is removed again before
 * the error (a PodNetworkError) is thrown.
 */
export function wirePodInterface(
  spec: PodInterfaceSpec,
  options: WireOptions = {},
): WiredInterface {
  const log = options.logger ?? silentLogger;
  const table = hostTable(spec.routeTableId);
  const gateway = podGateway(spec.index);
  const podTable = spec.index === 0 ? MAIN_TABLE : spec.index;
  // Sockets are opened before onStep runs, so an injected failure cannot leak them.
  using host = step("open node netlink socket", () => openHost(spec.hostNetns));
  options.onStep?.("open node netlink socket");
  using pod = step(`open netlink socket in pod`, () => Netlink.openIn(spec.podNetns));
  options.onStep?.("open netlink socket in pod");
  let created = false;
  try {
    step(`remove stale ${spec.hostVeth}`, () => {
      if (host.deleteLinkIfExists(spec.hostVeth)) {
        log.info("removed a stale host veth", { hostVeth: spec.hostVeth });
      }
    }, options);
    const mac = step("pick host veth MAC", () => randomMac(host.links()), options);
    step(`create veth ${spec.hostVeth} / ${spec.containerIf}`, () => {
      host.createVeth({
        name: spec.hostVeth,
        mac,
        peerName: spec.containerIf,
        peerNetns: spec.podNetns,
        mtu: spec.mtu,
      });
      created = true;
    }, options);
    step(`set sysctls of ${spec.hostVeth}`, () => {
      const write = () => hostVethSysctls(spec.hostVeth);
      if (spec.hostNetns) withNetns(spec.hostNetns, write);
      else write();
    }, options);
    const hostLink = step(`bring ${spec.hostVeth} up`, () => {
      host.setUp(spec.hostVeth);
      return mustLink(host, spec.hostVeth);
    }, options);
    step(`bring ${spec.containerIf} up`, () => pod.setUp(spec.containerIf), options);
    step(`route ${gateway} dev ${spec.containerIf}`, () =>
      pod.replaceRoute({
        dst: `${gateway}/32`,
        link: spec.containerIf,
        scope: "link",
        table: podTable,
      }), options);
    if (spec.index > 0) {
      step(`pod rule from ${spec.ip} lookup ${podTable}`, () =>
        pod.ensureRule({
          priority: POD_SOURCE_RULE_PRIORITY,
          src: `${spec.ip}/32`,
          table: podTable,
        }), options);
    }
    step(
      `default route via ${gateway}`,
      () => pod.replaceRoute({ dst: "default", gateway, link: spec.containerIf, table: podTable }),
      options,
    );
    step(
      `address ${spec.ip}/32 on ${spec.containerIf}`,
      () => pod.addAddress(spec.containerIf, `${spec.ip}/32`),
      options,
    );
    step(
      `neighbour ${gateway} -> ${spec.hostVeth} MAC`,
      () => pod.replaceNeighbour({ link: spec.containerIf, ip: gateway, mac: hostLink.mac }),
      options,
    );
    const containerMac = mustLink(pod, spec.containerIf).mac;
    step(`node route ${spec.ip}/32 dev ${spec.hostVeth}`, () =>
      host.replaceRoute({
        dst: `${spec.ip}/32`,
        link: spec.hostVeth,
        scope: "link",
        table: MAIN_TABLE,
      }), options);
    step(`rule to ${spec.ip} lookup main prio ${TO_POD_RULE_PRIORITY}`, () =>
      host.ensureRule({
        priority: TO_POD_RULE_PRIORITY,
        dst: `${spec.ip}/32`,
        table: MAIN_TABLE,
      }), options);
    if (table !== MAIN_TABLE) {
      step(
        `rule from ${spec.ip} lookup ${table} prio ${FROM_POD_RULE_PRIORITY}`,
        () =>
          host.ensureRule({
            priority: FROM_POD_RULE_PRIORITY,
            src: `${spec.ip}/32`,
            table,
          }),
        options,
      );
    }
    return { hostVethMac: hostLink.mac, hostVethIndex: hostLink.index, containerMac };
  } catch (e) {
    if (created) {
      try {
        removeHostState(host, spec.ip, spec.routeTableId);
        host.deleteLinkIfExists(spec.hostVeth);
      } catch (cleanup) {
        log.error("rollback of a failed pod wiring failed", { error: cleanup, spec });
      }
    }
    throw e;
  }
}

/**
 * Removes one interface completely (ADD rollback): the node's rules and route, and the veth
 * (deleting the host end deletes the pod end with it).
 */
export function removePodInterface(
  spec: Pick<PodInterfaceSpec, "hostNetns" | "hostVeth" | "ip" | "routeTableId">,
): void {
  using host = openHost(spec.hostNetns);
  step(`remove node state of ${spec.ip}`, () => {
    removeHostState(host, spec.ip, spec.routeTableId);
    host.deleteLinkIfExists(spec.hostVeth);
  });
}

/**
 * Does the pod's network namespace exist? Opened through libc, not Deno.stat: runtimes such as
 * ctr pass /proc/<pid>/ns/net, which Deno refuses without --allow-all. A file that exists but is
 * not a network namespace is an invalid CNI_NETNS.
 */
export function podNetnsExists(path: string): boolean {
  try {
    netnsId(path);
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw new EnvError(
      ["CNI_NETNS"],
      `CNI_NETNS ${path} cannot be used as a network namespace: ${(e as Error).message}`,
    );
  }
}

/**
 * DEL (CNI spec: delete CNI_IFNAME inside CNI_NETNS): removes the pod's end of the veth, which
 * takes the host end with it. Upstream leaves both to the namespace's removal; a runtime that
 * keeps the namespace (or reuses it) would otherwise find a stale veth on the node. Idempotent:
 * returns false when the interface is already gone.
 */
export function removeContainerInterface(spec: { podNetns: string; containerIf: string }): boolean {
  using pod = step("open netlink socket in pod", () => Netlink.openIn(spec.podNetns));
  return step(
    `remove ${spec.containerIf} in the pod`,
    () => pod.deleteLinkIfExists(spec.containerIf),
  );
}

export interface TeardownSpec {
  ip: string;
  routeTableId: number;
  hostNetns?: string;
  /**
   * When set, nothing is removed if the node's route to the address uses another link: the
   * address has since been given to another pod (teardown from a stale prevResult).
   */
  onlyIfHostVeth?: string;
}

/** Upstream TeardownPodNetwork: rule 512, rules 1536, the /32 route. Idempotent. */
export function teardownHost(spec: TeardownSpec): "removed" | "foreign" {
  using host = openHost(spec.hostNetns);
  return step(`remove node state of ${spec.ip}`, () => {
    if (spec.onlyIfHostVeth !== undefined && isForeign(host, spec.ip, spec.onlyIfHostVeth)) {
      return "foreign";
    }
    removeHostState(host, spec.ip, spec.routeTableId);
    return "removed";
  });
}

/** Branch-ENI pod teardown (upstream §4.5): the VLAN link, its prio-10 rules, then the IP. */
export function teardownBranchHost(spec: { vlanId: number; ip: string; hostNetns?: string }): void {
  using host = openHost(spec.hostNetns);
  const table = spec.vlanId + 100;
  step(`remove branch state of ${spec.ip} (vlan ${spec.vlanId})`, () => {
    host.deleteLinkIfExists(`vlan.eth.${spec.vlanId}`);
    for (const rule of host.rules(4)) {
      if (rule.priority === BRANCH_RULE_PRIORITY && rule.table === table) {
        host.deleteRuleIfExists(rule);
      }
    }
    removeHostState(host, spec.ip, table);
  });
}

function isForeign(host: Netlink, ip: string, hostVeth: string): boolean {
  const route = host.routes({ table: MAIN_TABLE, family: 4 })
    .find((r) => r.dst === `${ip}/32` && r.ifindex !== undefined);
  if (!route) return false;
  const ours = host.link(hostVeth);
  return ours === undefined || route.ifindex !== ours.index;
}

function removeHostState(host: Netlink, ip: string, routeTableId: number): void {
  const table = hostTable(routeTableId);
  const cidr = `${ip}/32`;
  host.deleteRuleIfExists({ priority: TO_POD_RULE_PRIORITY, dst: cidr, table: MAIN_TABLE });
  if (table !== MAIN_TABLE) {
    // Upstream deletes until none is left: repeated ADDs may have stacked duplicates.
    for (let i = 0; i < 64; i++) {
      if (!host.deleteRuleIfExists({ priority: FROM_POD_RULE_PRIORITY, src: cidr, table })) break;
    }
  }
  host.deleteRouteIfExists({ dst: cidr, table: MAIN_TABLE, scope: "link" });
}

function hostVethSysctls(hostVeth: string): void {
  const settings: Array<[string, string]> = [["accept_ra", "0"], ["accept_redirects", "1"], [
    "forwarding",
    "0",
  ]];
  for (const [key, value] of settings) {
    try {
      writeSysctl(`net/ipv6/conf/${hostVeth}/${key}`, value);
    } catch (e) {
      if (!isNotFound(e)) throw e; // a kernel without IPv6 has no such file
    }
  }
}

function mustLink(nl: Netlink, name: string): Link {
  const link = nl.link(name);
  if (!link) throw new PodNetworkError(`look up ${name}`, `link ${name} vanished during wiring`);
  return link;
}

/**
 * A random unicast, locally administered MAC that no link of the node uses (upstream tries 10
 * times, and so do we).
 */
export function randomMac(links: Array<{ mac: string }>): string {
  const taken = new Set(links.map((l) => l.mac.toLowerCase()));
  for (let attempt = 0; attempt < 10; attempt++) {
    const bytes = crypto.getRandomValues(new Uint8Array(6));
    bytes[0] = (bytes[0]! & 0xfe) | 0x02;
    const mac = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":");
    if (!taken.has(mac)) return mac;
  }
  throw new PodNetworkError("pick host veth MAC", "no unused MAC address after 10 random tries");
}

// ---- CHECK -----------------------------------------------------------------------------------

/** What differs from what wirePodInterface sets up; empty when all is in place. */
export function inspectPodInterface(spec: Omit<PodInterfaceSpec, "mtu">): string[] {
  const problems: string[] = [];
  const table = hostTable(spec.routeTableId);
  const gateway = podGateway(spec.index);
  const podTable = spec.index === 0 ? MAIN_TABLE : spec.index;
  using host = step("open node netlink socket", () => openHost(spec.hostNetns));
  const hostLink = host.link(spec.hostVeth);
  if (!hostLink) problems.push(`node: host veth ${spec.hostVeth} is missing`);
  else if (!hostLink.up) problems.push(`node: host veth ${spec.hostVeth} is down`);
  const hostRoute = host.routes({ table: MAIN_TABLE, family: 4 })
    .find((r) => r.dst === `${spec.ip}/32`);
  if (!hostRoute) problems.push(`node: no route to ${spec.ip}/32 in the main table`);
  else if (hostLink && hostRoute.ifindex !== hostLink.index) {
    problems.push(`node: the route to ${spec.ip}/32 does not use ${spec.hostVeth}`);
  }
  const rules = host.rules(4);
  const hasRule = (priority: number, t: number, m: { src?: string; dst?: string }) =>
    rules.some((r) =>
      r.priority === priority && r.table === t && r.src === m.src && r.dst === m.dst &&
      r.fwmark === undefined && r.iif === undefined
    );
  if (!hasRule(TO_POD_RULE_PRIORITY, MAIN_TABLE, { dst: `${spec.ip}/32` })) {
    problems.push(`node: rule "to ${spec.ip}/32 lookup main prio ${TO_POD_RULE_PRIORITY}" missing`);
  }
  if (table !== MAIN_TABLE && !hasRule(FROM_POD_RULE_PRIORITY, table, { src: `${spec.ip}/32` })) {
    problems.push(
      `node: rule "from ${spec.ip}/32 lookup ${table} prio ${FROM_POD_RULE_PRIORITY}" missing`,
    );
  }
  let pod: Netlink;
  try {
    pod = Netlink.openIn(spec.podNetns);
  } catch (e) {
    problems.push(`pod: cannot enter ${spec.podNetns}: ${(e as Error).message}`);
    return problems;
  }
  try {
    problems.push(...inspectPodSide(pod, spec, gateway, podTable, hostLink));
  } finally {
    pod.close();
  }
  return problems;
}

function inspectPodSide(
  pod: Netlink,
  spec: Omit<PodInterfaceSpec, "mtu">,
  gateway: string,
  podTable: number,
  hostLink: Link | undefined,
): string[] {
  const problems: string[] = [];
  const link = pod.link(spec.containerIf);
  if (!link) return [`pod: interface ${spec.containerIf} is missing`];
  if (!link.up) problems.push(`pod: ${spec.containerIf} is down`);
  const addresses = pod.addresses({ link: link.index, family: 4 }).map((a) => a.cidr);
  if (!addresses.includes(`${spec.ip}/32`)) {
    problems.push(
      `pod: ${spec.containerIf} lacks ${spec.ip}/32 (has ${addresses.join(", ") || "none"})`,
    );
  }
  const routes = pod.routes({ table: podTable, family: 4 });
  if (
    !routes.some((r) => r.dst === `${gateway}/32` && r.ifindex === link.index && r.scope === "link")
  ) {
    problems.push(`pod: no link-scope route to ${gateway} on ${spec.containerIf}`);
  }
  if (
    !routes.some((r) => r.dst === "default" && r.gateway === gateway && r.ifindex === link.index)
  ) {
    problems.push(`pod: no default route via ${gateway} on ${spec.containerIf}`);
  }
  const neighbour = pod.neighbours({ link: link.index }).find((n) => n.ip === gateway);
  if (!neighbour || !neighbour.permanent) {
    problems.push(`pod: no permanent neighbour entry for ${gateway}`);
  } else if (hostLink && neighbour.mac.toLowerCase() !== hostLink.mac.toLowerCase()) {
    problems.push(
      `pod: neighbour ${gateway} is ${neighbour.mac}, not the host veth's ${hostLink.mac}`,
    );
  }
  if (spec.index > 0) {
    const rule = pod.rules(4).some((r) =>
      r.priority === POD_SOURCE_RULE_PRIORITY && r.src === `${spec.ip}/32` && r.table === podTable
    );
    if (!rule) problems.push(`pod: rule "from ${spec.ip} lookup ${podTable}" missing`);
  }
  return problems;
}
