/**
 * The demo's first three steps: build the lab (`ipamd sim`), start ipamd on each node, start
 * pods through aws-cni with the libcni driver. Each says what it shows and why.
 */
import { CniDriver } from "./cnitool.ts";
import { type DemoNode, DemoRun, SIM_STATE_ROOT } from "./demo_run.ts";
import { duration, indent, median, say, table } from "./demo_render.ts";
import { introspect, type PodJson, type PoolJson, scrapeMetrics } from "./introspection.ts";
import { ipamdHasCommand, startIpamd } from "./ipamd.ts";
import { recordMadeDir, RUN_ID } from "./owner.ts";
import { REFERENCE_PLUGIN_DIR } from "./paths.ts";
import { metricValue } from "./prometheus.ts";
import { startSim } from "./sim.ts";

/** Which pods go where: three on the first node, two on the second. */
export const POD_PLAN: ReadonlyArray<{ node: string; name: string }> = [
  { node: "n1", name: "web-1" },
  { node: "n1", name: "web-2" },
  { node: "n1", name: "web-3" },
  { node: "n2", name: "api-1" },
  { node: "n2", name: "api-2" },
];
const POD_NAMESPACE = "default";

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const why = last instanceof Error ? `: ${last.message}` : "";
  throw new Error(`${what} did not happen within ${duration(timeoutMs)}${why}`);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

export async function buildLab(run: DemoRun): Promise<void> {
  const { options, scope } = run;
  say(
    "`ipamd sim` simulates a VPC on this machine: the EC2 API (198.51.100.10) and IMDS\n" +
      "(169.254.169.254) answer from a router namespace, and each EC2 instance is a network\n" +
      "namespace whose eth0 is the instance's primary ENI. Nothing touches the host's network.",
  );
  if (!exists(SIM_STATE_ROOT)) {
    // The simulator makes its state root; a machine that had none gets none back.
    recordMadeDir(SIM_STATE_ROOT);
    scope.defer(
      `remove ${SIM_STATE_ROOT} if empty`,
      () => Deno.remove(SIM_STATE_ROOT).catch(() => {}),
    );
  }
  const started = performance.now();
  const sim = await startSim({
    nodes: 2,
    instanceType: options.instanceType,
    args: ["--prefix", options.prefix, "--state-dir", SIM_STATE_ROOT],
    cleanup: scope.cleanup,
    logFile: `${options.logDir}/sim.log`,
  });
  run.sim = sim;
  run.pids.push(sim.pid);
  run.labMs = performance.now() - started;
  const subnet = sim.info.subnets[0]!;
  say(
    `VPC ${sim.info.vpcId} ${sim.info.vpcCidr} in ${sim.info.region}, subnet ${subnet.subnetId} ` +
      `${subnet.cidr}\nlab ${sim.info.labId} ready in ${duration(run.labMs)}`,
  );
  say();
  say(table(sim.nodes.map((n, i) => ({ ...n.info, label: `n${i + 1}` })), [
    { header: "NODE", value: (n) => n.label },
    { header: "INSTANCE", value: (n) => n.instanceId },
    { header: "TYPE", value: (n) => n.instanceType },
    { header: "PRIMARY IP", value: (n) => n.primaryIp },
    { header: "NAMESPACE", value: (n) => n.netns },
  ]));
}

