/**
 * ipamd's configuration, from the environment: the only reader of `Deno.env` in the project.
 *
 * Every variable keeps upstream aws-vpc-cni's name, default and Go parsing (strconv.ParseBool
 * spellings, strconv.Atoi, base-0 integers, CIDRs normalised to network form). Where upstream
 * silently falls back to a default on a bad value, `loadConfig` refuses it instead: all problems
 * are collected into ONE `ConfigError` that names each variable, its value and what is accepted.
 * An empty variable means "unset" (the default applies), as upstream.
 *
 * Settings that are ours and not upstream's (origin "ours"):
 * - IPAMD_SOCKET_PATH: the JSON-RPC socket aws-cni talks to.
 * - POD_IP_WAIT_SECONDS: how long an ADD may wait for the pool to grow when no address is free
 *   (0 = fail at once, as upstream does and lets kubelet retry).
 * - WARM_POOL_MODE: `static` is upstream's warm targets; `adaptive` is reserved for a
 *   demand-driven policy and is accepted (it runs as static until that policy lands).
 * - EC2_API_QPS / EC2_API_BURST: client-side token bucket for EC2 calls, so a fleet of nodes
 *   does not trip EC2's account-wide throttling.
 * - METRICS_BIND_ADDRESS: where Prometheus metrics are served (upstream hard-codes :61678).
 * The AWS SDK's own AWS_ENDPOINT_URL_EC2 and AWS_EC2_METADATA_SERVICE_ENDPOINT are read here
 * too (origin "aws-sdk"), so `ipamd config` shows every endpoint in one place.
 */

import { DEFAULT_SOCKET_PATH } from "./rpc/protocol.ts";
import { type Level, parseLevel } from "./ops/log.ts";
import { parseGoAtoi, parseGoIntBase0 } from "./config/go_parse.ts";
import {
  bindAddress,
  bool,
  cidrList,
  custom,
  int,
  InvalidValue,
  oneOf,
  type Origin,
  positiveNumber,
  text,
  url,
  type Var,
} from "./config/kinds.ts";
import { parseEniTags } from "./config/eni_tags.ts";

export type { Origin, Var } from "./config/kinds.ts";
export {
  type IpamdEnvSettings,
  ipamdEnvSettings,
  type NetworkutilsEnvSettings,
  networkutilsEnvSettings,
} from "./config/env_settings.ts";

const MTU = { min: 576, max: 9001 } as const;

const level = (name: string, doc: string) =>
  custom<Level>(name, {
    type: "DEBUG | INFO | WARN | ERROR | FATAL",
    default: "debug",
    doc,
    parse(raw) {
      const value = parseLevel(raw);
      if (value === undefined) {
        throw new InvalidValue("one of DEBUG, INFO, WARN, ERROR, FATAL (any case)");
      }
      return value;
    },
    render: (value) => value.toUpperCase(),
  });

const path = (name: string, options: { default: string; doc: string; origin?: Origin }) =>
  text(name, { ...options, type: "path" });

