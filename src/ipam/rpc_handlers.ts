/**
 * ipamd's JSON-RPC methods (src/rpc/protocol.ts) over the datastore and the pool manager, and
 * the one table that turns ipamd's typed errors into RPC errors.
 */
import type { Config } from "../config.ts";
import type { Metrics } from "../ops/metrics.ts";
import type {
  AddParams,
  AddResult,
  Allocation,
  DelParams,
  DelResult,
  GcParams,
  GcResult,
  GetParams,
  GetResult,
  StatusResult,
} from "../rpc/protocol.ts";
import { RpcError } from "../rpc/protocol.ts";
import type { Handlers } from "../rpc/server.ts";
import { VERSION } from "../version.ts";
import type { Assignment } from "./datastore_types.ts";
import {
  AddressInUseError,
  CidrConflictError,
  PersistError,
  PoolExhaustedError,
  UnknownAttachmentError,
} from "./errors.ts";
import { NoAddressError, type PoolManager } from "./manager.ts";
import type { NodeRuntime } from "./node_init.ts";

export interface HandlerContext {
  config: Pick<Config, "podIpWaitSeconds" | "externalSnat" | "excludeSnatCidrs">;
  metrics: Metrics;
  /** Resolves once the node is initialised; ADDs arriving earlier wait for it. */
  ready: Promise<{ node: NodeRuntime; manager: PoolManager }>;
  /** Undefined until initialised. */
  current: () => { node: NodeRuntime; manager: PoolManager } | undefined;
}

export function rpcHandlers(context: HandlerContext): Handlers {
  const { config, metrics } = context;
  return {
    "ipam.add": async (params: AddParams, request): Promise<AddResult> => {
      metrics.addRequests.inc();
      const started = performance.now();
      const waitMs = params.waitMs ?? config.podIpWaitSeconds * 1000;
      try {
        // A pod scheduled while ipamd starts waits for it instead of failing.
        const { node, manager } = context.current() ??
          await withDeadline(context.ready, waitMs, request.signal);
        const key = {
          networkName: params.networkName,
          containerId: params.containerId,
          ifName: params.ifName,
        };
        const remaining = Math.max(0, Math.round(waitMs - (performance.now() - started)));
        const { assignment, waitedMs } = await manager.acquire(key, {
          pod: { podNamespace: params.podNamespace, podName: params.podName },
          waitMs: remaining,
          signal: request.signal,
        });
        metrics.addLatency.labels("ok").observe((performance.now() - started) / 1000);
        // Top the warm pool up (and refresh the gauges) now, not at the next 5 s tick.
        manager.wake();
        return {
          allocations: [allocationOf(assignment)],
          useExternalSnat: config.externalSnat,
          vpcCidrs: config.externalSnat
            ? node.vpcCidrs
            : [...node.vpcCidrs, ...config.excludeSnatCidrs],
          waitedMs,
        };
      } catch (error) {
        metrics.addLatency.labels("error").observe((performance.now() - started) / 1000);
        throw error;
      }
    },

    "ipam.del": (params: DelParams): DelResult => {
      metrics.delRequests.labels(params.reason).inc();
      const { manager, node } = requireReady(context);
      const released = node.ds.release(keyOf(params));
      manager.wake();
      return { released: [allocationOf(released)] };
    },

    "ipam.get": (params: GetParams): GetResult => {
      const { node } = requireReady(context);
      const assignment = node.ds.lookup(keyOf(params));
      if (!assignment) throw new UnknownAttachmentError(keyOf(params));
      return {
        allocations: [allocationOf(assignment)],
        podName: assignment.pod?.podName ?? "",
        podNamespace: assignment.pod?.podNamespace ?? "",
      };
    },

    "ipam.gc": (params: GcParams): GcResult => {
      const { node } = requireReady(context);
      const valid = new Set(params.validAttachments.map((a) => `${a.containerId}\n${a.ifName}`));
      const released: GcResult["released"] = [];
      for (const assignment of node.ds.assignments()) {
        const { key } = assignment;
        if (key.networkName !== params.networkName) continue;
        if (valid.has(`${key.containerId}\n${key.ifName}`)) continue;
        node.ds.release(key);
        metrics.delRequests.labels("GarbageCollected").inc();
        released.push({ ...key, ...allocationOf(assignment) });
      }
      return { released };
    },

    "ipam.status": (): StatusResult => {
      const ready = context.current();
      if (!ready) {
        return {
          version: VERSION,
          ready: false,
          terminating: false,
          mode: "secondary-ip",
          totalIPs: 0,
          assignedIPs: 0,
          availableIPs: 0,
          cooldownIPs: 0,
          enis: 0,
          maxENIs: 0,
          canGrow: false,
          reason: "initialising the node",
        };
      }
      const { node, manager } = ready;
      const stats = node.ds.stats();
      const plan = manager.plan();
      return {
        version: VERSION,
        ready: true,
        terminating: manager.terminating,
        mode: node.mode,
        totalIPs: stats.total,
        assignedIPs: stats.assigned,
        availableIPs: stats.available,
        cooldownIPs: stats.cooling,
        enis: stats.enis,
        maxENIs: node.settings().maxEnis,
        canGrow: plan.canGrow,
        reason: manager.explain(),
        waitingAdds: manager.waiting,
      };
    },
  };
}

/** ipamd's typed errors as RPC errors; anything else becomes Internal (server.ts). */
export function mapIpamdError(error: unknown): RpcError | undefined {
  const data = (extra: Record<string, unknown>) => ({ data: extra, cause: error });
  if (error instanceof NoAddressError) {
    return new RpcError("NoAvailableAddress", error.message, data({ waitedMs: error.waitedMs }));
  }
  if (error instanceof PoolExhaustedError) {
    return new RpcError("NoAvailableAddress", error.message, data({}));
  }
  if (error instanceof UnknownAttachmentError) {
    return new RpcError("UnknownAttachment", error.message, data({}));
  }
  if (error instanceof PersistError) {
    return new RpcError("StorageFailure", error.message, data({}));
  }
  if (error instanceof NotReadyError) return new RpcError("NotReady", error.message, data({}));
  if (error instanceof AddressInUseError || error instanceof CidrConflictError) {
    return new RpcError("Internal", error.message, data({}));
  }
  return undefined;
}

/** ipamd has not finished initialising the node. */
export class NotReadyError extends Error {
  constructor(message = "ipamd is still initialising the node; retry shortly") {
    super(message);
    this.name = "NotReadyError";
  }
}

function requireReady(context: HandlerContext) {
  const ready = context.current();
  if (!ready) throw new NotReadyError();
  return ready;
}

function keyOf(params: { networkName: string; containerId: string; ifName: string }) {
  return {
    networkName: params.networkName,
    containerId: params.containerId,
    ifName: params.ifName,
  };
}

function allocationOf(assignment: Assignment): Allocation {
  return {
    ipv4: assignment.ipv4,
    deviceNumber: assignment.deviceNumber,
    routeTableId: assignment.routeTableId,
  };
}

async function withDeadline<T>(promise: Promise<T>, ms: number, signal: AbortSignal): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new NotReadyError()), ms);
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
