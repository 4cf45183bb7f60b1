/**
 * Jittered exponential backoff shared by the IMDS and EC2 clients. The delay computation is a
 * pure function of the attempt number and an injected random source, so tests assert on the
 * computed delays instead of on wall time.
 */

export interface BackoffOptions {
  /** Delay before the first retry, before jitter. */
  baseMs: number;
  /** Upper bound of any single delay, before jitter. */
  maxMs: number;
  /** Growth per retry; 2 doubles the delay each time. */
  multiplier?: number;
  /**
   * Fraction of the delay that is random, 0..1: the delay is drawn uniformly from
   * [d·(1−jitter), d]. 1 is AWS "full jitter" (spreads a herd of nodes best), 0 is none.
   */
  jitter?: number;
}

/**
 * Delay before retry number `retry` (1 = the first retry). `random` returns a value in [0, 1),
 * like `Math.random`.
 */
export function backoffDelay(
  retry: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  if (!Number.isInteger(retry) || retry < 1) {
    throw new RangeError(`backoff retry number must be an integer >= 1, got ${retry}`);
  }
  const multiplier = options.multiplier ?? 2;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  const ceiling = Math.min(options.maxMs, options.baseMs * multiplier ** (retry - 1));
  return Math.round(ceiling * (1 - jitter * random()));
}

export { sleep } from "../ops/timers.ts";

/**
 * Runs `fn` with an AbortSignal that fires after `timeoutMs`. `timedOut()` tells the caller
 * whether a failure came from this deadline, without looking at the error's name or text.
 */
export async function withTimeout<T>(
  timeoutMs: number,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<{ value: T; timedOut: false } | { error: unknown; timedOut: boolean }> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException(`timed out after ${timeoutMs} ms`, "TimeoutError")),
    timeoutMs,
  );
  try {
    return { value: await fn(controller.signal), timedOut: false };
  } catch (error) {
    return { error, timedOut: controller.signal.aborted };
  } finally {
    clearTimeout(timer);
  }
}
