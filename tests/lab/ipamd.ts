/**
 * Runs ipamd (`build/bin/ipamd run`) inside a lab node with the node's environment from the
 * simulator, and controls it like kubelet and an operator would: wait until ready, SIGTERM,
 * SIGKILL, restart. Its stdout/stderr go to a log file quoted in failure messages.
 */
import type { StatusResult } from "../../src/rpc/protocol.ts";
import type { Cleanup } from "./cleanup.ts";
import { run, type RunResult } from "./command.ts";
import { type Netns, nsArgv, nsExec } from "./namespaces.ts";
import { trackChild, untrackChild } from "./owner.ts";
import { IPAMD_BIN, requireBuilt, SYSTEM_PATH } from "./paths.ts";
import { type ProcessLog, startProcessLog, tailOf } from "./process_log.ts";
import { rpcCall } from "./rpc_client.ts";
import { terminate, type Terminated } from "./terminate.ts";

/** What startIpamd needs of a node (a sim's LabNode has it). */
export interface IpamdNode {
  netns: Netns;
  info: { name?: string; env: Record<string, string> };
}

export interface StartIpamdOptions {
  /** Added to (and overriding) the node's environment from the simulator. */
  env?: Record<string, string>;
  /** Arguments after `ipamd run`. */
  args?: string[];
  /** The program to run instead of `build/bin/ipamd run` (tests of this helper only). */
  command?: string[];
  /** Registers a stop here (recommended: the test's Cleanup). */
  cleanup?: Cleanup;
  /** stdout/stderr of every start (default LOG_DIR/ipamd-<node>-XXXX.log). */
  logFile?: string;
}

/** ipamd did not become ready (it exited or the time ran out); the message quotes its logs. */
export class IpamdError extends Error {
  readonly logFile: string;
  readonly exitStatus?: Deno.CommandStatus;
  constructor(
    message: string,
    logFile: string,
    exitStatus?: Deno.CommandStatus,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "IpamdError";
    this.logFile = logFile;
    this.exitStatus = exitStatus;
  }
}

export class Ipamd {
  readonly node: IpamdNode;
  readonly socketPath: string;
  readonly env: Readonly<Record<string, string>>;
  #options: StartIpamdOptions;
  #log: ProcessLog;
  #child?: Deno.ChildProcess;
  #exit?: Promise<Deno.CommandStatus>;
  #status?: Deno.CommandStatus;

  constructor(node: IpamdNode, log: ProcessLog, options: StartIpamdOptions) {
    this.node = node;
    this.#log = log;
    this.#options = options;
    this.env = { ...node.info.env, ...options.env };
    const socket = this.env.IPAMD_SOCKET_PATH;
    if (!socket) {
      throw new TypeError(
        "IPAMD_SOCKET_PATH is not set: a lab ipamd must not use the host's default socket",
      );
    }
    this.socketPath = socket;
  }

  /** stdout/stderr of the process (all starts). */
  get logFile(): string {
    return this.#log.path;
  }

  /** ipamd's own log (AWS_VPC_K8S_CNI_LOG_FILE), if set. */
  get ipamdLogFile(): string | undefined {
    return this.env.AWS_VPC_K8S_CNI_LOG_FILE;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#status === undefined;
  }

