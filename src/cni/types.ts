/**
 * CNI spec types (results per spec 1.1.0, converted down to what older configurations
 * expect), aws-cni's network configuration (NetConf) and CNI_ARGS.
 */
import { DEFAULT_SOCKET_PATH } from "../rpc/protocol.ts";
import { type Level, parseLevel } from "../ops/log.ts";
import { ConfigError, EnvError } from "./errors.ts";

export const SUPPORTED_VERSIONS = [
  "0.1.0",
  "0.2.0",
  "0.3.0",
  "0.3.1",
  "0.4.0",
  "1.0.0",
  "1.1.0",
] as const;
export const LATEST_VERSION = "1.1.0";

/** Orders "x.y.z" versions; a non-numeric part sorts as -1. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map((p) => /^\d+$/.test(p) ? Number(p) : -1);
  const pb = b.split(".").map((p) => /^\d+$/.test(p) ? Number(p) : -1);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

export function isSupportedVersion(version: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(version);
}

// ---- results (spec 1.1.0) ----------------------------------------------------------------

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface CniIpConfig {
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
}

/**
 * The result in the JSON form of `version` (the configuration's cniVersion). Fields a version
 * does not know are dropped; 0.3.x/0.4.0 add `version` to each IP; 0.1.0/0.2.0 keep the first
 * address of each family (and fail without one, like libcni).
 */
export function convertResult(result: CniResult, version: string): Record<string, unknown> {
  const dns = pick(result.dns ?? {}, ["nameservers", "domain", "search", "options"]);
  if (compareVersions(version, "0.3.0") < 0) return toLegacy(result, version, dns);
  const current = version === "1.1.0";
  const interfaces = result.interfaces?.map((i) =>
    pick(
      i,
      current
        ? ["name", "mac", "mtu", "sandbox", "socketPath", "pciID"]
        : ["name", "mac", "sandbox"],
    )
  );
  const ips = result.ips?.map((ip) => ({
    ...(compareVersions(version, "1.0.0") < 0 ? { version: ipVersion(ip.address) } : {}),
    ...pick(ip, ["interface", "address", "gateway"]),
  }));
  const routes = result.routes?.map((r) =>
    pick(r, current ? ["dst", "gw", "mtu", "advmss", "priority", "table", "scope"] : ["dst", "gw"])
  );
  return {
    cniVersion: version,
    ...(interfaces?.length ? { interfaces } : {}),
    ...(ips?.length ? { ips } : {}),
    ...(routes?.length ? { routes } : {}),
    dns,
  };
}

function toLegacy(
  result: CniResult,
  version: string,
  dns: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { cniVersion: version };
  for (const family of ["4", "6"] as const) {
    const ip = result.ips?.find((i) => ipVersion(i.address) === family);
    if (!ip) continue;
    const routes = (result.routes ?? [])
      .filter((r) => ipVersion(r.dst) === family)
      .map((r) => pick(r, ["dst", "gw"]));
    out[`ip${family}`] = {
      ip: ip.address,
      ...(ip.gateway ? { gateway: ip.gateway } : {}),
      ...(routes.length ? { routes } : {}),
    };
  }
  if (!out.ip4 && !out.ip6) {
    throw new ConfigError("version", `a ${version} result needs an IP address; this one has none`);
  }
  out.dns = dns;
  return out;
}

function ipVersion(cidr: string): "4" | "6" {
  return cidr.includes(":") ? "6" : "4";
}

function pick<T extends object>(from: T, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = (from as Record<string, unknown>)[k];
    if (v !== undefined && v !== "") out[k] = v;
  }
  return out;
}

/**
 * Reads a prevResult of any version into the 1.1.0 shape (what DEL and CHECK need: interfaces
 * and addresses). Returns undefined for something that is not a result at all.
 */
