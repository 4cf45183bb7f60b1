/**
 * What the simulator needs from the lab (SIM_CONTRACT §1), as a small interface: the real
 * implementation drives network namespaces (lab_plumbing.ts); `RecordingPlumbing` only
 * records, for `--no-lab` runs and unit tests.
 */
import type { Logger } from "../ops/log.ts";
import type { Effect } from "./vpc.ts";

export interface NodeNetwork {
  netns: string;
  netnsPath: string;
}

export interface NodeSpec {
  nodeKey: string;
  /** The instance's host name (private DNS name). */
  name: string;
  mac: string;
  primaryIp: string;
  prefixLen: number;
  gateway: string;
}

export interface LabPlumbing {
  /** Router namespace path, when there is a lab. */
  readonly routerNetnsPath?: string;
  readonly routerNetns?: string;
  /** Namespace for a new instance, with its primary ENI eth0 wired to the router. */
  addNode(spec: NodeSpec): NodeNetwork;
  attach(nodeKey: string, options: { deviceIndex: number; mac: string; gateway: string }): void;
  detach(nodeKey: string, deviceIndex: number): void;
  route(
    nodeKey: string,
    deviceIndex: number,
    cidr: string,
    options: { eniPrimaryIp: string; mac: string },
  ): void;
  unroute(nodeKey: string, deviceIndex: number, cidr: string): void;
  /** Runs fn (synchronous) with the thread in the router namespace: listeners bind there. */
  inRouter?<T>(fn: () => T): T;
  /** Removes everything; idempotent. */
  destroy(): void;
}

/** Applies effects in order; stops at the first failure and returns it. */
export function applyEffects(
  plumbing: LabPlumbing,
  effects: Effect[],
  logger: Logger,
): Error | undefined {
  for (const effect of effects) {
    try {
      switch (effect.kind) {
        case "attach":
          plumbing.attach(effect.nodeKey, effect);
          break;
        case "detach":
          plumbing.detach(effect.nodeKey, effect.deviceIndex);
          break;
        case "route":
          plumbing.route(effect.nodeKey, effect.deviceIndex, effect.cidr, effect);
          break;
        case "unroute":
          plumbing.unroute(effect.nodeKey, effect.deviceIndex, effect.cidr);
          break;
      }
      logger.debug("lab", { ...effect });
    } catch (e) {
      logger.error("lab change failed", { effect, error: e });
      return e instanceof Error ? e : new Error(String(e));
    }
  }
  return undefined;
}

/** No namespaces: remembers the calls and the resulting per-node devices and routes. */
export class RecordingPlumbing implements LabPlumbing {
  readonly calls: { op: string; nodeKey?: string; args: unknown }[] = [];
  /** nodeKey -> deviceIndex -> MAC */
  readonly devices = new Map<string, Map<number, string>>();
  /** nodeKey -> "dev|cidr" */
  readonly routes = new Map<string, Set<string>>();
  addNode(spec: NodeSpec): NodeNetwork {
    this.calls.push({ op: "addNode", nodeKey: spec.nodeKey, args: spec });
    this.devices.set(spec.nodeKey, new Map([[0, spec.mac]]));
    this.routes.set(spec.nodeKey, new Set([`0|${spec.primaryIp}/32`]));
    return { netns: "", netnsPath: "" }; // no namespace exists: say so
  }

  attach(nodeKey: string, options: { deviceIndex: number; mac: string; gateway: string }): void {
    this.calls.push({ op: "attach", nodeKey, args: options });
    const devs = this.#node(nodeKey, this.devices);
    if (devs.has(options.deviceIndex)) {
      throw new Error(`${nodeKey}: eth${options.deviceIndex} exists`);
    }
    devs.set(options.deviceIndex, options.mac);
  }

  detach(nodeKey: string, deviceIndex: number): void {
    this.calls.push({ op: "detach", nodeKey, args: { deviceIndex } });
    this.#node(nodeKey, this.devices).delete(deviceIndex);
    const routes = this.#node(nodeKey, this.routes);
    for (const r of routes) if (r.startsWith(`${deviceIndex}|`)) routes.delete(r);
  }

  route(
    nodeKey: string,
    deviceIndex: number,
    cidr: string,
    options: { eniPrimaryIp: string; mac: string },
  ): void {
    this.calls.push({ op: "route", nodeKey, args: { deviceIndex, cidr, ...options } });
    this.#node(nodeKey, this.routes).add(`${deviceIndex}|${cidr}`);
  }

  unroute(nodeKey: string, deviceIndex: number, cidr: string): void {
    this.calls.push({ op: "unroute", nodeKey, args: { deviceIndex, cidr } });
    this.#node(nodeKey, this.routes).delete(`${deviceIndex}|${cidr}`);
  }

  destroy(): void {
    this.calls.push({ op: "destroy", args: {} });
  }

  #node<T>(nodeKey: string, map: Map<string, T>): T {
    const v = map.get(nodeKey);
    if (!v) throw new Error(`unknown node ${nodeKey}`);
    return v;
  }
}
