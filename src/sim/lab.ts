/**
 * The lab: network namespaces standing for the VPC fabric (one router) and EC2 instances
 * (nodes), wired with veth pairs; nothing links to the host namespace. Built only with ffi/
 * (no `ip` processes). See SIM_CONTRACT.md §1.
 *
 *   const lab = Lab.create({ prefix: "vpcsim" });          // id random, state /run/vpcsim/<id>
 *   lab.addRouter();                                       // <prefix>-<id>-r
 *   const n1 = lab.addNode({ name, primaryIp: "10.10.0.11", prefixLen: 20,
 *                            gateway: "10.10.0.1", mac: "02:..." });  // <prefix>-<id>-n1
 *   lab.attach(n1, { deviceIndex: 1, mac, gateway });      // eth1 in n1 (down, no address)
 *   lab.route(n1, 1, "10.10.0.64/28", { eniPrimaryIp, mac });  // router: via ENI, onlink
 *   lab.unroute(n1, 1, "10.10.0.64/28"); lab.detach(n1, 1);
 *   lab.destroy();                                         // every namespace, the state dir
 *
 * Router: ip_forward=1, rp_filter=0, proxy_arp=1 (no proxy delay) on every link (set as the
 * router's defaults, which links inherit when they appear), `lo` up with 169.254.169.254,
 * 198.51.100.10 (EC2) and 198.51.100.100 (internet host). Each ENI is a veth `eth<d>` in the
 * node with peer `n<k>d<d>` in the router carrying the subnet gateway as a /32 (no prefix
 * route). The router reaches an ENI's primary IP by a /32 route on the peer and a permanent
 * neighbour entry (so it never ARPs), and every other address of the ENI via that primary IP.
 *
 * Guard: every namespace the lab opens is checked against the namespace the process started
 * in; a lab never opens a socket on the host's namespace. Sockets stay open for the lab's
 * life, so later operations cannot land anywhere else either.
 */

import {
  createNetns,
  Netlink,
  type Netlink as NetlinkType,
  netnsId,
  netnsPath,
  startNetnsId,
  withNetns,
  writeSysctl,
} from "../../ffi/mod.ts";
import { type Logger, silentLogger } from "../ops/log.ts";
import {
  defaultRunDir,
  existingNamespaces,
  type LabRecord,
  processStart,
  readRecord,
  removeLab,
  sweepStale,
  writeRecord,
} from "./lab_state.ts";

export const IMDS_ADDRESS = "169.254.169.254";
export const EC2_ADDRESS = "198.51.100.10";
export const INTERNET_ADDRESS = "198.51.100.100";
const DEFAULT_MTU = 9001;
const MAX_DEVICES = 99;

export interface LabOptions {
  /** Namespace and state-dir prefix (default "vpcsim"): lowercase letters and digits. */
  prefix?: string;
  /** Default: 6 random lowercase letters and digits. */
  id?: string;
  /** Default /run/<prefix>/<id>; removed by destroy(). */
  stateDir?: string;
  logger?: Logger;
}

export interface LabRouter {
  netns: string;
  netnsPath: string;
}

export interface NodeSpec {
  name: string;
  primaryIp: string;
  /** Prefix length of the node's subnet: eth0 gets primaryIp/prefixLen. */
  prefixLen: number;
  /** Subnet gateway (subnet base + 1). */
  gateway: string;
  /** MAC of the primary ENI. */
  mac: string;
  mtu?: number;
}

export interface LabNode {
  name: string;
  /** k in <prefix>-<id>-n<k> and n<k>d<d>. */
  index: number;
  netns: string;
  netnsPath: string;
  /** <lab stateDir>/n<k>, for the node's own files. */
  stateDir: string;
  primaryIp: string;
  mac: string;
}

export interface AttachSpec {
  deviceIndex: number;
  mac: string;
  gateway: string;
  mtu?: number;
}

/** The guard refused a namespace: it is the one the process started in. */
export class HostNamespaceError extends Error {
  readonly netnsPath: string;
  constructor(netnsPath: string, op: string) {
    super(
      `${op}: refusing ${netnsPath}: it is the namespace this process started in (the host's); ` +
        "the lab only touches namespaces it created",
    );
    this.name = "HostNamespaceError";
    this.netnsPath = netnsPath;
  }
}