export function parsePrevResult(raw: unknown): CniResult | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  const interfaces = Array.isArray(r.interfaces)
    ? r.interfaces.filter(isObject).map((i) => ({
      name: String(i.name ?? ""),
      ...(typeof i.mac === "string" ? { mac: i.mac } : {}),
      ...(typeof i.sandbox === "string" ? { sandbox: i.sandbox } : {}),
    }))
    : [];
  const ips: CniIpConfig[] = Array.isArray(r.ips)
    ? r.ips.filter(isObject).filter((i) => typeof i.address === "string").map((i) => ({
      address: i.address as string,
      ...(typeof i.gateway === "string" ? { gateway: i.gateway } : {}),
      ...(typeof i.interface === "number" ? { interface: i.interface } : {}),
    }))
    : [];
  for (const legacy of ["ip4", "ip6"]) {
    const l = r[legacy];
    if (isObject(l) && typeof l.ip === "string") ips.push({ address: l.ip });
  }
  return { cniVersion: String(r.cniVersion ?? ""), interfaces, ips };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// ---- network configuration ---------------------------------------------------------------

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  /** Host veth name prefix (upstream `vethPrefix`, default "eni", at most 4 characters). */
  vethPrefix: string;
  /** Pod MTU (upstream string `mtu`; out of 576-9001 or not a number: 9001). */
  mtu: number;
  /** Configured value, or undefined when the `mtu` field was not usable. */
  mtuProblem?: string;
  podSGEnforcingMode: "strict" | "standard";
  pluginLogFile?: string;
  pluginLogLevel: Level;
  /** ipamd's socket (ours; lets lab nodes sharing one filesystem use separate daemons). */
  ipamdSocket: string;
  /**
   * How long ipamd may hold an ADD while it grows an empty pool (ours; 0 = fail at once);
   * undefined: ipamd's own POD_IP_WAIT_SECONDS.
   */
  addWaitMs?: number;
  podAnnotations: Record<string, string>;
  /** Raw prevResult, parsed by the command that needs it. */
  prevResult?: unknown;
  /** GC: attachments the runtime still knows (`cni.dev/valid-attachments`). */
  validAttachments?: Array<{ containerId: string; ifName: string }>;
}

export const DEFAULT_MTU = 9001;
export const MIN_MTU = 576;
export const DEFAULT_LOG_FILE = "/var/log/aws-routed-eni/plugin.log";

/** CNI's rule for network names and container ids (libcni utils.cniValidNameChars). */
export const CNI_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

