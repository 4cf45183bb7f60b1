// deno-lint-ignore-file no-console -- command-line output
/**
 * `ipamd sim`: starts the simulator, prints one JSON line on stdout when ready, and tears
 * everything down on SIGINT/SIGTERM (or when start-up fails).
 */
import { Logger } from "../ops/log.ts";
import { parseSimArgs, type SimCli, USAGE, UsageError } from "./cli.ts";
import { type LabFactory, Sim } from "./sim.ts";

export async function main(args: string[]): Promise<number> {
  let cli: SimCli;
  try {
    cli = parseSimArgs(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`ipamd sim: ${e.message}\nRun 'ipamd sim --help' for the options.`);
    return 2;
  }
  if (cli.help) {
    console.log(USAGE);
    return 0;
  }
  const logger = new Logger({
    destination: cli.log,
    level: cli.logLevel,
    fields: { component: "sim" },
  });
  let lab: LabFactory | undefined;
  let stateRoot = cli.stateRoot;
  if (cli.lab) {
    if (Deno.uid() !== 0) {
      console.error(
        "ipamd sim: building the lab needs root (network namespaces); run as root or use --no-lab",
      );
      return 1;
    }
    const { labFactory } = await import("./lab_plumbing.ts");
    lab = labFactory({ prefix: cli.prefix, stateRoot: cli.stateRoot, logger });
  } else if (cli.stateRoot === "/run/vpcsim" && Deno.uid() !== 0) {
    stateRoot = await Deno.makeTempDir({ prefix: "vpcsim-" });
  }

  const started = performance.now();
  let sim: Sim;
  try {
    sim = await Sim.start({
      nodes: cli.nodes,
      instanceType: cli.instanceType,
      vpcCidr: cli.vpcCidr,
      nodeSubnet: cli.nodeSubnet,
      subnets: cli.subnets,
      region: cli.region,
      availabilityZone: cli.availabilityZone,
      seed: cli.seed,
      prefix: cli.prefix,
      faults: cli.faults,
      stateRoot,
      ec2Port: cli.port,
      lab,
      logger,
    });
  } catch (e) {
    logger.error("simulator start-up failed", { error: e });
    console.error(`ipamd sim: start-up failed: ${e instanceof Error ? e.message : e}`);
    return 1;
  }
  const stop = Promise.withResolvers<string>();
  const onSignal = (name: string) => () => stop.resolve(name);
  const handlers = (["SIGINT", "SIGTERM"] as const).map((s) => [s, onSignal(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);
  // A crash must not leave namespaces behind: stop cleanly instead of dying mid-flight.
  const onCrash = (e: Event) => {
    e.preventDefault();
    const error = e instanceof ErrorEvent ? e.error : (e as PromiseRejectionEvent).reason;
    logger.error("simulator crashed; tearing down", { error });
    stop.resolve("crash");
  };
  globalThis.addEventListener("error", onCrash);
  globalThis.addEventListener("unhandledrejection", onCrash);
  let reason = "";
  try {
    logger.info("simulator ready", {
      labId: sim.labId,
      seed: cli.seed,
      startupMs: Math.round(performance.now() - started),
    });
    console.log(JSON.stringify(sim.readyInfo()));
    reason = await stop.promise;
    logger.info("stopping", { reason });
  } finally {
    for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
    globalThis.removeEventListener("error", onCrash);
    globalThis.removeEventListener("unhandledrejection", onCrash);
    await sim.close();
    if (stateRoot !== cli.stateRoot) {
      await Deno.remove(stateRoot, { recursive: true }).catch(() => {});
    }
  }
  return 0;
}
