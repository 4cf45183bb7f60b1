/**
 * Time and timers for the pool manager. Production uses the system clock; the churn benchmark
 * injects a virtual one so that minutes of pod traffic replay in seconds.
 */

export interface Clock {
  /** Wall time in ms since the epoch. */
  now(): number;
  /** Monotonic ms, for durations. */
  monotonic(): number;
  /** Calls `fn` after `ms`; returns a function that cancels the call. */
  setTimer(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimer(fn: () => void, ms: number): () => void {
    const id = setTimeout(fn, ms);
    return () => clearTimeout(id);
  },
});