/** The variables, in the order `ipamd config` lists them. */
export const VARIABLES = {
  // ---- warm pool --------------------------------------------------------------------------
  warmEniTarget: int("WARM_ENI_TARGET", {
    default: 1,
    min: 0,
    doc: "Whole ENIs' worth of free IPs to keep (secondary-IP mode; ignored when " +
      "WARM_IP_TARGET or MINIMUM_IP_TARGET is set, and in prefix mode). 0 allowed.",
  }),
  warmIpTarget: int("WARM_IP_TARGET", {
    default: 0,
    min: 0,
    doc: "Free IPs to keep; > 0 (or MINIMUM_IP_TARGET > 0) switches to IP-granular targets. " +
      "In prefix mode rounded up to /28 prefixes. 0 = not set.",
  }),
  minimumIpTarget: int("MINIMUM_IP_TARGET", {
    default: 0,
    min: 0,
    doc: "Floor for the total IPs allocated to the node. 0 = not set.",
  }),
  warmPrefixTarget: int("WARM_PREFIX_TARGET", {
    default: 1,
    min: 0,
    upstreamDefault: "0 in code, 1 in the upstream manifest",
    doc: "Prefix mode: free /28 prefixes to keep; overridden by WARM_IP_TARGET/MINIMUM_IP_TARGET.",
  }),
  prefixDelegation: bool("ENABLE_PREFIX_DELEGATION", {
    default: false,
    doc: "Allocate /28 prefixes (16 addresses per ENI slot) instead of secondary IPs.",
  }),
  maxEni: custom<number | null>("MAX_ENI", {
    type: "int",
    default: null,
    doc: "Cap on ENIs: min(MAX_ENI, instance limit). Unset or < 1 = the instance limit.",
    parse(raw) {
      const value = parseGoAtoi(raw);
      if (value === undefined) throw new InvalidValue("a decimal integer (< 1 = instance limit)");
      return value < 1 ? null : value;
    },
    render: (value) => (value === null ? "" : String(value)),
  }),
  ipCooldownSeconds: int("IP_COOLDOWN_PERIOD", {
    default: 30,
    min: 0,
    unit: "seconds",
    doc: "Seconds a released pod IP stays unused before it is handed out again. 0 allowed.",
  }),
  warmPoolMode: oneOf("WARM_POOL_MODE", {
    values: ["static", "adaptive"] as const,
    caseInsensitive: true,
    default: "static",
    origin: "ours",
    doc: "static = upstream's warm targets; adaptive is reserved (runs as static for now).",
  }),
  podIpWaitSeconds: int("POD_IP_WAIT_SECONDS", {
    default: 30,
    min: 0,
    // kubelet cancels RunPodSandbox after --runtime-request-timeout (2 min by default).
    max: 120,
    unit: "seconds",
    origin: "ours",
    doc: "How long an ADD may wait for the pool to grow when no address is free; " +
      "0 = fail at once like upstream.",
  }),
  enableIpv4: bool("ENABLE_IPv4", {
    default: true,
    upstreamDefault: "false in code, true in the upstream manifest",
    doc: "IPv4 mode. This release is IPv4-only: false is refused.",
  }),
  enableIpv6: bool("ENABLE_IPv6", {
    default: false,
    doc: "IPv6 mode: not supported by this release (true is refused).",
  }),
  // ---- ENIs, subnets, custom networking ---------------------------------------------------
  customNetworking: bool("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", {
    default: false,
    doc: "New ENIs use the subnet and security groups of this node's ENIConfig; the primary " +
      "ENI is not used for pods.",
  }),
  eniConfigAnnotation: text("ENI_CONFIG_ANNOTATION_DEF", {
    default: "k8s.amazonaws.com/eniConfig",
    doc: "Node annotation holding the ENIConfig name.",
  }),
  eniConfigLabel: text("ENI_CONFIG_LABEL_DEF", {
    default: "k8s.amazonaws.com/eniConfig",
    doc: "Node label holding the ENIConfig name (e.g. topology.kubernetes.io/zone).",
  }),
  subnetDiscovery: bool("ENABLE_SUBNET_DISCOVERY", {
    default: true,
    doc: "New ENIs may use any subnet of the VPC and AZ tagged kubernetes.io/role/cni.",
  }),
  manageUntaggedEni: bool("MANAGE_UNTAGGED_ENI", {
    default: true,
    doc: "Manage attached ENIs that lack this node's instance_id tag.",
  }),
  manageEnisNonSchedulable: bool("AWS_MANAGE_ENIS_NON_SCHEDULABLE", {
    default: false,
    doc: "Keep allocating and freeing ENIs while the node is cordoned.",
  }),
  disableNetworkResourceProvisioning: bool("DISABLE_NETWORK_RESOURCE_PROVISIONING", {
    default: false,
    doc: "Never create, attach, assign or free ENIs/IPs; use only what IMDS shows.",
  }),
  imdsOnlyMode: bool("ENABLE_IMDS_ONLY_MODE", {
    default: false,
    doc: "Implies DISABLE_NETWORK_RESOURCE_PROVISIONING and DISABLE_LEAKED_ENI_CLEANUP; no EC2 " +
      "calls at all.",
  }),
  disableLeakedEniCleanup: bool("DISABLE_LEAKED_ENI_CLEANUP", {
    default: false,
    doc: "Disable the hourly clean-up of detached ENIs this CNI created.",
  }),
  clusterName: text("CLUSTER_NAME", {
    default: "",
    doc: "Tags ENIs with cluster.k8s.amazonaws.com/name and scopes leaked-ENI clean-up and " +
      "subnet discovery to this cluster.",
    check: (value) =>
      /^[A-Za-z0-9][A-Za-z0-9 +\-=._:/@]{0,99}$/.test(value)
        ? undefined
        : "1–100 characters usable in an EC2 tag value (letters, digits, space, + - = . _ : / @)",
  }),
  additionalEniTags: custom<Readonly<Record<string, string>>>("ADDITIONAL_ENI_TAGS", {
    type: "JSON object",
    default: Object.freeze({}),
    doc: 'Extra tags on every ENI ipamd creates, e.g. {"team":"infra"}.',
    parse: parseEniTags,
    render: (value) => (Object.keys(value).length === 0 ? "" : JSON.stringify(value)),
  }),
  enablePodEni: bool("ENABLE_POD_ENI", {
    default: false,
    doc: "Security groups for pods (trunk/branch ENIs): not supported by this release.",
  }),
  podSecurityGroupEnforcingMode: oneOf("POD_SECURITY_GROUP_ENFORCING_MODE", {
    values: ["strict", "standard"] as const,
    default: "strict",
    doc: "Branch-ENI pod routing mode (only with ENABLE_POD_ENI).",
  }),
  enableMultiNic: bool("ENABLE_MULTI_NIC", {
    default: false,
    doc: "Manage network cards > 0: not supported by this release.",
  }),
  // ---- node networking ----------------------------------------------------------------------
  externalSnat: bool("AWS_VPC_K8S_CNI_EXTERNALSNAT", {
    default: false,
    doc: "Do not SNAT pod traffic leaving the VPC (a NAT gateway does it).",
  }),
  excludeSnatCidrs: cidrList("AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS", {
    default: Object.freeze([]),
    doc: "Destinations that pod traffic reaches without SNAT (peered VPCs, VPN, TGW).",
  }),
  randomizeSnat: oneOf("AWS_VPC_K8S_CNI_RANDOMIZESNAT", {
    values: ["prng", "hashrandom", "none"] as const,
    default: "prng",
    doc: "SNAT source-port selection: prng = --random-fully, hashrandom = --random, none.",
  }),
  nodePortSupport: bool("AWS_VPC_CNI_NODE_PORT_SUPPORT", {
    default: true,
    doc: "Connmark rules so NodePort replies to pods on secondary ENIs leave by eth0.",
  }),
  connmark: custom<number>("AWS_VPC_K8S_CNI_CONNMARK", {
    type: "int (Go base 0: 128, 0x80, 0o200, 0b1000_0000)",
    default: 0x80,
    doc: "Mark and mask for the CONNMARK and fwmark rules.",
    parse(raw) {
      const value = parseGoIntBase0(raw);
      if (value === undefined || value <= 0n || value > 0xffffffffn) {
        throw new InvalidValue("an integer from 1 to 0xffffffff, decimal or 0x/0o/0b prefixed");
      }
      return Number(value);
    },
    render: (value) => `0x${value.toString(16)}`,
  }),
  externalServiceCidrs: cidrList("AWS_EXTERNAL_SERVICE_CIDRS", {
    default: Object.freeze([]),
    doc: "Destinations routed via the main table (ip rule prio 1535), bypassing per-ENI rules.",
  }),
  eniMtu: int("AWS_VPC_ENI_MTU", {
    default: 9001,
    ...MTU,
    doc: "MTU of every ENI link; also the default pod MTU.",
  }),
  podMtu: int("POD_MTU", {
    default: 9001,
    ...MTU,
    doc: "MTU of pod veth pairs. Default: AWS_VPC_ENI_MTU.",
  }),
  vethPrefix: text("AWS_VPC_K8S_CNI_VETHPREFIX", {
    default: "eni",
    doc: "Host-side veth name prefix (at most 4 characters; not eth, lo or vlan).",
    check: (value) =>
      /^[^\s/:]{1,4}$/.test(value) && !["eth", "lo", "vlan"].includes(value)
        ? undefined
        : "1–4 characters without spaces, '/' or ':', other than eth, lo and vlan",
  }),
  disableTcpEarlyDemux: bool("DISABLE_TCP_EARLY_DEMUX", {
    default: false,
    doc: "Set net.ipv4.tcp_early_demux=0 (needed for pod-ENI liveness probes).",
  }),
  networkPolicyMode: oneOf<"" | "none" | "strict" | "standard">("NETWORK_POLICY_ENFORCING_MODE", {
    values: ["none", "strict", "standard"],
    caseInsensitive: true,
    default: "",
    upstreamDefault: "unset in code, standard in the upstream manifest",
    doc: "Passed to aws-cni; when set, aws-cni calls the network-policy agent. Unset = no agent.",
  }),
  enableBandwidthPlugin: bool("ENABLE_BANDWIDTH_PLUGIN", {
    default: false,
    doc: "Add the bandwidth plugin to the installed conflist.",
  }),
  disablePodV6: bool("DISABLE_POD_V6", {
    default: false,
    doc: "Add a tuning plugin that disables IPv6 inside pods.",
  }),
  enableV6Egress: bool("ENABLE_V6_EGRESS", {
    default: false,
    doc: "IPv6 egress for IPv4 pods (egress-cni): not supported by this release.",
  }),
  // ---- Kubernetes ---------------------------------------------------------------------------
  nodeName: text("MY_NODE_NAME", { default: "", doc: "This node's name (downward API)." }),
  podName: text("MY_POD_NAME", { default: "", doc: "The aws-node pod's name (for events)." }),
  clusterEndpoint: url("CLUSTER_ENDPOINT", {
    default: "",
    doc: "Overrides the API server URL of the in-cluster configuration.",
  }),
  annotatePodIp: bool("ANNOTATE_POD_IP", {
    default: false,
    doc: "Annotate pods with vpc.amazonaws.com/pod-ips on ADD.",
  }),
  // ---- AWS ------------------------------------------------------------------------------------
  awsEc2Endpoint: url("AWS_EC2_ENDPOINT", {
    default: "",
    doc: "Custom EC2 endpoint (upstream's name).",
  }),
  awsEndpointUrlEc2: url("AWS_ENDPOINT_URL_EC2", {
    default: "",
    origin: "aws-sdk",
    doc: "Custom EC2 endpoint (the AWS SDKs' standard name).",
  }),
  imdsEndpoint: url("AWS_EC2_METADATA_SERVICE_ENDPOINT", {
    default: "",
    origin: "aws-sdk",
    doc: "Instance metadata endpoint. Default http://169.254.169.254.",
  }),
  httpTimeoutSeconds: int("HTTP_TIMEOUT", {
    default: 10,
    min: 10,
    unit: "seconds",
    doc: "Timeout of each AWS API HTTP request.",
  }),
  ec2ApiQps: positiveNumber("EC2_API_QPS", {
    default: 5,
    origin: "ours",
    doc: "Sustained EC2 calls per second from this node (client-side token bucket).",
  }),
  ec2ApiBurst: int("EC2_API_BURST", {
    default: 15,
    min: 1,
    origin: "ours",
    doc: "EC2 calls this node may make at once before EC2_API_QPS applies.",
  }),
  vpcCniVersion: text("VPC_CNI_VERSION", {
    default: "",
    doc: "Appended to the AWS and Kubernetes user agents.",
  }),
  // ---- files, logs, introspection -----------------------------------------------------------
  socketPath: path("IPAMD_SOCKET_PATH", {
    default: DEFAULT_SOCKET_PATH,
    origin: "ours",
    doc: "JSON-RPC socket between aws-cni and ipamd.",
  }),
  backingStore: path("AWS_VPC_K8S_CNI_BACKING_STORE", {
    default: "/var/run/aws-node/ipam.json",
    doc: "Checkpoint of which pod holds which address.",
  }),
  logLevel: level("AWS_VPC_K8S_CNI_LOGLEVEL", "ipamd log level."),
  logFile: text("AWS_VPC_K8S_CNI_LOG_FILE", {
    default: "/host/var/log/aws-routed-eni/ipamd.log",
    type: "stdout | stderr | path",
    doc: "Where ipamd logs.",
  }),
  pluginLogFile: text("AWS_VPC_K8S_PLUGIN_LOG_FILE", {
    default: "/var/log/aws-routed-eni/plugin.log",
    type: "stderr | path",
    doc: "Where aws-cni logs (stdout belongs to CNI results).",
    check: (value) =>
      value === "stdout" ? "stderr or a file path (stdout carries the CNI result)" : undefined,
  }),
  pluginLogLevel: level("AWS_VPC_K8S_PLUGIN_LOG_LEVEL", "aws-cni log level."),
  hostCniBinPath: path("HOST_CNI_BIN_PATH", {
    default: "/host/opt/cni/bin",
    doc: "Where aws-cni is installed.",
  }),
  hostCniConfDirPath: path("HOST_CNI_CONFDIR_PATH", {
    default: "/host/etc/cni/net.d",
    doc: "Where 10-aws.conflist is installed.",
  }),
  disableIntrospection: bool("DISABLE_INTROSPECTION", {
    default: false,
    doc: "Do not serve the introspection HTTP API.",
  }),
  introspectionBindAddress: bindAddress("INTROSPECTION_BIND_ADDRESS", {
    default: "127.0.0.1:61679",
    doc: "Introspection HTTP API address.",
  }),
  disableMetrics: bool("DISABLE_METRICS", {
    default: false,
    doc: "Do not serve Prometheus metrics.",
  }),
  metricsBindAddress: bindAddress("METRICS_BIND_ADDRESS", {
    default: ":61678",
    origin: "ours",
    doc: "Prometheus metrics address.",
  }),
} as const;

