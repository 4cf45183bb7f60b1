/**
 * Helpers for integration tests of a real ipamd in the lab: what the simulated EC2 says a node
 * has (ENIs attached to the instance, secondary IPs and prefixes on each), pods driven through
 * ipamd's JSON-RPC API, ipamd's introspection, and bounded polling for a condition (never a
 * timed assertion: a slow box only makes the wait longer, up to the bound).
 */
import { EC2Client } from "@aws-sdk/client-ec2";
import { vethSuffix } from "../../src/ipam/checkpoint_restore.ts";
import type { Allocation } from "../../src/rpc/protocol.ts";
import type { Cleanup } from "./cleanup.ts";
import { type Ipamd, startIpamd } from "./ipamd.ts";
import { type Netns, nsExec } from "./namespaces.ts";
import { rpcCall } from "./rpc_client.ts";
import type { Sim } from "./sim.ts";
import type { JsonObject } from "./sim_control.ts";

/** One ENI attached to an instance, as the simulated EC2 has it. */
export interface Ec2Eni {
  eniId: string;
  deviceIndex: number;
  primaryIp: string;
  secondaryIps: string[];
  prefixes: string[];
  tags: Record<string, string>;
}

/** ENIs attached to the instance on the simulated EC2, by device index. */
export async function ec2Enis(sim: Sim, instanceId: string): Promise<Ec2Eni[]> {
  const state = await sim.control.state();
  const enis = state.networkInterfaces as JsonObject[];
  return enis
    .filter((e) => (e.attachment as JsonObject | null)?.instanceId === instanceId)
    .map((e) => ({
      eniId: e.networkInterfaceId as string,
      deviceIndex: (e.attachment as JsonObject).deviceIndex as number,
      primaryIp: e.primaryIp as string,
      secondaryIps: e.secondaryIps as string[],
      prefixes: e.ipv4Prefixes as string[],
      tags: e.tags as Record<string, string>,
    }))
    .sort((a, b) => a.deviceIndex - b.deviceIndex);
}

/** Secondary IPs per ENI ([3, 3, 1]) or, with "prefix", /28 prefixes per ENI. */
export function shapeOf(enis: readonly Ec2Eni[], unit: "ip" | "prefix"): number[] {
  return enis.map((e) => unit === "ip" ? e.secondaryIps.length : e.prefixes.length);
}

/** Every EC2 call the simulator counted, by action, and the total. */
export async function ec2Calls(
  sim: Sim,
): Promise<{ total: number; byAction: Record<string, number> }> {
  const counters = await sim.control.counters();
  const actions = counters.actions as Record<string, { calls: number }>;
  const byAction = Object.fromEntries(Object.entries(actions).map(([k, v]) => [k, v.calls]));
  return { total: Object.values(byAction).reduce((a, b) => a + b, 0), byAction };
}

/** The condition was not met within the bound; the message has the last value seen. */
export class WaitTimeout extends Error {
  readonly last: unknown;
  constructor(what: string, timeoutMs: number, last: unknown) {
    super(`${what}: not reached within ${timeoutMs} ms; last seen: ${describe(last)}`);
    this.name = "WaitTimeout";
    this.last = last;
  }
}

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    return JSON.stringify(value)?.slice(0, 2000) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Polls `probe` until `done(value)` holds and returns that value; errors of the probe count as
 * "not yet". Throws WaitTimeout after `timeoutMs` (a bound for a loaded box, not a claim).
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let last: unknown = "nothing yet";
  for (;;) {
    try {
      const value = await probe();
      last = value;
      if (done(value)) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) throw new WaitTimeout(what, timeoutMs, last);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 250));
  }
}

/** GET on ipamd's introspection server inside the node (127.0.0.1:61679 by default). */
export async function introspect<T = JsonObject>(
  netns: Netns,
  path: "/v1/pool" | "/v1/pods" | "/v1/enis",
  address = "127.0.0.1:61679",
): Promise<T> {
  const out = await nsExec(netns, ["curl", "-sf", "--max-time", "5", `http://${address}${path}`], {
    timeoutMs: 10_000,
  });
  return JSON.parse(out.stdout) as T;
}

/** What /v1/pool says about the plan (the part tests look at). */
export interface PoolReport {
  ready: boolean;
  counts: { total: number; assigned: number; cooling: number; available: number; enis: number };
  waitingAdds: number;
  plan: { reason: string; low: boolean; canGrow: boolean; actions: unknown[] };
}