export async function startDaemons(run: DemoRun): Promise<void> {
  const { options, scope, sim } = run;
  say(
    "`ipamd run` starts in each node namespace with the node's environment. It reads IMDS, asks\n" +
      "EC2 for the instance type's limits, sets up node routing and SNAT, fills a warm pool of\n" +
      "secondary addresses, and once ready installs aws-cni and 10-aws.conflist for the runtime.",
  );
  const labNodes = sim!.nodes;
  const started = await Promise.all(labNodes.map(async (lab, i) => {
    const label = `n${i + 1}`;
    const t0 = performance.now();
    const ipamd = await startIpamd(lab, {
      cleanup: scope.cleanup,
      logFile: `${options.logDir}/${label}-ipamd.stdout.log`,
      env: {
        AWS_VPC_K8S_CNI_LOG_FILE: `${options.logDir}/${label}-ipamd.log`,
        AWS_VPC_K8S_PLUGIN_LOG_FILE: `${options.logDir}/${label}-plugin.log`,
        ...options.ipamdEnv,
      },
    });
    if (ipamd.pid) run.pids.push(ipamd.pid);
    await ipamd.waitReady({ timeoutMs: 60_000 });
    const readyMs = performance.now() - t0;
    const confDir = ipamd.env.HOST_CNI_CONFDIR_PATH!;
    const binDir = ipamd.env.HOST_CNI_BIN_PATH!;
    const conflistFile = `${confDir}/10-aws.conflist`;
    await until(
      `ipamd in ${label} installing ${conflistFile}`,
      20_000,
      () => Promise.resolve(exists(conflistFile) && exists(`${binDir}/aws-cni`) ? true : undefined),
    );
    const cacheDir = await scope.tempDir(`cni-${label}`);
    const driver = new CniDriver(lab.netns, {
      conflistFile,
      cacheDir,
      pluginDirs: [binDir, REFERENCE_PLUGIN_DIR],
      timeoutMs: 60_000,
    });
    return { label, lab, ipamd, readyMs, driver } satisfies DemoNode;
  }));
  run.nodes = started;
  if (await ipamdHasCommand("status")) {
    for (const node of run.nodes) {
      say(`${node.label}: ready after ${duration(node.readyMs)}; \`ipamd status\`:`);
      const out = await node.ipamd.cli(["status"]);
      if (!out.success) {
        throw new Error(`ipamd status in ${node.label} failed: ${out.stderr.trim()}`);
      }
      say(indent(out.stdout.trimEnd()));
    }
    return;
  }
  const rows = await Promise.all(run.nodes.map(async (node) => ({
    node,
    status: await node.ipamd.status(),
    pool: await introspect<PoolJson>(node.lab.netns, "/v1/pool"),
  })));
  say();
  say(table(rows, [
    { header: "NODE", value: (r) => r.node.label },
    { header: "READY AFTER", value: (r) => duration(r.node.readyMs), align: "right" },
    { header: "MODE", value: (r) => r.status.mode },
    { header: "ENIS", value: (r) => `${r.status.enis}/${r.status.maxENIs}`, align: "right" },
    { header: "ADDRESSES", value: (r) => r.status.totalIPs, align: "right" },
    { header: "FREE", value: (r) => r.status.availableIPs, align: "right" },
    { header: "MAX PODS", value: (r) => r.pool.limits?.maxPods, align: "right" },
  ]));
  say();
  say(
    "(from the ipam.status JSON-RPC method on ipamd's socket and /v1/pool on :61679: the\n" +
      "`ipamd status` command is not on this branch yet)",
  );
}