/** Accepted for compatibility and ignored; setting them only logs a warning. */
export const DEPRECATED_VARIABLES: Readonly<Record<string, string>> = {
  AWS_VPC_K8S_CNI_CONFIGURE_RPFILTER: "rp_filter is always set to 2 (loose) on the primary ENI",
  ENABLE_NFTABLES: "the iptables backend is detected from `iptables --version`",
};

export type ConfigKey = keyof typeof VARIABLES;
type ValueOf<V> = V extends Var<infer T> ? T : never;

export type Config =
  & { readonly [K in ConfigKey]: ValueOf<(typeof VARIABLES)[K]> }
  & {
    /** EC2/IMDS provisioning calls allowed (off with the two variables that disable it). */
    readonly provisioning: boolean;
    /** Hourly leaked-ENI clean-up runs. */
    readonly leakedEniCleanup: boolean;
    /** The EC2 endpoint to use ("" = the SDK's regional default). */
    readonly ec2Endpoint: string;
  };

export type Source = "default" | "environment";

/** One variable as `ipamd config` shows it. */
export interface Setting {
  readonly name: string;
  readonly key: ConfigKey;
  /** The effective value in environment syntax. */
  readonly value: string;
  readonly source: Source;
  /** The environment text, when set. */
  readonly raw?: string;
  readonly type: string;
  readonly default: string;
  readonly origin: Origin;
  readonly upstreamDefault?: string;
  readonly doc: string;
}