/** One pod of /v1/pods. */
export interface PodReport {
  podName: string;
  ipv4: string;
  containerId: string;
  eniId: string;
}

export const NETWORK_NAME = "aws-cni";

/**
 * Pods driven through ipamd's JSON-RPC API as aws-cni would (one attachment per pod). With
 * `hostVeths`, each pod also gets the host-side veth aws-cni would create (eni + the pod's
 * name hash, both ends in the node): a restarted ipamd keeps only assignments whose pod still
 * has its veth (spec §3.7), so tests of restarts need them.
 */
export class Pods {
  readonly ipamd: Ipamd;
  readonly prefix: string;
  readonly hostVeths: boolean;
  /** Pod name → its address, for every ADD that was answered with success. */
  readonly held = new Map<string, string>();

  constructor(ipamd: Ipamd, options: { prefix?: string; hostVeths?: boolean } = {}) {
    this.ipamd = ipamd;
    this.prefix = options.prefix ?? "tipd";
    this.hostVeths = options.hostVeths ?? false;
  }

  /** Creates the pod's host veth (eni<hash>, peer tp<hash>) in the node, unless it exists. */
  async wire(name: string): Promise<void> {
    const suffix = vethSuffix("default", name);
    const netns = this.ipamd.node.netns;
    const added = await nsExec(netns, [
      "ip",
      "link",
      "add",
      `eni${suffix}`,
      "type",
      "veth",
      "peer",
      "name",
      `tp${suffix}`,
    ], { timeoutMs: 10_000, allowFailure: true });
    // A repeated ADD (kubelet retrying) finds the veth already there.
    if (!added.success) {
      await nsExec(netns, ["ip", "link", "show", `eni${suffix}`], { timeoutMs: 10_000 });
    }
  }

  async unwire(name: string): Promise<void> {
    await nsExec(
      this.ipamd.node.netns,
      ["ip", "link", "del", `eni${vethSuffix("default", name)}`],
      {
        timeoutMs: 10_000,
        allowFailure: true,
      },
    );
  }

  key(name: string) {
    return { networkName: NETWORK_NAME, containerId: `${this.prefix}-${name}`, ifName: "eth0" };
  }

  /** ipam.add; resolves with the allocation (and how long ipamd held the request). */
  async add(
    name: string,
    options: { waitMs?: number; timeoutMs?: number } = {},
  ): Promise<Allocation & { waitedMs: number }> {
    if (this.hostVeths) await this.wire(name);
    const result = await rpcCall(this.ipamd.socketPath, "ipam.add", {
      ...this.key(name),
      netns: `/var/run/netns/${this.prefix}-${name}`,
      podNamespace: "default",
      podName: name,
      ...(options.waitMs === undefined ? {} : { waitMs: options.waitMs }),
    }, { timeoutMs: options.timeoutMs ?? 60_000 });
    const allocation = result.allocations[0]!;
    this.held.set(name, allocation.ipv4);
    return { ...allocation, waitedMs: result.waitedMs };
  }

  /** `count` pods named `<base>0..`, one after another. */
  async addMany(base: string, count: number, from = 0): Promise<string[]> {
    const ips: string[] = [];
    for (let i = from; i < from + count; i++) ips.push((await this.add(`${base}${i}`)).ipv4);
    return ips;
  }

  /** ipam.del (PodDeleted); resolves with the released address. */
  async del(name: string): Promise<string | undefined> {
    const result = await rpcCall(this.ipamd.socketPath, "ipam.del", {
      ...this.key(name),
      reason: "PodDeleted",
    }, { timeoutMs: 10_000 });
    this.held.delete(name);
    if (this.hostVeths) await this.unwire(name);
    return result.released[0]?.ipv4;
  }
}

/**
 * Waits until the simulated EC2 shows `expected` (secondary IPs or prefixes per attached ENI,
 * by device index) and ipamd agrees: the same total, and a plan with nothing left to do.
 * Returns how long that took.
 */
