/**
 * `ipamd doctor`'s checks of the node's kernel state, as pure functions of what netlink and
 * /proc/sys report: sysctls, the host rules, every pod's host route and rules (512, 1536), and
 * every secondary ENI's route table and rule 32765 (spec §5.1, §5.2, §5.5).
 */
import type { Link, Route, Rule } from "../../../ffi/mod.ts";
import { MAIN_TABLE, RULE_PRIORITY } from "../../node/host_network.ts";
import { subnetGateway } from "../../ipv4.ts";
import { check, type CheckResult } from "./doctor_report.ts";

export interface NetworkState {
  links: readonly Link[];
  routes: readonly Route[];
  rules: readonly Rule[];
}

export interface RpFilterState {
  primaryInterface: string;
  /** net.ipv4.conf.<primary>.rp_filter and net.ipv4.conf.all.rp_filter. */
  rpFilter: number;
  rpFilterAll: number;
}

/** The kernel uses the larger of conf.all and conf.<iface> for rp_filter. */
export function checkRpFilter(s: RpFilterState): CheckResult {
  const effective = Math.max(s.rpFilter, s.rpFilterAll);
  const key = `net.ipv4.conf.${s.primaryInterface}.rp_filter`;
  const values = `${key}=${s.rpFilter}, net.ipv4.conf.all.rp_filter=${s.rpFilterAll}`;
  if (effective === 2) {
    return check(
      "rp-filter",
      "PASS",
      `loose reverse-path filter on ${s.primaryInterface} (${values})`,
    );
  }
  if (effective === 0) {
    return check(
      "rp-filter",
      "WARN",
      `reverse-path filter off on ${s.primaryInterface} (${values})`,
      {
        remedy: `works, but aws-node sets it loose: run 'ipamd init', or sysctl -w ${key}=2`,
      },
    );
  }
  const fixAll = s.rpFilterAll === 1 ? " and net.ipv4.conf.all.rp_filter=2" : "";
  return check(
    "rp-filter",
    "FAIL",
    `strict reverse-path filter on ${s.primaryInterface} drops replies to pods on secondary ` +
      `ENIs (NodePort, SNAT) (${values})`,
    { remedy: `run 'ipamd init' (aws-node's init container), or sysctl -w ${key}=2${fixAll}` },
  );
}

export function checkIpForward(ipForward: number): CheckResult {
  if (ipForward === 1) return check("ip-forward", "PASS", "net.ipv4.ip_forward=1");
  return check(
    "ip-forward",
    "FAIL",
    `net.ipv4.ip_forward=${ipForward}: pods cannot reach anything beyond this node`,
    { remedy: "sysctl -w net.ipv4.ip_forward=1 (and make it persistent in the node image)" },
  );
}

/** Rule 1024 `fwmark <mark>/<mark> lookup main` (absent when `mark` is undefined). */
export function checkHostRules(rules: readonly Rule[], mark: number | undefined): CheckResult {
  const found = rules.some((r) =>
    r.priority === RULE_PRIORITY.fwmark && r.table === MAIN_TABLE && r.fwmark === mark &&
    r.fwmask === mark
  );
  if (mark === undefined) {
    return check(
      "host-rules",
      "PASS",
      "no fwmark rule needed (external SNAT, no NodePort support)",
    );
  }
  const hex = `0x${mark.toString(16)}`;
  if (found) return check("host-rules", "PASS", `rule 1024 fwmark ${hex}/${hex} lookup main`);
  return check(
    "host-rules",
    "FAIL",
    `rule 1024 fwmark ${hex}/${hex} lookup main is missing: ` +
      "NodePort replies and SNATed traffic of pods on secondary ENIs leave by the wrong ENI",
    {
      details: [`restore: ip rule add fwmark ${hex}/${hex} lookup main prio 1024`],
      remedy: "restart aws-node (ipamd installs the rule at start), or run the command above",
    },
  );
}

