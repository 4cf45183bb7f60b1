/**
 * aws-cni end to end: `ipamd sim` with real ipamd in each node, and aws-cni driven through the
 * libcni driver with the conflist and plugin dir that ipamd installs, exactly as a runtime on
 * the node would find them. Also runs the installed plugin directly (STATUS and GC, which
 * libcni 1.1.2 cannot drive) and reads ipamd's and the simulator's view of the addresses.
 */
import { CniDriver, type Conflist } from "./cnitool.ts";
import { type Netns, nsArgv, nsExec } from "./namespaces.ts";
import { trackChild, untrackChild } from "./owner.ts";
import { terminate } from "./terminate.ts";
import { type NetnsState, netnsState } from "./netns_state.ts";
import { type Ipamd, startIpamd } from "./ipamd.ts";
import { REFERENCE_PLUGIN_DIR, SYSTEM_PATH } from "./paths.ts";
import type { TestScope } from "./scope.ts";
import { type LabNode, type Sim, startSim } from "./sim.ts";

export interface AwsCniNode {
  name: string;
  netns: Netns;
  sim: LabNode;
  ipamd: Ipamd;
  instanceId: string;
  primaryIp: string;
  /** The node's state dir (conflist, plugin, logs). */
  stateDir: string;
  /** `<stateDir>/etc/cni/net.d/10-aws.conflist`, written by ipamd. */
  conflistFile: string;
  /** `<stateDir>/opt/cni/bin`, where ipamd installed aws-cni. */
  pluginDir: string;
  pluginLog: string;
  /** libcni driver for this node: the installed conflist, plugin dir then /usr/lib/cni. */
  cni: CniDriver;
  cacheDir: string;
}

export interface AwsCniLab {
  sim: Sim;
  nodes: AwsCniNode[];
  /** The nodes' subnet gateway (the VPC router). */
  gateway: string;
}

export interface AwsCniLabOptions {
  nodes?: number;
  instanceType?: string;
  /** Extra ipamd environment for every node (WARM_IP_TARGET...). */
  ipamdEnv?: Record<string, string>;
  simArgs?: string[];
}

/** Starts the simulator and an ipamd per node; resolves once every node has its conflist. */
export async function startAwsCniLab(
  scope: TestScope,
  options: AwsCniLabOptions = {},
): Promise<AwsCniLab> {
  const sim = await startSim({
    nodes: options.nodes ?? 2,
    instanceType: options.instanceType ?? "t3.large",
    args: ["--prefix", scope.prefix, ...options.simArgs ?? []],
    cleanup: scope.cleanup,
  });
  const gateway = sim.info.subnets[0]!.gateway;
  const nodes = await Promise.all(sim.nodes.map(async (node, i) => {
    const ipamd = await startIpamd(node, { env: options.ipamdEnv, cleanup: scope.cleanup });
    await ipamd.waitReady({ timeoutMs: 60_000 });
    const env = node.info.env;
    const conflistFile = `${env.HOST_CNI_CONFDIR_PATH}/10-aws.conflist`;
    const pluginDir = env.HOST_CNI_BIN_PATH!;
    await waitForFile(`${pluginDir}/aws-cni`, 20_000);
    await waitForFile(conflistFile, 20_000);
    const cacheDir = await scope.tempDir(`cache${i + 1}`);
    return {
      name: `node${i + 1}`,
      netns: node.netns,
      sim: node,
      ipamd,
      instanceId: node.info.instanceId,
      primaryIp: node.info.primaryIp,
      stateDir: node.info.stateDir,
      conflistFile,
      pluginDir,
      pluginLog: env.AWS_VPC_K8S_PLUGIN_LOG_FILE ?? `${node.info.stateDir}/plugin.log`,
      cni: new CniDriver(node.netns, {
        conflistFile,
        cacheDir,
        pluginDirs: [pluginDir, REFERENCE_PLUGIN_DIR],
      }),
      cacheDir,
    };
  }));
  return { sim, nodes, gateway };
}

