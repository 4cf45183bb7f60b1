/**
 * The Kubernetes API client of ipamd: a small typed surface over @kubernetes/client-node with a
 * deadline on every request and typed errors. The SDK is imported lazily, on the first
 * `createK8sClient` call: loading it costs ~0.6 s and ~85 MB RSS, which ipamd does not pay when
 * nothing points at an API server.
 */
import type * as Sdk from "@kubernetes/client-node";
import { type Logger, silentLogger } from "../ops/log.ts";
import { VERSION } from "../version.ts";
import type { K8sConnection } from "./connection.ts";
import { K8sApiError, K8sUnreachableError } from "./errors.ts";
import { buildKubeConfig, type PooledKubeConfig } from "./kube_config.ts";
import type {
  EniConfigObject,
  EventObject,
  NodeObject,
  PodObject,
  ServerVersion,
  WatchEventType,
} from "./types.ts";

export const DEFAULT_TIMEOUT_MS = 5000;

export interface K8sClientOptions {
  /** Deadline of each request unless the call gives its own (default 5000 ms). */
  timeoutMs?: number;
  userAgent?: string;
  logger?: Logger;
}

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ListOptions extends CallOptions {
  fieldSelector?: string;
  labelSelector?: string;
}

export interface WatchOptions {
  fieldSelector?: string;
  resourceVersion?: string;
  /** Server-side duration of the watch; the stream then ends normally. */
  timeoutSeconds?: number;
}

export interface WatchHandle {
  stop(): void;
  /** Resolves when the stream ends: undefined for a normal end or stop(), else the failure. */
  readonly done: Promise<Error | undefined>;
}

export interface NodeList {
  items: NodeObject[];
  resourceVersion: string;
}

/** Every API call ipamd makes goes through one of these methods. `await using` closes it. */
export interface K8sClient extends AsyncDisposable {
  readonly server: string;
  version(options?: CallOptions): Promise<ServerVersion>;
  getNode(name: string, options?: CallOptions): Promise<NodeObject>;
  listNodes(options?: ListOptions): Promise<NodeList>;
  watchNodes(
    options: WatchOptions,
    onEvent: (type: WatchEventType, object: unknown) => void,
  ): Promise<WatchHandle>;
  getPod(namespace: string, name: string, options?: CallOptions): Promise<PodObject>;
  /** JSON merge patch (RFC 7386) of a pod. */
  patchPod(
    namespace: string,
    name: string,
    patch: unknown,
    options?: CallOptions,
  ): Promise<PodObject>;
  getEniConfig(name: string, options?: CallOptions): Promise<EniConfigObject>;
  createEvent(namespace: string, event: EventObject, options?: CallOptions): Promise<EventObject>;
  /** JSON merge patch of an events.k8s.io/v1 Event. */
  patchEvent(
    namespace: string,
    name: string,
    patch: unknown,
    options?: CallOptions,
  ): Promise<EventObject>;
  /** Closes the pooled connections (watches end). */
  close(): Promise<void>;
}

export type SdkModule = typeof Sdk;
let sdkModule: Promise<SdkModule> | undefined;

/** Loads @kubernetes/client-node once; later calls share the module. */
export function loadSdk(): Promise<SdkModule> {
  sdkModule ??= import("@kubernetes/client-node");
  return sdkModule;
}

export async function createK8sClient(
  connection: K8sConnection,
  options: K8sClientOptions = {},
): Promise<K8sClient> {
  const sdk = await loadSdk();
  return new SdkClient(sdk, buildKubeConfig(sdk, connection), options);
}

class SdkClient implements K8sClient {
  readonly server: string;
  #sdk: SdkModule;
  #kc: PooledKubeConfig;
  #core: Sdk.CoreV1Api;
  #events: Sdk.EventsV1Api;
  #custom: Sdk.CustomObjectsApi;
  #versionApi: Sdk.VersionApi;
  #timeoutMs: number;
  #userAgent: string;
  #log: Logger;

