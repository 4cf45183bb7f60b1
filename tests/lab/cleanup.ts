/**
 * Undo what a test set up, on every exit path: when the test ends (`await using` or
 * `await cleanup.run()` in a finally block, so also on failures and thrown errors) and when the
 * test process gets SIGINT or SIGTERM (every live Cleanup runs, then the process exits).
 * Under `deno test`, Deno's runner handles SIGINT itself and exits at once, so only SIGTERM
 * reaches these handlers there. What a SIGINT or SIGKILL leaves, stale_sweep.ts removes on the
 * next run (or `deno run -A tests/lab/sweep.ts`).
 */

type Step = { label: string; fn: () => unknown };

/** One or more cleanup steps failed; every step was still attempted. */
export class CleanupError extends AggregateError {
  constructor(errors: Error[], scope: string) {
    super(
      errors,
      `${errors.length} cleanup step(s) of ${scope} failed: ${
        errors.map((e) => e.message).join("; ")
      }`,
    );
    this.name = "CleanupError";
  }
}

const live = new Set<Cleanup>();

export class Cleanup implements AsyncDisposable {
  readonly label: string;
  #steps: Step[] = [];

  constructor(label = "test") {
    this.label = label;
    live.add(this);
    installSignalHandlers();
  }

  /** Registers a step; steps run in reverse order of registration. */
  defer(label: string, fn: () => unknown): void {
    this.#steps.push({ label, fn });
  }

  /** Runs every step (LIFO), each even if an earlier one failed; throws CleanupError after. */
  async run(): Promise<void> {
    const errors: Error[] = [];
    for (let step = this.#steps.pop(); step; step = this.#steps.pop()) {
      try {
        await step.fn();
      } catch (e) {
        const detail = e instanceof Error ? e.message : String(e);
        errors.push(new Error(`${step.label}: ${detail}`, { cause: e }));
      }
    }
    live.delete(this);
    if (errors.length > 0) throw new CleanupError(errors, this.label);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.run();
  }
}

/** Runs every live Cleanup, newest first (what a signal does before the process exits). */
export async function runAllCleanups(): Promise<void> {
  const errors: Error[] = [];
  for (const cleanup of [...live].reverse()) {
    await cleanup.run().catch((e) => errors.push(e));
  }
  if (errors.length > 0) throw new AggregateError(errors, "cleanup after a signal failed");
}

let installed = false;
let exiting = false;

/** What a program (not a test) says around an interrupt's clean-up. */
export interface InterruptHooks {
  /** Replaces the default "cleaning up" line on stderr. */
  started?: (signal: Deno.Signal) => void;
  /** After every Cleanup ran (`error` when some step failed), before the process exits. */
  cleaned?: (signal: Deno.Signal, error?: unknown) => unknown;
}

let hooks: InterruptHooks = {};

/** Sets the interrupt hooks (e.g. the demo checks nothing was left and points at its logs). */
export function onInterrupt(interruptHooks: InterruptHooks): void {
  hooks = interruptHooks;
  installSignalHandlers();
}

function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  const signals: Array<[Deno.Signal, number]> = [["SIGINT", 130], ["SIGTERM", 143]];
  for (const [signal, code] of signals) {
    Deno.addSignalListener(signal, () => void exitAfterCleanup(signal, code));
  }
}

async function exitAfterCleanup(signal: Deno.Signal, code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  if (hooks.started) {
    hooks.started(signal);
  } else {
    // deno-lint-ignore no-console -- the test run is being interrupted; say what happens
    console.error(`lab: ${signal}: cleaning up ${live.size} test scope(s) before exiting`);
  }
  // A cleanup that hangs must not keep an interrupted run alive forever.
  setTimeout(() => Deno.kill(Deno.pid, "SIGKILL"), 60_000);
  let error: unknown;
  try {
    await runAllCleanups();
  } catch (e) {
    error = e;
    // deno-lint-ignore no-console -- last words of an interrupted run
    if (!hooks.cleaned) console.error(e);
  }
  try {
    await hooks.cleaned?.(signal, error);
  } catch (e) {
    // deno-lint-ignore no-console -- last words of an interrupted run
    console.error(e);
  }
  try {
    Deno.exit(code);
  } catch {
    // `deno test` refuses Deno.exit inside a test and would go on with the next file.
    Deno.kill(Deno.pid, "SIGKILL");
  }
}
