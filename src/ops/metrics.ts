/**
 * Prometheus metrics of ipamd: upstream's metric names and labels (spec §6.2), so existing
 * dashboards and the cni-metrics-helper keep working, plus histograms upstream lacks (users
 * ask for real latency distributions, not counts: aws/amazon-vpc-cni-k8s#3480).
 */
import client from "prom-client";
import { VERSION } from "../version.ts";

const SECONDS_FAST = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const SECONDS_SLOW = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60];

export class Metrics {
  readonly registry: client.Registry;

  // ---- upstream names ----
  readonly ipamdErrors: client.Counter<"fn">;
  readonly actionInProgress: client.Gauge<"fn">;
  readonly eniMax: client.Gauge;
  readonly ipMax: client.Gauge;
  readonly reconcileCount: client.Counter<"fn">;
  readonly addRequests: client.Counter;
  readonly delRequests: client.Counter<"reason">;
  readonly awsApiLatencyMs: client.Summary<"api" | "error" | "status">;
  readonly awsApiErrors: client.Counter<"api" | "error">;
  readonly awsUtilsErrors: client.Counter<"fn" | "error">;
  readonly ec2ApiRequests: client.Counter<"fn">;
  readonly ec2ApiErrors: client.Counter<"fn">;
  readonly eniAllocated: client.Gauge;
  readonly totalIps: client.Gauge;
  readonly assignedIps: client.Gauge;
  readonly forceRemovedEnis: client.Counter;
  readonly forceRemovedIps: client.Counter;
  readonly totalPrefixes: client.Gauge;
  readonly assignedPerCidr: client.Gauge<"cidr">;
  readonly noAvailableIps: client.Counter;
  readonly assignedPerEni: client.Gauge<"eni">;
  readonly startupSeconds: client.Histogram<"success" | "with_api_server" | "failure_reason">;
  readonly nodeInitSeconds: client.Histogram<"success">;
  readonly connmarkBackend: client.Gauge<"backend">;
  readonly connmarkReconciles: client.Counter<"result">;

  // ---- ours ----
  readonly addLatency: client.Histogram<"result">;
  readonly podIpWait: client.Histogram<"result">;
  readonly ec2Latency: client.Histogram<"api" | "result">;
  readonly availableIps: client.Gauge;
  readonly cooldownIps: client.Gauge;

