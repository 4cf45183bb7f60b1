/**
 * The SDK's KubeConfig for a resolved connection, with two fixes: connections speak HTTP/1.1
 * only and are pooled (see `PooledKubeConfig`). Only client.ts imports this, after the SDK has
 * been loaded.
 */
import type * as Sdk from "@kubernetes/client-node";
import type { K8sConnection } from "./connection.ts";
import { K8sConfigError } from "./errors.ts";

type SdkModule = typeof Sdk;

export type PooledKubeConfig = Sdk.KubeConfig & { closeDispatchers(): Promise<void> };

export function buildKubeConfig(sdk: SdkModule, connection: K8sConnection): PooledKubeConfig {
  const kc = http1KubeConfig(sdk);
  if (connection.source === "kubeconfig") {
    try {
      kc.loadFromFile(connection.kubeconfigPath);
    } catch (error) {
      throw new K8sConfigError(
        `kubeconfig ${connection.kubeconfigPath} cannot be used: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const current = kc.getCurrentCluster();
    if (!current) {
      throw new K8sConfigError(
        `kubeconfig ${connection.kubeconfigPath} has no current context with a cluster; set ` +
          "current-context",
      );
    }
    if (connection.serverOverride) {
      kc.loadFromOptions({
        clusters: kc.clusters.map((c) =>
          c.name === current.name ? { ...c, server: connection.serverOverride } : c
        ),
        users: kc.users,
        contexts: kc.contexts,
        currentContext: kc.currentContext,
      });
    }
  } else {
    kc.loadFromOptions({
      clusters: [{ name: "in-cluster", server: connection.server, caFile: connection.caFile }],
      // The tokenFile provider re-reads the (rotated, bound) token every minute.
      users: [{
        name: "aws-node",
        authProvider: { name: "tokenFile", config: { tokenFile: connection.tokenFile } },
      }],
      contexts: [{ name: "in-cluster", cluster: "in-cluster", user: "aws-node" }],
      currentContext: "in-cluster",
    });
  }
  return kc;
}

interface Closable {
  close(): Promise<void>;
}

/**
 * A KubeConfig whose connections (1) speak HTTP/1.1 only and (2) are pooled. undici 8 offers
 * HTTP/2 by default and the API server accepts it; Deno's node:http2 (nghttp2) then aborts the
 * whole process on a GOAWAY after a cancelled stream ("find_stream_on_goaway_func: Assertion
 * failed"), which an API server restart or `--goaway-chance` would trigger. And the SDK builds
 * a new connection pool, hence a new TLS handshake, for every request.
 */
function http1KubeConfig(sdk: SdkModule): PooledKubeConfig {
  class Http1KubeConfig extends sdk.KubeConfig {
    #dispatchers = new Map<string, Closable>();

    constructor() {
      super();
      // createDispatcher is TS-private in the SDK: wrapped here rather than overridden.
      const self = this as unknown as {
        createDispatcher(
          cluster: Sdk.Cluster | null,
          agentOptions: Record<string, unknown>,
        ): unknown;
      };
      const create = self.createDispatcher.bind(this);
      self.createDispatcher = (cluster, agentOptions) => {
        const key = JSON.stringify([cluster?.server, cluster?.proxyUrl, agentOptions]);
        let dispatcher = this.#dispatchers.get(key);
        if (!dispatcher) {
          dispatcher = create(cluster, agentOptions) as Closable | undefined;
          if (!dispatcher) return undefined;
          this.#dispatchers.set(key, dispatcher);
        }
        return dispatcher;
      };
    }

    override createDispatcherOptions(
      cluster: Sdk.Cluster | null,
      agentOptions: Parameters<Sdk.KubeConfig["createDispatcherOptions"]>[1],
    ) {
      const options = super.createDispatcherOptions(cluster, agentOptions);
      if (options.type === "agent" || options.type === "proxy") {
        // undici reads allowH2 from the connect options (they override its defaults).
        return {
          ...options,
          connect: { ...options.connect, allowH2: false } as typeof options.connect,
        };
      }
      return options;
    }

    async closeDispatchers(): Promise<void> {
      const all = [...this.#dispatchers.values()];
      this.#dispatchers.clear();
      await Promise.allSettled(all.map((d) => d.close()));
    }
  }
  return new Http1KubeConfig();
}