  constructor(
    sdk: SdkModule,
    kc: PooledKubeConfig,
    options: K8sClientOptions,
  ) {
    this.#sdk = sdk;
    this.#kc = kc;
    this.server = kc.getCurrentCluster()?.server ?? "";
    this.#core = kc.makeApiClient(sdk.CoreV1Api);
    this.#events = kc.makeApiClient(sdk.EventsV1Api);
    this.#custom = kc.makeApiClient(sdk.CustomObjectsApi);
    this.#versionApi = kc.makeApiClient(sdk.VersionApi);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#userAgent = options.userAgent ?? `ipamd/${VERSION} (vpc-cni-deno)`;
    this.#log = options.logger ?? silentLogger;
  }

  close(): Promise<void> {
    return this.#kc.closeDispatchers();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  version(options?: CallOptions): Promise<ServerVersion> {
    return this.#call("get /version", options, (o) => this.#versionApi.getCode({}, o));
  }

  getNode(name: string, options?: CallOptions): Promise<NodeObject> {
    return this.#call(`get node ${name}`, options, (o) => this.#core.readNode({ name }, o));
  }

  async listNodes(options: ListOptions = {}): Promise<NodeList> {
    const list = await this.#call<{ items: NodeObject[]; metadata?: { resourceVersion?: string } }>(
      "list nodes",
      options,
      (o) =>
        this.#core.listNode({
          fieldSelector: options.fieldSelector,
          labelSelector: options.labelSelector,
        }, o),
    );
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? "" };
  }

  async watchNodes(
    options: WatchOptions,
    onEvent: (type: WatchEventType, object: unknown) => void,
  ): Promise<WatchHandle> {
    const watch = new this.#sdk.Watch(this.#kc);
    // Idle deadline (30 s in the SDK, TS-private): longer than the server-side duration, so a
    // quiet watch ends normally instead of being aborted every 30 s.
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs =
      ((options.timeoutSeconds ?? 300) + 30) * 1000;
    const { promise, resolve } = Promise.withResolvers<Error | undefined>();
    const query: Record<string, string | number | boolean> = { allowWatchBookmarks: true };
    if (options.fieldSelector) query.fieldSelector = options.fieldSelector;
    if (options.resourceVersion) query.resourceVersion = options.resourceVersion;
    if (options.timeoutSeconds) query.timeoutSeconds = options.timeoutSeconds;
    let stopped = false;
    const controller = await watch.watch(
      "/api/v1/nodes",
      query,
      (type: string, object: unknown) => onEvent(type as WatchEventType, object),
      (error: unknown) => resolve(stopped || !error ? undefined : this.#watchError(error)),
    );
    return {
      stop: () => {
        stopped = true;
        controller.abort();
        // Under Deno the SDK does not call `done` after an abort (the connection does close).
        resolve(undefined);
      },
      done: promise,
    };
  }

  getPod(namespace: string, name: string, options?: CallOptions): Promise<PodObject> {
    return this.#call(
      `get pod ${namespace}/${name}`,
      options,
      (o) => this.#core.readNamespacedPod({ namespace, name }, o),
    );
  }

  patchPod(
    namespace: string,
    name: string,
    patch: unknown,
    options?: CallOptions,
  ): Promise<PodObject> {
    return this.#call(
      `patch pod ${namespace}/${name}`,
      options,
      (o) => this.#core.patchNamespacedPod({ namespace, name, body: patch }, o),
      MERGE_PATCH,
    );
  }

  getEniConfig(name: string, options?: CallOptions): Promise<EniConfigObject> {
    return this.#call(
      `get eniconfig ${name}`,
      options,
      (o) =>
        this.#custom.getClusterCustomObject({
          group: "crd.k8s.amazonaws.com",
          version: "v1alpha1",
          plural: "eniconfigs",
          name,
        }, o),
    );
  }

  createEvent(namespace: string, event: EventObject, options?: CallOptions): Promise<EventObject> {
    return this.#call(
      `create event ${namespace}/${event.metadata.name}`,
      options,
      (o) => this.#events.createNamespacedEvent({ namespace, body: event as never }, o),
    );
  }

  patchEvent(
    namespace: string,
    name: string,
    patch: unknown,
    options?: CallOptions,
  ): Promise<EventObject> {
    return this.#call(
      `patch event ${namespace}/${name}`,
      options,
      (o) => this.#events.patchNamespacedEvent({ namespace, name, body: patch }, o),
      MERGE_PATCH,
    );
  }

  /** Runs one SDK call with a deadline; returns plain JSON; maps failures to typed errors. */
  async #call<T>(
    operation: string,
    options: CallOptions | undefined,
    fn: (config: Sdk.ConfigurationOptions) => Promise<unknown>,
    contentType?: string,
  ): Promise<T> {
    const timeoutMs = options?.timeoutMs ?? this.#timeoutMs;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new DOMException("deadline exceeded", "TimeoutError"));
    }, timeoutMs);
    const onAbort = () => controller.abort(options?.signal?.reason);
    options?.signal?.addEventListener("abort", onAbort, { once: true });
    const headers: Record<string, string> = { "User-Agent": this.#userAgent };
    if (contentType) headers["Content-Type"] = contentType;
    const Observable = this.#sdk.Observable;
    // ObjectParamAPI methods take Observable middleware (the SDK's own rxjs stub), whatever
    // their .d.ts says; a Promise-returning one fails inside the SDK.
    const middleware = {
      pre: (context: Sdk.RequestContext) => {
        context.setSignal(controller.signal);
        for (const [k, v] of Object.entries(headers)) context.setHeaderParam(k, v);
        return new Observable(Promise.resolve(context));
      },
      post: (context: Sdk.ResponseContext) => new Observable(Promise.resolve(context)),
    };
    const config = { middleware: [middleware], middlewareMergeStrategy: "append" };
    try {
      const result = await fn(config as unknown as Sdk.ConfigurationOptions);
      return JSON.parse(JSON.stringify(result ?? null)) as T;
    } catch (error) {
      if (options?.signal?.aborted) throw options.signal.reason;
      const mapped = this.#mapError(operation, error, timedOut, timeoutMs);
      this.#log.debug("kubernetes api call failed", { operation, error: mapped });
      throw mapped;
    } finally {
      clearTimeout(timer);
      options?.signal?.removeEventListener("abort", onAbort);
    }
  }

  #mapError(operation: string, error: unknown, timedOut: boolean, timeoutMs: number): Error {
    if (error instanceof this.#sdk.ApiException) {
      const status = parseStatus(error.body);
      return new K8sApiError(
        { status: error.code, reason: status.reason, operation, detail: status.message },
        { cause: error },
      );
    }
    return new K8sUnreachableError(
      { operation, server: this.server, timedOut, timeoutMs },
      { cause: error },
    );
  }

  #watchError(error: unknown): Error {
    const status = (error as { statusCode?: unknown }).statusCode;
    if (typeof status === "number") {
      return new K8sApiError({ status, reason: "", operation: "watch nodes" }, { cause: error });
    }
    const timedOut = error instanceof DOMException && error.name === "TimeoutError";
    return new K8sUnreachableError(
      { operation: "watch nodes", server: this.server, timedOut },
      { cause: error },
    );
  }
}

const MERGE_PATCH = "application/merge-patch+json";

function parseStatus(body: unknown): { reason: string; message: string } {
  let value = body;
  if (typeof body === "string") {
    try {
      value = JSON.parse(body);
    } catch {
      return { reason: "", message: body.slice(0, 200) };
    }
  }
  const status = value as { reason?: unknown; message?: unknown } | undefined;
  return {
    reason: typeof status?.reason === "string" ? status.reason : "",
    message: typeof status?.message === "string" ? status.message : "",
  };
}