  constructor() {
    const registers = [this.registry = new client.Registry()];
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
      new client.Counter<L>({ name, help, labelNames, registers });
    const gauge = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
      new client.Gauge<L>({ name, help, labelNames, registers });

    this.ipamdErrors = counter(
      "awscni_ipamd_error_count",
      "The number of errors encountered in ipamd",
      ["fn"],
    );
    this.actionInProgress = gauge(
      "awscni_ipamd_action_inprogress",
      "The number of ipamd actions in progress",
      ["fn"],
    );
    this.eniMax = gauge(
      "awscni_eni_max",
      "The maximum number of ENIs that can be attached to the instance, accounting for unmanaged ENIs",
    );
    this.ipMax = gauge(
      "awscni_ip_max",
      "The maximum number of IP addresses that can be allocated to the instance",
    );
    this.reconcileCount = counter(
      "awscni_reconcile_count",
      "The number of times ipamd reconciles on ENIs and IP/Prefix addresses",
      ["fn"],
    );
    this.addRequests = counter("awscni_add_ip_req_count", "The number of add IP address requests");
    this.delRequests = counter(
      "awscni_del_ip_req_count",
      "The number of delete IP address requests",
      ["reason"],
    );
    this.awsApiLatencyMs = new client.Summary({
      name: "awscni_aws_api_latency_ms",
      help: "AWS API call latency in ms",
      labelNames: ["api", "error", "status"],
      registers,
    });
    this.awsApiErrors = counter(
      "awscni_aws_api_error_count",
      "The number of times AWS API returns an error",
      ["api", "error"],
    );
    this.awsUtilsErrors = counter(
      "awscni_aws_utils_error_count",
      "The number of errors not handled in awsutils library",
      ["fn", "error"],
    );
    this.ec2ApiRequests = counter(
      "awscni_ec2api_req_count",
      "The number of requests made to EC2 APIs by CNI",
      ["fn"],
    );
    this.ec2ApiErrors = counter(
      "awscni_ec2api_error_count",
      "The number of failed EC2 APIs requests",
      ["fn"],
    );
    this.eniAllocated = gauge("awscni_eni_allocated", "The number of ENIs allocated");
    this.totalIps = gauge("awscni_total_ip_addresses", "The total number of IP addresses");
    this.assignedIps = gauge(
      "awscni_assigned_ip_addresses",
      "The number of IP addresses assigned to pods",
    );
    this.forceRemovedEnis = counter(
      "awscni_force_removed_enis",
      "The number of ENIs force removed while they had assigned pods",
    );
    this.forceRemovedIps = counter(
      "awscni_force_removed_ips",
      "The number of IPs force removed while they had assigned pods",
    );
    this.totalPrefixes = gauge("awscni_total_ipv4_prefixes", "The total number of IPv4 prefixes");
    this.assignedPerCidr = gauge(
      "awscni_assigned_ip_per_cidr",
      "The total number of IP addresses assigned per cidr",
      ["cidr"],
    );
    this.noAvailableIps = counter(
      "awscni_no_available_ip_addresses",
      "The number of pod IP assignments that fail due to no available IP addresses",
    );
    this.assignedPerEni = gauge(
      "awscni_assigned_ip_per_eni",
      "The number of IP addresses assigned per ENI",
      ["eni"],
    );
    this.startupSeconds = new client.Histogram({
      name: "awscni_ipamd_startup_duration_seconds",
      help: "Time from ipamd start until it serves requests",
      labelNames: ["success", "with_api_server", "failure_reason"],
      buckets: SECONDS_SLOW,
      registers,
    });
    this.nodeInitSeconds = new client.Histogram({
      name: "awscni_ipamd_node_initialization_duration_seconds",
      help: "Time spent in node initialisation",
      labelNames: ["success"],
      buckets: SECONDS_SLOW,
      registers,
    });
    this.connmarkBackend = gauge(
      "awscni_connmark_backend",
      "Active connmark backend (1 = active)",
      ["backend"],
    );
    this.connmarkReconciles = counter(
      "awscni_connmark_reconcile_total",
      "Connmark rule reconciliations",
      ["result"],
    );
    this.connmarkReconciles.labels("success").inc(0);
    this.connmarkReconciles.labels("error").inc(0);
    gauge("awscni_build_info", "Build information", ["version", "goversion"])
      .labels(VERSION, `deno${Deno.version.deno}`).set(1);

    this.addLatency = new client.Histogram({
      name: "awscni_add_network_duration_seconds",
      help: "Time ipamd spent serving an ADD (address assignment, including any wait for the pool)",
      labelNames: ["result"],
      buckets: SECONDS_FAST,
      registers,
    });
    this.podIpWait = new client.Histogram({
      name: "awscni_pod_ip_wait_seconds",
      help: "Time an ADD waited for the pool to grow because no address was free",
      labelNames: ["result"],
      buckets: SECONDS_SLOW,
      registers,
    });
    this.ec2Latency = new client.Histogram({
      name: "awscni_ec2_api_duration_seconds",
      help: "EC2 API call latency, including client-side rate limiting and retries",
      labelNames: ["api", "result"],
      buckets: SECONDS_SLOW,
      registers,
    });
    this.availableIps = gauge(
      "awscni_available_ip_addresses",
      "Addresses free and out of cooldown",
    );
    this.cooldownIps = gauge(
      "awscni_cooldown_ip_addresses",
      "Addresses released and still in cooldown",
    );

    client.collectDefaultMetrics({ register: this.registry });
  }

  /** The exposition text served on /metrics. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
