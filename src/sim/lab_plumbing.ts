/**
 * The simulator's plumbing on the real lab (src/sim/lab.ts): a router namespace and one
 * namespace per instance, ENIs as veth pairs, addresses routed to the ENI that owns them.
 */
import { withNetns } from "../../ffi/mod.ts";
import type { Logger } from "../ops/log.ts";
import { Lab, type LabNode } from "./lab.ts";
import type { LabPlumbing, NodeNetwork, NodeSpec } from "./plumbing.ts";
import type { LabFactory } from "./sim.ts";

/** Sweeps labs left by dead simulators, then returns a factory for this run's lab. */
export function labFactory(
  options: { prefix: string; stateRoot: string; logger?: Logger },
): LabFactory {
  Lab.sweepStale(options.prefix, { runDir: options.stateRoot, logger: options.logger });
  return (labId, logger) =>
    new NamespaceLab(
      Lab.create({
        prefix: options.prefix,
        id: labId,
        stateDir: `${options.stateRoot}/${labId}`,
        logger,
      }),
    );
}

class NamespaceLab implements LabPlumbing {
  #lab: Lab;
  #nodes = new Map<string, LabNode>();
  readonly routerNetns: string;
  readonly routerNetnsPath: string;

  constructor(lab: Lab) {
    this.#lab = lab;
    try {
      const router = lab.addRouter();
      this.routerNetns = router.netns;
      this.routerNetnsPath = router.netnsPath;
    } catch (e) {
      lab.destroy();
      throw e;
    }
  }

  addNode(spec: NodeSpec): NodeNetwork {
    const node = this.#lab.addNode({
      name: spec.name,
      primaryIp: spec.primaryIp,
      prefixLen: spec.prefixLen,
      gateway: spec.gateway,
      mac: spec.mac,
    });
    this.#nodes.set(spec.nodeKey, node);
    return { netns: node.netns, netnsPath: node.netnsPath };
  }

  attach(nodeKey: string, options: { deviceIndex: number; mac: string; gateway: string }): void {
    this.#lab.attach(this.#node(nodeKey), {
      deviceIndex: options.deviceIndex,
      mac: options.mac,
      gateway: options.gateway,
    });
  }

  detach(nodeKey: string, deviceIndex: number): void {
    this.#lab.detach(this.#node(nodeKey), deviceIndex);
  }

  route(
    nodeKey: string,
    deviceIndex: number,
    cidr: string,
    eni: { eniPrimaryIp: string; mac: string },
  ): void {
    this.#lab.route(this.#node(nodeKey), deviceIndex, cidr, {
      eniPrimaryIp: eni.eniPrimaryIp,
      mac: eni.mac,
    });
  }

  unroute(nodeKey: string, deviceIndex: number, cidr: string): void {
    this.#lab.unroute(this.#node(nodeKey), deviceIndex, cidr);
  }

  inRouter<T>(fn: () => T): T {
    return withNetns(this.routerNetnsPath, fn);
  }

  destroy(): void {
    this.#lab.destroy();
  }

  #node(nodeKey: string): LabNode {
    const node = this.#nodes.get(nodeKey);
    if (!node) throw new Error(`lab: no node ${nodeKey}`);
    return node;
  }
}
