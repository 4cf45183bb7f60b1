/**
 * Runs `ipamd sim` as its own process for tests: the launcher build/bin/ipamd when `make
 * launchers` made it, else `deno run` with the launcher's permissions (Makefile IPAMD_PERMS).
 * Parses the ready line; disposing sends SIGTERM and waits for a clean exit.
 */
import type { ReadyInfo } from "../../src/sim/sim.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const LAUNCHER = `${ROOT}build/bin/ipamd`;
// Keep in step with IPAMD_PERMS in the Makefile.
const IPAMD_PERMS = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-ffi",
  "--allow-run",
  "--allow-sys",
];

export interface SimProcess extends AsyncDisposable {
  info: ReadyInfo;
  pid: number;
  logFile: string;
  /** Milliseconds from spawn to the ready line. */
  startupMs: number;
  /** SIGTERM, then the exit code (SIGKILL after timeoutMs). */
  stop(timeoutMs?: number): Promise<number>;
}

export function simCommand(args: string[]): { cmd: string; args: string[] } {
  try {
    Deno.statSync(LAUNCHER);
    return { cmd: LAUNCHER, args: ["sim", ...args] };
  } catch {
    return {
      cmd: Deno.execPath(),
      args: [
        "run",
        "--cached-only",
        "--no-prompt",
        "--quiet",
        ...IPAMD_PERMS,
        `${ROOT}main.ts`,
        "sim",
        ...args,
      ],
    };
  }
}

export async function startSimProcess(
  args: string[],
  options: { timeoutMs?: number } = {},
): Promise<SimProcess> {
  const logFile = await Deno.makeTempFile({ prefix: "tsim-log-" });
  const { cmd, args: argv } = simCommand([...args, "--log", logFile, "--log-level", "debug"]);
  const t0 = performance.now();
  const child = new Deno.Command(cmd, {
    args: argv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  let status: Deno.CommandStatus | undefined;
  const exited = child.status.then((s) => status = s);
  const timer = setTimeout(() => child.kill("SIGTERM"), options.timeoutMs ?? 30_000);
  try {
    while (!stdout.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout += value;
    }
  } finally {
    clearTimeout(timer);
  }
  const startupMs = performance.now() - t0;
  const line = stdout.split("\n")[0]!;
  if (!line.startsWith("{")) {
    await exited;
    const log = await Deno.readTextFile(logFile).catch(() => "");
    throw new Error(
      `ipamd sim did not get ready (exit ${status?.code}): ${await stderr}\n${log.slice(-2000)}`,
    );
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  const drained = (async () => {
    while (!(await reader.read()).done);
  })();
  const info = JSON.parse(line) as ReadyInfo;
  let stopped: Promise<number> | undefined;
  const stop = (timeoutMs = 15_000) =>
    stopped ??= (async () => {
      if (!status) child.kill("SIGTERM");
      const kill = setTimeout(() => !status && child.kill("SIGKILL"), timeoutMs);
      await exited;
      clearTimeout(kill);
      await drained;
      await stderr;
      return status!.code;
    })();
  return {
    info,
    pid: child.pid,
    logFile,
    startupMs,
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
      await Deno.remove(logFile).catch(() => {});
    },
  };
}
