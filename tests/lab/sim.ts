/**
 * Starts `build/bin/ipamd sim` (the VPC simulator and its lab) for a test, reads its ready line
 * (SIM_CONTRACT.md §2) and stops it again, checking that it removed its namespaces.
 */
import type { NodeInfo, ReadyInfo } from "../../src/sim/sim.ts";
import type { Cleanup } from "./cleanup.ts";
import { adoptNetns, forgetNetns, type Netns, netnsExists } from "./namespaces.ts";
import { recordLabPrefix, trackChild, untrackChild } from "./owner.ts";
import { IPAMD_BIN, requireBuilt, SYSTEM_PATH } from "./paths.ts";
import { startProcessLog } from "./process_log.ts";
import { SimControl } from "./sim_control.ts";
import { terminate } from "./terminate.ts";

/** The ready line (SIM_CONTRACT.md §2), typed where the simulator defines it. */
export type SimReady = ReadyInfo;
export type SimNodeInfo = NodeInfo;
export type SimSubnet = ReadyInfo["subnets"][number];

/** A node of the lab: an EC2 instance whose namespace tests may run commands in. */
export interface LabNode {
  info: SimNodeInfo;
  netns: Netns;
}

/** The simulator did not start, or did not stop cleanly. */
export class SimError extends Error {
  readonly logFile: string;
  constructor(message: string, logFile: string, options?: ErrorOptions) {
    super(`${message} (simulator log: ${logFile})`, options);
    this.name = "SimError";
    this.logFile = logFile;
  }
}

function fail(what: string): never {
  throw new TypeError(`ready line: ${what}`);
}

/** Parses and checks the simulator's ready line; throws TypeError naming the bad field. */
export function parseSimReady(line: string): SimReady {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    fail(`not JSON: ${line.slice(0, 200)}`);
  }
  const r = value as Partial<SimReady>;
  if (r?.ready !== true) fail(`"ready" is not true: ${line.slice(0, 200)}`);
  for (
    const key of ["labId", "region", "ec2Endpoint", "controlEndpoint", "vpcId", "vpcCidr"] as const
  ) {
    if (typeof r[key] !== "string" || r[key] === "") fail(`"${key}" is missing`);
  }
  if (!Array.isArray(r.subnets) || r.subnets.length === 0) fail(`"subnets" is missing`);
  if (!Array.isArray(r.nodes)) fail(`"nodes" is missing`);
  for (const [i, node] of r.nodes.entries()) {
    for (
      const key of [
        "name",
        "instanceId",
        "primaryIp",
        "primaryEniId",
        "primaryMac",
        "stateDir",
      ] as const
    ) {
      if (typeof node?.[key] !== "string" || node[key] === "") {
        fail(`"nodes[${i}].${key}" is missing`);
      }
    }
    if (typeof node.env !== "object" || node.env === null) fail(`"nodes[${i}].env" is missing`);
  }
  return r as SimReady;
}

export interface StartSimOptions {
  nodes?: number;
  instanceType?: string;
  /** More `ipamd sim` options (--latency, --fault, --subnet...). */
  args?: string[];
  /** Registers stop() here (recommended: the test's Cleanup). */
  cleanup?: Cleanup;
  /** Where the simulator's stderr goes (default: a temp file). */
  logFile?: string;
  /** For the ready line (default 60 s). */
  timeoutMs?: number;
  env?: Record<string, string>;
}

export interface Sim extends AsyncDisposable {
  readonly info: SimReady;
  readonly pid: number;
  readonly logFile: string;
  readonly router?: Netns;
  readonly nodes: LabNode[];
  readonly control: SimControl;
  /** Adds an instance at run time (POST /instances) and returns its node. */
  addNode(request?: { instanceType?: string; subnetId?: string }): Promise<LabNode>;
  /** SIGTERM, wait, then check that its namespaces and state dirs are gone. */
  stop(): Promise<void>;
}

function labNode(info: SimNodeInfo): LabNode {
  if (!info.netns) {
    throw new TypeError(`node ${info.name} has no namespace (simulator run with --no-lab)`);
  }
  return { info, netns: adoptNetns(info.netns) };
}

