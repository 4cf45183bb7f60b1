/** Counts of EC2 calls by action and outcome, for benchmarks and resilience tests. */

export interface ActionCounts {
  calls: number;
  ok: number;
  /** Answered RequestLimitExceeded by the throttling buckets. */
  throttled: number;
  /** Answered with any other error (EC2 rule or injected fault). */
  failed: number;
  /** Errors and timeouts injected by fault rules (a subset of failed, plus timeouts). */
  injected: number;
  timeouts: number;
  /** Error responses by EC2 error code (throttling included). */
  errors: Record<string, number>;
}

export interface CountersSnapshot {
  since: string;
  total: { calls: number; ok: number; throttled: number; failed: number };
  actions: Record<string, ActionCounts>;
}

export class Counters {
  #since = new Date();
  #actions = new Map<string, ActionCounts>();

  call(action: string): void {
    this.#get(action).calls++;
  }

  ok(action: string): void {
    this.#get(action).ok++;
  }

  throttled(action: string): void {
    const c = this.#get(action);
    c.throttled++;
    c.errors.RequestLimitExceeded = (c.errors.RequestLimitExceeded ?? 0) + 1;
  }

  failed(action: string, code: string, injected: boolean): void {
    const c = this.#get(action);
    c.failed++;
    if (injected) c.injected++;
    c.errors[code] = (c.errors[code] ?? 0) + 1;
  }

  timeout(action: string): void {
    const c = this.#get(action);
    c.timeouts++;
    c.injected++;
  }

  reset(): void {
    this.#since = new Date();
    this.#actions.clear();
  }

  snapshot(): CountersSnapshot {
    const actions = Object.fromEntries(
      [...this.#actions].sort(([a], [b]) => a.localeCompare(b)).map((
        [k, v],
      ) => [k, structuredClone(v)]),
    );
    const total = { calls: 0, ok: 0, throttled: 0, failed: 0 };
    for (const c of this.#actions.values()) {
      total.calls += c.calls;
      total.ok += c.ok;
      total.throttled += c.throttled;
      total.failed += c.failed;
    }
    return { since: this.#since.toISOString(), total, actions };
  }

  #get(action: string): ActionCounts {
    let c = this.#actions.get(action);
    if (!c) {
      c = { calls: 0, ok: 0, throttled: 0, failed: 0, injected: 0, timeouts: 0, errors: {} };
      this.#actions.set(action, c);
    }
    return c;
  }
}
