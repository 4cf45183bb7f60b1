/**
 * `ipamd doctor`: checks a node end to end and says what to fix. It reads (never changes)
 * instance metadata, EC2 (one Describe call), ipamd's socket and introspection API, the CNI
 * files, sysctls, routes and rules (netlink) and iptables, in the current network namespace,
 * and compares them with what ipamd and aws-cni install (src/node renders the expected rules).
 */
import { type Config, ConfigError, loadConfig, type LoadedConfig } from "../../config.ts";
import { DEFAULT_IMDS_ENDPOINT } from "../../aws/imds.ts";
import { hostVethName } from "../../cni/names.ts";
import { isNotFound, Netlink, readSysctl } from "../../../ffi/mod.ts";
import { commandRunner, detectIptablesBackend, readIptables } from "../../node/iptables.ts";
import { renderSnatRules } from "../../node/snat_rules.ts";
import type { StatusResult } from "../../rpc/protocol.ts";
import { renderHelp } from "./args.ts";
import {
  type CommandContext,
  EXIT,
  HELP_OPTION,
  INTROSPECTION_OPTION,
  JSON_OPTION,
  print,
  printJson,
  runCommand,
  SOCKET_OPTION,
} from "./command.ts";
import { checkEc2, checkImds, type ImdsFacts } from "./doctor_aws.ts";
import { checkIptables, checkOtherBackend } from "./doctor_iptables.ts";
import {
  checkEnis,
  checkHostRules,
  checkIpForward,
  checkPods,
  checkRpFilter,
  type NetworkState,
} from "./doctor_network.ts";
import { checkCniBinary, checkConflist, readPluginFiles } from "./doctor_plugin.ts";
import { check, type CheckResult, renderReport, report } from "./doctor_report.ts";
import { type Endpoints, fetchIntrospection, fetchStatus, resolveEndpoints } from "./ipamd_api.ts";
import type { PodEntry, UpstreamEnis } from "./introspection_types.ts";

const OPTIONS = {
  ...JSON_OPTION,
  "skip-ec2": { type: "boolean", help: "do not call EC2 (no credentials check)" },
  "cni-path": {
    type: "string",
    value: "DIRS",
    help: "more directories (colon-separated) where chained plugins may be (default $CNI_PATH)",
  },
  ...SOCKET_OPTION,
  ...INTROSPECTION_OPTION,
  ...HELP_OPTION,
} as const;

export function help(): string {
  return renderHelp({
    usage: "ipamd doctor [--json] [--skip-ec2] [--socket PATH] [--introspection ADDR]",
    summary: "Checks this node and says what to fix. Each check prints PASS, WARN, FAIL or SKIP " +
      "and,\nwhen something is wrong, the details and a one-line fix:\n" +
      "  config             the environment is valid (as 'ipamd config')\n" +
      "  imds               instance metadata answers over IMDSv2\n" +
      "  ec2                the credentials work: one DescribeNetworkInterfaces call\n" +
      "  ipamd, pool        ipamd answers on its socket and is ready; the pool can serve pods\n" +
      "  cni-binary         aws-cni is in HOST_CNI_BIN_PATH\n" +
      "  conflist           10-aws.conflist is in HOST_CNI_CONFDIR_PATH, valid and first\n" +
      "  rp-filter          the primary interface filters reverse paths loosely (2)\n" +
      "  ip-forward         net.ipv4.ip_forward=1\n" +
      "  host-rules         rule 1024 (fwmark → main)\n" +
      "  pods               every pod ipamd holds: host route to its veth, rules 512 and 1536\n" +
      "  enis               every secondary ENI: route table and rule 32765\n" +
      "  iptables           the SNAT/connmark rules present and in order\n" +
      "  iptables-backends  no rules in the other iptables backend (legacy beside nft)\n" +
      "Run it as root in the node's network namespace (on a node: in the aws-node container).",
    options: OPTIONS,
    sections: [{
      title: "Exit codes",
      body: "  0 no check failed (warnings allowed), 1 at least one FAIL, 2 usage error.",
    }],
  });
}

export async function main(context: CommandContext): Promise<number> {
  return await runCommand("doctor", context, { options: OPTIONS, help }, async ({ options }) => {
    const endpoints = resolveEndpoints("doctor", options, context.env);
    const cniPath = (options["cni-path"] ?? context.env.CNI_PATH ?? "").split(":").filter(Boolean);
    const checks = await runChecks(context.env, endpoints, {
      skipEc2: options["skip-ec2"] ?? false,
      cniPath,
    });
    const result = report(checks);
    if (options.json) printJson(result);
    else print(renderReport(result));
    return result.ok ? EXIT.ok : EXIT.failure;
  });
}

