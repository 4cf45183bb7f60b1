/**
 * The CNI skeleton: CNI_* environment, the configuration on stdin, version negotiation, and
 * the one place that writes to stdout (a result, a version report, or a CNI error). Logs go to
 * the configured plugin log file or stderr, never stdout.
 *
 * VERSION and every environment or configuration error are answered without loading the
 * commands, RPC client or netlink code: those are imported only when a command runs.
 */
import { Logger } from "../ops/log.ts";
import { ConfigError, EnvError, StdinError, toCniError } from "./errors.ts";
import {
  CNI_NAME,
  compareVersions,
  convertResult,
  LATEST_VERSION,
  type NetConf,
  parseCniArgs,
  parseNetConf,
  SUPPORTED_VERSIONS,
} from "./types.ts";
import type { CmdArgs, CommandDeps } from "./commands.ts";

/** A network configuration is a few KiB; anything past this is refused unread. */
export const MAX_STDIN_BYTES = 1 << 20;

export interface PluginIO {
  env(name: string): string | undefined;
  /** Reads all of stdin; throws StdinError past `limit` bytes. */
  readStdin(limit: number): Promise<Uint8Array>;
  writeStdout(text: string): void;
  /** Where logs go when the configuration names no log file (default the process's stderr). */
  stderr?: (line: Uint8Array) => void;
}

export interface PluginOptions {
  io?: PluginIO;
  /** Replaces the real ipamd connection or pod wiring (tests). */
  deps?: Partial<Omit<CommandDeps, "logger">>;
}

type Command = "ADD" | "DEL" | "CHECK" | "STATUS" | "GC";

/** Variables each command needs (CNI spec 1.1.0, section 2; CNI_NETNS is optional for DEL). */
const REQUIRED: Record<Command, string[]> = {
  ADD: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
  CHECK: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
  DEL: ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
  GC: ["CNI_PATH"],
  STATUS: [],
};

/** Oldest configuration version that has each command. */
const SINCE: Partial<Record<Command, string>> = { CHECK: "0.4.0", STATUS: "1.1.0", GC: "1.1.0" };

/** Runs one plugin invocation; returns the exit status. */
export async function runPlugin(options: PluginOptions = {}): Promise<number> {
  const io = options.io ?? processIO();
  let cniVersion = LATEST_VERSION;
  let logger: Logger | undefined;
  try {
    const command = io.env("CNI_COMMAND") ?? "";
    if (command === "VERSION") {
      io.writeStdout(
        JSON.stringify({ cniVersion: LATEST_VERSION, supportedVersions: SUPPORTED_VERSIONS }) +
          "\n",
      );
      return 0;
    }
    const env = readEnv(command, io);
    const stdin = await io.readStdin(MAX_STDIN_BYTES);
    const conf = parseNetConf(decodeStdin(stdin));
    cniVersion = conf.cniVersion;
    logger = pluginLogger(conf, io, env);
    const since = SINCE[env.command];
    if (since && compareVersions(conf.cniVersion, since) < 0) {
      throw new ConfigError(
        "version",
        `cniVersion ${conf.cniVersion} does not allow ${env.command}; it needs ${since} or later`,
        { field: "cniVersion" },
      );
    }
    if (conf.mtuProblem) logger.warn(conf.mtuProblem);
    const output = await dispatch(env, conf, logger, options.deps ?? {});
    if (output !== undefined) io.writeStdout(JSON.stringify(output) + "\n");
    logger.debug(`${env.command} done`);
    return 0;
  } catch (e) {
    const mapped = toCniError(e);
    logger?.error("failed", { code: mapped.code, error: e, details: mapped.details });
    io.writeStdout(JSON.stringify({ cniVersion, ...mapped }) + "\n");
    return 1;
  }
}

interface Env {
  command: Command;
  containerId: string;
  netns: string;
  ifName: string;
  args: string;
}

function readEnv(command: string, io: PluginIO): Env {
  if (command === "") {
    throw new EnvError(
      ["CNI_COMMAND"],
      "CNI_COMMAND is not set: aws-cni is run by a container runtime with CNI_COMMAND=ADD, " +
        "DEL, CHECK, STATUS, GC or VERSION",
    );
  }
  if (!(command in REQUIRED)) {
    throw new EnvError(
      ["CNI_COMMAND"],
      `CNI_COMMAND "${command}" is unknown; expected ADD, DEL, CHECK, STATUS, GC or VERSION`,
    );
  }
  const cmd = command as Command;
  const missing = REQUIRED[cmd].filter((name) => !io.env(name));
  if (missing.length > 0) {
    throw new EnvError(missing, `${cmd} needs the environment variables ${missing.join(", ")}`);
  }
  const env: Env = {
    command: cmd,
    containerId: io.env("CNI_CONTAINERID") ?? "",
    netns: io.env("CNI_NETNS") ?? "",
    ifName: io.env("CNI_IFNAME") ?? "",
    args: io.env("CNI_ARGS") ?? "",
  };
  if (REQUIRED[cmd].includes("CNI_CONTAINERID") && !CNI_NAME.test(env.containerId)) {
    throw new EnvError(
      ["CNI_CONTAINERID"],
      `CNI_CONTAINERID "${env.containerId}" is invalid: it must start with a letter or digit ` +
        'followed by letters, digits, "_", "." or "-"',
    );
  }
  if (REQUIRED[cmd].includes("CNI_IFNAME")) {
    const problem = ifNameProblem(env.ifName);
    if (problem) {
      throw new EnvError(["CNI_IFNAME"], `CNI_IFNAME "${env.ifName}" is invalid: ${problem}`);
    }
  }
  return env;
}

