/**
 * A node's warm pool in memory, for planner tests: a Datastore, a clock, and an "EC2" that
 * carries out every planned action at once (it enforces the instance's ENI and slot limits,
 * so a plan that breaks them fails the test). Optionally the subnet has no free /28
 * (InsufficientCidrBlocks) or no free address at all. `settle()` runs the pool manager's loop:
 * plan, apply, record, advance the clock one tick.
 */

import { Datastore } from "../../src/ipam/datastore.ts";
import { AddressInUseError, PoolExhaustedError } from "../../src/ipam/errors.ts";
import { formatIpv4, parseIpv4 } from "../../src/ipv4.ts";
import {
  type CapacityErrorCode,
  type Plan,
  planPool,
  type PoolAction,
  type PoolSettings,
  type PoolState,
  recordCapacityError,
  recordRelease,
  type WarmTargets,
} from "../../src/ipam/pool.ts";
import type { PoolPolicy } from "../../src/ipam/pool_policy.ts";
import type { PoolMode } from "../../src/ipam/view.ts";

export interface InstanceType {
  readonly name: string;
  readonly enis: number;
  /** IPv4 addresses per ENI, the primary included. */
  readonly ipv4PerEni: number;
  /** misc/eni-max-pods.txt: enis × (ipv4PerEni − 1) + 2. */
  readonly maxPods: number;
}

export const T3_SMALL: InstanceType = { name: "t3.small", enis: 3, ipv4PerEni: 4, maxPods: 11 };
export const M4_4XLARGE: InstanceType = {
  name: "m4.4xlarge",
  enis: 8,
  ipv4PerEni: 30,
  maxPods: 234,
};
export const P3DN_24XLARGE: InstanceType = {
  name: "p3dn.24xlarge",
  enis: 15,
  ipv4PerEni: 50,
  maxPods: 737,
};

export const TICK_MS = 5_000;

export interface WorldOptions {
  instance: InstanceType;
  mode?: PoolMode;
  targets?: Partial<WarmTargets>;
  /** Default: the instance's max pods. */
  maxPods?: number;
  maxEnis?: number;
  cooldownSeconds?: number;
  skipPrimary?: boolean;
  policy?: PoolPolicy;
}

export class PoolWorld {
  now = Date.UTC(2026, 0, 1);
  state: PoolState = {};
  settings: PoolSettings;
  readonly ds: Datastore;
  readonly instance: InstanceType;
  readonly policy?: PoolPolicy;
  /** The subnet has free addresses but no free /28. */
  noFreePrefixes = false;
  /** The subnet has no free address at all. */
  subnetFull = false;
  readonly calls: PoolAction[] = [];
  #pods: Array<{ containerId: string }> = [];
  #podSerial = 0;
  #nextIp = parseIpv4("10.0.64.0")!;
  #nextPrefix = parseIpv4("10.1.0.0")!;
  #eniSerial = 0;

  constructor(options: WorldOptions) {
    this.instance = options.instance;
    this.settings = {
      warmEniTarget: options.targets?.warmEniTarget ?? 1,
      warmIpTarget: options.targets?.warmIpTarget ?? 0,
      minimumIpTarget: options.targets?.minimumIpTarget ?? 0,
      warmPrefixTarget: options.targets?.warmPrefixTarget ?? 0,
      maxEnis: options.maxEnis ?? options.instance.enis,
      slotsPerEni: options.instance.ipv4PerEni - 1,
      maxPods: options.maxPods ?? options.instance.maxPods,
      skipPrimary: options.skipPrimary ?? false,
      unmanagedEnis: 0,
      reservedEniSlots: 0,
    };
    if (options.policy) this.policy = options.policy;
    this.ds = new Datastore({
      mode: options.mode ?? "secondary-ip",
      cooldownMs: (options.cooldownSeconds ?? 30) * 1000,
      now: () => this.now,
    });
    this.#attachEni(); // the primary ENI, with no secondary addresses yet
  }