export async function runChecks(
  env: Readonly<Record<string, string>>,
  endpoints: Endpoints,
  options: { skipEc2: boolean; cniPath: readonly string[] },
): Promise<CheckResult[]> {
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig({ ...env });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [check("config", "FAIL", "invalid configuration: ipamd will not start", {
      details: error.problems.map((p) =>
        `${p.variable}${p.value === undefined ? "" : `=${JSON.stringify(p.value)}`}: ${p.accepted}`
      ),
      remedy: "fix these variables in aws-node's environment ('ipamd config' checks them); " +
        "the other checks need a valid configuration",
    })];
  }
  const { config } = loaded;
  const checks: CheckResult[] = [configCheck(loaded)];
  const [imds, daemon, files] = await Promise.all([
    checkImds(config.imdsEndpoint || DEFAULT_IMDS_ENDPOINT),
    askIpamd(endpoints),
    readPluginFiles(config.hostCniBinPath, config.hostCniConfDirPath, options.cniPath),
  ]);
  const [ec2, iptables] = await Promise.all([
    options.skipEc2
      ? Promise.resolve(check("ec2", "SKIP", "--skip-ec2"))
      : checkEc2(config, imds.facts),
    iptablesChecks(config, imds.facts),
  ]);
  checks.push(imds.result, ec2, ...ipamdChecks(endpoints.socket, daemon));
  const ready = daemon.status?.ready === true;
  checks.push(checkCniBinary(files, ready), checkConflist(files, endpoints.socket, ready));
  using nl = Netlink.open();
  const net: NetworkState = {
    links: nl.links(),
    routes: nl.routes({ family: 4 }),
    rules: nl.rules(4),
  };
  const primary = imds.facts
    ? net.links.find((l) => l.mac === imds.facts!.identity.primaryMac.toLowerCase())
    : undefined;
  checks.push(
    primary
      ? checkRpFilter({
        primaryInterface: primary.name,
        rpFilter: sysctl(`net/ipv4/conf/${primary.name}/rp_filter`),
        rpFilterAll: sysctl("net/ipv4/conf/all/rp_filter"),
      })
      : check(
        "rp-filter",
        "SKIP",
        imds.facts
          ? `no interface has the primary ENI's MAC ${imds.facts.identity.primaryMac}: run in the ` +
            "node's network namespace"
          : "needs the primary ENI's MAC from instance metadata",
      ),
    checkIpForward(sysctl("net/ipv4/ip_forward")),
    checkHostRules(
      net.rules,
      config.nodePortSupport || !config.externalSnat ? config.connmark : undefined,
    ),
  );
  checks.push(...await networkChecks(config, daemon, imds.facts, net), ...iptables);
  return checks;
}

function configCheck(loaded: LoadedConfig): CheckResult {
  const fromEnv = loaded.settings.filter((s) => s.source === "environment").length;
  const summary = `environment valid (${fromEnv} setting${fromEnv === 1 ? "" : "s"} from the ` +
    "environment, the rest defaults)";
  if (loaded.warnings.length === 0) return check("config", "PASS", summary);
  return check("config", "WARN", summary, {
    details: [...loaded.warnings],
    remedy: "remove deprecated or ignored variables from aws-node's environment",
  });
}

interface DaemonView {
  status?: StatusResult;
  statusError?: string;
  pods?: PodEntry[];
  enis?: UpstreamEnis;
  introspectionError?: string;
}

async function askIpamd(endpoints: Endpoints): Promise<DaemonView> {
  const view: DaemonView = {};
  try {
    view.status = await fetchStatus(endpoints.socket, { connectMs: 2000, rpcMs: 5000 });
  } catch (error) {
    view.statusError = error instanceof Error ? error.message : String(error);
  }
  try {
    [view.pods, view.enis] = await Promise.all([
      fetchIntrospection<PodEntry[]>(endpoints, "/v1/pods"),
      fetchIntrospection<UpstreamEnis>(endpoints, "/v1/enis"),
    ]);
  } catch (error) {
    view.introspectionError = error instanceof Error ? error.message : String(error);
  }
  return view;
}