/** CNI spec: not empty, not "." or "..", under 16 bytes, no "/", ":" or whitespace. */
export function ifNameProblem(name: string): string | undefined {
  if (name === "") return "it is empty";
  if (name === "." || name === "..") return 'it cannot be "." or ".."';
  if (new TextEncoder().encode(name).length > 15) return "it is longer than 15 bytes";
  if (/[/:\s]/.test(name)) return 'it contains "/", ":" or whitespace';
  return undefined;
}

function decodeStdin(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (e) {
    throw new ConfigError("decode", "network configuration on stdin is not valid UTF-8", {
      cause: e,
    });
  }
}

function pluginLogger(conf: NetConf, io: PluginIO, env: Env): Logger {
  const fields = {
    component: "aws-cni",
    command: env.command,
    ...(env.containerId ? { containerId: env.containerId } : {}),
    ...(env.netns ? { netns: env.netns } : {}),
    ...(env.ifName ? { ifName: env.ifName } : {}),
  };
  if (conf.pluginLogFile) {
    return new Logger({ destination: conf.pluginLogFile, level: conf.pluginLogLevel, fields });
  }
  return new Logger({ level: conf.pluginLogLevel, fields }, io.stderr);
}

async function dispatch(
  env: Env,
  conf: NetConf,
  logger: Logger,
  overrides: Partial<Omit<CommandDeps, "logger">>,
): Promise<unknown> {
  const commands = await import("./commands.ts");
  const args: CmdArgs = {
    containerId: env.containerId,
    netns: env.netns,
    ifName: env.ifName,
    args: parseCniArgs(env.args),
    conf,
  };
  const podLogger = args.args.podName
    ? logger.with({ pod: `${args.args.podNamespace}/${args.args.podName}` })
    : logger;
  const deps: CommandDeps = {
    connect: overrides.connect ?? await defaultConnect(conf),
    wiring: overrides.wiring ?? await defaultWiring(podLogger),
    logger: podLogger,
    ...(overrides.hostNetns ? { hostNetns: overrides.hostNetns } : {}),
  };
  switch (env.command) {
    case "ADD":
      return convertResult(await commands.cmdAdd(args, deps), conf.cniVersion);
    case "DEL":
      return await commands.cmdDel(args, deps);
    case "CHECK":
      return await commands.cmdCheck(args, deps);
    case "STATUS":
      return await commands.cmdStatus(args, deps);
    case "GC":
      return await commands.cmdGc(args, deps);
  }
}

async function defaultConnect(conf: NetConf): Promise<CommandDeps["connect"]> {
  const { RpcClient } = await import("../rpc/client.ts");
  return (options) =>
    RpcClient.connect(conf.ipamdSocket, { connectTimeoutMs: options?.connectTimeoutMs });
}

async function defaultWiring(logger: Logger): Promise<CommandDeps["wiring"]> {
  const pn = await import("./pod_network.ts");
  return {
    wire: (spec) => pn.wirePodInterface(spec, { logger }),
    remove: pn.removePodInterface,
    removeContainer: pn.removeContainerInterface,
    netnsExists: pn.podNetnsExists,
    teardown: pn.teardownHost,
    teardownBranch: pn.teardownBranchHost,
    inspect: pn.inspectPodInterface,
  };
}

function processIO(): PluginIO {
  return {
    env: (name) => Deno.env.get(name),
    readStdin: (limit) => readAll(Deno.stdin, limit),
    writeStdout: (text) => {
      const data = new TextEncoder().encode(text);
      for (let at = 0; at < data.length;) at += Deno.stdout.writeSync(data.subarray(at));
    },
  };
}

/** Reads a stream to its end, refusing more than `limit` bytes. */
export async function readAll(
  reader: { read(p: Uint8Array): Promise<number | null> },
  limit: number,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(64 * 1024);
  while (true) {
    let n: number | null;
    try {
      n = await reader.read(buf);
    } catch (e) {
      throw new StdinError(`could not read the network configuration from stdin: ${e}`, {
        cause: e,
      });
    }
    if (n === null) break;
    total += n;
    if (total > limit) {
      throw new StdinError(
        `network configuration on stdin is larger than ${limit} bytes; refusing it`,
      );
    }
    chunks.push(buf.slice(0, n));
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
