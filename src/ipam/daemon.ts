// deno-lint-ignore-file no-console -- configuration errors go to the terminal before logging exists
/**
 * `ipamd run`: the node daemon's lifecycle. The RPC socket opens first, so a pod scheduled
 * while ipamd starts waits for it (bounded) instead of failing; then the node is initialised,
 * the pool manager runs, and aws-cni plus its conflist are installed. SIGTERM/SIGINT stop
 * allocation, let requests in flight finish, and exit 0; a crash or kill -9 at any point loses
 * nothing, because every assignment is checkpointed before it is acknowledged.
 */
import { ConfigError, loadConfig, type LoadedConfig } from "../config.ts";
import { ImdsClient } from "../aws/imds.ts";
import { InstanceMetadata } from "../aws/imds_metadata.ts";
import type { Ec2Client } from "../aws/ec2.ts";
import { serveWithRetry } from "../ops/http_server.ts";
import { pause } from "../ops/timers.ts";
import { introspectionHandler } from "../ops/introspection.ts";
import { Logger } from "../ops/log.ts";
import { Metrics } from "../ops/metrics.ts";
import { RpcServer } from "../rpc/server.ts";
import { VERSION } from "../version.ts";
import { installPlugin } from "./install.ts";
import { introspectionSource } from "./introspection_source.ts";
import { connectKubernetes, type KubeLink } from "./kube.ts";
import { cleanLeakedEnis } from "./leaked_enis.ts";
import { PoolManager } from "./manager.ts";
import { AdaptivePool } from "./pool_adaptive.ts";
import { initNode, type NodeRuntime } from "./node_init.ts";
import { reconcile } from "./reconcile.ts";
import { mapIpamdError, rpcHandlers } from "./rpc_handlers.ts";

const USAGE = `Usage: ipamd run [--help]

Runs the node daemon. Configuration comes from the environment (upstream aws-node names);
'ipamd config' shows the effective settings. The daemon serves aws-cni on IPAMD_SOCKET_PATH,
introspection on INTROSPECTION_BIND_ADDRESS and metrics on METRICS_BIND_ADDRESS, and installs
aws-cni and 10-aws.conflist into HOST_CNI_BIN_PATH / HOST_CNI_CONFDIR_PATH once it is ready.

Signals: SIGTERM/SIGINT stop allocating, finish requests in flight and exit 0. SIGHUP reconciles
with the instance (IMDS, then EC2) at once instead of within the minute: send it after attaching,
detaching or changing the addresses of an ENI by hand.`;

const LEAK_INTERVAL_MS = 60 * 60_000;
const SHUTDOWN_DEADLINE_MS = 5_000;
const MAX_RPC_CONNECTIONS = 1024;

export async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  if (args.length > 0) {
    console.error(`ipamd run: unexpected argument "${args[0]}"\n${USAGE}`);
    return 2;
  }
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`ipamd: invalid configuration, not starting:\n${error.message}`);
    return 1;
  }
  return await runDaemon(loaded);
}

