/**
 * Virtual time for code that takes a `Clock` (src/ipam/clock.ts) and injectable `sleep`s:
 * timers fire in time order, and time jumps from one timer to the next once every promise
 * chain has settled, so minutes of pod traffic replay in seconds and the same inputs always
 * give the same run. Nothing here may wait on real I/O: such a wait would see time frozen.
 */

import { setImmediate } from "node:timers";
import type { Clock } from "../../src/ipam/clock.ts";

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/** Lets every pending promise continuation run (microtasks drain before a macrotask). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class VirtualClock implements Clock {
  #now: number;
  #seq = 0;
  /** A binary min-heap on (at, seq). */
  #heap: Timer[] = [];
  #fired = 0;
  /** Called before time moves from `from` to `to` (integrals over time). */
  onAdvance?: (from: number, to: number) => void;

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now = (): number => this.#now;
  monotonic = (): number => this.#now;

  /** Timers fired so far (a measure of the work simulated). */
  get fired(): number {
    return this.#fired;
  }

  setTimer = (fn: () => void, ms: number): () => void => {
    const timer: Timer = {
      at: this.#now + Math.max(0, ms),
      seq: this.#seq++,
      fn,
      cancelled: false,
    };
    this.#push(timer);
    return () => {
      timer.cancelled = true;
    };
  };

  sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const cancel = this.setTimer(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        cancel();
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    });

  /** Runs timers in order until `end` (inclusive), then sets the time to `end`. */
  async runUntil(end: number): Promise<void> {
    for (;;) {
      await settle();
      const next = this.#peek();
      if (!next || next.at > end) break;
      this.#pop();
      this.#advance(next.at);
      this.#fired++;
      next.fn();
    }
    this.#advance(end);
    await settle();
  }

  #advance(to: number): void {
    if (to <= this.#now) return;
    this.onAdvance?.(this.#now, to);
    this.#now = to;
  }

  #peek(): Timer | undefined {
    while (this.#heap.length > 0 && this.#heap[0]!.cancelled) this.#pop();
    return this.#heap[0];
  }

  #before(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(timer: Timer): void {
    const heap = this.#heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): Timer | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let min = i;
        if (l < heap.length && this.#before(heap[l]!, heap[min]!)) min = l;
        if (r < heap.length && this.#before(heap[r]!, heap[min]!)) min = r;
        if (min === i) break;
        [heap[i], heap[min]] = [heap[min]!, heap[i]!];
        i = min;
      }
    }
    return top;
  }
}