  /** Plans once (with `pending` waiting ADDs) and applies the whole plan. */
  step(options: { pending?: number; startup?: boolean } = {}): Plan {
    const plan = planPool({
      view: this.ds.view(),
      settings: this.settings,
      state: this.state,
      now: this.now,
      ...(options.pending ? { pending: options.pending } : {}),
      ...(options.startup ? { startup: true } : {}),
      ...(this.policy ? { policy: this.policy } : {}),
    });
    for (const action of plan.actions) {
      if (!this.#apply(action)) break;
    }
    return plan;
  }

  /** The pool manager loop for `ms` of simulated time, one plan per tick. */
  settle(ms = 5 * 60_000): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.step();
      this.now += TICK_MS;
    }
  }

  /** Pods arrive one per tick; an ADD that finds no address waits while the pool grows. */
  addPods(count: number): void {
    for (let i = 0; i < count; i++) {
      const containerId = `c${++this.#podSerial}`;
      const key = { networkName: "aws-cni", containerId, ifName: "eth0" };
      for (let attempt = 0;; attempt++) {
        try {
          this.ds.assign(key, { podNamespace: "default", podName: `pod-${containerId}` });
          break;
        } catch (error) {
          if (!(error instanceof PoolExhaustedError) || attempt > 50) throw error;
          this.step({ pending: 1 });
          this.now += 1_000;
        }
      }
      this.#pods.push({ containerId });
      this.step();
      this.now += TICK_MS;
    }
  }

  /** The newest pods go away. */
  deletePods(count: number): void {
    for (const pod of this.#pods.splice(this.#pods.length - count, count)) {
      this.ds.release({ networkName: "aws-cni", containerId: pod.containerId, ifName: "eth0" });
    }
  }

  get pods(): number {
    return this.#pods.length;
  }

  /** ENIs with their /32 count and prefix count, and the pool totals. */
  summary(): {
    enis: number;
    ips: number[];
    prefixes: number[];
    perPrefix: number[];
    total: number;
    available: number;
  } {
    const view = this.ds.view();
    const stats = this.ds.stats();
    return {
      enis: view.enis.length,
      ips: view.enis.map((e) => e.cidrs.filter((c) => !c.isPrefix).length),
      prefixes: view.enis.map((e) => e.cidrs.filter((c) => c.isPrefix).length),
      perPrefix: view.enis.flatMap((e) => e.cidrs.filter((c) => c.isPrefix).map((c) => c.assigned)),
      total: stats.total,
      available: stats.available,
    };
  }

  #attachEni(): string {
    const device = this.#eniSerial++;
    const id = `eni-${String(device).padStart(4, "0")}`;
    if (this.ds.view().enis.length >= this.instance.enis) {
      throw new Error(
        `AttachmentLimitExceeded: ${this.instance.name} takes ${this.instance.enis} ENIs`,
      );
    }
    this.ds.addEni({ id, deviceNumber: device, createdAt: this.now });
    return id;
  }

  #addResources(eniId: string, options: { unit: "ip" | "prefix"; count: number }): void {
    const { unit, count } = options;
    const eni = this.ds.view().enis.find((e) => e.id === eniId)!;
    if (eni.cidrs.length + count > this.instance.ipv4PerEni - 1) {
      throw new Error(`PrivateIpAddressLimitExceeded on ${eniId}: ${eni.cidrs.length} + ${count}`);
    }
    for (let i = 0; i < count; i++) {
      if (unit === "ip") {
        this.ds.addCidr(eniId, formatIpv4(this.#nextIp++));
      } else {
        this.ds.addCidr(eniId, `${formatIpv4(this.#nextPrefix)}/28`);
        this.#nextPrefix += 16;
      }
    }
  }

  /** Carries out one action like EC2 would; false when EC2 refused it (state recorded). */
  #apply(action: PoolAction): boolean {
    this.calls.push(action);
    const refuse = (code: CapacityErrorCode) => {
      this.state = recordCapacityError(this.state, { code, now: this.now });
      return false;
    };
    switch (action.kind) {
      case "assign":
      case "allocate-eni": {
        if (this.subnetFull) return refuse("InsufficientFreeAddressesInSubnet");
        if (action.unit === "prefix" && this.noFreePrefixes) {
          return refuse("InsufficientCidrBlocks");
        }
        const eniId = action.kind === "assign" ? action.eniId : this.#attachEni();
        this.#addResources(eniId, { unit: action.unit, count: action.count });
        return true;
      }
      case "release":
        for (const cidr of action.cidrs) {
          try {
            this.ds.removeCidr(action.eniId, cidr);
          } catch (error) {
            if (!(error instanceof AddressInUseError)) throw error;
          }
        }
        if (action.cause === "over-target") this.state = recordRelease(this.state, this.now);
        return true;
      case "free-eni":
        this.ds.removeEni(action.eniId);
        return true;
    }
  }
}
