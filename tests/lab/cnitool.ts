/**
 * Typed wrappers for build/bin/cnitool (tests/e2e/cnitool/main.go, libcni 1.1.2), run inside a
 * lab node namespace so that the plugins' host side (veths, routes, rules) lands in the node.
 */
import { CommandError, type RunResult } from "./command.ts";
import { assertNotHostNetns, type Netns, nsExec } from "./namespaces.ts";
import { BIN_DIR, CNITOOL_BIN, REFERENCE_PLUGIN_DIR, requireBuilt, SYSTEM_PATH } from "./paths.ts";

// ---- CNI types (the parts tests look at) --------------------------------------------------

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
}
export interface CniIpConfig {
  interface?: number;
  address: string;
  gateway?: string;
}
export interface CniRoute {
  dst: string;
  gw?: string;
}
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: Record<string, unknown>;
}

/** A network configuration list (the JSON of a .conflist file). */
export interface Conflist {
  cniVersion: string;
  name: string;
  disableCheck?: boolean;
  plugins: Array<{ type: string; [key: string]: unknown }>;
}

/** The plugin (or libcni) reported an error; `code` is the CNI error code (999 when unknown). */
export class CniError extends Error {
  readonly op: string;
  readonly containerId: string;
  readonly code: number;
  readonly msg: string;
  readonly details?: string;

  constructor(op: string, containerId: string, error: CniErrorJson) {
    super(`CNI ${op} of ${containerId} failed with code ${error.code}: ${error.message}`);
    this.name = "CniError";
    this.op = op;
    this.containerId = containerId;
    this.code = error.code;
    this.msg = error.msg;
    this.details = error.details;
  }
}

export interface CniErrorJson {
  code: number;
  msg: string;
  details?: string;
  /** libcni's full text, including which plugin of the chain failed. */
  message: string;
}

// ---- reports of bench and parallel ----------------------------------------------------------

export interface LatencyStats {
  n: number;
  failed: number;
  /** Successful operations, in run order. */
  samplesMs: number[];
  minMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

export interface OpFailure {
  op: "ADD" | "CHECK" | "DEL";
  index: number;
  containerId: string;
  error: CniErrorJson;
}

export interface BenchReport {
  command: "bench";
  network: string;
  n: number;
  ok: boolean;
  add: LatencyStats;
  check?: LatencyStats;
  del: LatencyStats;
  failures: OpFailure[];
}

export interface ParallelOp {
  index: number;
  containerId: string;
  netns: string;
  ms: number;
  result?: CniResult;
  error?: CniErrorJson;
}

export interface ParallelReport {
  command: "parallel";
  network: string;
  n: number;
  ok: boolean;
  add: ParallelOp[];
  addWallMs: number;
  del?: ParallelOp[];
  delWallMs?: number;
}

// ---- the driver -------------------------------------------------------------------------------

export interface CniDriverOptions {
  /** The .conflist (or .conf) file; its "name" is the network name. */
  conflistFile: string;
  /** CNI_CACHE_DIR: keep it in the test's temp dir (libcni's default is /var/lib/cni). */
  cacheDir: string;
  /** CNI_PATH; default build/bin (aws-cni) then /usr/lib/cni (Debian's reference plugins). */
  pluginDirs?: string[];
  /** CNI_IFNAME (default eth0). */
  ifName?: string;
  /** Extra environment for the driver and the plugins it runs. */
  env?: Record<string, string>;
  /** Per call of the driver (default 120 s; bench and parallel get 10 s more per container). */
  timeoutMs?: number;
}

export interface OpOptions {
  /** CNI_ARGS as key/value pairs (K8S_POD_NAME...); in bench/parallel "{i}" is the index. */
  args?: Record<string, string>;
  /** Capability args (runtimeConfig), e.g. { portMappings: [...] }. */
  capabilityArgs?: Record<string, unknown>;
}

export interface MultiOptions extends OpOptions {
  n: number;
  /** One netns per container; default: namespaces the driver makes and removes itself. */
  netns?: Array<Netns | string>;
  /** Container ids are `<idPrefix>-<index>`. */
  idPrefix?: string;
}

/** Writes a conflist as `<dir>/<name>.conflist` and returns its path. */
export async function writeConflist(dir: string, conflist: Conflist): Promise<string> {
  const path = `${dir}/${conflist.name}.conflist`;
  await Deno.writeTextFile(path, JSON.stringify(conflist, null, 2) + "\n");
  return path;
}

function netnsPath(netns: Netns | string): string {
  const path = typeof netns === "string" ? netns : netns.path;
  assertNotHostNetns(path);
  return path;
}

export class CniDriver {
  readonly node: Netns;
  readonly network: string;
  readonly options: Readonly<CniDriverOptions>;

