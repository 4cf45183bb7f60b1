/**
 * `make demo`: the whole system on one machine in well under two minutes. A simulated VPC with
 * two nodes, ipamd on each, pods through aws-cni and a real CNI runtime (libcni), traffic
 * between them and to the "internet", then a teardown that checks nothing is left.
 *
 *   deno run -A --cached-only tests/lab/demo.ts [--prefix NAME] [--instance-type T]
 *                                               [--ipamd-env KEY=VALUE]...
 * Exit codes: 0 done, 1 a step failed (it says which, and where the logs are), 2 usage,
 * 130/143 interrupted (everything is still cleaned up).
 */
// deno-lint-ignore-file no-console -- command-line output
import { onInterrupt } from "./cleanup.ts";
import { proveTraffic, showEnis, tearDown } from "./demo_checks.ts";
import { duration, heading, median, silence } from "./demo_render.ts";
import { type DemoOptions, DemoRun, leftovers } from "./demo_run.ts";
import { buildLab, POD_PLAN, startDaemons, startPods } from "./demo_setup.ts";
import { hostNetworkState } from "./netns_state.ts";
import { RUN_ID } from "./owner.ts";
import { REPO_ROOT } from "./paths.ts";
import { testScope } from "./scope.ts";

const LOG_ROOT = `${REPO_ROOT}/build/demo-logs`;
/** Logs of older runs beyond this many are removed when a demo starts. */
const KEEP_RUNS = 10;

const USAGE = `Usage: deno run -A --cached-only tests/lab/demo.ts [options]   (or: make demo)

Builds a simulated VPC with two nodes, runs ipamd on each, starts ${POD_PLAN.length} pods through aws-cni,
shows their ENIs, proves pod-to-pod traffic and SNAT, and removes everything. Needs root.

Options:
  --prefix NAME          namespace prefix (default demo)
  --instance-type T      the nodes' EC2 instance type (default t3.medium)
  --ipamd-env KEY=VALUE  extra ipamd setting, repeatable (e.g. WARM_IP_TARGET=2)
  -h, --help             this help`;

const STEPS: ReadonlyArray<{ title: string; run: (run: DemoRun) => Promise<void> }> = [
  { title: "Build the lab: a simulated VPC with two EC2 nodes", run: buildLab },
  { title: "Start ipamd on each node", run: startDaemons },
  { title: `Start ${POD_PLAN.length} pods through aws-cni`, run: startPods },
  { title: "ENIs, addresses and the pods that hold them", run: showEnis },
  { title: "Traffic: pod to pod across nodes, and SNAT to the internet", run: proveTraffic },
  { title: "Tear down and check that nothing is left", run: tearDown },
];

class UsageError extends Error {
  override name = "UsageError";
}

function parseArgs(args: string[], logDir: string): DemoOptions | "help" {
  const options: DemoOptions = {
    prefix: "demo",
    instanceType: "t3.medium",
    ipamdEnv: {},
    logDir,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === "-h" || arg === "--help") return "help";
    else if (arg === "--prefix") options.prefix = value();
    else if (arg === "--instance-type") options.instanceType = value();
    else if (arg === "--ipamd-env") {
      const pair = value();
      const eq = pair.indexOf("=");
      if (eq < 1) throw new UsageError(`--ipamd-env wants KEY=VALUE, got "${pair}"`);
      options.ipamdEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
    } else throw new UsageError(`unknown option ${arg}`);
  }
  if (!/^[a-z][a-z0-9]{1,11}$/.test(options.prefix)) {
    throw new UsageError(
      `--prefix must be 2-12 lowercase letters and digits, got "${options.prefix}"`,
    );
  }
  return options;
}

