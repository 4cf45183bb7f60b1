/**
 * The three views of a node that the resilience suites compare: what ipamd's datastore holds
 * (introspection /v1/enis and /v1/pods, read with curl inside the node namespace), what the
 * simulated EC2 says the instance has (control API /state), and what the node's kernel routes
 * (ip rules and routes in the node namespace). `agreement()` lists every disagreement between
 * the datastore and EC2; `waitAgreement()` polls until there is none, bounded.
 */
import { judgeLeaks } from "../../src/ipam/leaked_enis.ts";
import type { Eni } from "../../src/aws/ec2_types.ts";
import { type Netns, nsExec } from "./namespaces.ts";
import type { Sim } from "./sim.ts";
import type { JsonObject } from "./sim_control.ts";

/** One assignment as /v1/pods lists it. */
export interface PodRow {
  networkName: string;
  containerId: string;
  ifName: string;
  podNamespace: string;
  podName: string;
  ipv4: string;
  eniId: string;
  deviceNumber: number;
  routeTableId: number;
}

export interface DatastoreView {
  /** ENI id → device number and CIDRs ("10.10.3.4/32"). */
  enis: Map<string, { device: number; cidrs: Set<string> }>;
  pods: PodRow[];
}

export interface Ec2View {
  /** ENIs attached to the instance on card 0 → device index, primary IP, secondary IP CIDRs. */
  attached: Map<string, { device: number; primaryIp: string; cidrs: Set<string> }>;
  /** Detached (`available`) ENIs whose instance_id tag names this instance. */
  detachedOwned: Eni[];
}

/** GET on ipamd's introspection API (127.0.0.1:61679 in the node namespace). */
export async function introspect<T>(netns: Netns, path: string, port = 61679): Promise<T> {
  const out = await nsExec(netns, [
    "curl",
    "-sS",
    "--fail",
    "--max-time",
    "5",
    `http://127.0.0.1:${port}${path}`,
  ], { timeoutMs: 10_000 });
  return JSON.parse(out.stdout) as T;
}

type UpstreamEnis = Record<
  string,
  {
    ENIs: Record<
      string,
      { DeviceNumber: number; AvailableIPv4Cidrs: Record<string, unknown> }
    >;
  }
>;

export async function datastoreView(netns: Netns): Promise<DatastoreView> {
  const [byCard, pods] = await Promise.all([
    introspect<UpstreamEnis>(netns, "/v1/enis"),
    introspect<PodRow[]>(netns, "/v1/pods"),
  ]);
  const enis: DatastoreView["enis"] = new Map();
  for (const card of Object.values(byCard)) {
    for (const [id, eni] of Object.entries(card.ENIs)) {
      enis.set(id, {
        device: eni.DeviceNumber,
        cidrs: new Set(Object.keys(eni.AvailableIPv4Cidrs)),
      });
    }
  }
  return { enis, pods };
}

export async function ec2View(sim: Sim, instanceId: string): Promise<Ec2View> {
  const state = await sim.control.state();
  const attached: Ec2View["attached"] = new Map();
  const detachedOwned: Eni[] = [];
  for (const e of state.networkInterfaces as JsonObject[]) {
    const attachment = e.attachment as JsonObject | null;
    const tags = e.tags as Record<string, string>;
    if (attachment?.instanceId === instanceId && attachment.networkCardIndex === 0) {
      attached.set(e.networkInterfaceId as string, {
        device: attachment.deviceIndex as number,
        primaryIp: e.primaryIp as string,
        cidrs: new Set([
          ...(e.secondaryIps as string[]).map((ip) => `${ip}/32`),
          ...(e.ipv4Prefixes as string[]),
        ]),
      });
    } else if (
      e.status === "available" && tags["node.k8s.amazonaws.com/instance_id"] === instanceId
    ) {
      detachedOwned.push({
        eniId: e.networkInterfaceId as string,
        mac: e.macAddress as string,
        subnetId: e.subnetId as string,
        vpcId: "",
        availabilityZone: "",
        description: e.description as string,
        status: "available",
        interfaceType: "interface",
        primaryIp: e.primaryIp as string,
        privateIps: [],
        prefixes: e.ipv4Prefixes as string[],
        groups: [],
        tags,
      });
    }
  }
  return { attached, detachedOwned };
}

/**
 * Every disagreement between ipamd's datastore and EC2 for the instance: ENIs known to one
 * side only, addresses on one side only, pods on addresses EC2 does not have, an address
 * assigned twice, and detached ENIs that the leaked-ENI clean-up would not collect.
 */