export interface LoadedConfig {
  readonly config: Config;
  /** Every variable in table order, with where its value came from. */
  readonly settings: readonly Setting[];
  /** Non-fatal notes for the log (deprecated variables, reserved modes). */
  readonly warnings: readonly string[];
}

export interface ConfigProblem {
  readonly variable: string;
  /** The offending text (undefined when the problem is a combination of variables). */
  readonly value?: string;
  /** What would be accepted, or what to do. */
  readonly accepted: string;
}

/** Every invalid variable at once: fix them all in one go. */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    const lines = problems.map((p) =>
      `  ${p.variable}${p.value === undefined ? "" : `=${JSON.stringify(p.value)}`}: ${p.accepted}`
    );
    super(
      `invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}); ` +
        `fix the environment of ipamd:\n${lines.join("\n")}`,
    );
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/**
 * Reads and validates the configuration. Throws one ConfigError listing every problem.
 * The result and everything in it is frozen.
 */
export function loadConfig(env: Record<string, string> = Deno.env.toObject()): LoadedConfig {
  const problems: ConfigProblem[] = [];
  const values: Record<string, unknown> = {};
  const sources = new Map<ConfigKey, Source>();
  for (const [key, spec] of Object.entries(VARIABLES) as Array<[ConfigKey, Var<unknown>]>) {
    const raw = env[spec.name];
    if (raw === undefined || raw === "") {
      values[key] = spec.default;
      sources.set(key, "default");
      continue;
    }
    try {
      values[key] = spec.parse(raw);
      sources.set(key, "environment");
    } catch (error) {
      if (!(error instanceof InvalidValue)) throw error;
      problems.push({ variable: spec.name, value: raw, accepted: error.accepted });
      values[key] = spec.default;
      sources.set(key, "default");
    }
  }
  if (sources.get("podMtu") === "default") values.podMtu = values.eniMtu;
  const typed = values as { [K in ConfigKey]: ValueOf<(typeof VARIABLES)[K]> };
  problems.push(...crossCheck(typed, env));
  if (problems.length > 0) throw new ConfigError(problems);

  const imdsOnly = typed.imdsOnlyMode;
  const provisioning = !typed.disableNetworkResourceProvisioning && !imdsOnly;
  const config: Config = Object.freeze({
    ...typed,
    provisioning,
    leakedEniCleanup: provisioning && !typed.disableLeakedEniCleanup,
    ec2Endpoint: typed.awsEc2Endpoint || typed.awsEndpointUrlEc2,
  });
  const settings = (Object.entries(VARIABLES) as Array<[ConfigKey, Var<unknown>]>).map(
    ([key, spec]) => {
      const raw = env[spec.name];
      const setting: Setting = {
        name: spec.name,
        key,
        value: spec.render(config[key]),
        source: sources.get(key)!,
        ...(raw ? { raw } : {}),
        type: spec.type,
        default: key === "podMtu" ? "AWS_VPC_ENI_MTU" : spec.render(spec.default),
        origin: spec.origin,
        ...(spec.upstreamDefault ? { upstreamDefault: spec.upstreamDefault } : {}),
        doc: spec.doc,
      };
      return Object.freeze(setting);
    },
  );
  return Object.freeze({
    config,
    settings: Object.freeze(settings),
    warnings: Object.freeze(warningsFor(typed, env)),
  });
}

