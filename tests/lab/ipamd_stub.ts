/**
 * A small stateful stand-in for ipamd behind the real RPC server, for aws-cni's tests until
 * the real daemon exists: a fixed pool of addresses, assignments keyed like ipamd's
 * (network, container, ifname), every call recorded, failures injectable.
 */
import { RpcServer } from "../../src/rpc/server.ts";
import {
  type AddParams,
  type Allocation,
  type DelParams,
  type GcParams,
  RpcError,
  type StatusResult,
} from "../../src/rpc/protocol.ts";

export interface StubAddress {
  ip: string;
  deviceNumber?: number;
  routeTableId?: number;
}

export interface IpamdStubOptions {
  /** Addresses to hand out, in order. */
  pool: StubAddress[];
  /** Allocations per ADD (2 = a multi-NIC pod). */
  perPod?: number;
  status?: Partial<StatusResult>;
}

export interface Call {
  method: string;
  params: Record<string, unknown>;
}

export class IpamdStub implements AsyncDisposable {
  readonly server: RpcServer;
  readonly calls: Call[] = [];
  readonly held = new Map<string, Allocation[]>();
  /** Throw this from the next call of the method (once). */
  readonly failNext = new Map<string, RpcError>();
  status: StatusResult;
  #free: Allocation[];
  #perPod: number;
  #dir: string;

  private constructor(server: RpcServer, dir: string, options: IpamdStubOptions) {
    this.server = server;
    this.#dir = dir;
    this.#free = options.pool.map((a) => ({
      ipv4: a.ip,
      deviceNumber: a.deviceNumber ?? 0,
      routeTableId: a.routeTableId ?? 254,
    }));
    this.#perPod = options.perPod ?? 1;
    this.status = {
      version: "stub",
      ready: true,
      terminating: false,
      mode: "secondary-ip",
      totalIPs: options.pool.length,
      assignedIPs: 0,
      availableIPs: options.pool.length,
      cooldownIPs: 0,
      enis: 1,
      maxENIs: 3,
      canGrow: true,
      ...options.status,
    };
  }

  get socketPath(): string {
    return this.server.path;
  }

  static async start(options: IpamdStubOptions): Promise<IpamdStub> {
    const dir = await Deno.makeTempDir({ prefix: "tcni-ipamd-" });
    const ref: { stub?: IpamdStub } = {};
    const call = <T>(method: string, params: unknown, fn: () => T): T => {
      ref.stub!.calls.push({ method, params: params as Record<string, unknown> });
      const failure = ref.stub!.failNext.get(method);
      if (failure) {
        ref.stub!.failNext.delete(method);
        throw failure;
      }
      return fn();
    };
    const server = await RpcServer.listen(`${dir}/ipamd.sock`, {
      "ipam.add": (p) => call("ipam.add", p, () => ref.stub!.#add(p)),
      "ipam.del": (p) => call("ipam.del", p, () => ref.stub!.#del(p)),
      "ipam.get": (p) =>
        call("ipam.get", p, () => {
          const held = ref.stub!.held.get(keyOf(p));
          if (!held) throw new RpcError("UnknownAttachment", `no assignment for ${keyOf(p)}`);
          return { allocations: held, podName: "", podNamespace: "" };
        }),
      "ipam.gc": (p) => call("ipam.gc", p, () => ref.stub!.#gc(p)),
      "ipam.status": (p) => call("ipam.status", p, () => ref.stub!.status),
    });
    ref.stub = new IpamdStub(server, dir, options);
    return ref.stub;
  }

  #add(p: AddParams) {
    const key = keyOf(p);
    if (this.held.has(key)) return this.#reply(this.held.get(key)!);
    if (this.#free.length < this.#perPod) {
      throw new RpcError("NoAvailableAddress", "the stub's pool is empty");
    }
    const allocations = this.#free.splice(0, this.#perPod);
    this.held.set(key, allocations);
    return this.#reply(allocations);
  }

  #reply(allocations: Allocation[]) {
    return { allocations, useExternalSnat: false, vpcCidrs: ["10.213.0.0/16"], waitedMs: 0 };
  }

  #del(p: DelParams) {
    const key = keyOf(p);
    const held = this.held.get(key);
    if (!held) throw new RpcError("UnknownAttachment", `no assignment for ${key}`);
    this.held.delete(key);
    this.#free.push(...held);
    return { released: held };
  }

  #gc(p: GcParams) {
    const valid = new Set(
      p.validAttachments.map((a) => `${p.networkName}/${a.containerId}/${a.ifName}`),
    );
    const released = [];
    for (const [key, allocations] of this.held) {
      if (!key.startsWith(`${p.networkName}/`) || valid.has(key)) continue;
      const [networkName, containerId, ifName] = key.split("/") as [string, string, string];
      this.held.delete(key);
      this.#free.push(...allocations);
      released.push(...allocations.map((a) => ({ networkName, containerId, ifName, ...a })));
    }
    return { released };
  }

  callsOf(method: string): Array<Record<string, unknown>> {
    return this.calls.filter((c) => c.method === method).map((c) => c.params);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.server.close({ deadlineMs: 1000 });
    await Deno.remove(this.#dir, { recursive: true });
  }
}

function keyOf(p: { networkName: string; containerId: string; ifName: string }): string {
  return `${p.networkName}/${p.containerId}/${p.ifName}`;
}