export async function runDaemon(loaded: LoadedConfig): Promise<number> {
  const { config } = loaded;
  const logger = new Logger({
    destination: config.logFile || "stderr",
    level: config.logLevel,
    fields: { component: "ipamd" },
  });
  for (const warning of loaded.warnings) logger.warn(warning);
  logger.info("ipamd starting", { version: VERSION, pid: Deno.pid });
  const metrics = new Metrics();
  const started = performance.now();
  const stop = new AbortController();
  const onSignal = (signal: Deno.Signal) => () => {
    logger.info("signal received; shutting down", { signal });
    stop.abort();
  };
  const handlers = (["SIGTERM", "SIGINT"] as const).map((s) => [s, onSignal(s)] as const);
  for (const [signal, handler] of handlers) Deno.addSignalListener(signal, handler);
  // SIGHUP: reconcile with IMDS/EC2 now (ENIs or addresses changed by hand), not within 60 s.
  // Listening from the start also keeps an early SIGHUP from killing the process.
  const onHangup = () => {
    logger.info("signal received; reconciling with the instance now", { signal: "SIGHUP" });
    state.current?.manager.requestReconcile();
  };
  Deno.addSignalListener("SIGHUP", onHangup);

  const imds = new InstanceMetadata(
    new ImdsClient({ ...(config.imdsEndpoint ? { endpoint: config.imdsEndpoint } : {}), logger }),
  );
  // The SDK takes ~0.4 s to load: start it now, in parallel with the IMDS reads.
  const iam: { onUnauthorized?: (action: string) => void } = {};
  const ec2 = config.imdsOnlyMode ? undefined : createEc2(loaded, { imds, logger, metrics, iam });

  const state: { current?: { node: NodeRuntime; manager: PoolManager }; kube?: KubeLink } = {};
  const ready = Promise.withResolvers<{ node: NodeRuntime; manager: PoolManager }>();
  ready.promise.catch(() => {});
  const server = await RpcServer.listen(
    config.socketPath,
    rpcHandlers({ config, metrics, ready: ready.promise, current: () => state.current }),
    {
      logger,
      mapError: mapIpamdError,
      maxWaitMs: 120_000,
      requestTimeoutMs: 130_000,
      // Every ADD waiting for the pool holds a connection: a burst of pods on a node with an
      // empty pool must not be refused (unix socket connections are cheap).
      maxConnections: MAX_RPC_CONNECTIONS,
    },
  );
  const servers = startHttpServers(loaded, {
    logger,
    metrics,
    signal: stop.signal,
    current: () => state.current,
    eniConfigName: () => state.kube?.eniConfigName(),
  });

  let node: NodeRuntime;
  let kube: KubeLink | undefined;
  try {
    kube = await connectKubernetes(config, { logger, signal: stop.signal });
    state.kube = kube;
    if (kube) iam.onUnauthorized = (action) => kube!.events.missingIamPermissions(action);
    node = await initNode({
      config,
      logger,
      metrics,
      imds,
      ...(ec2 ? { ec2 } : {}),
      ...(kube ? { kube } : {}),
    });
  } catch (error) {
    logger.error("node initialisation failed; exiting", { error });
    metrics.startupSeconds.labels("false", "false", "node_init").observe(seconds(started));
    ready.reject(error);
    await kube?.close();
    await server.close({ deadlineMs: 1000 });
    stop.abort();
    await servers;
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
    Deno.removeSignalListener("SIGHUP", onHangup);
    return 1;
  }
  const manager: PoolManager = new PoolManager({
    ds: node.ds,
    ...(node.ops ? { ops: node.ops } : {}),
    config,
    settings: node.settings,
    logger,
    metrics,
    adoptEni: node.adoptEni,
    forgetEni: node.forgetEni,
    reconcile: async () => {
      await reconcile({ node, released: manager.released, logger, metrics });
    },
    unschedulable: () => !config.manageEnisNonSchedulable && (kube?.node()?.unschedulable ?? false),
    ...(config.warmPoolMode === "adaptive"
      ? { adaptive: new AdaptivePool({ cooldownMs: config.ipCooldownSeconds * 1000 }) }
      : {}),
  });
  kube?.onWarmPoolChange(() => manager.wake());
  kube?.onNodeChange(() => manager.wake());
  state.current = { node, manager };
  ready.resolve(state.current);
  metrics.startupSeconds.labels("true", "false", "").observe(seconds(started));
  logger.info("ipamd ready", { ms: Math.round(performance.now() - started) });

  const loop = manager.run(stop.signal);
  const installed = installWhenServing({ node, manager, config, logger, signal: stop.signal });
  const leaks = node.ec2 && config.leakedEniCleanup
    ? leakLoop({ node, ec2: node.ec2, loaded, logger, signal: stop.signal })
    : Promise.resolve();

  await new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve()));
  manager.terminate();
  await server.close({ deadlineMs: SHUTDOWN_DEADLINE_MS });
  await Promise.allSettled([loop, leaks, servers, installed]);
  await kube?.close();
  Deno.removeSignalListener("SIGHUP", onHangup);
  node.nl.close();
  node.ec2?.close();
  for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  logger.info("ipamd stopped");
  return 0;
}

/**
 * Installs aws-cni and its conflist once the pool holds an address. The conflist is what makes
 * the runtime call the node's network ready: a node whose pool cannot get a single address
 * (a missing ENIConfig, no IAM permission, a full subnet) stays NotReady and says why, instead
 * of accepting pods it cannot serve (upstream exits and restarts for the same reason).
 */
