/**
 * The table of ipamd's environment variables: name, kind (how it parses), default and what it
 * means. config.ts reads the environment through it; `ipamd config` and the README's table
 * are generated from it.
 */

import { DEFAULT_SOCKET_PATH } from "../rpc/protocol.ts";
import { type Level, parseLevel } from "../ops/log.ts";
import { parseGoAtoi, parseGoIntBase0 } from "./go_parse.ts";
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
} from "./kinds.ts";
import { parseEniTags } from "./eni_tags.ts";

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
    doc: "static = upstream's warm targets; adaptive = sized from the observed ADD rate, " +
      "cooldown and measured EC2 latency, within MINIMUM_IP_TARGET, WARM_IP_TARGET (a ceiling), " +
      "MAX_ENI and max pods (WARM_ENI_TARGET and WARM_PREFIX_TARGET are ignored).",
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
  maxPods: custom<number | null>("MAX_PODS", {
    type: "int",
    default: null,
    origin: "ours",
    doc: "Pods this node runs at most (kubelet --max-pods); the pool never holds more addresses. " +
      "Unset: the Node's status.capacity.pods when the API server is reachable, else " +
      "ENIs × (IPv4 per ENI − 1) + 2 (secondary IPs) or 110 (prefix delegation).",
    parse(raw) {
      const value = parseGoAtoi(raw);
      if (value === undefined || value < 1) throw new InvalidValue("a positive decimal integer");
      return value;
    },
    render: (value) => (value === null ? "" : String(value)),
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
  kubeconfig: text("KUBECONFIG", {
    default: "",
    origin: "kubernetes",
    doc: "A kubeconfig file for the API server (instead of the in-cluster service account).",
  }),
  kubernetesServiceHost: text("KUBERNETES_SERVICE_HOST", {
    default: "",
    origin: "kubernetes",
    doc: "In-cluster API server address (set by Kubernetes in every pod).",
  }),
  kubernetesServicePort: text("KUBERNETES_SERVICE_PORT", {
    default: "",
    origin: "kubernetes",
    doc: "In-cluster API server port (set by Kubernetes in every pod).",
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
    default: 1,
    origin: "ours",
    doc: "Sustained mutating EC2 calls per second from this node (client-side token bucket; " +
      "Describe* calls get twice the rate and burst).",
  }),
  ec2ApiBurst: int("EC2_API_BURST", {
    default: 10,
    min: 1,
    origin: "ours",
    doc: "Mutating EC2 calls this node may make back to back before EC2_API_QPS applies.",
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