function ipamdChecks(socket: string, daemon: DaemonView): CheckResult[] {
  const s = daemon.status;
  if (!s) {
    return [check("ipamd", "FAIL", daemon.statusError ?? `no answer on ${socket}`, {
      remedy: "check the aws-node pod (kubectl -n kube-system get pods -l k8s-app=aws-node " +
        "-o wide) and ipamd's log (AWS_VPC_K8S_CNI_LOG_FILE)",
    })];
  }
  if (s.terminating || !s.ready) {
    return [check(
      "ipamd",
      "WARN",
      `ipamd ${s.version} answers on ${socket} but is not ready: ` +
        `${s.terminating ? "shutting down" : s.reason ?? "starting"}`,
      {
        remedy: "wait for it; if it stays so, read ipamd's log (AWS_VPC_K8S_CNI_LOG_FILE)",
      },
    )];
  }
  const ready = check("ipamd", "PASS", `ipamd ${s.version} ready on ${socket} (${s.mode})`);
  const pool = `${s.totalIPs} addresses, ${s.assignedIPs} assigned, ${s.availableIPs} available, ` +
    `${s.cooldownIPs} cooling; ${s.enis} of ${s.maxENIs} ENIs`;
  if (s.availableIPs === 0 && !s.canGrow) {
    return [
      ready,
      check("pool", "WARN", `${pool}: no free address and the pool cannot grow`, {
        details: s.reason ? [s.reason] : [],
        remedy: "new pods wait or fail; see 'ipamd status' (subnet space, MAX_ENI, MAX_PODS, " +
          "instance limits)",
      }),
    ];
  }
  return [ready, check("pool", "PASS", pool)];
}

async function networkChecks(
  config: Config,
  daemon: DaemonView,
  facts: ImdsFacts | undefined,
  net: NetworkState,
): Promise<CheckResult[]> {
  if (!daemon.pods || !daemon.enis) {
    const why = `cannot list what ipamd holds: ${daemon.introspectionError ?? "no answer"}`;
    return [check("pods", "SKIP", why), check("enis", "SKIP", why)];
  }
  const pods = await Promise.all(daemon.pods.map(async (p) => ({
    namespace: p.podNamespace,
    name: p.podName,
    ip: p.ipv4,
    routeTableId: p.routeTableId,
    ...(p.podName ? { veth: await hostVethName(config.vethPrefix, p) } : {}),
  })));
  const imdsEnis = new Map((facts?.enis ?? []).map((e) => [e.eniId, e]));
  const enis = Object.values(daemon.enis).flatMap((card) => Object.values(card.ENIs)).map((e) => {
    const meta = imdsEnis.get(e.ID);
    return {
      id: e.ID,
      deviceNumber: e.DeviceNumber,
      routeTableId: e.RouteTableID,
      ...(meta ? { mac: meta.mac, subnetCidr: meta.subnetCidr } : {}),
      ...(meta?.ipv4s[0] ? { primaryIp: meta.ipv4s[0] } : {}),
    };
  });
  return [checkPods(pods, net), checkEnis(enis, net)];
}

async function iptablesChecks(
  config: Config,
  facts: ImdsFacts | undefined,
): Promise<CheckResult[]> {
  let backend: Awaited<ReturnType<typeof detectIptablesBackend>>;
  try {
    backend = await detectIptablesBackend();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return [check("iptables", "FAIL", `cannot run iptables: ${message}`, {
      remedy: "install iptables (the node image needs it for kube-proxy too)",
    })];
  }
  const others = checkOtherBackend(backend.kind, await otherBackendSave(backend.kind));
  if (!facts) {
    const why = "needs the primary address and VPC CIDRs from instance metadata";
    return [check("iptables", "SKIP", why), others];
  }
  try {
    const saved = await readIptables(backend);
    using nl = Netlink.open();
    const primary = nl.linkByMac(facts.identity.primaryMac.toLowerCase());
    const desired = renderSnatRules({
      vpcCidrs: facts.primary.vpcCidrs,
      primaryIp: facts.identity.localIpv4,
      primaryInterface: primary?.name ?? "eth0",
      excludeSnatCidrs: config.excludeSnatCidrs,
      externalSnat: config.externalSnat,
      randomizeSnat: config.randomizeSnat,
      hasRandomFully: backend.hasRandomFully,
      nodePortSupport: config.nodePortSupport,
      connmark: config.connmark,
      vethPrefix: config.vethPrefix,
    });
    return [checkIptables(saved, desired, backend), others];
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return [
      check("iptables", "FAIL", `cannot read iptables: ${message}`, {
        remedy: "run as root in the node's network namespace",
      }),
      others,
    ];
  }
}

/** `iptables-legacy-save` (or -nft-save); undefined when that program is not installed. */
async function otherBackendSave(kind: "legacy" | "nft"): Promise<string | undefined> {
  const program = kind === "nft" ? "iptables-legacy-save" : "iptables-nft-save";
  try {
    const out = await commandRunner()(program, []);
    return out.code === 0 ? out.stdout : undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

function sysctl(key: string): number {
  try {
    return Number(readSysctl(key).trim());
  } catch (error) {
    if (isNotFound(error)) return NaN;
    throw error;
  }
}