export interface PodExpectation {
  namespace: string;
  name: string;
  ip: string;
  routeTableId: number;
  /** The host veth aws-cni named after the pod; undefined when the pod is unknown. */
  veth?: string;
}

export function checkPods(pods: readonly PodExpectation[], net: NetworkState): CheckResult {
  const names = new Map(net.links.map((l) => [l.index, l.name]));
  const problems: string[] = [];
  const broken: PodExpectation[] = [];
  for (const pod of pods) {
    const found = podProblems(pod, net, names);
    if (found.length > 0) broken.push(pod);
    const who = pod.name ? `${pod.namespace}/${pod.name}` : "(unknown pod)";
    problems.push(...found.map((p) => `${who} ${pod.ip}: ${p}`));
  }
  const stale = staleRules(pods, net.rules);
  const n = pods.length;
  const plural = n === 1 ? "pod" : "pods";
  if (broken.length > 0) {
    const named = broken.filter((p) => p.name);
    const deletes = named.length > 0 && named.length <= 3
      ? named.map((p) => `kubectl delete pod -n ${p.namespace} ${p.name}`).join("; ")
      : "kubectl delete pod -n NAMESPACE NAME";
    return check(
      "pods",
      "FAIL",
      `${broken.length} of ${n} ${plural} miss part of their host networking ` +
        "(route, rule 512 or 1536)",
      {
        details: [...problems, ...stale],
        remedy: `recreate the pod so aws-cni wires it again (${deletes}), or run the 'restore' ` +
          "command above",
      },
    );
  }
  if (stale.length > 0) {
    return check(
      "pods",
      "WARN",
      `${n} ${plural} wired correctly, but rules remain for addresses no pod holds`,
      {
        details: stale,
        remedy: "run the 'remove' commands above (a DEL that did not finish left them)",
      },
    );
  }
  return check(
    "pods",
    "PASS",
    n === 0
      ? "no pods hold an address yet"
      : `${n} ${plural}: host route to the veth, rule 512 and (secondary ENIs) rule 1536 in place`,
  );
}

function podProblems(pod: PodExpectation, net: NetworkState, names: Map<number, string>): string[] {
  const problems: string[] = [];
  const dst = `${pod.ip}/32`;
  const route = net.routes.find((r) => r.table === MAIN_TABLE && r.dst === dst);
  const dev = route?.ifindex === undefined ? undefined : names.get(route.ifindex);
  if (pod.veth && ![...names.values()].includes(pod.veth)) {
    problems.push(`host veth ${pod.veth} is missing (the pod's network is gone)`);
  }
  if (!route) {
    problems.push(
      `no host route ${dst} (restore: ip route add ${dst} dev ${pod.veth ?? "<veth>"} scope link)`,
    );
  } else if (pod.veth && dev !== pod.veth) {
    problems.push(
      `host route ${dst} goes to ${dev ?? "?"}, not ${pod.veth} ` +
        `(restore: ip route replace ${dst} dev ${pod.veth} scope link)`,
    );
  }
  const toPod = net.rules.some((r) =>
    r.priority === RULE_PRIORITY.toPod && r.dst === dst && r.table === MAIN_TABLE && !r.src
  );
  if (!toPod) {
    problems.push(`rule 512 missing (restore: ip rule add to ${dst} lookup main prio 512)`);
  }
  if (pod.routeTableId !== MAIN_TABLE) {
    const fromPod = net.rules.some((r) =>
      r.priority === RULE_PRIORITY.fromPod && r.src === dst && r.table === pod.routeTableId
    );
    if (!fromPod) {
      problems.push(
        `rule 1536 missing: its replies leave by the primary ENI (restore: ip rule ` +
          `add from ${dst} lookup ${pod.routeTableId} prio 1536)`,
      );
    }
  }
  return problems;
}

