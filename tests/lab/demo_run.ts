/**
 * The demo's state (what it started, what it measured) and the check that a run left nothing
 * behind: no namespaces, state dirs, temp dirs or processes of the run, host network unchanged.
 */
import { isDeepStrictEqual } from "node:util";
import type { CniDriver } from "./cnitool.ts";
import type { Ipamd } from "./ipamd.ts";
import type { Netns } from "./namespaces.ts";
import { hostNetworkState, type NetnsState } from "./netns_state.ts";
import { processStartTime, RUN_ID } from "./owner.ts";
import type { TestScope } from "./scope.ts";
import type { LabNode, Sim } from "./sim.ts";

export interface DemoOptions {
  /** Namespace prefix of the lab and the pods. */
  prefix: string;
  instanceType: string;
  /** Added to every ipamd's environment (WARM_IP_TARGET=2...). */
  ipamdEnv: Record<string, string>;
  /** build/demo-logs/<run>: the simulator's, ipamd's and the plugin's logs. */
  logDir: string;
}

export interface DemoNode {
  /** n1, n2 */
  label: string;
  lab: LabNode;
  ipamd: Ipamd;
  readyMs: number;
  driver: CniDriver;
}

export interface DemoPod {
  name: string;
  node: DemoNode;
  netns: Netns;
  containerId: string;
  /** CNI_ARGS of its ADD and DEL (K8S_POD_NAMESPACE, K8S_POD_NAME...). */
  cniArgs: Record<string, string>;
  ip: string;
  /** The host side of the pod's veth, in the node. */
  hostVeth: string;
  /** ADD as the runtime saw it: cnitool → aws-cni → ipamd → wiring → portmap. */
  addMs: number;
  deleted: boolean;
}

/** The simulator's state root (`ipamd sim --state-dir`, default). */
export const SIM_STATE_ROOT = "/run/vpcsim";

export class DemoRun {
  readonly options: DemoOptions;
  readonly scope: TestScope;
  readonly startedAt = performance.now();
  hostBefore?: NetnsState;
  sim?: Sim;
  labMs = 0;
  nodes: DemoNode[] = [];
  pods: DemoPod[] = [];
  /** pids of every long-running process the demo started, for the leftover check. */
  pids: number[] = [];
  settleMs = 0;
  delMs: number[] = [];
  /** ADD latency inside ipamd, from its histogram (sum / count), per node label. */
  ipamdAddMeanMs: Record<string, number> = {};

  constructor(options: DemoOptions, scope: TestScope) {
    this.options = options;
    this.scope = scope;
  }

  node(label: string): DemoNode {
    const node = this.nodes.find((n) => n.label === label);
    if (!node) throw new RangeError(`no node ${label} in this demo run`);
    return node;
  }

  podsOf(node: DemoNode): DemoPod[] {
    return this.pods.filter((p) => p.node === node);
  }
}

function list(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    return [];
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** What the run left behind, one line each; empty when nothing. */
export async function leftovers(run: DemoRun): Promise<string[]> {
  const found: string[] = [];
  const labId = run.sim?.info.labId;
  const ours = (name: string) =>
    name.includes(`-${RUN_ID}-`) ||
    (labId !== undefined && name.startsWith(`${run.options.prefix}-${labId}-`));
  for (const name of list("/var/run/netns").filter(ours)) found.push(`namespace ${name}`);
  const dirs = [
    ...(labId ? [`${SIM_STATE_ROOT}/${labId}`] : []),
    ...(run.sim?.info.nodes.map((n) => n.stateDir) ?? []),
    ...list("/tmp").filter((n) => n.includes(`-${RUN_ID}-`)).map((n) => `/tmp/${n}`),
  ];
  for (const dir of new Set(dirs)) if (exists(dir)) found.push(`directory ${dir}`);
  for (const pid of run.pids) {
    if (processStartTime(pid) !== undefined) found.push(`process ${pid} still running`);
  }
  if (run.hostBefore) {
    const after = await hostNetworkState();
    for (const key of Object.keys(after) as Array<keyof NetnsState>) {
      if (isDeepStrictEqual(after[key], run.hostBefore[key])) continue;
      const added = after[key].filter((l) => !run.hostBefore![key].includes(l));
      const removed = run.hostBefore[key].filter((l) => !after[key].includes(l));
      found.push(`host ${key} changed: +[${added.join("; ")}] -[${removed.join("; ")}]`);
    }
  }
  return found;
}