/** Reads the first line; the rest of stdout (not part of the contract) is drained. */
function splitFirstLine(
  stream: ReadableStream<Uint8Array>,
): { line: Promise<string | undefined>; drained: Promise<void> } {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let resolveLine: (line: string | undefined) => void = () => {};
  const line = new Promise<string | undefined>((r) => resolveLine = r);
  const drained = (async () => {
    let text = "";
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done || !value) break;
      if (!text.includes("\n")) text += decoder.decode(value, { stream: true });
      if (text.includes("\n")) resolveLine(text.slice(0, text.indexOf("\n")));
    }
    resolveLine(undefined);
  })();
  return { line, drained };
}

export async function startSim(options: StartSimOptions = {}): Promise<Sim> {
  requireBuilt(IPAMD_BIN, "launchers");
  const log = await startProcessLog(options.logFile, "sim");
  const argv = [
    "sim",
    "--nodes",
    String(options.nodes ?? 1),
    "--instance-type",
    options.instanceType ?? "t3.medium",
    ...options.args ?? [],
  ];
  const child = new Deno.Command(IPAMD_BIN, {
    args: argv,
    clearEnv: true,
    env: { PATH: SYSTEM_PATH, ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  trackChild(child.pid);
  // If the simulator itself gets killed, its lab is swept by Lab.sweepStale of its prefix.
  recordLabPrefix(simPrefix(options.args ?? []), simStateRoot(options.args ?? []));
  const logging = log.capture(child.stderr);
  const stdout = splitFirstLine(child.stdout);
  const timeoutMs = options.timeoutMs ?? 60_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const line = await Promise.race([
    stdout.line,
    new Promise<null>((r) => timer = setTimeout(() => r(null), timeoutMs)),
  ]);
  clearTimeout(timer);

  let stopped = false;
  let nodes: LabNode[] = [];
  const adopted: Netns[] = [];
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const { status, killed } = await terminate(child, { graceMs: 20_000 });
    await Promise.all([logging, stdout.drained]);
    untrackChild(child.pid);
    const left = adopted.filter(netnsExists).map((ns) => ns.name);
    const dirs = nodes.map((n) => n.info.stateDir).filter(dirExists);
    adopted.forEach(forgetNetns);
    if (killed) {
      throw new SimError("the simulator ignored SIGTERM for 20 s and was killed", log.path);
    }
    if (status.code !== 0) {
      throw new SimError(`the simulator exited with ${status.code} on SIGTERM`, log.path);
    }
    if (left.length > 0) {
      throw new SimError(`the simulator left namespaces: ${left.join(" ")}`, log.path);
    }
    if (dirs.length > 0) {
      throw new SimError(`the simulator left state dirs: ${dirs.join(" ")}`, log.path);
    }
  };
  let info: SimReady;
  let router: Netns | undefined;
  try {
    if (typeof line !== "string") {
      const why = line === null
        ? `no ready line within ${timeoutMs} ms`
        : "it exited before it was ready";
      throw new SimError(`ipamd ${argv.join(" ")}: ${why}: ${await log.tail()}`, log.path);
    }
    info = parseSimReady(line);
    if (info.router?.netns) adopted.push(router = adoptNetns(info.router.netns));
    nodes = info.nodes.filter((n) => n.netns).map(labNode);
    adopted.push(...nodes.map((n) => n.netns));
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  }
  options.cleanup?.defer(`stop simulator ${info.labId}`, stop);
  const control = new SimControl(info.controlEndpoint);
  return {
    info,
    pid: child.pid,
    logFile: log.path,
    router,
    nodes,
    control,
    async addNode(request = {}) {
      const node = labNode(await control.addInstance(request) as unknown as SimNodeInfo);
      nodes.push(node);
      adopted.push(node.netns);
      return node;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** The value of `--name V` or `--name=V` in the simulator's arguments. */
function simOption(args: string[], name: string, fallback: string): string {
  const i = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (i < 0) return fallback;
  return args[i]!.includes("=") ? args[i]!.slice(name.length + 1) : args[i + 1] ?? fallback;
}

function simPrefix(args: string[]): string {
  return simOption(args, "--prefix", "vpcsim");
}

/** Where the simulator keeps its labs (`--state-dir`, default /run/vpcsim whatever the prefix). */
function simStateRoot(args: string[]): string {
  return simOption(args, "--state-dir", "/run/vpcsim").replace(/\/+$/, "");
}

function dirExists(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}
