/**
 * The pool manager: plan (pool.ts, pure) → act (EC2 through eni_ops.ts) → commit (datastore),
 * in one loop that also runs reconciliation. ADDs that find the pool empty wait here, count as
 * demand for the planner, and are served the moment addresses land (upstream fails them at
 * once and lets kubelet retry, its most common complaint). In adaptive mode
 * (pool_adaptive.ts) it feeds the policy ADD times and growth latencies, and wakes the planner
 * on every ADD.
 */
import type { Config } from "../config.ts";
import { isInsufficientCidrBlocks, isIpLimitExceeded, isSubnetFull } from "../aws/ec2_errors.ts";
import type { EniMetadata } from "../aws/imds_metadata.ts";
import type { Logger } from "../ops/log.ts";
import type { Metrics } from "../ops/metrics.ts";
import type { AttachmentKey } from "../rpc/protocol.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { Datastore } from "./datastore.ts";
import type { Assignment, PodMetadata } from "./datastore_types.ts";
import { AddressInUseError, PoolExhaustedError } from "./errors.ts";
import type { EniOps } from "./eni_ops.ts";
import {
  describeAction,
  type Plan,
  planPool,
  type PoolAction,
  type PoolSettings,
  type PoolState,
  recordCapacityError,
  recordRelease,
} from "./pool.ts";
import type { AdaptivePool } from "./pool_adaptive.ts";
import { publishPoolMetrics } from "./pool_metrics.ts";

/** How often the loop looks at the pool without being woken (upstream: 5 s). */
const TICK_MS = 5_000;
/** While ADDs wait, look more often: cooling addresses become free by the second. */
const WAITING_TICK_MS = 500;
/** Reconcile with IMDS/EC2 at most this often (upstream: 60 s). */
const RECONCILE_INTERVAL_MS = 60_000;
/** Addresses we released are not re-adopted by reconcile for this long (stale IMDS). */
export const RECONCILE_COOLDOWN_MS = 60_000;
/** After a failed EC2 step, wait before growing again: never a hot loop. */
const FAILURE_BACKOFF_MS = { base: 1_000, max: 60_000 };
/** A failed EC2 step explains a refused ADD for this long. */
const LAST_FAILURE_RELEVANT_MS = 120_000;
/** At most this many plan/act rounds per wake-up. */
const MAX_ROUNDS = 16;

/** No address for the ADD: the pool is empty and could not grow in time (or cannot grow). */
export class NoAddressError extends Error {
  readonly waitedMs: number;
  constructor(message: string, options: { waitedMs: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "NoAddressError";
    this.waitedMs = options.waitedMs;
  }
}

export interface ManagerOptions {
  ds: Datastore;
  /** Undefined: provisioning disabled (DISABLE_NETWORK_RESOURCE_PROVISIONING, IMDS-only). */
  ops?: EniOps;
  config: Pick<Config, "provisioning">;
  settings: () => PoolSettings;
  logger: Logger;
  metrics: Metrics;
  /** Sets up a new ENI's routing and adds it to the datastore. */
  adoptEni: (meta: EniMetadata) => Promise<void>;
  /** Removes a freed ENI's routing rules. */
  forgetEni: (eniId: string) => void;
  /** Reconciliation with IMDS/EC2 (reconcile.ts); undefined in tests. */
  reconcile?: () => Promise<void>;
  /** The node is cordoned and AWS_MANAGE_ENIS_NON_SCHEDULABLE is false. */
  unschedulable?: () => boolean;
  /** WARM_POOL_MODE=adaptive: the demand estimate and its policy. Undefined: static. */
  adaptive?: AdaptivePool;
  /** Wall time only (tests); `clock` replaces every time source and timer. */
  now?: () => number;
  /** Default: the system clock. The churn benchmark runs the manager on virtual time. */
  clock?: Clock;
}

interface Waiter {
  key: AttachmentKey;
  pod?: PodMetadata;
  since: number;
  resolve: (assignment: Assignment) => void;
  reject: (error: Error) => void;
}

export class PoolManager {
  #o: ManagerOptions;
  #now: () => number;
  #clock: Clock;
  #state: PoolState = {};
  #waiters: Waiter[] = [];
  #wake?: () => void;
  #terminating = false;
  #startup = true;
  #lastPlan?: Plan;
  #lastReconcileAt: number;
  #failures = 0;
  #backoffUntil = 0;
  #lastFailure?: { at: number; message: string };
  #attaching?: Promise<void>;
  #reconcileRequested = false;
  #wakePending = false;
  /** CIDRs we gave back to EC2, by release time: reconcile must not re-adopt them. */
  readonly released = new Map<string, number>();

  constructor(options: ManagerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#now = options.now ?? this.#clock.now;
    this.#lastReconcileAt = this.#now();
  }

