/** Stops a child process: SIGTERM, then SIGKILL if it has not exited after a grace period. */

export interface Terminated {
  status: Deno.CommandStatus;
  /** It ignored SIGTERM for the whole grace period and was killed. */
  killed: boolean;
}

export async function terminate(
  child: Deno.ChildProcess,
  options: { graceMs?: number; signal?: Deno.Signal } = {},
): Promise<Terminated> {
  try {
    child.kill(options.signal ?? "SIGTERM");
  } catch {
    // already exited
  }
  let killed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
        killed = true;
      } catch {
        // exited meanwhile
      }
      resolve();
    }, options.graceMs ?? 20_000);
  });
  const status = await Promise.race([child.status, grace.then(() => child.status)]);
  clearTimeout(timer);
  return { status, killed };
}