export async function startPods(run: DemoRun): Promise<void> {
  const { scope } = run;
  say(
    "Each pod is a network namespace. build/bin/cnitool (libcni, the library containerd and\n" +
      "CRI-O use) runs the conflist ipamd installed: aws-cni asks ipamd for an address over its\n" +
      "socket, wires a veth into the pod with a /32 and a route via 169.254.1.1, then portmap\n" +
      "runs as the chained plugin.",
  );
  for (const planned of POD_PLAN) {
    const node = run.node(planned.node);
    const netns = await scope.netns(`pod-${planned.name}`);
    const containerId = `${planned.name}-${RUN_ID}`;
    const args = {
      K8S_POD_NAMESPACE: POD_NAMESPACE,
      K8S_POD_NAME: planned.name,
      K8S_POD_INFRA_CONTAINER_ID: containerId,
    };
    const pod = {
      name: planned.name,
      node,
      netns,
      containerId,
      cniArgs: args,
      ip: "",
      hostVeth: "",
      addMs: 0,
      deleted: false,
    };
    // Runs before the namespace's removal. When ipamd is gone or going (Ctrl-C reaches the
    // whole process group), there is nothing a DEL could undo: the lab goes with the node.
    const gone = () => !node.ipamd.running || !exists(node.driver.options.conflistFile);
    scope.defer(`DEL ${planned.name}`, async () => {
      if (pod.deleted || gone()) return;
      await node.driver.del(netns, containerId, { args }).catch(async (error) => {
        await new Promise((r) => setTimeout(r, 1_000));
        if (!gone()) throw error;
      });
    });
    const t0 = performance.now();
    const result = await node.driver.add(netns, containerId, { args });
    pod.addMs = performance.now() - t0;
    pod.ip = result.ips?.[0]?.address.split("/")[0] ?? "";
    pod.hostVeth = result.interfaces?.[0]?.name ?? "";
    if (!pod.ip) {
      throw new Error(`ADD of ${planned.name} returned no address: ${JSON.stringify(result)}`);
    }
    run.pods.push(pod);
  }
  const enisOf = new Map<string, PodJson>();
  for (const node of run.nodes) {
    for (const p of await introspect<PodJson[]>(node.lab.netns, "/v1/pods")) enisOf.set(p.ipv4, p);
  }
  say();
  say(table(run.pods, [
    { header: "POD", value: (p) => `${POD_NAMESPACE}/${p.name}` },
    { header: "NODE", value: (p) => p.node.label },
    { header: "ADDRESS", value: (p) => p.ip },
    { header: "ENI", value: (p) => enisOf.get(p.ip)?.eniId ?? "(not in /v1/pods!)" },
    { header: "HOST VETH", value: (p) => p.hostVeth },
    { header: "ADD", value: (p) => duration(p.addMs), align: "right" },
  ]));
  const missing = run.pods.filter((p) => !enisOf.has(p.ip));
  if (missing.length > 0) {
    throw new Error(`ipamd does not list ${missing.map((p) => p.name).join(", ")} in /v1/pods`);
  }
  say();
  say(
    `ADD through the runtime: ${duration(median(run.pods.map((p) => p.addMs)))} median (libcni, ` +
      "the aws-cni and portmap processes,\nipamd, the wiring); ipamd's own share is in its " +
      "metrics, step 5.",
  );
  await settle(run);
}

/**
 * Waits until each node's pool loop has run since the ADDs (its gauges count the pods) and has
 * nothing left to do: the loop tops the warm pool up every 5 s or when an ADD has to wait.
 */
async function settle(run: DemoRun): Promise<void> {
  const t0 = performance.now();
  const pools = await Promise.all(
    run.nodes.map((node) =>
      until(`the pool of ${node.label} settling`, 30_000, async () => {
        const pods = run.podsOf(node).length;
        const samples = await scrapeMetrics(node.lab.netns);
        if (metricValue(samples, "awscni_assigned_ip_addresses") !== pods) return undefined;
        const pool = await introspect<PoolJson>(node.lab.netns, "/v1/pool");
        const idle = (pool.plan?.actions.length ?? 1) === 0 && (pool.waitingAdds ?? 0) === 0;
        return idle && pool.counts?.assigned === pods ? { node, pool } : undefined;
      })
    ),
  );
  run.settleMs = performance.now() - t0;
  say();
  const warm = pools[0]?.pool.settings;
  say(
    `The warm pool (WARM_ENI_TARGET=${warm?.warmEniTarget}, WARM_IP_TARGET=${warm?.warmIpTarget}) ` +
      `settled ${duration(run.settleMs)} after the last ADD:`,
  );
  for (const { node, pool } of pools) {
    const c = pool.counts!;
    say(
      `  ${node.label}: ${c.enis} ENI(s), ${c.total} addresses, ${c.assigned} for pods, ${c.available} free`,
    );
  }
}
