/**
 * aws-cni's CNI commands. ipamd (over the RPC client) and the pod wiring are injected, so the
 * same code runs in the plugin and in tests against a lab node.
 */
import type { Logger } from "../ops/log.ts";
import { type CallParams, IpamdUnreachableError } from "../rpc/client.ts";
import { type Allocation, type MethodName, type ResultOf, RpcError } from "../rpc/protocol.ts";
import { CheckFailedError, CniCode, CniError, ConfigError, NetnsNotFoundError } from "./errors.ts";
import { containerIfName, dummyInterfaceName, hostVethName } from "./names.ts";
import { type Bookkeeping, bookkeeping } from "./prev_result.ts";
import type { PodInterfaceSpec, TeardownSpec, WiredInterface } from "./pod_network.ts";
import { type CniResult, type NetConf, parsePrevResult, type PodArgs } from "./types.ts";

export interface IpamdSession {
  call<M extends MethodName>(
    method: M,
    params: CallParams<M>,
    options?: { timeoutMs?: number },
  ): Promise<ResultOf[M]>;
  close(): void;
}

/** The pod wiring operations (pod_network.ts), injectable for tests. */
export interface PodWiring {
  wire(spec: PodInterfaceSpec): WiredInterface;
  remove(spec: Pick<PodInterfaceSpec, "hostNetns" | "hostVeth" | "ip" | "routeTableId">): void;
  /** DEL: deletes the pod's interface (the host veth goes with it); false if already gone. */
  /** Does CNI_NETNS exist (also /proc/<pid>/ns/net, which Deno.stat refuses)? */
  netnsExists(path: string): boolean;
  removeContainer(spec: { podNetns: string; containerIf: string }): boolean;
  teardown(spec: TeardownSpec): "removed" | "foreign";
  teardownBranch(spec: { vlanId: number; ip: string; hostNetns?: string }): void;
  inspect(spec: Omit<PodInterfaceSpec, "mtu">): string[];
}

export interface CommandDeps {
  connect(options?: { connectTimeoutMs?: number }): Promise<IpamdSession>;
  wiring: PodWiring;
  logger: Logger;
  /** The node's namespace; default the one aws-cni runs in. */
  hostNetns?: string;
}

export interface CmdArgs {
  containerId: string;
  /** CNI_NETNS; "" when the runtime gave none (DEL). */
  netns: string;
  ifName: string;
  args: PodArgs;
  conf: NetConf;
}

const REPLY_TIMEOUT_MS = 10_000;
/** ipamd holds an ADD at most this long by its own setting (POD_IP_WAIT_SECONDS ≤ 120). */
const MAX_IPAMD_WAIT_MS = 120_000;
const STATUS_TIMEOUT_MS = 3_000;
const GC_TIMEOUT_MS = 30_000;
const RELEASE_TIMEOUT_MS = 3_000;
const MULTI_NIC_ANNOTATION = "k8s.amazonaws.com/nicConfig";

/** The pod's identity for naming; non-Kubernetes runtimes pass no pod name, so fall back. */
function podOf(a: CmdArgs): { podNamespace: string; podName: string } {
  // Upstream hashes "<ns>.<name>" even when both are empty, which gives every such pod the same
  // veth; the container id keeps them apart.
  return { podNamespace: a.args.podNamespace, podName: a.args.podName || a.containerId };
}

function keyOf(a: CmdArgs) {
  return { networkName: a.conf.name, containerId: a.containerId, ifName: a.ifName };
}

// ---- ADD -------------------------------------------------------------------------------------