  get lastPlan(): Plan | undefined {
    return this.#lastPlan;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  get terminating(): boolean {
    return this.#terminating;
  }

  /** Plans once without acting (status, tests). */
  plan(): Plan {
    const view = this.#o.ds.view();
    const settings = this.#o.settings();
    const now = this.#now();
    return planPool({
      view,
      settings,
      now,
      ...(this.#o.adaptive
        ? { policy: this.#o.adaptive.policy({ settings, mode: view.mode, now }) }
        : {}),
      state: this.#state,
      pending: this.#waiters.length,
      ...(this.#hold() ? { hold: this.#hold()! } : {}),
      startup: this.#startup,
    });
  }

  /** Wakes the loop now (an ADD is waiting, a setting changed...). */
  wake(): void {
    // A wake-up during a turn of the loop must not be lost: the loop runs again at once.
    this.#wakePending = true;
    this.#wake?.();
  }

  /**
   * Reconciles with the instance at the next turn of the loop instead of waiting for the
   * interval (an operator changed ENIs or addresses by hand: `kill -HUP <ipamd>`).
   */
  requestReconcile(): void {
    this.#reconcileRequested = true;
    this.wake();
  }

  /** Stops growing and freeing ENIs; waiting ADDs fail now. The loop keeps releasing nothing. */
  terminate(): void {
    this.#terminating = true;
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reject(
        new NoAddressError("ipamd is shutting down; retry on the restarted ipamd", {
          waitedMs: this.#now() - waiter.since,
        }),
      );
    }
    this.wake();
  }

  /**
   * An address for the attachment: at once from the pool, or after waiting up to `waitMs`
   * while the pool grows. Idempotent per attachment key.
   */
  async acquire(
    key: AttachmentKey,
    options: { pod?: PodMetadata; waitMs: number; signal?: AbortSignal },
  ): Promise<{ assignment: Assignment; waitedMs: number }> {
    this.#o.adaptive?.estimator.observeAdd(this.#now());
    try {
      const assignment = this.#o.ds.assign(key, options.pod);
      // Adaptive: the planner sees each ADD now, not at the next tick.
      if (this.#o.adaptive) this.wake();
      return { assignment, waitedMs: 0 };
    } catch (error) {
      if (!(error instanceof PoolExhaustedError)) throw error;
      this.#o.metrics.noAvailableIps.inc();
      const why = this.#cannotWait(options.waitMs);
      if (why) throw new NoAddressError(why, { waitedMs: 0, cause: error });
    }
    const since = this.#now();
    const started = this.#clock.monotonic();
    const assignment = await new Promise<Assignment>((resolve, reject) => {
      const waiter: Waiter = { key, since, resolve, reject };
      if (options.pod) waiter.pod = options.pod;
      const cancelTimer = this.#clock.setTimer(() => {
        this.#drop(waiter);
        reject(
          new NoAddressError(
            `no address became free within ${duration(options.waitMs)}: ${this.#blockedReason()}`,
            { waitedMs: this.#now() - since },
          ),
        );
      }, options.waitMs);
      const onAbort = () => {
        this.#drop(waiter);
        reject(options.signal?.reason ?? new Error("request aborted"));
      };
      options.signal?.addEventListener("abort", onAbort, { once: true });
      waiter.resolve = (a) => {
        cancelTimer();
        options.signal?.removeEventListener("abort", onAbort);
        resolve(a);
      };
      waiter.reject = (e) => {
        cancelTimer();
        options.signal?.removeEventListener("abort", onAbort);
        reject(e);
      };
      this.#waiters.push(waiter);
      this.wake();
    }).catch((error) => {
      this.#o.metrics.podIpWait.labels("failed").observe(
        (this.#clock.monotonic() - started) / 1000,
      );
      throw error;
    });
    const waitedMs = this.#clock.monotonic() - started;
    this.#o.metrics.podIpWait.labels("served").observe(waitedMs / 1000);
    return { assignment, waitedMs: Math.round(waitedMs) };
  }

  /** Runs until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    signal.addEventListener("abort", () => this.wake(), { once: true });
    while (!signal.aborted) {
      this.#wakePending = false;
      await this.runOnce();
      if (signal.aborted) break;
      if (this.#wakePending) continue;
      await new Promise<void>((resolve) => {
        const cancel = this.#clock.setTimer(done, this.#sleepMs());
        this.#wake = done;
        function done() {
          cancel();
          resolve();
        }
      });
      this.#wake = undefined;
    }
    await this.#attaching;
  }

  /** Until the next turn: sooner while ADDs wait, or when a failed step's backoff ends. */
  #sleepMs(): number {
    const tick = this.#waiters.length > 0 ? WAITING_TICK_MS : TICK_MS;
    const retryIn = this.#backoffUntil - this.#now();
    return this.#lastPlan?.low && retryIn > 0 ? Math.min(tick, retryIn) : tick;
  }

