/**
 * Kubernetes integration of ipamd: the only module the daemon imports from src/k8s/.
 *
 * Importing it is cheap: @kubernetes/client-node is loaded by `createK8sClient` /
 * `connectApiServer` only (tests/unit/k8s_mod_test.ts checks that no static import pulls it in).
 *
 *   const { client, state } = await connectApiServer(env, { required, onConnected });
 *   if (client) {
 *     const watcher = new NodeWatcher(client, nodeName);
 *     const overrides = new WarmPoolOverrides(baseSettings, { events });
 *     overrides.follow(watcher); overrides.subscribe((effective) => pool.reconfigure(effective));
 *     await watcher.start();
 *   }
 */
export {
  type ApiServerConnection,
  type ApiServerNeeds,
  apiServerRequired,
  type ApiServerState,
  type BackgroundProbe,
  connectApiServer,
  type ConnectOptions,
  isTransient,
  waitForApiServer,
  type WaitForApiServerOptions,
} from "./api_server.ts";
export {
  type CallOptions,
  createK8sClient,
  type K8sClient,
  type K8sClientOptions,
  type WatchHandle,
} from "./client.ts";
export { type ConnectionEnv, type K8sConnection, resolveConnection } from "./connection.ts";
export {
  isConflict,
  isNotFound,
  K8sApiError,
  K8sConfigError,
  K8sUnreachableError,
  NoEniConfigError,
} from "./errors.ts";
export {
  DEFAULT_ENI_CONFIG_NAME,
  type EniConfig,
  type EniConfigKeys,
  type EniConfigSelection,
  EXTERNAL_ENI_CONFIG_LABEL,
  fetchEniConfig,
  selectEniConfigName,
} from "./eniconfig.ts";
export { EventRecorder, type EventRecorderOptions, type EventStats } from "./events.ts";
export {
  AwsNodeEvents,
  INVALID_NODE_OVERRIDE,
  MISSING_IAM_PERMISSIONS,
} from "./aws_node_events.ts";
export {
  DEFAULT_MAX_PODS,
  mayManageEnis,
  type NodeInfo,
  readNodeInfo,
  UNSCHEDULABLE_TAINT,
} from "./node_info.ts";
export {
  applyNodeOverrides,
  type EffectiveWarmPool,
  OVERRIDE_RULES,
  parseNodeOverrides,
  type WarmPoolSettings,
} from "./node_overrides.ts";
export { NodeWatcher, type NodeWatcherOptions } from "./node_watch.ts";
export { type WarmPoolListener, WarmPoolOverrides } from "./override_watch.ts";
export {
  annotatePodIp,
  POD_IPS_ANNOTATION,
  PodIpMismatchError,
  releasePodIpAnnotation,
} from "./pod_ip_annotation.ts";
