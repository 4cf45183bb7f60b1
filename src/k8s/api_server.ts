/**
 * API server connectivity at start (spec §3.1).
 *
 * - Required (custom networking, security groups for pods or ANNOTATE_POD_IP): probe
 *   `GET /version` every 2 s (5 s per probe) until it answers. Permanent failures (bad
 *   configuration, 401/403/404) abort at once with the error. Deviation: upstream also aborts
 *   on a refused connection; here it keeps polling, since a restart would only start the same
 *   wait over (the liveness probe still bounds it).
 * - Optional: probe every 5 s for at most 30 s; then run without the API server and keep
 *   probing every 5 s in the background; `onConnected` runs once when it answers, so the
 *   daemon can then read max pods from its Node (upstream recreates its client at that point).
 *   With no connection settings at all there is nothing to probe: ipamd runs without it and
 *   never loads the Kubernetes SDK.
 */
import { sleep } from "../ops/timers.ts";
import { type Logger, silentLogger } from "../ops/log.ts";
import { createK8sClient, type K8sClient, type K8sClientOptions } from "./client.ts";
import { type ConnectionEnv, resolveConnection, type ResolveOptions } from "./connection.ts";
import { K8sApiError, K8sConfigError, K8sUnreachableError } from "./errors.ts";
import type { ServerVersion } from "./types.ts";

export interface ApiServerNeeds {
  /** AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG */
  customNetworking: boolean;
  /** ENABLE_POD_ENI */
  podEni: boolean;
  /** ANNOTATE_POD_IP */
  annotatePodIp: boolean;
}

export function apiServerRequired(needs: ApiServerNeeds): boolean {
  return needs.customNetworking || needs.podEni || needs.annotatePodIp;
}

export interface WaitForApiServerOptions {
  required: boolean;
  /** Between probes while waiting at start (default 2000 ms required, 5000 ms optional). */
  pollIntervalMs?: number;
  /** Deadline of one probe (default 5000 ms). */
  probeTimeoutMs?: number;
  /** Optional mode: how long to wait at start before going on without (default 30000 ms). */
  optionalWaitMs?: number;
  /** Optional mode: between background probes after that (default 5000 ms). */
  backgroundIntervalMs?: number;
  /** Runs once when a background probe first succeeds. */
  onConnected?: (version: ServerVersion) => void | Promise<void>;
  signal?: AbortSignal;
  logger?: Logger;
}

export interface BackgroundProbe {
  stop(): void;
  /** Resolves with the version when connected, or undefined when stopped first. */
  readonly connected: Promise<ServerVersion | undefined>;
}

export type ApiServerState =
  | { connected: true; version: ServerVersion }
  | { connected: false; reason: Error; background?: BackgroundProbe };

/** Would a retry help? Timeouts, refused connections, throttling and 5xx: yes. */
export function isTransient(error: unknown): boolean {
  return error instanceof K8sUnreachableError || (error instanceof K8sApiError && error.transient);
}

export async function waitForApiServer(
  client: K8sClient,
  options: WaitForApiServerOptions,
): Promise<ApiServerState> {
  const log = options.logger ?? silentLogger;
  const probeTimeoutMs = options.probeTimeoutMs ?? 5000;
  const interval = options.pollIntervalMs ?? (options.required ? 2000 : 5000);
  const deadline = options.required ? Infinity : Date.now() + (options.optionalWaitMs ?? 30000);
  let lastError: Error = new Error("not probed");
  for (let attempt = 1;; attempt++) {
    try {
      const version = await client.version({ timeoutMs: probeTimeoutMs, signal: options.signal });
      log.info("API server reachable", {
        server: client.server,
        version: version.gitVersion,
        attempt,
      });
      return { connected: true, version };
    } catch (error) {
      if (options.signal?.aborted) throw error;
      lastError = error as Error;
      if (options.required && !isTransient(error)) throw error;
      log.warn("API server not reachable yet", { server: client.server, attempt, error });
    }
    if (Date.now() + interval > deadline) break;
    await sleep(interval, options.signal);
  }
  log.warn("continuing without the API server; probing in the background", {
    server: client.server,
    error: lastError,
  });
  return { connected: false, reason: lastError, background: probeInBackground(client, options) };
}

function probeInBackground(client: K8sClient, options: WaitForApiServerOptions): BackgroundProbe {
  const log = options.logger ?? silentLogger;
  const stopper = new AbortController();
  const signal = options.signal
    ? AbortSignal.any([options.signal, stopper.signal])
    : stopper.signal;
  const interval = options.backgroundIntervalMs ?? 5000;
  const connected = (async () => {
    while (!signal.aborted) {
      try {
        await sleep(interval, signal);
        const version = await client.version({ timeoutMs: options.probeTimeoutMs ?? 5000, signal });
        log.info("API server reachable now", {
          server: client.server,
          version: version.gitVersion,
        });
        await options.onConnected?.(version);
        return version;
      } catch (error) {
        if (signal.aborted) return undefined;
        log.debug("API server still not reachable", { error });
      }
    }
    return undefined;
  })();
  return { stop: () => stopper.abort(), connected };
}

export interface ConnectOptions
  extends Omit<WaitForApiServerOptions, "required">, ResolveOptions, K8sClientOptions {
  required: boolean;
}

export interface ApiServerConnection {
  /** Undefined when nothing points at an API server (and it is not required). */
  client: K8sClient | undefined;
  state: ApiServerState;
}

/**
 * Resolves the connection from the environment, creates the client (loading the SDK only
 * then) and waits per `waitForApiServer`. Throws when the API server is required and cannot be
 * configured or answers with a permanent error.
 */
export async function connectApiServer(
  env: ConnectionEnv,
  options: ConnectOptions,
): Promise<ApiServerConnection> {
  let connection;
  try {
    connection = resolveConnection(env, options);
  } catch (error) {
    if (options.required) throw error;
    return { client: undefined, state: { connected: false, reason: error as Error } };
  }
  if (!connection) {
    const reason = new K8sConfigError(
      "no Kubernetes API server configured: KUBERNETES_SERVICE_HOST/PORT and KUBECONFIG are unset",
    );
    if (options.required) throw reason;
    return { client: undefined, state: { connected: false, reason } };
  }
  const client = await createK8sClient(connection, options);
  return { client, state: await waitForApiServer(client, options) };
}