async function installWhenServing(
  context: {
    node: NodeRuntime;
    manager: PoolManager;
    config: LoadedConfig["config"];
    logger: Logger;
    signal: AbortSignal;
  },
): Promise<void> {
  const { node, manager, config, logger, signal } = context;
  const started = Date.now();
  let warned = false;
  while (node.ds.stats().total === 0) {
    if (signal.aborted) return;
    if (!warned && Date.now() - started > 10_000) {
      warned = true;
      logger.warn("the pool has no address yet; aws-cni is installed once it has one", {
        reason: manager.explain(),
      });
    }
    await pause(200, signal);
  }
  await installPlugin(config, { logger }).catch((error) =>
    logger.error("cannot install aws-cni and its conflist; pods cannot start on this node", {
      error,
    })
  );
}

async function createEc2(
  loaded: LoadedConfig,
  context: {
    imds: InstanceMetadata;
    logger: Logger;
    metrics: Metrics;
    iam: { onUnauthorized?: (action: string) => void };
  },
): Promise<Ec2Client> {
  const { config } = loaded;
  const [{ Ec2Client }, region] = await Promise.all([
    import("../aws/ec2.ts"),
    context.imds.region(),
  ]);
  const { metrics } = context;
  return new Ec2Client({
    region,
    ...(config.ec2Endpoint ? { endpoint: config.ec2Endpoint } : {}),
    timeoutMs: config.httpTimeoutSeconds * 1000,
    rateLimit: {
      mutating: { ratePerSecond: config.ec2ApiQps, burst: config.ec2ApiBurst },
      describe: { ratePerSecond: config.ec2ApiQps * 2, burst: config.ec2ApiBurst * 2 },
    },
    ...(config.vpcCniVersion ? { vpcCniVersion: config.vpcCniVersion } : {}),
    logger: context.logger,
    onCall: (event) => {
      metrics.ec2ApiRequests.labels(event.action).inc();
      const error = event.ok ? "" : event.code ?? "unknown";
      metrics.awsApiLatencyMs.labels(event.action, String(!event.ok), String(event.status ?? ""))
        .observe(event.ms);
      metrics.ec2Latency.labels(event.action, event.ok ? "ok" : error).observe(event.ms / 1000);
      if (!event.ok) {
        metrics.ec2ApiErrors.labels(event.action).inc();
        metrics.awsApiErrors.labels(event.action, error).inc();
        if (error === "UnauthorizedOperation") context.iam.onUnauthorized?.(event.action);
      }
    },
  });
}

function startHttpServers(
  loaded: LoadedConfig,
  context: {
    logger: Logger;
    metrics: Metrics;
    signal: AbortSignal;
    current: () => { node: NodeRuntime; manager: PoolManager } | undefined;
    eniConfigName: () => string | undefined;
  },
): Promise<unknown> {
  const { config } = loaded;
  const { logger, metrics, signal } = context;
  const tasks: Promise<void>[] = [];
  if (!config.disableMetrics) {
    tasks.push(serveWithRetry({
      name: "metrics",
      address: config.metricsBindAddress,
      logger,
      signal,
      handler: async (request) => {
        if (new URL(request.url).pathname !== "/metrics") {
          return new Response("see /metrics\n", { status: 404 });
        }
        return new Response(await metrics.render(), {
          headers: { "content-type": metrics.contentType },
        });
      },
    }));
  }
  if (!config.disableIntrospection) {
    tasks.push(serveWithRetry({
      name: "introspection",
      address: config.introspectionBindAddress,
      logger,
      signal,
      handler: introspectionHandler(
        introspectionSource(loaded, context.current, context.eniConfigName),
        logger,
      ),
    }));
  }
  return Promise.allSettled(tasks);
}

async function leakLoop(
  context: {
    node: NodeRuntime;
    ec2: Ec2Client;
    loaded: LoadedConfig;
    logger: Logger;
    signal: AbortSignal;
  },
): Promise<void> {
  const { node, ec2, loaded, logger, signal } = context;
  // A random first delay, so a fleet of nodes started together does not sweep together.
  let delay = Math.random() * 300_000;
  while (!signal.aborted) {
    await pause(delay, signal);
    if (signal.aborted) return;
    await cleanLeakedEnis({
      ec2,
      config: loaded.config,
      instanceId: node.identity.instanceId,
      vpcId: node.vpcId,
      logger,
    }).catch((error) => logger.warn("leaked-ENI clean-up failed", { error }));
    delay = LEAK_INTERVAL_MS;
  }
}

function seconds(since: number): number {
  return (performance.now() - since) / 1000;
}