export function agreement(ds: DatastoreView, ec2: Ec2View, instanceId: string): string[] {
  const problems: string[] = [];
  for (const [id, eni] of ec2.attached) {
    const mine = ds.enis.get(id);
    if (!mine) {
      problems.push(`EC2 attaches ${id} (device ${eni.device}) but the datastore lacks it`);
      continue;
    }
    for (const cidr of eni.cidrs) {
      if (!mine.cidrs.has(cidr)) problems.push(`${id}: EC2 has ${cidr}, the datastore does not`);
    }
    for (const cidr of mine.cidrs) {
      if (!eni.cidrs.has(cidr)) problems.push(`${id}: the datastore has ${cidr}, EC2 does not`);
    }
  }
  for (const id of ds.enis.keys()) {
    if (!ec2.attached.has(id)) problems.push(`the datastore has ${id}, not attached in EC2`);
  }
  const owners = new Map<string, string>();
  for (const pod of ds.pods) {
    const key = `${pod.containerId}/${pod.ifName}`;
    const other = owners.get(pod.ipv4);
    if (other) problems.push(`${pod.ipv4} is assigned twice: to ${other} and ${key}`);
    owners.set(pod.ipv4, key);
    if (!ec2.attached.get(pod.eniId)?.cidrs.has(`${pod.ipv4}/32`)) {
      problems.push(`${key} holds ${pod.ipv4} on ${pod.eniId}, which EC2 does not give it`);
    }
  }
  // A crash between create and attach, or between detach and delete, leaves a detached ENI:
  // acceptable only if the hourly clean-up will delete it.
  const { leaked } = judgeLeaks(ec2.detachedOwned, {
    instanceId,
    clusterName: "",
    liveInstances: new Set([instanceId]),
    now: Date.now() + 10 * 60_000,
  });
  for (const eni of ec2.detachedOwned) {
    if (!leaked.includes(eni.eniId)) {
      problems.push(`detached ENI ${eni.eniId} would not be collected by the leaked-ENI sweep`);
    }
  }
  return problems;
}

/**
 * Polls until datastore and EC2 agree on two reads in a row (the pool manager may be between
 * an EC2 call and its commit); returns the agreed views, or throws with the last problems.
 */
export async function waitAgreement(
  context: { sim: Sim; netns: Netns; instanceId: string },
  options: { timeoutMs?: number } = {},
): Promise<{ ds: DatastoreView; ec2: Ec2View }> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let agreed = 0;
  let last: string[] = [];
  while (true) {
    const ds = await datastoreView(context.netns);
    const ec2 = await ec2View(context.sim, context.instanceId);
    last = agreement(ds, ec2, context.instanceId);
    agreed = last.length === 0 ? agreed + 1 : 0;
    if (agreed >= 2) return { ds, ec2 };
    if (Date.now() > deadline) {
      throw new Error(
        `datastore and EC2 still disagree after ${options.timeoutMs ?? 30_000} ms:\n  ` +
          last.slice(0, 20).join("\n  "),
      );
    }
    await new Promise((r) => setTimeout(r, agreed > 0 ? 100 : 250));
  }
}

/** The node namespace's policy rules and main-table /32 routes that concern pods and ENIs. */
export interface KernelView {
  /** Pod address → table of its prio-512 "to" rule. */
  toPod: Map<string, string>;
  /** Pod address → table of its prio-1536 "from" rule. */
  fromPod: Map<string, string>;
  /** Pod address → device of its /32 route in main. */
  podRoutes: Map<string, string>;
  /** ENI primary address → table of its prio-32765 rule. */
  eniRules: Map<string, string>;
}

interface IpRule {
  priority: number;
  src?: string;
  dst?: string;
  table?: string;
}

export async function kernelView(netns: Netns): Promise<KernelView> {
  const rules = JSON.parse(
    (await nsExec(netns, ["ip", "-j", "-4", "rule", "show"], { timeoutMs: 10_000 })).stdout,
  ) as IpRule[];
  const routes = JSON.parse(
    (await nsExec(netns, ["ip", "-j", "-4", "route", "show", "table", "main"], {
      timeoutMs: 10_000,
    })).stdout,
  ) as Array<{ dst: string; dev?: string; gateway?: string }>;
  const view: KernelView = {
    toPod: new Map(),
    fromPod: new Map(),
    podRoutes: new Map(),
    eniRules: new Map(),
  };
  for (const r of rules) {
    if (r.priority === 512 && r.dst) view.toPod.set(r.dst, r.table ?? "");
    if (r.priority === 1536 && r.src) view.fromPod.set(r.src, r.table ?? "");
    if (r.priority === 32765 && r.src) view.eniRules.set(r.src, r.table ?? "");
  }
  for (const route of routes) {
    if (/^\d+\.\d+\.\d+\.\d+$/.test(route.dst) && !route.gateway && route.dev) {
      view.podRoutes.set(route.dst, route.dev);
    }
  }
  return view;
}

/** A seeded random stream for test data: the simulator's (mulberry32). */
export { Rng as SeededRandom } from "../../src/sim/rand.ts";

/** The seed of a suite: RESILIENCE_SEED when set (to replay a run), else `fallback`. */
export function suiteSeed(fallback: number): number {
  const raw = Deno.env.get("RESILIENCE_SEED");
  return raw && /^\d+$/.test(raw) ? Number(raw) : fallback;
}