/** Rules that involve more than one variable, or values this release does not support. */
function crossCheck(
  c: { [K in ConfigKey]: ValueOf<(typeof VARIABLES)[K]> },
  env: Record<string, string>,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const unsupported = (key: ConfigKey, what: string) =>
    problems.push({
      variable: VARIABLES[key].name,
      value: env[VARIABLES[key].name],
      accepted: `${what} is not supported by this release; unset it or set it to false`,
    });
  if (c.enableIpv6) unsupported("enableIpv6", "IPv6");
  if (!c.enableIpv4) {
    problems.push({
      variable: "ENABLE_IPv4",
      value: env.ENABLE_IPv4,
      accepted: "this release is IPv4-only: unset ENABLE_IPv4 or set it to true",
    });
  }
  if (c.enablePodEni) unsupported("enablePodEni", "security groups for pods");
  if (c.enableMultiNic) unsupported("enableMultiNic", "managing more than one network card");
  if (c.enableV6Egress) unsupported("enableV6Egress", "IPv6 egress for IPv4 pods");
  // Upstream compares these as strings ("-1" <= "0", "10" > "0"); here they are numbers.
  if (c.prefixDelegation && c.warmIpTarget + c.warmPrefixTarget + c.minimumIpTarget === 0) {
    problems.push({
      variable: "WARM_PREFIX_TARGET",
      value: env.WARM_PREFIX_TARGET,
      accepted: "with ENABLE_PREFIX_DELEGATION=true at least one of WARM_PREFIX_TARGET, " +
        "WARM_IP_TARGET and MINIMUM_IP_TARGET must be > 0 (WARM_PREFIX_TARGET=1 keeps one free " +
        "/28 prefix)",
    });
  }
  if (c.awsEc2Endpoint && c.awsEndpointUrlEc2 && c.awsEc2Endpoint !== c.awsEndpointUrlEc2) {
    problems.push({
      variable: "AWS_EC2_ENDPOINT",
      value: c.awsEc2Endpoint,
      accepted: `differs from AWS_ENDPOINT_URL_EC2=${
        JSON.stringify(c.awsEndpointUrlEc2)
      }: set only one of them, or both to the same URL`,
    });
  }
  return problems;
}

