/**
 * ipamd's link to Kubernetes (spec §3.1, §7): whether the API server is needed, max pods from
 * the Node, cordon state, the ENIConfig for custom networking, per-node warm-pool overrides
 * from node annotations (beyond upstream), and Warning events for missing IAM permissions.
 * Nothing here loads @kubernetes/client-node unless an API server is configured.
 */
import type { Config } from "../config.ts";
import {
  apiServerRequired,
  AwsNodeEvents,
  connectApiServer,
  type EffectiveWarmPool,
  EventRecorder,
  fetchEniConfig,
  type K8sClient,
  type NodeInfo,
  NodeWatcher,
  selectEniConfigName,
  WarmPoolOverrides,
} from "../k8s/mod.ts";
import type { Logger } from "../ops/log.ts";
import type { EniPlacement } from "./eni_ops.ts";

/** An ENIConfig is re-read at most this often (it is consulted for every new ENI). */
const ENICONFIG_CACHE_MS = 30_000;

export interface KubeLink {
  client: K8sClient;
  /** The Node as last seen (undefined when it could not be read). */
  node(): NodeInfo | undefined;
  /** Warm-pool settings for this node: env values with the node's annotations applied. */
  warmPool(): EffectiveWarmPool;
  /** Calls back when the node's effective warm-pool settings change. */
  onWarmPoolChange(listener: () => void): void;
  /** Calls back when the node is cordoned or uncordoned, or its capacity.pods changes. */
  onNodeChange(listener: () => void): void;
  /** Custom networking: where new ENIs go (ENIConfig subnet and security groups). */
  placement: EniPlacement;
  eniConfigName(): string | undefined;
  events: AwsNodeEvents;
  close(): Promise<void>;
}

export async function connectKubernetes(
  config: Config,
  options: { logger: Logger; signal?: AbortSignal },
): Promise<KubeLink | undefined> {
  const { logger } = options;
  const later: { watcher?: NodeWatcher } = {};
  const required = apiServerRequired({
    customNetworking: config.customNetworking,
    podEni: config.enablePodEni,
    annotatePodIp: config.annotatePodIp,
  });
  const { client, state } = await connectApiServer({
    ...(config.kubeconfig ? { KUBECONFIG: config.kubeconfig } : {}),
    ...(config.kubernetesServiceHost
      ? { KUBERNETES_SERVICE_HOST: config.kubernetesServiceHost }
      : {}),
    ...(config.kubernetesServicePort
      ? { KUBERNETES_SERVICE_PORT: config.kubernetesServicePort }
      : {}),
    ...(config.clusterEndpoint ? { CLUSTER_ENDPOINT: config.clusterEndpoint } : {}),
  }, {
    required,
    logger,
    ...(options.signal ? { signal: options.signal } : {}),
    // Back after the start-up wait: read the Node now (max pods, overrides), not after the
    // watcher's backoff (up to 30 s).
    onConnected: () => later.watcher?.retryNow(),
  });
  if (!client) {
    logger.info("running without the Kubernetes API server", {
      reason: state.connected ? undefined : String(state.reason),
    });
    return undefined;
  }
  if (!config.nodeName) {
    logger.warn(
      "MY_NODE_NAME is unset: node settings (max pods, overrides, ENIConfig) unavailable",
    );
  }
  const recorder = new EventRecorder(client, {
    reportingInstance: config.podName || config.nodeName || "aws-node",
    logger,
  });
  const events = new AwsNodeEvents(client, recorder, {
    podName: config.podName || undefined,
    logger,
  });
  const watcher = config.nodeName
    ? later.watcher = new NodeWatcher(client, config.nodeName, { logger })
    : undefined;
  const overrides = new WarmPoolOverrides({
    warmEniTarget: config.warmEniTarget,
    warmIpTarget: config.warmIpTarget,
    minimumIpTarget: config.minimumIpTarget,
    warmPrefixTarget: config.warmPrefixTarget,
    maxEni: config.maxEni ?? -1,
  }, { events, logger });
  const nodeListeners = new Set<() => void>();
  if (watcher) {
    overrides.follow(watcher);
    let seen: NodeInfo | undefined;
    watcher.subscribe((node) => {
      const before = seen;
      seen = node;
      const cordon = node.unschedulable !== (before?.unschedulable ?? false);
      if (cordon && !config.manageEnisNonSchedulable) {
        logger.info(
          node.unschedulable
            ? "node cordoned (unschedulable taint): holding ENI and IP growth and freeing"
            : "node schedulable again: managing ENIs and IPs",
          { node: node.name },
        );
      }
      if (node.maxPods !== before?.maxPods && config.maxPods === null) {
        logger.info("max pods from the Node's capacity.pods", { maxPods: node.maxPods ?? null });
      }
      if (!before || cordon || node.maxPods !== before.maxPods) {
        for (const listener of [...nodeListeners]) listener();
      }
    });
    await watcher.start().catch((error) =>
      logger.warn("cannot read this node from the API server yet", { error })
    );
  }
  let cached:
    | { at: number; name: string; value: { subnetId: string; groupIds: string[] } }
    | undefined;
  const eniConfigName = () => {
    const node = watcher?.current;
    if (!node) return undefined;
    return selectEniConfigName(node, {
      annotationKey: config.eniConfigAnnotation,
      labelKey: config.eniConfigLabel,
    }).name;
  };
  const placement: EniPlacement = async () => {
    if (!config.customNetworking) return undefined;
    const name = eniConfigName();
    if (!name) {
      throw new RangeError(
        "custom networking needs this node's labels: the Node is not readable",
      );
    }
    if (cached && cached.name === name && Date.now() - cached.at < ENICONFIG_CACHE_MS) {
      return cached.value;
    }
    const eniConfig = await fetchEniConfig(client, name);
    const value = { subnetId: eniConfig.subnet, groupIds: eniConfig.securityGroups };
    cached = { at: Date.now(), name, value };
    return value;
  };
  if (config.customNetworking) {
    // Said once, plainly, at start: a failed ENI allocation is otherwise only a backoff warning.
    await placement().catch((error) =>
      logger.error(
        "custom networking: this node's ENIConfig is not usable; no ENI is created for pods " +
          "until it is",
        { error },
      )
    );
  }
  return {
    client,
    node: () => watcher?.current,
    warmPool: () => overrides.current,
    onWarmPoolChange: (listener) => overrides.subscribe(() => listener()),
    onNodeChange: (listener) => nodeListeners.add(listener),
    eniConfigName,
    placement,
    events,
    close: async () => {
      await watcher?.stop();
      await events.flush().catch(() => {});
      // Writes the series count of repeated events (a storm folded into one Event).
      await recorder.close().catch(() => {});
      await client.close?.();
    },
  };
}