export async function cmdAdd(a: CmdArgs, deps: CommandDeps): Promise<CniResult> {
  const log = deps.logger;
  if (!deps.wiring.netnsExists(a.netns)) throw new NetnsNotFoundError(a.netns);
  const key = keyOf(a);
  const pod = podOf(a);
  const started = performance.now();
  const session = await deps.connect();
  let reply: ResultOf["ipam.add"];
  try {
    reply = await session.call("ipam.add", {
      ...key,
      podName: a.args.podName,
      podNamespace: a.args.podNamespace,
      podInfraContainerId: a.args.podInfraContainerId,
      podUid: a.args.podUid,
      netns: a.netns,
      ...(a.conf.addWaitMs === undefined ? {} : { waitMs: a.conf.addWaitMs }),
      requiresMultiNICAttachment:
        a.conf.podAnnotations[MULTI_NIC_ANNOTATION] === "multi-nic-attachment",
    }, { timeoutMs: (a.conf.addWaitMs ?? MAX_IPAMD_WAIT_MS) + REPLY_TIMEOUT_MS });
  } catch (e) {
    // ipamd may have assigned an address before we gave up waiting: hand it back.
    if (e instanceof IpamdUnreachableError && e.reason === "timeout") await release(a, deps);
    throw e;
  } finally {
    session.close();
  }
  const assigned = performance.now();
  log.info("ipamd assigned", { allocations: reply.allocations, waitedMs: reply.waitedMs });
  const specs: PodInterfaceSpec[] = [];
  try {
    if (reply.allocations.length === 0) {
      throw new Error("ipamd answered ipam.add without any address");
    }
    for (const [index, allocation] of reply.allocations.entries()) {
      specs.push({
        podNetns: a.netns,
        hostNetns: deps.hostNetns,
        hostVeth: await hostVethName(a.conf.vethPrefix, pod, index),
        containerIf: containerIfName(a.ifName, index),
        ip: allocation.ipv4,
        index,
        routeTableId: allocation.routeTableId,
        mtu: a.conf.mtu,
      });
    }
    const wired: PodInterfaceSpec[] = [];
    try {
      for (const spec of specs) {
        deps.wiring.wire(spec);
        wired.push(spec);
      }
    } catch (e) {
      for (const spec of wired.reverse()) {
        try {
          deps.wiring.remove(spec);
        } catch (cleanup) {
          log.error("could not remove a wired interface during rollback", { error: cleanup, spec });
        }
      }
      throw e;
    }
  } catch (e) {
    log.error("pod wiring failed; releasing the address", { error: e });
    await release(a, deps);
    throw e;
  }
  // Where an ADD's time goes, for the plugin log and the start-up benchmark.
  log.info("pod wired", {
    ipamdMs: round(assigned - started),
    wiringMs: round(performance.now() - assigned),
  });
  return await addResult(a, reply.allocations, specs);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

async function release(a: CmdArgs, deps: CommandDeps): Promise<void> {
  try {
    const session = await deps.connect({ connectTimeoutMs: RELEASE_TIMEOUT_MS });
    try {
      await session.call("ipam.del", { ...keyOf(a), reason: "SetupNSFailed", ...podFields(a) }, {
        timeoutMs: RELEASE_TIMEOUT_MS,
      });
    } finally {
      session.close();
    }
  } catch (e) {
    if (e instanceof RpcError && e.kind === "UnknownAttachment") return;
    deps.logger.error("could not release the address after a failed ADD", { error: e });
  }
}

function podFields(a: CmdArgs) {
  return {
    podName: a.args.podName,
    podNamespace: a.args.podNamespace,
    podInfraContainerId: a.args.podInfraContainerId,
    podUid: a.args.podUid,
  };
}

/**
 * Upstream's result (§4.6): per allocation the host veth and the container interface, whose
 * `mac` carries the node route table; last a never-created "dummy" interface whose `mac` is the
 * VLAN id (0) and `sandbox` the device number. DEL reads these back when ipamd is unreachable,
 * also for pods added by upstream's plugin.
 */
async function addResult(
  a: CmdArgs,
  allocations: Allocation[],
  specs: PodInterfaceSpec[],
): Promise<CniResult> {
  const interfaces: NonNullable<CniResult["interfaces"]> = [];
  const ips: NonNullable<CniResult["ips"]> = [];
  for (const [i, spec] of specs.entries()) {
    interfaces.push({ name: spec.hostVeth });
    interfaces.push({ name: spec.containerIf, mac: String(spec.routeTableId), sandbox: a.netns });
    ips.push({ address: `${spec.ip}/32`, interface: 2 * i + 1 });
  }
  interfaces.push({
    name: await dummyInterfaceName(podOf(a)),
    mac: "0",
    sandbox: String(allocations[0]!.deviceNumber),
  });
  return { cniVersion: a.conf.cniVersion, interfaces, ips, dns: {} };
}

// ---- DEL -------------------------------------------------------------------------------------

export async function cmdDel(a: CmdArgs, deps: CommandDeps): Promise<void> {
  const log = deps.logger;
  const prev = a.conf.prevResult === undefined ? undefined : parsePrevResult(a.conf.prevResult);
  const book = prev ? await bookkeeping({ ...a, pod: podOf(a) }, prev, log) : undefined;
  if (book?.kind === "branch") {
    // Branch-ENI pods: their address belongs to the VPC resource controller, not ipamd.
    if (a.netns === "") return;
    deps.wiring.teardownBranch({ vlanId: book.vlanId, ip: book.ip, hostNetns: deps.hostNetns });
    return;
  }
  let released: Allocation[];
  const started = performance.now();
  try {
    const session = await deps.connect();
    try {
      const reply = await session.call("ipam.del", {
        ...keyOf(a),
        reason: "PodDeleted",
        ...podFields(a),
      }, { timeoutMs: REPLY_TIMEOUT_MS });
      released = reply.released;
    } finally {
      session.close();
    }
  } catch (e) {
    const interfaces = book?.kind === "regular" ? book.entries.length : 1;
    if (e instanceof RpcError && e.kind === "UnknownAttachment") {
      log.info("ipamd holds nothing for this container (repeated DEL)");
      removePodInterfaces(a, interfaces, deps);
      return;
    }
    if (!(e instanceof IpamdUnreachableError || e instanceof RpcError)) throw e;
    // DEL must not fail because ipamd is down: remove what prevResult says we set up.
    log.warn("ipamd did not release the address; tearing down from prevResult", { error: e });
    teardownFromPrevResult(book, deps);
    removePodInterfaces(a, interfaces, deps);
    return;
  }
  const answered = performance.now();
  if (released.length === 0) log.warn("ipamd released no address for this container");
  for (const allocation of released) {
    deps.wiring.teardown({
      ip: allocation.ipv4,
      routeTableId: allocation.routeTableId,
      hostNetns: deps.hostNetns,
    });
  }
  removePodInterfaces(a, released.length, deps);
  log.info("pod unwired", {
    released,
    ipamdMs: round(answered - started),
    teardownMs: round(performance.now() - answered),
  });
}

/**
 * CNI spec: DEL deletes CNI_IFNAME inside CNI_NETNS (upstream leaves the veth to the namespace's
 * removal). Nothing to do when the runtime gave no namespace or it is gone already; a failure is
 * logged, not returned: the namespace's removal takes the veth with it.
 */
function removePodInterfaces(a: CmdArgs, count: number, deps: CommandDeps): void {
  if (a.netns === "") return;
  try {
    if (!deps.wiring.netnsExists(a.netns)) return;
    for (let i = 0; i < Math.max(count, 1); i++) {
      deps.wiring.removeContainer({ podNetns: a.netns, containerIf: containerIfName(a.ifName, i) });
    }
  } catch (e) {
    deps.logger.warn("could not remove the pod's interface; it goes with the namespace", {
      error: e,
    });
  }
}

function teardownFromPrevResult(book: Bookkeeping | undefined, deps: CommandDeps): void {
  if (book?.kind !== "regular" || book.entries.length === 0) {
    deps.logger.warn("no usable prevResult: node routes and rules are left to ipamd's cleanup");
    return;
  }
  for (const entry of book.entries) {
    try {
      const outcome = deps.wiring.teardown({
        ip: entry.ip,
        routeTableId: entry.routeTableId,
        hostNetns: deps.hostNetns,
        ...(entry.hostVeth ? { onlyIfHostVeth: entry.hostVeth } : {}),
      });
      if (outcome === "foreign") {
        deps.logger.warn("address now routed to another pod; left alone", { ip: entry.ip });
      }
    } catch (e) {
      // Still a success for the runtime, like upstream: ipamd's reconciliation cleans up.
      deps.logger.error("teardown from prevResult failed", { error: e, entry });
    }
  }
}

// ---- CHECK -----------------------------------------------------------------------------------

export async function cmdCheck(a: CmdArgs, deps: CommandDeps): Promise<void> {
  if (a.conf.prevResult === undefined) {
    throw new ConfigError("invalid", "CHECK needs the prevResult of the ADD in the configuration", {
      field: "prevResult",
    });
  }
  const prev = parsePrevResult(a.conf.prevResult);
  const book = prev ? await bookkeeping({ ...a, pod: podOf(a) }, prev, deps.logger) : undefined;
  if (book?.kind !== "regular" || book.entries.length === 0) {
    throw new ConfigError("decode", "CHECK: prevResult is not a result of aws-cni's ADD", {
      field: "prevResult",
    });
  }
  if (!deps.wiring.netnsExists(a.netns)) throw new NetnsNotFoundError(a.netns);
  const problems: string[] = [];
  const session = await deps.connect();
  try {
    const held = await session.call("ipam.get", keyOf(a), { timeoutMs: REPLY_TIMEOUT_MS });
    const byIp = new Map(held.allocations.map((x) => [x.ipv4, x]));
    for (const entry of book.entries) {
      const allocation = byIp.get(entry.ip);
      if (!allocation) problems.push(`ipamd: ${entry.ip} is not assigned to this container`);
      else if (allocation.routeTableId !== entry.routeTableId) {
        problems.push(
          `ipamd: ${entry.ip} uses route table ${allocation.routeTableId}, the pod was wired ` +
            `for ${entry.routeTableId}`,
        );
      }
    }
  } catch (e) {
    if (!(e instanceof RpcError && e.kind === "UnknownAttachment")) throw e;
    problems.push("ipamd: holds no address for this container");
  } finally {
    session.close();
  }
  const pod = podOf(a);
  for (const [index, entry] of book.entries.entries()) {
    problems.push(...deps.wiring.inspect({
      podNetns: a.netns,
      hostNetns: deps.hostNetns,
      hostVeth: entry.hostVeth ?? await hostVethName(a.conf.vethPrefix, pod, index),
      containerIf: entry.containerIf,
      ip: entry.ip,
      index,
      routeTableId: entry.routeTableId,
    }));
  }
  if (problems.length > 0) throw new CheckFailedError(problems);
}

// ---- STATUS and GC ---------------------------------------------------------------------------

export async function cmdStatus(_a: Pick<CmdArgs, "conf">, deps: CommandDeps): Promise<void> {
  let status: ResultOf["ipam.status"];
  try {
    const session = await deps.connect();
    try {
      status = await session.call("ipam.status", {}, { timeoutMs: STATUS_TIMEOUT_MS });
    } finally {
      session.close();
    }
  } catch (e) {
    if (!(e instanceof IpamdUnreachableError || e instanceof RpcError)) throw e;
    throw new CniError(CniCode.NotAvailable, `ipamd cannot serve pods: ${e.message}`, {
      cause: e,
    });
  }
  if (status.terminating) {
    throw new CniError(CniCode.NotAvailable, "ipamd is shutting down and takes no new pods");
  }
  if (!status.ready) {
    // Not ready means the node's routes and rules may not be in place: existing pods suffer.
    throw new CniError(
      CniCode.NotAvailableLimited,
      "ipamd is not ready: node networking is not set up yet",
    );
  }
  if (status.availableIPs === 0 && !status.canGrow) {
    throw new CniError(
      CniCode.NotAvailable,
      `no free address and the pool cannot grow (${status.enis}/${status.maxENIs} ENIs, ` +
        `${status.assignedIPs}/${status.totalIPs} addresses in use)`,
    );
  }
}

export async function cmdGc(a: Pick<CmdArgs, "conf">, deps: CommandDeps): Promise<void> {
  const valid = a.conf.validAttachments;
  if (valid === undefined) {
    // Without the list every address of the network would look stale.
    throw new ConfigError("invalid", 'GC needs "cni.dev/valid-attachments" in the configuration', {
      field: "cni.dev/valid-attachments",
    });
  }
  const session = await deps.connect();
  let released: ResultOf["ipam.gc"]["released"];
  try {
    const reply = await session.call("ipam.gc", {
      networkName: a.conf.name,
      validAttachments: valid,
    }, { timeoutMs: GC_TIMEOUT_MS });
    released = reply.released;
  } finally {
    session.close();
  }
  for (const r of released) {
    deps.logger.info("GC released a stale attachment", { attachment: r });
    deps.wiring.teardown({ ip: r.ipv4, routeTableId: r.routeTableId, hostNetns: deps.hostNetns });
  }
}