function warningsFor(
  c: { [K in ConfigKey]: ValueOf<(typeof VARIABLES)[K]> },
  env: Record<string, string>,
): string[] {
  const warnings: string[] = [];
  for (const [name, why] of Object.entries(DEPRECATED_VARIABLES)) {
    if (env[name]) warnings.push(`${name} is deprecated and ignored: ${why}`);
  }
  if (c.warmPoolMode === "adaptive") {
    warnings.push("WARM_POOL_MODE=adaptive is reserved for a later release; using static");
  }
  if (
    c.prefixDelegation && (c.warmIpTarget > 0 || c.minimumIpTarget > 0) && env.WARM_PREFIX_TARGET
  ) {
    warnings.push(
      "WARM_PREFIX_TARGET is ignored because WARM_IP_TARGET or MINIMUM_IP_TARGET is set",
    );
  }
  return warnings;
}

/** The rows of `ipamd config`: every variable, its effective value and where it came from. */
export function describe(loaded: LoadedConfig): readonly Setting[] {
  return loaded.settings;
}

/**
 * The configuration as environment variables (every variable, effective values): feeding
 * this back to loadConfig gives the same Config. For `ipamd config --env`.
 */
export function renderEnv(loaded: LoadedConfig): Record<string, string> {
  return Object.fromEntries(loaded.settings.map((s) => [s.name, s.value]));
}