  constructor(node: Netns, options: CniDriverOptions) {
    requireBuilt(CNITOOL_BIN, "cnitool");
    this.node = node;
    this.options = options;
    const parsed = JSON.parse(Deno.readTextFileSync(options.conflistFile)) as { name?: unknown };
    if (typeof parsed.name !== "string") {
      throw new TypeError(`${options.conflistFile} has no "name": not a CNI network config`);
    }
    this.network = parsed.name;
  }

  async add(pod: Netns | string, containerId: string, op: OpOptions = {}): Promise<CniResult> {
    const out = await this.#single("add", pod, containerId, op);
    return JSON.parse(out.stdout) as CniResult;
  }

  async check(pod: Netns | string, containerId: string, op: OpOptions = {}): Promise<void> {
    await this.#single("check", pod, containerId, op);
  }

  async del(pod: Netns | string, containerId: string, op: OpOptions = {}): Promise<void> {
    await this.#single("del", pod, containerId, op);
  }

  /** N sequential ADDs (then CHECKs with check), then N DELs; latency samples and percentiles. */
  bench(options: MultiOptions & { check?: boolean }): Promise<BenchReport> {
    const flags = options.check ? ["-check"] : [];
    return this.#multi("bench", options, flags) as Promise<BenchReport>;
  }

  /** N concurrent ADDs, then (unless del is false) N concurrent DELs; every result. */
  parallel(options: MultiOptions & { del?: boolean }): Promise<ParallelReport> {
    if (options.del === false && !options.netns) {
      throw new TypeError("parallel({del: false}) needs netns: the driver's own end with it");
    }
    const flags = options.del === false ? ["-del=false"] : [];
    return this.#multi("parallel", options, flags) as Promise<ParallelReport>;
  }

  /** The CNI versions a plugin supports (CNI VERSION through libcni). */
  async version(pluginType: string): Promise<string[]> {
    const out = await this.#exec(["version", pluginType], {}, this.#timeout());
    const parsed = JSON.parse(out.stdout) as { supportedVersions?: string[]; error?: CniErrorJson };
    if (parsed.error) throw new CniError("VERSION", pluginType, parsed.error);
    return parsed.supportedVersions ?? [];
  }

  async #single(
    cmd: string,
    pod: Netns | string,
    containerId: string,
    op: OpOptions,
  ): Promise<RunResult> {
    const out = await this.#exec(
      [cmd, this.network, netnsPath(pod), containerId],
      op,
      this.#timeout(),
    );
    if (out.success) return out;
    throw new CniError(cmd.toUpperCase(), containerId, parseError(out));
  }

  async #multi(cmd: string, options: MultiOptions, flags: string[]): Promise<unknown> {
    const argv = [cmd, "-n", String(options.n), ...flags];
    if (options.netns) argv.push("-netns", options.netns.map(netnsPath).join(","));
    if (options.idPrefix) argv.push("-id-prefix", options.idPrefix);
    const out = await this.#exec([...argv, this.network], options, this.#timeout(options.n));
    try {
      return JSON.parse(out.stdout);
    } catch {
      throw new CommandError([CNITOOL_BIN, ...argv], out, false);
    }
  }

  #timeout(containers = 0): number {
    return (this.options.timeoutMs ?? 120_000) + containers * 10_000;
  }

  #exec(argv: string[], op: OpOptions, timeoutMs: number): Promise<RunResult> {
    const o = this.options;
    const env: Record<string, string> = {
      PATH: SYSTEM_PATH,
      CNI_PATH: (o.pluginDirs ?? [BIN_DIR, REFERENCE_PLUGIN_DIR]).join(":"),
      NETCONFFILE: o.conflistFile,
      CNI_CACHE_DIR: o.cacheDir,
      CNI_IFNAME: o.ifName ?? "eth0",
      CNITOOL_TIMEOUT: `${Math.ceil((o.timeoutMs ?? 120_000) / 1000)}s`,
      ...o.env,
    };
    if (op.args) env.CNI_ARGS = Object.entries(op.args).map(([k, v]) => `${k}=${v}`).join(";");
    if (op.capabilityArgs) env.CAP_ARGS = JSON.stringify(op.capabilityArgs);
    return nsExec(this.node, [CNITOOL_BIN, ...argv], {
      env,
      clearEnv: true,
      timeoutMs,
      allowFailure: true,
    });
  }
}

function parseError(out: RunResult): CniErrorJson {
  try {
    const parsed = JSON.parse(out.stdout) as { error?: CniErrorJson };
    if (parsed.error) return parsed.error;
  } catch {
    // not the driver's error JSON: a usage error or a crash, reported below
  }
  const text = (out.stderr.trim() || out.stdout.trim() || `exit code ${out.code}`).slice(-2000);
  return { code: 999, msg: text, message: text };
}
