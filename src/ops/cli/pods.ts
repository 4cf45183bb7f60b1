/**
 * `ipamd pods`: the pods ipamd gave addresses to, with their ENI, device, route table and host
 * veth, from the introspection API of the running ipamd.
 */
import { hostVethName } from "../../cni/names.ts";
import { renderTable } from "../table.ts";
import { renderHelp } from "./args.ts";
import {
  type CommandContext,
  EXIT,
  HELP_OPTION,
  INTROSPECTION_OPTION,
  JSON_OPTION,
  print,
  printError,
  printJson,
  runCommand,
} from "./command.ts";
import { ipOrder } from "./enis_view.ts";
import { fetchIntrospection, resolveEndpoints } from "./ipamd_api.ts";
import type { PodEntry, PoolInfo } from "./introspection_types.ts";

const OPTIONS = {
  ...JSON_OPTION,
  namespace: { type: "string", short: "n", value: "NS", help: "only pods of this namespace" },
  eni: { type: "string", value: "ENI_ID", help: "only pods with an address of this ENI" },
  ...INTROSPECTION_OPTION,
  ...HELP_OPTION,
} as const;

export function help(): string {
  return renderHelp({
    usage: "ipamd pods [-n NAMESPACE] [--eni ENI_ID] [--json] [--introspection ADDR]",
    summary: "Lists the pods that hold an address from ipamd: namespace, name, address, ENI, " +
      "device,\nroute table (main for the primary ENI), host veth, container id and age.",
    options: OPTIONS,
    sections: [{
      title: "Exit codes",
      body: "  0 ok (also when no pod matches), 1 ipamd cannot be reached or is not ready yet, " +
        "2 usage error.",
    }],
  });
}

/** One line of `ipamd pods --json`: `/v1/pods` plus the host veth aws-cni created. */
export interface PodView extends PodEntry {
  hostVeth: string;
}

export async function main(context: CommandContext): Promise<number> {
  return await runCommand("pods", context, { options: OPTIONS, help }, async ({ options }) => {
    const endpoints = resolveEndpoints("pods", options, context.env);
    const [pool, pods, env] = await Promise.all([
      fetchIntrospection<PoolInfo>(endpoints, "/v1/pool"),
      fetchIntrospection<PodEntry[]>(endpoints, "/v1/pods"),
      fetchIntrospection<Record<string, unknown>>(endpoints, "/v1/networkutils-env-settings")
        .catch(() => ({} as Record<string, unknown>)),
    ]);
    if (!pool.ready) {
      printError(
        "ipamd pods: ipamd is not ready yet (it is initialising the node); try again " +
          "in a few seconds, or see 'ipamd status'",
      );
      return EXIT.failure;
    }
    const prefix = typeof env.AWS_VPC_K8S_CNI_VETHPREFIX === "string"
      ? env.AWS_VPC_K8S_CNI_VETHPREFIX
      : "eni";
    const views = await podViews(filterPods(pods, options), prefix);
    if (options.json) printJson(views);
    else print(views.length === 0 ? noPods(options) : renderPods(views));
    return EXIT.ok;
  });
}

export function filterPods(
  pods: readonly PodEntry[],
  filter: { namespace?: string; eni?: string },
): PodEntry[] {
  return pods
    .filter((p) => filter.namespace === undefined || p.podNamespace === filter.namespace)
    .filter((p) => filter.eni === undefined || p.eniId === filter.eni)
    .sort((a, b) =>
      a.podNamespace.localeCompare(b.podNamespace) || a.podName.localeCompare(b.podName) ||
      ipOrder(a.ipv4, b.ipv4)
    );
}

async function podViews(pods: PodEntry[], prefix: string): Promise<PodView[]> {
  return await Promise.all(pods.map(async (p) => ({
    ...p,
    hostVeth: p.podName ? await hostVethName(prefix, p) : "",
  })));
}

export function renderPods(pods: readonly PodView[], now = Date.now()): string {
  return renderTable(pods, [
    { header: "NAMESPACE", value: (p) => p.podNamespace || undefined },
    { header: "NAME", value: (p) => p.podName || undefined },
    { header: "ADDRESS", value: (p) => p.ipv4 },
    { header: "ENI", value: (p) => p.eniId },
    { header: "DEVICE", value: (p) => p.deviceNumber, align: "right" },
    { header: "TABLE", value: (p) => (p.routeTableId === 254 ? "main" : p.routeTableId) },
    { header: "VETH", value: (p) => p.hostVeth || undefined },
    { header: "CONTAINER", value: (p) => p.containerId.slice(0, 12) },
    { header: "IFNAME", value: (p) => p.ifName },
    { header: "AGE", value: (p) => age(p.assignedAt, now) },
  ]);
}

function noPods(filter: { namespace?: string; eni?: string }): string {
  const scope = [
    filter.namespace !== undefined ? `in namespace ${filter.namespace}` : "",
    filter.eni !== undefined ? `on ${filter.eni}` : "",
  ].filter(Boolean).join(" ");
  return `No pods${scope ? ` ${scope}` : ""} hold an address from ipamd.`;
}

/** kubectl-style age: 45s, 12m, 3h, 5d. */
export function age(since: string, now: number): string {
  const s = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  if (!Number.isFinite(s)) return "?";
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