/** Parses and validates the configuration from stdin. */
export function parseNetConf(text: string): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(
      "decode",
      `network configuration on stdin is not JSON: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  if (!isObject(raw)) {
    throw new ConfigError("decode", "network configuration on stdin must be a JSON object");
  }
  const name = raw.name;
  if (typeof name !== "string" || name === "") {
    throw new ConfigError("invalid", 'network configuration has no "name"; add the network name', {
      field: "name",
    });
  }
  if (!CNI_NAME.test(name)) {
    throw new ConfigError(
      "invalid",
      `network name "${name}" has invalid characters: use letters, digits, "_", "." and "-", ` +
        "starting with a letter or digit",
      { field: "name" },
    );
  }
  const cniVersion = configVersion(raw);
  const mtu = podMtu(raw.mtu);
  return {
    cniVersion,
    name,
    type: typeof raw.type === "string" ? raw.type : "",
    vethPrefix: vethPrefix(raw.vethPrefix),
    mtu: mtu.value,
    ...(mtu.problem ? { mtuProblem: mtu.problem } : {}),
    podSGEnforcingMode: enforcingMode(raw.podSGEnforcingMode),
    ...logFile(raw.pluginLogFile),
    pluginLogLevel: parseLevel(stringOr(raw.pluginLogLevel, "info")) ?? "info",
    ipamdSocket: socketPath(raw.ipamdSocket),
    ...(raw.addWaitMs === undefined ? {} : { addWaitMs: waitMs(raw.addWaitMs) }),
    podAnnotations: annotations(raw.runtimeConfig),
    ...(raw.prevResult !== undefined ? { prevResult: raw.prevResult } : {}),
    ...validAttachments(raw),
  };
}

/** The configuration's cniVersion (absent means 0.1.0, like libcni), checked against ours. */
export function configVersion(raw: Record<string, unknown>): string {
  const v = raw.cniVersion ?? "0.1.0";
  if (typeof v !== "string") {
    throw new ConfigError("decode", '"cniVersion" must be a string such as "1.0.0"', {
      field: "cniVersion",
    });
  }
  const version = v === "" ? "0.1.0" : v;
  if (!isSupportedVersion(version)) {
    throw new ConfigError(
      "version",
      `cniVersion "${version}" is not supported; aws-cni supports ${SUPPORTED_VERSIONS.join(", ")}`,
      { field: "cniVersion" },
    );
  }
  return version;
}

function stringOr(v: unknown, fallback: string): string {
  return typeof v === "string" && v !== "" ? v : fallback;
}

function vethPrefix(v: unknown): string {
  const prefix = stringOr(v, "eni");
  // The host veth is prefix + 11 hex digits, and interface names are at most 15 characters.
  if (prefix.length > 4 || !/^[a-zA-Z0-9_.\-]+$/.test(prefix)) {
    throw new ConfigError(
      "invalid",
      `vethPrefix "${prefix}" must be 1-4 letters, digits, "_", "." or "-" (default "eni")`,
      { field: "vethPrefix" },
    );
  }
  return prefix;
}

/** Upstream GetPodMTU: anything unusable falls back to 9001 instead of failing the pod. */
export function podMtu(v: unknown): { value: number; problem?: string } {
  if (v === undefined || v === null || v === "") return { value: DEFAULT_MTU };
  const n = typeof v === "number"
    ? v
    : typeof v === "string" && /^[+-]?\d+$/.test(v)
    ? Number(v)
    : NaN;
  if (!Number.isInteger(n) || n < MIN_MTU || n > DEFAULT_MTU) {
    return {
      value: DEFAULT_MTU,
      problem: `mtu ${
        JSON.stringify(v)
      } is not a number in ${MIN_MTU}-${DEFAULT_MTU}; using ${DEFAULT_MTU}`,
    };
  }
  return { value: n };
}

function enforcingMode(v: unknown): "strict" | "standard" {
  const mode = stringOr(v, "strict");
  if (mode !== "strict" && mode !== "standard") {
    throw new ConfigError(
      "invalid",
      `podSGEnforcingMode "${mode}" must be "strict" or "standard"`,
      { field: "podSGEnforcingMode" },
    );
  }
  return mode;
}

function logFile(v: unknown): { pluginLogFile?: string } {
  if (typeof v !== "string" || v === "" || v === "stderr") return {};
  // stdout carries the CNI result: logs there would corrupt it.
  if (v === "stdout") return {};
  return { pluginLogFile: v };
}

function socketPath(v: unknown): string {
  const path = stringOr(v, DEFAULT_SOCKET_PATH);
  if (!path.startsWith("/")) {
    throw new ConfigError(
      "invalid",
      `ipamdSocket "${path}" must be an absolute path (default ${DEFAULT_SOCKET_PATH})`,
      { field: "ipamdSocket" },
    );
  }
  return path;
}

function waitMs(v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v > 600_000) {
    throw new ConfigError(
      "invalid",
      `addWaitMs ${JSON.stringify(v)} must be a whole number of milliseconds from 0 to 600000`,
      { field: "addWaitMs" },
    );
  }
  return v;
}

function annotations(runtimeConfig: unknown): Record<string, string> {
  if (!isObject(runtimeConfig)) return {};
  const raw = runtimeConfig["io.kubernetes.cri.pod-annotations"];
  if (!isObject(raw)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (typeof v === "string") out[k] = v;
  return out;
}

function validAttachments(raw: Record<string, unknown>): Pick<NetConf, "validAttachments"> {
  // libcni sends both names: the spec's `cni.dev/valid-attachments` and an older misspelling.
  const list = raw["cni.dev/valid-attachments"] ?? raw["cni.dev/attachments"];
  if (list === undefined) return {};
  if (!Array.isArray(list)) {
    throw new ConfigError("decode", '"cni.dev/valid-attachments" must be a list', {
      field: "cni.dev/valid-attachments",
    });
  }
  const out: Array<{ containerId: string; ifName: string }> = [];
  for (const a of list) {
    if (!isObject(a) || typeof a.containerID !== "string" || typeof a.ifname !== "string") {
      throw new ConfigError(
        "decode",
        '"cni.dev/valid-attachments" entries must be {"containerID": "...", "ifname": "..."}',
        { field: "cni.dev/valid-attachments" },
      );
    }
    out.push({ containerId: a.containerID, ifName: a.ifname });
  }
  return { validAttachments: out };
}

// ---- CNI_ARGS ------------------------------------------------------------------------------

export interface PodArgs {
  podName: string;
  podNamespace: string;
  podInfraContainerId: string;
  podUid: string;
}

/** Parses CNI_ARGS ("K=V;K2=V2"); unknown keys are ignored like upstream's IgnoreUnknown. */
export function parseCniArgs(text: string): PodArgs {
  const out: PodArgs = { podName: "", podNamespace: "", podInfraContainerId: "", podUid: "" };
  if (text === "") return out;
  for (const pair of text.split(";")) {
    if (pair === "") continue;
    const at = pair.indexOf("=");
    if (at <= 0) {
      throw new EnvError(
        ["CNI_ARGS"],
        `CNI_ARGS has an invalid pair "${pair}": expected KEY=VALUE pairs separated by ";"`,
      );
    }
    const key = pair.slice(0, at);
    const value = pair.slice(at + 1);
    if (key === "K8S_POD_NAME") out.podName = value;
    else if (key === "K8S_POD_NAMESPACE") out.podNamespace = value;
    else if (key === "K8S_POD_INFRA_CONTAINER_ID") out.podInfraContainerId = value;
    else if (key === "K8S_POD_UID") out.podUid = value;
  }
  return out;
}