/** Throws HostNamespaceError when `path` is the namespace the process started in. */
export function assertNotHostNetns(path: string, op: string): void {
  if (netnsId(path) === startNetnsId()) throw new HostNamespaceError(path, op);
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

// Checked before any namespace or link is made for the request.
function checkMac(mac: string, op: string): void {
  if (!MAC.test(mac)) throw new TypeError(`lab: ${op}: "${mac}" is not a MAC address`);
}

const PREFIX = /^[a-z][a-z0-9]{0,15}$/;
const ID = /^[a-z0-9]{1,12}$/;

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (b) => "abcdefghijklmnopqrstuvwxyz0123456789"[b % 36]).join("");
}

interface NodeState {
  info: LabNode;
  nl: NetlinkType;
  devices: Map<number, { mac: string; gateway: string }>;
}

export class Lab implements Disposable {
  readonly prefix: string;
  readonly id: string;
  readonly stateDir: string;
  #logger: Logger;
  #record: LabRecord;
  #router?: { info: LabRouter; nl: NetlinkType };
  #nodes = new Map<number, NodeState>();
  #destroyed = false;

  private constructor(prefix: string, id: string, stateDir: string, logger: Logger) {
    this.prefix = prefix;
    this.id = id;
    this.stateDir = stateDir;
    this.#logger = logger;
    this.#record = { prefix, id, pid: Deno.pid, pidStart: processStart(Deno.pid), namespaces: [] };
  }

