/** Runs a program to completion with a time limit and returns its output; typed failures. */

export interface RunOptions {
  /** Extra environment (added to the inherited one unless clearEnv). */
  env?: Record<string, string>;
  clearEnv?: boolean;
  cwd?: string;
  stdin?: string;
  /** Killed with SIGKILL after this long (default 60 s). */
  timeoutMs?: number;
  /** Resolve with a non-zero exit instead of throwing CommandError. */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number;
  signal: Deno.Signal | null;
  success: boolean;
  stdout: string;
  stderr: string;
}

/** A program exited non-zero, was killed, or timed out. */
export class CommandError extends Error {
  readonly argv: readonly string[];
  readonly code: number;
  readonly signal: Deno.Signal | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;

  constructor(argv: readonly string[], result: RunResult, timedOut: boolean) {
    const why = timedOut
      ? "timed out and was killed"
      : result.signal
      ? `was killed by ${result.signal}`
      : `exited with ${result.code}`;
    const detail = (result.stderr.trim() || result.stdout.trim()).slice(-2000);
    super(`${argv.join(" ")} ${why}${detail ? `: ${detail}` : ""}`);
    this.name = "CommandError";
    this.argv = argv;
    this.code = result.code;
    this.signal = result.signal;
    this.timedOut = timedOut;
    this.stdout = result.stdout;
    this.stderr = result.stderr;
  }
}

const decoder = new TextDecoder();

export async function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [program, ...args] = argv;
  if (!program) throw new TypeError("run() needs a program name");
  const child = new Deno.Command(program, {
    args,
    env: options.env,
    clearEnv: options.clearEnv,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, options.timeoutMs ?? 60_000);
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin)).catch(() => {});
      await writer.close().catch(() => {});
    }
    const out = await child.output();
    const result: RunResult = {
      code: out.code,
      signal: out.signal,
      success: out.success && !timedOut,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
    if (!result.success && (timedOut || !options.allowFailure)) {
      throw new CommandError(argv, result, timedOut);
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}