  /** Starts the process (again); does not wait for it to be ready. */
  start(): void {
    if (this.running) throw new Error(`ipamd in ${this.node.netns.name} is already running`);
    const command = this.#options.command ?? [IPAMD_BIN, "run", ...this.#options.args ?? []];
    const [program, ...args] = nsArgv(this.node.netns, command);
    const child = new Deno.Command(program!, {
      args,
      clearEnv: true,
      env: { PATH: SYSTEM_PATH, ...this.env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    trackChild(child.pid);
    this.#child = child;
    this.#status = undefined;
    const logged = Promise.all([this.#log.capture(child.stdout), this.#log.capture(child.stderr)]);
    this.#exit = child.status.then(async (status) => {
      await logged;
      untrackChild(child.pid);
      this.#status = status;
      return status;
    });
  }

  /** Resolves when the current process exits. */
  get exited(): Promise<Deno.CommandStatus> {
    if (!this.#exit) throw new Error("ipamd was never started");
    return this.#exit;
  }

  /** ipam.status over the socket. */
  status(timeoutMs = 2_000): Promise<StatusResult> {
    return rpcCall(this.socketPath, "ipam.status", {}, { timeoutMs });
  }

  /** Polls ipam.status until ready; throws IpamdError if ipamd exits or time runs out. */
  async waitReady(
    options: { timeoutMs?: number; intervalMs?: number } = {},
  ): Promise<StatusResult> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      if (this.#status) {
        throw new IpamdError(
          `ipamd in ${this.node.netns.name} exited (code ${this.#status.code}) before it was ready:\n` +
            await this.logTail(),
          this.logFile,
          this.#status,
        );
      }
      try {
        const status = await this.status();
        if (status.ready) return status;
        last = `not ready yet: ${JSON.stringify(status)}`;
      } catch (e) {
        last = e;
      }
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 200));
    }
    const why = last instanceof Error ? last.message : String(last);
    throw new IpamdError(
      `ipamd in ${this.node.netns.name} was not ready within ${timeoutMs} ms (${why}):\n${await this
        .logTail()}`,
      this.logFile,
      undefined,
      { cause: last },
    );
  }

  /**
   * Runs an ipamd CLI command (`build/bin/ipamd status`...) in the node with ipamd's environment,
   * as an operator would on the node; a non-zero exit is returned, not thrown.
   */
  cli(args: string[], options: { timeoutMs?: number } = {}): Promise<RunResult> {
    return nsExec(this.node.netns, [IPAMD_BIN, ...args], {
      env: { PATH: SYSTEM_PATH, ...this.env },
      clearEnv: true,
      allowFailure: true,
      timeoutMs: options.timeoutMs ?? 30_000,
    });
  }

  /** SIGTERM (what kubelet sends), then SIGKILL after graceMs. */
  async stop(options: { graceMs?: number } = {}): Promise<Terminated> {
    const child = this.#child;
    if (!child) throw new Error("ipamd was never started");
    const result = await terminate(child, { graceMs: options.graceMs ?? 30_000 });
    await this.exited;
    return result;
  }

  /** SIGKILL: a crash, nothing cleaned up. */
  async kill9(): Promise<Deno.CommandStatus> {
    const child = this.#child;
    if (!child) throw new Error("ipamd was never started");
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    return await this.exited;
  }

  /** Stops the running process (SIGTERM) if any, and starts it again. */
  async restart(): Promise<void> {
    if (this.running) await this.stop();
    this.start();
  }

  /** The last lines of stdout/stderr and of ipamd's own log file. */
  async logTail(lines = 30): Promise<string> {
    const own = this.ipamdLogFile
      ? `\n--- ${this.ipamdLogFile}:\n${await tailOf(this.ipamdLogFile, lines)}`
      : "";
    return `--- ${this.logFile}:\n${await this.#log.tail(lines)}${own}`;
  }
}

/** Starts ipamd in a lab node; call waitReady() before using it. */
export async function startIpamd(node: IpamdNode, options: StartIpamdOptions = {}): Promise<Ipamd> {
  const label = `ipamd-${node.netns.name}`;
  if (!options.command) requireBuilt(IPAMD_BIN, "launchers");
  if (!{ ...node.info.env, ...options.env }.IPAMD_SOCKET_PATH) {
    throw new TypeError(
      "IPAMD_SOCKET_PATH is not set: a lab ipamd must not use the host's default socket",
    );
  }
  const ipamd = new Ipamd(node, await startProcessLog(options.logFile, label), options);
  options.cleanup?.defer(`stop ${label}`, async () => {
    if (ipamd.running) await ipamd.stop();
  });
  ipamd.start();
  return ipamd;
}

/** Does build/bin/ipamd have this subcommand (`ipamd <name> --help` exits 0)? */
export async function ipamdHasCommand(name: string): Promise<boolean> {
  requireBuilt(IPAMD_BIN, "launchers");
  const out = await run([IPAMD_BIN, name, "--help"], { allowFailure: true, timeoutMs: 30_000 });
  return out.success;
}