export async function waitSettled(
  context: { sim: Sim; netns: Netns; instanceId: string },
  expected: { unit: "ip" | "prefix"; shape: number[]; assigned: number },
  options: { timeoutMs?: number; what?: string } = {},
): Promise<{ ms: number; enis: Ec2Eni[]; pool: PoolReport }> {
  const started = performance.now();
  const { sim, netns, instanceId } = context;
  const size = expected.unit === "prefix" ? 16 : 1;
  const total = expected.shape.reduce((a, b) => a + b, 0) * size;
  const result = await waitFor(
    options.what ?? `pool settles at ${expected.unit} shape ${JSON.stringify(expected.shape)}`,
    async () => {
      const enis = await ec2Enis(sim, instanceId);
      const pool = await introspect<PoolReport>(netns, "/v1/pool");
      return {
        shape: shapeOf(enis, expected.unit),
        other: shapeOf(enis, expected.unit === "ip" ? "prefix" : "ip"),
        ipamd: { ...pool.counts, actions: pool.plan.actions.length, reason: pool.plan.reason },
        enis,
        pool,
      };
    },
    (v) =>
      JSON.stringify(v.shape) === JSON.stringify(expected.shape) &&
      v.other.every((n) => n === 0) &&
      v.pool.counts.total === total &&
      v.pool.counts.assigned === expected.assigned &&
      // Nothing left to do: at target, or below it with no room to grow (every ENI full).
      v.pool.plan.actions.length === 0 && (!v.pool.plan.low || !v.pool.plan.canGrow),
    { timeoutMs: options.timeoutMs ?? 30_000 },
  );
  return { ms: Math.round(performance.now() - started), enis: result.enis, pool: result.pool };
}

/**
 * One stage of a pool case: add (or delete, newest first) pods until `pods` hold an address,
 * then the pool must settle at `shape`.
 */
export interface Stage {
  pods: number;
  shape: number[];
  /** Which row of spec §3.5 (or which formula) this reproduces. */
  row: string;
}

export interface PoolCase {
  name: string;
  env: Record<string, string>;
  unit: "ip" | "prefix";
  stages: Stage[];
}

export interface StageResult {
  stage: Stage;
  /** From the stage's first ADD/DEL until the pool settled. */
  settledMs: number;
  available: number;
}

/**
 * Runs a case on one lab node: starts ipamd with the case's settings, then for each stage adds
 * or deletes pods through the RPC API to the stage's count and waits for the pool to settle.
 * Resolves with per-stage figures (and the running ipamd and its pods, for more checks);
 * rejects with the first stage that did not settle.
 */
export async function runPoolCase(
  sim: Sim,
  node: Sim["nodes"][number],
  options: {
    poolCase: PoolCase;
    cleanup: Cleanup;
    timeoutMs?: number;
  },
): Promise<{ results: StageResult[]; ipamd: Ipamd; pods: Pods }> {
  const { poolCase } = options;
  const ipamd = await startIpamd(node, { env: poolCase.env, cleanup: options.cleanup });
  await ipamd.waitReady({ timeoutMs: 60_000 });
  const pods = new Pods(ipamd);
  const results: StageResult[] = [];
  let have = 0;
  for (const stage of poolCase.stages) {
    const stageStarted = performance.now();
    if (stage.pods >= have) await pods.addMany("p", stage.pods - have, have);
    for (let i = have - 1; i >= stage.pods; i--) await pods.del(`p${i}`);
    have = stage.pods;
    const settled = await waitSettled(
      { sim, netns: node.netns, instanceId: node.info.instanceId },
      { unit: poolCase.unit, shape: stage.shape, assigned: stage.pods },
      {
        timeoutMs: options.timeoutMs ?? 45_000,
        what: `${poolCase.name} with ${stage.pods} pods (${stage.row})`,
      },
    );
    results.push({
      stage,
      settledMs: Math.round(performance.now() - stageStarted),
      available: settled.pool.counts.available,
    });
  }
  return { results, ipamd, pods };
}

/** Prints a measured figure ("figure: ...") for the report of a run. */
export function figure(text: string): void {
  // deno-lint-ignore no-console -- the figures a run's reader quotes
  console.log(`figure: ${text}`);
}

/**
 * The real AWS SDK against the simulator's EC2 on host loopback, with dummy credentials: for
 * changes made behind ipamd's back, as an operator's tooling would make them. Call destroy().
 */
export function ec2Sdk(sim: Sim): EC2Client {
  return new EC2Client({
    region: sim.info.region,
    endpoint: sim.info.ec2Endpoint,
    credentials: { accessKeyId: "tipd", secretAccessKey: "tipd" },
    maxAttempts: 1,
  });
}