/** Rules 512/1536 for /32s that no pod holds: left by a DEL that did not complete. */
function staleRules(pods: readonly PodExpectation[], rules: readonly Rule[]): string[] {
  const held = new Set(pods.map((p) => `${p.ip}/32`));
  const out: string[] = [];
  for (const r of rules) {
    if (r.priority === RULE_PRIORITY.toPod && r.dst && !held.has(r.dst)) {
      out.push(
        `stale rule 512 to ${r.dst} (remove: ip rule del to ${r.dst} lookup ${r.table} prio 512)`,
      );
    }
    if (r.priority === RULE_PRIORITY.fromPod && r.src && !held.has(r.src)) {
      out.push(
        `stale rule 1536 from ${r.src} (remove: ip rule del from ${r.src} lookup ${r.table} ` +
          "prio 1536)",
      );
    }
  }
  return out;
}

export interface EniExpectation {
  id: string;
  deviceNumber: number;
  routeTableId: number;
  /** From IMDS: the ENI's MAC, primary address and subnet (undefined when IMDS failed). */
  mac?: string;
  primaryIp?: string;
  subnetCidr?: string;
}

/** Every secondary ENI: link up, its table's gateway and default routes, rule 32765. */
export function checkEnis(enis: readonly EniExpectation[], net: NetworkState): CheckResult {
  const secondary = enis.filter((e) => e.routeTableId !== MAIN_TABLE);
  const problems: string[] = [];
  for (const eni of secondary) {
    problems.push(...eniProblems(eni, net).map((p) => `${eni.id}: ${p}`));
  }
  const n = secondary.length;
  if (problems.length > 0) {
    return check("enis", "FAIL", `secondary ENIs miss routing: ${n} checked`, {
      details: problems,
      remedy: "restart aws-node: ipamd sets up every ENI's route table and rule at start " +
        "(or run the 'restore' commands above)",
    });
  }
  return check(
    "enis",
    "PASS",
    n === 0
      ? "no secondary ENIs (the primary ENI uses the main table)"
      : `${n} secondary ENI${n === 1 ? "" : "s"}: route table (gateway, default route) and rule ` +
        "32765 in place",
  );
}

function eniProblems(eni: EniExpectation, net: NetworkState): string[] {
  const problems: string[] = [];
  const table = eni.routeTableId;
  const mac = eni.mac?.toLowerCase();
  const link = mac ? net.links.find((l) => l.mac === mac) : undefined;
  if (eni.mac && !link) {
    problems.push(`no interface has its MAC ${eni.mac} (not attached yet, or renamed away)`);
  } else if (link && !link.up) {
    problems.push(`interface ${link.name} is down (restore: ip link set ${link.name} up)`);
  }
  const dev = link?.name ?? "<dev>";
  const gateway = eni.subnetCidr ? subnetGateway(eni.subnetCidr) : undefined;
  const inTable = net.routes.filter((r) => r.table === table);
  const defaultRoute = inTable.find((r) => r.dst === "default");
  if (!defaultRoute) {
    problems.push(
      `table ${table} has no default route (restore: ip route replace default via ` +
        `${gateway ?? "<gateway>"} dev ${dev} table ${table})`,
    );
  } else if (gateway && defaultRoute.gateway !== gateway) {
    problems.push(
      `table ${table}'s default route goes via ${defaultRoute.gateway ?? "?"}, not ` +
        `the subnet gateway ${gateway}`,
    );
  }
  if (gateway && !inTable.some((r) => r.dst === `${gateway}/32`)) {
    problems.push(
      `table ${table} has no route to the gateway (restore: ip route replace ` +
        `${gateway}/32 dev ${dev} scope link table ${table})`,
    );
  }
  if (eni.primaryIp) {
    const src = `${eni.primaryIp}/32`;
    if (
      !net.rules.some((r) => r.priority === RULE_PRIORITY.eni && r.src === src && r.table === table)
    ) {
      problems.push(
        `rule 32765 missing (restore: ip rule add from ${src} lookup ${table} prio 32765)`,
      );
    }
  }
  return problems;
}