  /** Claims the state directory (refused while another live process owns it). */
  static create(options: LabOptions = {}): Lab {
    const prefix = options.prefix ?? "vpcsim";
    const id = options.id ?? randomId();
    if (!PREFIX.test(prefix)) {
      throw new TypeError(`lab prefix "${prefix}" is invalid: 1-16 lowercase letters/digits`);
    }
    if (!ID.test(id)) {
      throw new TypeError(`lab id "${id}" is invalid: 1-12 lowercase letters/digits`);
    }
    const stateDir = options.stateDir ?? `${defaultRunDir(prefix)}/${id}`;
    const taken = existingNamespaces(`${prefix}-${id}-`);
    if (taken.length > 0) {
      throw new Deno.errors.AlreadyExists(
        `lab ${prefix}-${id}: namespaces ${taken.join(", ")} already exist; pick another id`,
      );
    }
    Deno.mkdirSync(stateDir, { recursive: true, mode: 0o755 });
    const previous = readRecord(stateDir);
    if (previous) {
      throw new Deno.errors.AlreadyExists(
        `lab ${prefix}-${id}: ${stateDir} belongs to an existing lab (pid ${previous.pid}); ` +
          `pick another id, or run Lab.sweepStale("${prefix}") if its owner is gone`,
      );
    }
    const lab = new Lab(prefix, id, stateDir, options.logger ?? silentLogger);
    writeRecord(stateDir, lab.#record);
    lab.#logger.info("lab: created", { lab: `${prefix}-${id}`, stateDir });
    return lab;
  }

  /** Removes the labs of `prefix` whose owner process is gone; returns their ids. */
  static sweepStale(prefix: string, options?: { runDir?: string; logger?: Logger }): string[] {
    return sweepStale(prefix, options);
  }

  get router(): LabRouter | undefined {
    return this.#router?.info;
  }

  get nodes(): LabNode[] {
    return [...this.#nodes.values()].map((n) => n.info);
  }

  #alive(op: string): void {
    if (this.#destroyed) throw new Error(`lab ${this.prefix}-${this.id}: ${op} after destroy()`);
  }

  /** Records, creates and guards a namespace; returns a socket in it. */
  #namespace(suffix: string, op: string): { name: string; path: string; nl: NetlinkType } {
    const name = `${this.prefix}-${this.id}-${suffix}`;
    const path = netnsPath(name);
    this.#record.namespaces.push(name);
    writeRecord(this.stateDir, this.#record); // before creating: a crash leaves it findable
    try {
      createNetns(name);
    } catch (e) {
      // Not ours (EEXIST) or not made: destroy() must not delete it.
      this.#record.namespaces.pop();
      writeRecord(this.stateDir, this.#record);
      throw e;
    }
    assertNotHostNetns(path, op);
    const nl = Netlink.openIn(path);
    try {
      nl.setUp("lo");
    } catch (e) {
      nl.close();
      throw e;
    }
    return { name, path, nl };
  }

  #routerNl(op: string): NetlinkType {
    this.#alive(op);
    if (!this.#router) throw new Error(`lab: ${op} needs the router: call addRouter() first`);
    return this.#router.nl;
  }

  #node(node: LabNode | number, op: string): NodeState {
    this.#alive(op);
    const k = typeof node === "number" ? node : node.index;
    const state = this.#nodes.get(k);
    if (!state) throw new Error(`lab: ${op}: no node n${k} in lab ${this.prefix}-${this.id}`);
    return state;
  }

  /** The VPC router namespace (once per lab). */
  addRouter(options: { addresses?: string[] } = {}): LabRouter {
    this.#alive("addRouter");
    if (this.#router) return this.#router.info;
    const { name, path, nl } = this.#namespace("r", "addRouter");
    this.#router = { info: { netns: name, netnsPath: path }, nl };
    withNetns(path, () => {
      writeSysctl("net.ipv4.ip_forward", "1");
      for (const scope of ["all", "default"]) {
        writeSysctl(`net.ipv4.conf.${scope}.rp_filter`, "0");
        writeSysctl(`net.ipv4.conf.${scope}.proxy_arp`, "1");
      }
    });
    for (const ip of [IMDS_ADDRESS, EC2_ADDRESS, INTERNET_ADDRESS, ...(options.addresses ?? [])]) {
      this.addRouterAddress(ip.includes("/") ? ip : `${ip}/32`);
    }
    this.#logger.info("lab: router ready", { netns: name });
    return this.#router.info;
  }

  /** An address on the router's `lo` (IMDS, EC2 endpoint, "internet" hosts...). */
  addRouterAddress(cidr: string): void {
    this.#routerNl("addRouterAddress").ensureAddress("lo", cidr);
  }

  /** An instance: namespace n<k> with lo up and its primary ENI eth0 wired to the router. */
  addNode(spec: NodeSpec): LabNode {
    const router = this.#routerNl("addNode");
    const k = Math.max(0, ...this.#nodes.keys()) + 1;
    const op = `addNode ${spec.name}`;
    if (!Number.isInteger(spec.prefixLen) || spec.prefixLen < 1 || spec.prefixLen > 32) {
      throw new TypeError(`${op}: prefixLen ${spec.prefixLen} is invalid (1-32)`);
    }
    checkMac(spec.mac, op);
    const { name, path, nl } = this.#namespace(`n${k}`, op);
    const stateDir = `${this.stateDir}/n${k}`;
    Deno.mkdirSync(stateDir, { recursive: true, mode: 0o755 });
    const info: LabNode = {
      name: spec.name,
      index: k,
      netns: name,
      netnsPath: path,
      stateDir,
      primaryIp: spec.primaryIp,
      mac: spec.mac.toLowerCase(),
    };
    const state: NodeState = { info, nl, devices: new Map() };
    this.#nodes.set(k, state);
    this.#wire(state, 0, { deviceIndex: 0, mac: spec.mac, gateway: spec.gateway, mtu: spec.mtu });
    nl.setUp("eth0");
    nl.addAddress("eth0", `${spec.primaryIp}/${spec.prefixLen}`);
    nl.addRoute({ dst: "default", gateway: spec.gateway, link: "eth0" });
    // A Kubernetes node image forwards packets (kubelet requires it; the EKS AMI sets it).
    withNetns(path, () => writeSysctl("net.ipv4.ip_forward", "1"));
    this.#routeEniPrimary(router, k, 0, spec.primaryIp, spec.mac);
    this.#logger.info("lab: node ready", { node: spec.name, netns: name, ip: spec.primaryIp });
    return info;
  }

  /** veth eth<d> (node side, down) <-> n<k>d<d> (router side, up, gateway /32). */
  #wire(node: NodeState, d: number, spec: AttachSpec): void {
    const router = this.#router!;
    const peer = `n${node.info.index}d${d}`;
    node.nl.createVeth({
      name: `eth${d}`,
      peerName: peer,
      mac: spec.mac,
      mtu: spec.mtu ?? DEFAULT_MTU,
      peerNetns: router.info.netnsPath,
      peerUp: true,
    });
    router.nl.addAddress(peer, `${spec.gateway}/32`, { noPrefixRoute: true });
    // Proxy ARP answers after a random delay of up to 0.8 s by default; the VPC answers at
    // once. (A namespace has no neigh/default to inherit from: set it per link.)
    withNetns(router.info.netnsPath, () => writeSysctl(`net/ipv4/neigh/${peer}/proxy_delay`, "0"));
    node.devices.set(d, { mac: spec.mac.toLowerCase(), gateway: spec.gateway });
  }

  /** AttachNetworkInterface: eth<d> appears in the node, down and without an address. */
  attach(node: LabNode | number, spec: AttachSpec): void {
    const op = `attach device ${spec.deviceIndex}`;
    const state = this.#node(node, op);
    this.#routerNl(op);
    const d = spec.deviceIndex;
    if (!Number.isInteger(d) || d < 1 || d > MAX_DEVICES) {
      throw new TypeError(`lab: ${op}: deviceIndex must be 1-${MAX_DEVICES}`);
    }
    checkMac(spec.mac, op);
    if (state.devices.has(d)) {
      throw new Deno.errors.AlreadyExists(`lab: ${op}: n${state.info.index} already has eth${d}`);
    }
    this.#wire(state, d, spec);
    this.#logger.debug("lab: attached", { node: state.info.name, device: d, mac: spec.mac });
  }

  /** DetachNetworkInterface: removes the pair (and with it the router's routes over it). */
  detach(node: LabNode | number, deviceIndex: number): void {
    const state = this.#node(node, `detach device ${deviceIndex}`);
    const router = this.#routerNl("detach");
    if (deviceIndex === 0) throw new TypeError("lab: detach: eth0 (the primary ENI) stays");
    router.deleteLinkIfExists(`n${state.info.index}d${deviceIndex}`);
    state.devices.delete(deviceIndex);
    this.#logger.debug("lab: detached", { node: state.info.name, device: deviceIndex });
  }

  #routeEniPrimary(router: NetlinkType, k: number, d: number, ip: string, mac: string): void {
    const peer = `n${k}d${d}`;
    router.replaceRoute({ dst: `${ip}/32`, link: peer });
    router.replaceNeighbour({ link: peer, ip, mac });
  }

  /**
   * The router delivers `cidr` (a /32 or a /28 prefix) to the ENI eth<d> of the node, via the
   * ENI's primary IP, which it reaches by a /32 route and a permanent neighbour entry.
   */
  route(
    node: LabNode | number,
    deviceIndex: number,
    cidr: string,
    eni: { eniPrimaryIp: string; mac: string },
  ): void {
    const op = `route ${cidr} to device ${deviceIndex}`;
    const state = this.#node(node, op);
    const router = this.#routerNl(op);
    if (!state.devices.has(deviceIndex)) {
      throw new Error(`lab: ${op}: n${state.info.index} has no eth${deviceIndex}`);
    }
    const k = state.info.index;
    this.#routeEniPrimary(router, k, deviceIndex, eni.eniPrimaryIp, eni.mac);
    const dst = cidr.includes("/") ? cidr : `${cidr}/32`;
    if (dst !== `${eni.eniPrimaryIp}/32`) {
      router.replaceRoute({
        dst,
        gateway: eni.eniPrimaryIp,
        link: `n${k}d${deviceIndex}`,
        onlink: true,
      });
    }
  }

  /** Undoes route(); a route already gone (or moved to another ENI) is left alone. */
  unroute(node: LabNode | number, deviceIndex: number, cidr: string): void {
    const op = `unroute ${cidr} from device ${deviceIndex}`;
    const state = this.#node(node, op);
    const router = this.#routerNl(op);
    const peer = `n${state.info.index}d${deviceIndex}`;
    const dst = cidr.includes("/") ? cidr : `${cidr}/32`;
    router.deleteRouteIfExists({ dst, link: peer });
    if (dst.endsWith("/32")) router.deleteNeighbourIfExists({ link: peer, ip: dst.slice(0, -3) });
  }

  /** Removes every namespace and the state directory; safe to call again. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const node of this.#nodes.values()) node.nl.close();
    this.#router?.nl.close();
    const failures = removeLab(this.stateDir, this.#record, this.#logger);
    this.#logger.info("lab: destroyed", { lab: `${this.prefix}-${this.id}` });
    if (failures.length > 0) {
      throw new AggregateError(
        failures,
        `lab ${this.prefix}-${this.id}: destroy left things behind`,
      );
    }
  }

  [Symbol.dispose](): void {
    this.destroy();
  }
}
