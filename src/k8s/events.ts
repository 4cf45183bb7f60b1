/**
 * Kubernetes Events (events.k8s.io/v1) with de-duplication, so that an API storm (every EC2
 * call failing with UnauthorizedOperation, say) does not become an event storm:
 *
 * - the first occurrence of an event (same object, type, reason, action and note) creates an
 *   Event; repeats within `seriesWindowMs` only count, and the count is written as the
 *   Event's `series` by at most one PATCH per `flushIntervalMs` (as client-go's recorder does);
 * - new Events about one object are rate-limited by a token bucket (burst 25, then one per
 *   5 minutes, like client-go's spam filter); what is dropped is counted in `stats()`;
 * - failures to write are logged, never thrown: events are best effort.
 */
import { type Logger, silentLogger } from "../ops/log.ts";
import type { K8sClient } from "./client.ts";
import type { EventObject, ObjectReference } from "./types.ts";

export const REPORTING_CONTROLLER = "aws-node";

export interface EventSpec {
  regarding: ObjectReference;
  type: "Normal" | "Warning";
  reason: string;
  action: string;
  note: string;
}

export interface EventRecorderOptions {
  /** Identifies this reporter, e.g. "aws-node-ip-10-0-1-23". */
  reportingInstance: string;
  reportingController?: string;
  seriesWindowMs?: number;
  flushIntervalMs?: number;
  burst?: number;
  refillMs?: number;
  /** Most distinct events remembered for de-duplication (oldest forgotten first). */
  maxTracked?: number;
  now?: () => number;
  logger?: Logger;
}

export interface EventStats {
  created: number;
  /** Repeats folded into an existing Event's series. */
  folded: number;
  /** Series PATCHes sent. */
  patched: number;
  /** New events dropped by the rate limit. */
  dropped: number;
  failed: number;
}

interface Tracked {
  namespace: string;
  name: Promise<string | undefined>;
  count: number;
  reported: number;
  lastObserved: number;
  timer?: ReturnType<typeof setTimeout>;
}

export class EventRecorder {
  #client: K8sClient;
  #options: Required<Omit<EventRecorderOptions, "logger">>;
  #log: Logger;
  #tracked = new Map<string, Tracked>();
  #buckets = new Map<string, { tokens: number; at: number }>();
  #pending = new Set<Promise<unknown>>();
  #stats: EventStats = { created: 0, folded: 0, patched: 0, dropped: 0, failed: 0 };
  #sequence = 0;
  #closed = false;

  constructor(client: K8sClient, options: EventRecorderOptions) {
    this.#client = client;
    this.#log = options.logger ?? silentLogger;
    this.#options = {
      reportingInstance: options.reportingInstance,
      reportingController: options.reportingController ?? REPORTING_CONTROLLER,
      seriesWindowMs: options.seriesWindowMs ?? 30 * 60_000,
      flushIntervalMs: options.flushIntervalMs ?? 60_000,
      burst: options.burst ?? 25,
      refillMs: options.refillMs ?? 5 * 60_000,
      maxTracked: options.maxTracked ?? 512,
      now: options.now ?? Date.now,
    };
  }

  stats(): EventStats {
    return { ...this.#stats };
  }

  /** Records an event; never blocks and never throws. */
  record(spec: EventSpec): void {
    if (this.#closed) return;
    const now = this.#options.now();
    const key = JSON.stringify([
      spec.regarding.kind,
      spec.regarding.namespace ?? "",
      spec.regarding.name,
      spec.type,
      spec.reason,
      spec.action,
      spec.note,
    ]);
    const tracked = this.#tracked.get(key);
    if (tracked && now - tracked.lastObserved <= this.#options.seriesWindowMs) {
      tracked.count++;
      tracked.lastObserved = now;
      this.#stats.folded++;
      this.#scheduleFlush(tracked);
      return;
    }
    if (!this.#take(spec.regarding, now)) {
      this.#stats.dropped++;
      return;
    }
    if (tracked) this.#forget(key);
    const namespace = spec.regarding.namespace || "default";
    const name = this.#track(this.#create(namespace, spec, now));
    this.#tracked.set(key, { namespace, name, count: 1, reported: 1, lastObserved: now });
    while (this.#tracked.size > this.#options.maxTracked) {
      this.#forget(this.#tracked.keys().next().value!);
    }
  }

  /** Waits for every write started so far (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /** Writes pending series counts, then stops; later records are ignored. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const tracked of this.#tracked.values()) {
      if (tracked.timer !== undefined) {
        clearTimeout(tracked.timer);
        tracked.timer = undefined;
        this.#track(this.#patchSeries(tracked));
      }
    }
    await this.flush();
  }

  #take(regarding: ObjectReference, now: number): boolean {
    const id = `${regarding.kind}/${regarding.namespace ?? ""}/${regarding.name}`;
    const bucket = this.#buckets.get(id) ?? { tokens: this.#options.burst, at: now };
    const refill = Math.floor((now - bucket.at) / this.#options.refillMs);
    if (refill > 0) {
      bucket.tokens = Math.min(this.#options.burst, bucket.tokens + refill);
      bucket.at += refill * this.#options.refillMs;
    }
    this.#buckets.set(id, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens--;
    return true;
  }

  async #create(namespace: string, spec: EventSpec, now: number): Promise<string | undefined> {
    const time = microTime(now);
    const name = `${spec.regarding.name}.${(now * 1000 + (this.#sequence++ % 1000)).toString(16)}`;
    const event: EventObject = {
      metadata: { name, namespace },
      eventTime: time,
      reportingController: this.#options.reportingController,
      reportingInstance: this.#options.reportingInstance,
      action: spec.action,
      reason: spec.reason,
      regarding: spec.regarding,
      note: truncate(spec.note, 1024),
      type: spec.type,
    };
    try {
      await this.#client.createEvent(namespace, event);
      this.#stats.created++;
      return name;
    } catch (error) {
      this.#stats.failed++;
      this.#log.warn("could not record a Kubernetes event", { reason: spec.reason, error });
      return undefined;
    }
  }

  #scheduleFlush(tracked: Tracked): void {
    if (tracked.timer !== undefined) return;
    tracked.timer = setTimeout(() => {
      tracked.timer = undefined;
      this.#track(this.#patchSeries(tracked));
    }, this.#options.flushIntervalMs);
  }

  async #patchSeries(tracked: Tracked): Promise<void> {
    const name = await tracked.name;
    if (!name || tracked.count === tracked.reported) return;
    const count = tracked.count;
    try {
      await this.#client.patchEvent(tracked.namespace, name, {
        series: { count, lastObservedTime: microTime(tracked.lastObserved) },
      });
      tracked.reported = count;
      this.#stats.patched++;
    } catch (error) {
      this.#stats.failed++;
      this.#log.warn("could not update a Kubernetes event series", { name, error });
    }
  }

  #forget(key: string): void {
    const tracked = this.#tracked.get(key);
    if (tracked?.timer !== undefined) clearTimeout(tracked.timer);
    this.#tracked.delete(key);
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#pending.add(promise);
    const done = () => this.#pending.delete(promise);
    promise.then(done, done);
    return promise;
  }
}

/** MicroTime: RFC 3339 with exactly six fractional digits, as the API server requires. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

function truncate(text: string, maxBytes: number): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= maxBytes) return text;
  return new TextDecoder().decode(bytes.slice(0, maxBytes - 3)).replace(/\uFFFD$/, "") + "...";
}
