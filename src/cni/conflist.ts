/**
 * The `10-aws.conflist` that points a container runtime at aws-cni (upstream §4.7): aws-cni
 * chained with portmap, plus bandwidth and tuning when enabled. It also names ipamd's socket and
 * the plugin log file, so several lab nodes sharing one filesystem each reach their own ipamd.
 * ipamd renders it and installs it atomically once it is ready to serve pods.
 */
import { DEFAULT_SOCKET_PATH } from "../rpc/protocol.ts";
import { DEFAULT_LOG_FILE, DEFAULT_MTU, isSupportedVersion, MIN_MTU } from "./types.ts";

export const CONFLIST_NAME = "10-aws.conflist";

export interface ConflistOptions {
  /** Network name, part of every attachment's key (default "aws-cni"). */
  name?: string;
  /** Default "0.4.0" like upstream: every runtime and reference plugin in use accepts it. */
  cniVersion?: string;
  vethPrefix?: string;
  /** Pod MTU (POD_MTU, default 9001). */
  mtu?: number;
  podSGEnforcingMode?: "strict" | "standard";
  /** Default /var/log/aws-routed-eni/plugin.log; "stderr" sends logs to the runtime's log. */
  pluginLogFile?: string;
  /** Default "DEBUG" like upstream's manifest. */
  pluginLogLevel?: string;
  ipamdSocket?: string;
  /** How long ipamd may hold an ADD while it grows an empty pool; omitted when 0. */
  addWaitMs?: number;
  /** Chain portmap for hostPort (default true). */
  portmap?: boolean;
  /** Chain bandwidth for the kubernetes.io/{ingress,egress}-bandwidth annotations. */
  bandwidth?: boolean;
  /** Chain tuning to disable IPv6 in pods (DISABLE_POD_V6). */
  disablePodV6?: boolean;
  /** Default true like upstream: Debian's portmap 1.1.1 fails CHECK whenever ports are mapped. */
  disableCheck?: boolean;
}

/** Renders the conflist as formatted JSON. Throws RangeError for a value aws-cni would refuse. */
export function renderConflist(options: ConflistOptions = {}): string {
  const name = options.name ?? "aws-cni";
  const cniVersion = options.cniVersion ?? "0.4.0";
  const vethPrefix = options.vethPrefix ?? "eni";
  const mtu = options.mtu ?? DEFAULT_MTU;
  const logFile = options.pluginLogFile ?? DEFAULT_LOG_FILE;
  const socket = options.ipamdSocket ?? DEFAULT_SOCKET_PATH;
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/.test(name)) {
    throw new RangeError(`network name "${name}" must be letters, digits, "_", "." or "-"`);
  }
  if (!isSupportedVersion(cniVersion)) {
    throw new RangeError(`cniVersion "${cniVersion}" is not one aws-cni supports`);
  }
  if (!/^[a-zA-Z0-9_.\-]{1,4}$/.test(vethPrefix) || ["eth", "lo", "vlan"].includes(vethPrefix)) {
    throw new RangeError(
      `veth prefix "${vethPrefix}" must be 1-4 letters or digits and not eth, lo or vlan`,
    );
  }
  if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > DEFAULT_MTU) {
    throw new RangeError(`pod MTU ${mtu} must be a whole number from ${MIN_MTU} to ${DEFAULT_MTU}`);
  }
  if (logFile === "stdout") {
    throw new RangeError('the plugin log cannot go to "stdout": stdout carries CNI results');
  }
  if (!socket.startsWith("/")) {
    throw new RangeError(`ipamd socket "${socket}" must be an absolute path`);
  }
  const awsCni: Record<string, unknown> = {
    name,
    type: "aws-cni",
    vethPrefix,
    mtu: String(mtu),
    podSGEnforcingMode: options.podSGEnforcingMode ?? "strict",
    pluginLogFile: logFile,
    pluginLogLevel: options.pluginLogLevel ?? "DEBUG",
    ipamdSocket: socket,
    ...(options.addWaitMs ? { addWaitMs: options.addWaitMs } : {}),
    capabilities: { "io.kubernetes.cri.pod-annotations": true },
  };
  const plugins: Array<Record<string, unknown>> = [awsCni];
  if (options.portmap ?? true) {
    plugins.push({ type: "portmap", capabilities: { portMappings: true }, snat: true });
  }
  if (options.bandwidth) plugins.push({ type: "bandwidth", capabilities: { bandwidth: true } });
  if (options.disablePodV6) {
    plugins.push({
      type: "tuning",
      sysctl: {
        "net.ipv6.conf.all.disable_ipv6": "1",
        "net.ipv6.conf.default.disable_ipv6": "1",
        "net.ipv6.conf.lo.disable_ipv6": "1",
      },
    });
  }
  const list = {
    cniVersion,
    name,
    disableCheck: options.disableCheck ?? true,
    plugins,
  };
  return JSON.stringify(list, null, 2) + "\n";
}

/**
 * Writes the conflist into `dir` atomically (temporary file in the same folder, then rename),
 * so a runtime never reads half a file. Returns the final path.
 */
export async function installConflist(
  dir: string,
  content: string,
  options: { fileName?: string } = {},
): Promise<string> {
  const path = `${dir}/${options.fileName ?? CONFLIST_NAME}`;
  await Deno.mkdir(dir, { recursive: true });
  // The runtime picks the first *.conflist by name: the temporary file must not look like one.
  const tmp = `${dir}/.${options.fileName ?? CONFLIST_NAME}.${crypto.randomUUID()}.tmp`;
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
    try {
      const data = new TextEncoder().encode(content);
      for (let at = 0; at < data.length;) at += await file.write(data.subarray(at));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.chmod(tmp, 0o644);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  return path;
}