  /**
   * One turn of the loop: serve waiting ADDs, plan and act until the pool needs nothing more
   * or a step fails, then reconcile if it is due or was requested. `run()` calls it on every
   * tick and wake-up; tests call it directly, with their own clock.
   */
  async runOnce(): Promise<void> {
    await this.#round();
    this.#startup = false;
    const due = this.#now() - this.#lastReconcileAt >= RECONCILE_INTERVAL_MS;
    // Not while an ENI is being attached in the background: reconcile would adopt it twice.
    if (this.#o.reconcile && !this.#attaching && (due || this.#reconcileRequested)) {
      this.#reconcileRequested = false;
      this.#lastReconcileAt = this.#now();
      await this.#tracked("nodeIPPoolReconcile", () => this.#o.reconcile!()).catch((error) =>
        this.#o.logger.warn("reconcile failed; retrying at the next interval", { error })
      );
      this.#serveWaiters();
    }
  }

  /** Plan and act until the pool needs nothing more or a step fails. */
  async #round(): Promise<void> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      this.#serveWaiters();
      const plan = this.plan();
      this.#lastPlan = plan;
      publishPoolMetrics(this.#o.metrics, this.#o.ds, this.#o.settings());
      if (plan.actions.length > 0 && round === 0) {
        this.#o.logger.debug("pool plan", { reason: plan.reason });
      }
      if (!plan.canGrow && plan.low) this.#failHopelessWaiters(plan);
      if (!this.#o.ops || !this.#o.config.provisioning || plan.actions.length === 0) return;
      if (this.#now() < this.#backoffUntil && plan.actions.some(isGrowth)) return;
      let applied = 0;
      const attachingWhenPlanned = this.#attaching !== undefined;
      for (const action of plan.actions) {
        if (action.kind === "allocate-eni" && action.count === 0) {
          this.#attachAhead(action);
          continue;
        }
        // While an ENI attaches beside the loop (or was when this plan was made, unaware of
        // it), no other attach and no detach: the instance's ENI limit counts both.
        const attaching = attachingWhenPlanned || this.#attaching !== undefined;
        if (attaching && (action.kind === "allocate-eni" || action.kind === "free-eni")) return;
        const ok = await this.#apply(action);
        applied++;
        this.#serveWaiters();
        if (!ok) return;
      }
      if (applied === 0) return;
    }
  }

  /**
   * An ENI attached ahead of demand (no addresses) runs beside the loop, so its seconds of
   * attach never hold up the assigns that waiting pods need.
   */
  #attachAhead(action: PoolAction): void {
    if (this.#attaching) return;
    this.#attaching = this.#apply(action).then(() => {}).finally(() => {
      this.#attaching = undefined;
      this.wake();
    });
  }

  /** One EC2 step and its commit; false when it failed (the caller re-plans later). */
  async #apply(action: PoolAction): Promise<boolean> {
    const { ds, logger, metrics } = this.#o;
    const ops = this.#o.ops!;
    const fn = action.kind === "release" || action.kind === "free-eni"
      ? "decreaseDatastorePool"
      : "increaseDatastorePool";
    const started = this.#clock.monotonic();
    try {
      await this.#tracked(fn, async () => {
        switch (action.kind) {
          case "assign": {
            let cidrs: string[];
            try {
              cidrs = await ops.assign(action.eniId, action);
            } catch (error) {
              // EC2 has more on the ENI than we know: take its word (upstream does the same).
              if (!isIpLimitExceeded(error)) throw error;
              cidrs = await ops.cidrsOf(action.eniId);
            }
            for (const cidr of cidrs) ds.addCidr(action.eniId, cidr);
            logger.info("addresses added", { eni: action.eniId, cidrs });
            this.#o.adaptive?.estimator.observeGrow({
              kind: "assign",
              ms: this.#clock.monotonic() - started,
              at: this.#now(),
              addresses: cidrs.length,
            });
            break;
          }
          case "allocate-eni": {
            const meta = await ops.allocateEni(action);
            await this.#o.adoptEni(meta);
            this.#o.adaptive?.estimator.observeGrow({
              kind: "allocate-eni",
              ms: this.#clock.monotonic() - started,
              at: this.#now(),
              addresses: action.count,
            });
            break;
          }
          case "release": {
            const removed: string[] = [];
            for (const cidr of action.cidrs) {
              try {
                ds.removeCidr(action.eniId, cidr);
                removed.push(cidr);
              } catch (error) {
                // Assigned or cooling since the plan: keep it.
                if (!(error instanceof AddressInUseError)) throw error;
              }
            }
            if (removed.length === 0) break;
            try {
              await ops.release(action.eniId, removed);
            } catch (error) {
              for (const cidr of removed) ds.addCidr(action.eniId, cidr);
              throw error;
            }
            for (const cidr of removed) this.released.set(cidr, this.#now());
            if (action.cause === "over-target") {
              this.#state = recordRelease(this.#state, this.#now());
            }
            logger.info("addresses released", {
              eni: action.eniId,
              cidrs: removed,
              cause: action.cause,
            });
            break;
          }
          case "free-eni": {
            try {
              ds.removeEni(action.eniId);
            } catch (error) {
              if (error instanceof AddressInUseError) break;
              throw error;
            }
            this.#o.forgetEni(action.eniId);
            await ops.freeEni(action.eniId);
            break;
          }
        }
      });
      this.#failures = 0;
      this.#backoffUntil = 0;
      this.#lastFailure = undefined;
      return true;
    } catch (error) {
      this.#lastFailure = {
        at: this.#now(),
        message: `${describeAction(action)} failed: ${
          error instanceof Error ? error.message : error
        }`,
      };
      if (isInsufficientCidrBlocks(error) || isSubnetFull(error)) {
        const code = isInsufficientCidrBlocks(error)
          ? "InsufficientCidrBlocks"
          : "InsufficientFreeAddressesInSubnet";
        this.#state = recordCapacityError(this.#state, { code, now: this.#now() });
        logger.warn("subnet capacity exhausted", { code, action: action.kind });
        return false;
      }
      metrics.ipamdErrors.labels(fn).inc();
      this.#failures++;
      const delay = Math.min(
        FAILURE_BACKOFF_MS.max,
        FAILURE_BACKOFF_MS.base * 2 ** (this.#failures - 1),
      );
      this.#backoffUntil = this.#now() + delay * (0.8 + Math.random() * 0.4);
      logger.warn("pool step failed; backing off", { action, error, retryInMs: delay });
      return false;
    }
  }

  async #tracked<T>(fn: string, work: () => Promise<T>): Promise<T> {
    const gauge = this.#o.metrics.actionInProgress.labels(fn);
    gauge.inc();
    try {
      return await work();
    } finally {
      gauge.dec();
    }
  }

  #serveWaiters(): void {
    while (this.#waiters.length > 0) {
      const waiter = this.#waiters[0]!;
      try {
        const assignment = this.#o.ds.assign(waiter.key, waiter.pod);
        this.#waiters.shift();
        waiter.resolve(assignment);
      } catch (error) {
        if (error instanceof PoolExhaustedError) return;
        this.#waiters.shift();
        waiter.reject(error as Error);
      }
    }
  }

  /** The pool cannot grow and nothing is cooling down: waiting cannot help. */
  #failHopelessWaiters(plan: Plan): void {
    if (plan.counts.cooling > 0 || this.#waiters.length === 0) return;
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reject(
        new NoAddressError(
          `no address free and the pool cannot grow: ${this.#blockedReason(plan)}`,
          {
            waitedMs: this.#now() - waiter.since,
          },
        ),
      );
    }
  }

  #cannotWait(waitMs: number): string | undefined {
    if (this.#terminating) return "ipamd is shutting down; retry on the restarted ipamd";
    const plan = this.plan();
    if (waitMs <= 0) return `no address free (POD_IP_WAIT_SECONDS=0): ${plan.reason}`;
    if (!plan.canGrow && plan.counts.cooling === 0) {
      return `no address free and the pool cannot grow: ${this.#blockedReason(plan)}`;
    }
    if (!this.#o.config.provisioning && plan.counts.cooling === 0) {
      return "no address free, and provisioning is disabled " +
        "(DISABLE_NETWORK_RESOURCE_PROVISIONING / ENABLE_IMDS_ONLY_MODE): add addresses to the " +
        "node's ENIs outside ipamd";
    }
    return undefined;
  }

  /** One line for people: the pool's state, or why it cannot grow, and the last failed step. */
  explain(): string {
    return this.#blockedReason(this.plan());
  }

  /** Why a pod gets no address: the planner's reason, and the last EC2 step that failed. */
  #blockedReason(plan = this.#lastPlan ?? this.plan()): string {
    const reason = plan.blocked?.message ?? plan.reason;
    const failure = this.#lastFailure;
    if (!failure || this.#now() - failure.at > LAST_FAILURE_RELEVANT_MS) return reason;
    return `${reason}; ${failure.message}`;
  }

  #hold(): "terminating" | "unschedulable" | undefined {
    if (this.#terminating) return "terminating";
    if (this.#o.unschedulable?.()) return "unschedulable";
    return undefined;
  }

  #drop(waiter: Waiter): void {
    const index = this.#waiters.indexOf(waiter);
    if (index >= 0) this.#waiters.splice(index, 1);
  }
}

function isGrowth(action: PoolAction): boolean {
  return action.kind === "assign" || action.kind === "allocate-eni";
}

function duration(ms: number): string {
  return ms < 10_000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