function logDirName(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${LOG_ROOT}/${stamp}-${RUN_ID}`;
}

async function pruneOldLogs(): Promise<void> {
  const runs: string[] = [];
  for await (const entry of Deno.readDir(LOG_ROOT)) if (entry.isDirectory) runs.push(entry.name);
  for (const name of runs.sort().slice(0, Math.max(0, runs.length - KEEP_RUNS))) {
    await Deno.remove(`${LOG_ROOT}/${name}`, { recursive: true }).catch(() => {});
  }
}

/** An error's message; for an AggregateError (clean-up steps), every inner one. */
function describeError(error: unknown): string {
  if (error instanceof AggregateError) return error.errors.map(describeError).join("\n");
  return error instanceof Error ? error.message : String(error);
}

function relative(path: string): string {
  return path.startsWith(`${REPO_ROOT}/`) ? path.slice(REPO_ROOT.length + 1) : path;
}

async function reportLeftovers(run: DemoRun): Promise<boolean> {
  const left = await leftovers(run).catch((e) => [`the leftover check failed: ${e.message}`]);
  if (left.length === 0) {
    console.error("cleaned up: no namespace, state dir, process or host change is left");
    return true;
  }
  console.error(`LEFT BEHIND (remove by hand, or run \`deno run -A tests/lab/sweep.ts\`):`);
  for (const line of left) console.error(`  ${line}`);
  return false;
}

function summary(run: DemoRun): void {
  const ready = run.nodes.map((n) => `${duration(n.readyMs)} (${n.label})`).join(", ");
  const inside = Object.values(run.ipamdAddMeanMs)[0];
  console.log(`\nDone in ${duration(performance.now() - run.startedAt)}.`);
  console.log(`  lab ready in ${duration(run.labMs)}; ipamd ready in ${ready}`);
  console.log(
    `  ADD: ${duration(median(run.pods.map((p) => p.addMs)))} median through the runtime, ` +
      `${inside === undefined ? "?" : duration(inside)} mean inside ipamd; ` +
      `DEL: ${duration(median(run.delMs))} median`,
  );
  console.log(`  logs: ${relative(run.options.logDir)}/`);
  console.log(
    '\nGo further by hand: README.md, "Running the system by hand" (ipamd sim, ipamd run, cnitool, curl).',
  );
}

async function main(args: string[]): Promise<number> {
  const logDir = logDirName();
  let options: DemoOptions | "help";
  try {
    options = parseArgs(args, logDir);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`demo: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (options === "help") {
    console.log(USAGE);
    return 0;
  }
  if (Deno.uid() !== 0) {
    console.error("demo: it builds network namespaces, which needs root: run `sudo make demo`");
    return 1;
  }
  await Deno.mkdir(logDir, { recursive: true });
  await pruneOldLogs();
  const run = new DemoRun(options, testScope(options.prefix));
  let current = "";
  let interrupted = false;
  onInterrupt({
    started: (signal) => {
      interrupted = true;
      silence();
      console.error(`\n${signal} during "${current}": cleaning up before exiting...`);
    },
    cleaned: async (_signal, error) => {
      if (error) console.error(`some clean-up steps failed:\n${describeError(error)}`);
      await reportLeftovers(run);
      console.error(`logs: ${relative(logDir)}/`);
    },
  });

  console.log("vpc-cni-deno demo: the AWS VPC CNI on a simulated VPC, on this machine");
  console.log(`run ${RUN_ID}; logs of the simulator, ipamd and aws-cni go to ${relative(logDir)}/`);
  run.hostBefore = await hostNetworkState();
  for (const [i, step] of STEPS.entries()) {
    current = `step ${i + 1}/${STEPS.length}: ${step.title}`;
    heading(i + 1, STEPS.length, step.title);
    try {
      await step.run(run);
    } catch (e) {
      if (interrupted) return await new Promise<number>(() => {}); // the signal handler exits
      console.error(`\nFAILED at ${current}`);
      console.error(e instanceof Error ? e.message : String(e));
      console.error(`\ncleaning up...`);
      await run.scope.cleanup.run().catch((c) => console.error(describeError(c)));
      await reportLeftovers(run);
      console.error(`logs: ${relative(logDir)}/ (sim.log, n<k>-ipamd.log, n<k>-plugin.log)`);
      return 1;
    }
  }
  summary(run);
  return 0;
}

const code = await main(Deno.args);
Deno.exit(code);