async function waitForFile(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await Deno.stat(path);
      return;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (Date.now() > deadline) throw new Error(`${path} did not appear within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A libcni driver for a changed copy of the node's conflist (same network, same cache). */
async function derivedDriver(
  node: AwsCniNode,
  file: string,
  edit: (list: Conflist) => void,
): Promise<CniDriver> {
  const list = JSON.parse(await Deno.readTextFile(node.conflistFile)) as Conflist;
  edit(list);
  await Deno.writeTextFile(file, JSON.stringify(list, null, 2));
  return new CniDriver(node.netns, {
    conflistFile: file,
    cacheDir: node.cacheDir,
    pluginDirs: [node.pluginDir, REFERENCE_PLUGIN_DIR],
  });
}

/** The node's conflist with CHECK enabled (ipamd's disables it for portmap 1.1.1). */
export function checkingConflist(node: AwsCniNode, dir: string): Promise<CniDriver> {
  return derivedDriver(node, `${dir}/${node.name}-check.conflist`, (list) => {
    list.disableCheck = false;
  });
}

/**
 * The node's conflist without portmap: portmap 1.1.1 runs iptables on every DEL, which tests
 * that are not about hostPorts need not pay.
 */
export function awsCniOnly(node: AwsCniNode, dir: string): Promise<CniDriver> {
  return derivedDriver(node, `${dir}/${node.name}-aws-only.conflist`, (list) => {
    list.plugins = list.plugins.filter((p) => p.type === "aws-cni");
  });
}

// ---- what ipamd and the simulator hold ----------------------------------------------------------

export interface PodAssignment {
  podNamespace: string;
  podName: string;
  ipv4: string;
  eniId: string;
  deviceNumber: number;
  routeTableId: number;
  networkName: string;
  containerId: string;
  ifName: string;
}

/** ipamd's assignments (introspection `/v1/pods`, read inside the node). */
export async function ipamdPods(node: AwsCniNode): Promise<PodAssignment[]> {
  const out = await nsExec(node.netns, [
    "curl",
    "-sf",
    "--max-time",
    "5",
    "http://127.0.0.1:61679/v1/pods",
  ]);
  return JSON.parse(out.stdout) as PodAssignment[];
}

export interface SimEni {
  networkInterfaceId: string;
  primaryIp: string;
  secondaryIps: string[];
  attachment?: { instanceId: string; deviceIndex: number };
}

/** ENIs attached to the node's instance, from the simulator's `/state`. */
export async function nodeEnis(lab: AwsCniLab, node: AwsCniNode): Promise<SimEni[]> {
  const state = await lab.sim.control.state() as unknown as { networkInterfaces: SimEni[] };
  return state.networkInterfaces.filter((e) => e.attachment?.instanceId === node.instanceId);
}

// ---- node state a pod may leave behind ----------------------------------------------------------

/**
 * The parts of a node's namespace that pods put there: host veths (`eni*`), `/32` routes to pod
 * addresses, rules 512/1536, and portmap's per-pod chains. Pool growth (ENIs, their tables and
 * rules) is ipamd's and left out, so this compares across pool changes.
 */
export async function podResidue(node: AwsCniNode): Promise<string[]> {
  return residueOf(await netnsState(node.netns));
}

export function residueOf(state: NetnsState): string[] {
  return [
    ...state.links.filter((l) => /^eni/.test(l)).map((l) => `link ${l}`),
    ...state.routes.filter((r) => / dev eni/.test(r)).map((r) => `route ${r}`),
    ...state.rules.filter((r) => /^(512|1536):/.test(r)).map((r) => `rule ${r}`),
    ...state.iptables.filter((l) => /CNI-DN-|CNI-SN-/.test(l)).map((l) => `iptables ${l}`),
  ];
}

/**
 * portmap 1.1.1 keeps its top-level chains (CNI-HOSTPORT-DNAT/-MASQ/-SETMARK and their jumps)
 * after the last DEL, by design; everything else must be as before.
 */
export function withoutPortmapChains(state: NetnsState): NetnsState {
  return { ...state, iptables: state.iptables.filter((l) => !/CNI-HOSTPORT-/.test(l)) };
}

// ---- the plugin run directly --------------------------------------------------------------------

export interface PluginRun {
  code: number;
  /** stdout parsed as JSON, or undefined when empty. */
  out: Record<string, unknown> | undefined;
  stderr: string;
}

/** Runs the installed aws-cni in the node with CNI_COMMAND and `conf` on stdin, like a runtime. */
export async function invokePlugin(
  node: AwsCniNode,
  command: string,
  conf: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<PluginRun> {
  const out = await nsExec(node.netns, [`${node.pluginDir}/aws-cni`], {
    clearEnv: true,
    env: {
      PATH: SYSTEM_PATH,
      CNI_COMMAND: command,
      CNI_PATH: `${node.pluginDir}:${REFERENCE_PLUGIN_DIR}`,
      ...env,
    },
    stdin: JSON.stringify(conf),
    allowFailure: true,
    timeoutMs: 30_000,
  });
  const text = out.stdout.trim();
  return { code: out.code, out: text ? JSON.parse(text) : undefined, stderr: out.stderr };
}

/** The aws-cni entry of the node's conflist as a single-plugin configuration of `cniVersion`. */
export async function pluginConf(
  node: AwsCniNode,
  cniVersion: string,
): Promise<Record<string, unknown>> {
  const list = JSON.parse(await Deno.readTextFile(node.conflistFile));
  const aws = list.plugins.find((p: { type: string }) => p.type === "aws-cni");
  return { ...aws, cniVersion, name: list.name };
}

// ---- a server in a pod --------------------------------------------------------------------------

/**
 * busybox httpd serving `body` as /index.html on `port` inside `pod` (real HTTP: curl refuses
 * HTTP/0.9 replies); stopped with the scope. Resolves once it answers inside the pod.
 */
export async function serveHttp(
  scope: TestScope,
  pod: Netns,
  options: { port: number; body: string },
): Promise<void> {
  const root = await scope.tempDir("www");
  await Deno.writeTextFile(`${root}/index.html`, options.body);
  const [program, ...args] = nsArgv(pod, [
    "busybox",
    "httpd",
    "-f",
    "-p",
    String(options.port),
    "-h",
    root,
  ]);
  const child = new Deno.Command(program!, {
    args,
    clearEnv: true,
    env: { PATH: SYSTEM_PATH },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  trackChild(child.pid);
  scope.defer(`stop httpd in ${pod.name}`, async () => {
    await terminate(child, { graceMs: 5_000 });
    untrackChild(child.pid);
  });
  const url = `http://127.0.0.1:${options.port}/index.html`;
  for (let i = 0; i < 50; i++) {
    const out = await nsExec(pod, ["curl", "-sf", "--max-time", "2", url], {
      allowFailure: true,
      timeoutMs: 5_000,
    });
    if (out.success) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`httpd in ${pod.name} does not answer on port ${options.port}`);
}
