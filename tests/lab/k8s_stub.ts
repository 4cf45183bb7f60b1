/**
 * A wire-level Kubernetes API server stub for tests: a Deno HTTP(S) server on loopback that the
 * real `kubectl` and `@kubernetes/client-node` accept. It serves discovery, GET/LIST/WATCH,
 * POST, PUT, PATCH (merge, strategic merge, JSON patch) and DELETE for the built-in kinds the
 * project touches and for custom resources whose CRD has been stored; honours `dryRun=All`
 * and `fieldValidation=Strict`; answers errors with Status objects; logs every request.
 * Tests seed and read objects through `put`/`get`/`list`/`remove` and inject faults through
 * `intercept`.
 *
 *   const stub = await K8sStub.start();
 *   stub.put({ apiVersion: "v1", kind: "Node", metadata: { name: "n1" } });
 *   const kubeconfig = await stub.writeKubeconfig(dir);   // for kubectl and KUBECONFIG
 *   ...
 *   await stub.close();
 */
import {
  apiVersionOf,
  BUILTIN_TYPES,
  type ResourceType,
  typesFromCrds,
} from "./k8s_stub_resources.ts";
import { clone, isObject, type Json, type JsonObject } from "./k8s_stub_patch.ts";
import { type Change, storageOf, Store } from "./k8s_stub_store.ts";
import { eventToCore } from "./k8s_stub_convert.ts";
import { handle, type Route, statusResponse } from "./k8s_stub_handlers.ts";

export type { JsonObject };

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string;
  accept: string;
  userAgent: string;
  /** Parsed JSON body, when there was one. */
  body?: unknown;
  /** HTTP status answered. */
  status: number;
}

export interface InterceptedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  body: string;
}

/** Returns a response to answer instead of the stub, or undefined to let the stub answer. */
export type Interceptor = (
  request: InterceptedRequest,
) => Response | undefined | Promise<Response | undefined>;

export interface K8sStubOptions {
  /** When set, every request must carry `Authorization: Bearer <token>` (else 401). */
  token?: string;
  /** Serve HTTPS with the test certificate in tests/lab/fixtures (CA: `caFile`). */
  tls?: boolean;
  /** Objects stored before the first request (after the default namespaces). */
  objects?: JsonObject[];
  /** Port on 127.0.0.1 (default: any free port). */
  port?: number;
  /**
   * Runs the (synchronous) bind: `(bind) => withNetns(path, bind)` serves on the loopback of a
   * lab namespace; the socket stays there after the thread switches back.
   */
  bindWith?: (bind: () => Deno.HttpServer<Deno.NetAddr>) => Deno.HttpServer<Deno.NetAddr>;
}

const FIXTURES = new URL("./fixtures/", import.meta.url);

export class K8sStub {
  readonly store: Store = new Store();
  readonly requests: RequestRecord[] = [];
  /** Fault injection: consulted before the stub handles a request. */
  intercept: Interceptor | undefined;
  /** PEM file of the CA that signed the TLS certificate (only with `tls`). */
  readonly caFile: string | undefined;
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  #url = "";
  #token: string | undefined;
  #streams = new Set<() => void>();

  private constructor(options: K8sStubOptions) {
    this.#token = options.token;
    this.caFile = options.tls ? new URL("k8s_stub_ca.pem", FIXTURES).pathname : undefined;
    for (const name of ["default", "kube-system", "kube-public", "kube-node-lease"]) {
      this.put({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
    }
    for (
      const [name, value] of [["system-node-critical", 2000001000], [
        "system-cluster-critical",
        2000000000,
      ]] as const
    ) {
      this.put({
        apiVersion: "scheduling.k8s.io/v1",
        kind: "PriorityClass",
        metadata: { name },
        value,
      });
    }
    for (const object of options.objects ?? []) this.put(object);
  }

  static async start(options: K8sStubOptions = {}): Promise<K8sStub> {
    const stub = new K8sStub(options);
    const tls = options.tls
      ? {
        cert: await Deno.readTextFile(new URL("k8s_stub_server.pem", FIXTURES)),
        key: await Deno.readTextFile(new URL("k8s_stub_server_key.pem", FIXTURES)),
      }
      : {};
    const { promise, resolve } = Promise.withResolvers<Deno.NetAddr>();
    const bind = () =>
      Deno.serve(
        { hostname: "127.0.0.1", port: options.port ?? 0, onListen: resolve, ...tls },
        (request) => stub.#serve(request),
      );
    stub.#server = options.bindWith ? options.bindWith(bind) : bind();
    const addr = await promise;
    stub.#url = `${options.tls ? "https" : "http"}://127.0.0.1:${addr.port}`;
    return stub;
  }

  get url(): string {
    return this.#url;
  }

  get port(): number {
    return Number(new URL(this.#url).port);
  }

  /** Every resource type currently served: built-ins plus those of stored CRDs. */
  types(): ResourceType[] {
    const crds = this.store.list({
      storage: "apiextensions.k8s.io/customresourcedefinitions",
      namespace: "",
    });
    return [...BUILTIN_TYPES, ...typesFromCrds(crds)];
  }

  typeOf(apiVersion: string, kind: string): ResourceType {
    const type = this.types().find((t) => apiVersionOf(t) === apiVersion && t.kind === kind);
    if (!type) throw new Error(`the stub serves no ${kind} in ${apiVersion}`);
    return type;
  }

  /** Creates or replaces an object (watchers see ADDED or MODIFIED). Returns it as stored. */
  put(object: JsonObject): JsonObject {
    const type = this.typeOf(String(object.apiVersion), String(object.kind));
    const meta = isObject(object.metadata) ? object.metadata : {};
    const namespace = type.namespaced ? String(meta.namespace ?? "default") : "";
    const copy = clone(object);
    const storage = storageOf(type);
    return this.store.get(storage, namespace, String(meta.name)) === undefined
      ? this.store.create(storage, namespace, copy)
      : this.store.update(storage, namespace, copy);
  }

  get(apiVersion: string, kind: string, name: string, namespace = ""): JsonObject | undefined {
    const type = this.typeOf(apiVersion, kind);
    const object = this.store.get(
      storageOf(type),
      type.namespaced ? namespace || "default" : "",
      name,
    );
    return object && this.view(type, object);
  }

  list(apiVersion: string, kind: string, namespace = ""): JsonObject[] {
    const type = this.typeOf(apiVersion, kind);
    return this.store.list({ storage: storageOf(type), namespace }).map((o) => this.view(type, o));
  }

  remove(apiVersion: string, kind: string, name: string, namespace = ""): boolean {
    const type = this.typeOf(apiVersion, kind);
    return this.store.delete(
      storageOf(type),
      type.namespaced ? namespace || "default" : "",
      name,
    ) !==
      undefined;
  }

  /** The object as a client of `type` sees it (apiVersion/kind, core/v1 Event conversion). */
  view(type: ResourceType, object: JsonObject): JsonObject {
    if (type.group === "" && type.resource === "events") return eventToCore(object);
    return { ...object, apiVersion: apiVersionOf(type), kind: type.kind };
  }

  /** A kubeconfig (JSON, which is YAML) for kubectl and for KUBECONFIG. */
  kubeconfig(options: { token?: string } = {}): string {
    const token = options.token ?? this.#token;
    return JSON.stringify(
      {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{
          name: "tk8s-stub",
          cluster: {
            server: this.#url,
            ...(this.caFile ? { "certificate-authority": this.caFile } : {}),
          },
        }],
        // Always a token: with an https server and no credentials kubectl prompts for a password.
        users: [{ name: "tk8s-user", user: { token: token ?? "tk8s-any-token" } }],
        contexts: [{
          name: "tk8s",
          context: { cluster: "tk8s-stub", user: "tk8s-user", namespace: "default" },
        }],
        "current-context": "tk8s",
      },
      null,
      2,
    );
  }

  async writeKubeconfig(dir: string, options: { token?: string } = {}): Promise<string> {
    const path = `${dir}/kubeconfig`;
    await Deno.writeTextFile(path, this.kubeconfig(options));
    return path;
  }

  /** Watch streams open now (a client that stops a watch must make this drop). */
  get openWatches(): number {
    return this.#streams.size;
  }

  /** Ends every open watch stream, as an API server restart would. */
  dropWatches(): void {
    for (const close of [...this.#streams]) close();
  }

  /** Requests whose method and path match (path: exact string or a RegExp). */
  requestsTo(method: string, path: string | RegExp): RequestRecord[] {
    return this.requests.filter((r) =>
      r.method === method && (typeof path === "string" ? r.path === path : path.test(r.path))
    );
  }

  async close(): Promise<void> {
    this.dropWatches();
    await this.#server?.shutdown();
  }

  /** Opens a watch stream over `route`'s filter; used by the handlers. */
  openWatch(
    route: Route,
    resourceVersion: string | undefined,
    timeoutSeconds: number,
    register: (send: (change: Change) => void) => () => void,
  ): Response {
    const encoder = new TextEncoder();
    let close = () => {};
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        let unsubscribe = () => {};
        let open = true;
        close = () => {
          if (!open) return;
          open = false;
          unsubscribe();
          clearTimeout(timer);
          this.#streams.delete(close);
          try {
            controller.close();
          } catch { /* the client already went away */ }
        };
        this.#streams.add(close);
        const send = (change: Change) => {
          if (!open) return;
          const event = { type: change.type, object: this.view(route.type, change.object) };
          controller.enqueue(encoder.encode(JSON.stringify(event) + "\n"));
        };
        try {
          unsubscribe = register(send);
        } catch (error) {
          const status = statusResponse(410, "Expired", (error as Error).message);
          controller.enqueue(
            encoder.encode(JSON.stringify({ type: "ERROR", object: status.object }) + "\n"),
          );
          close();
          return;
        }
        if (timeoutSeconds > 0) timer = setTimeout(close, timeoutSeconds * 1000);
      },
      cancel: () => close(),
    });
    void resourceVersion;
    return new Response(body, {
      status: 200,
      headers: { "content-type": "application/json", "cache-control": "no-cache" },
    });
  }

  async #serve(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const text = request.body ? await request.text() : "";
    const record: RequestRecord = {
      method: request.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType: request.headers.get("content-type") ?? "",
      accept: request.headers.get("accept") ?? "",
      userAgent: request.headers.get("user-agent") ?? "",
      status: 0,
    };
    if (text) {
      try {
        record.body = JSON.parse(text);
      } catch {
        record.body = text;
      }
    }
    this.requests.push(record);
    let response: Response;
    if (this.#token && request.headers.get("authorization") !== `Bearer ${this.#token}`) {
      response = statusResponse(401, "Unauthorized", "Unauthorized").response;
    } else {
      const intercepted = await this.intercept?.({
        method: request.method,
        path: url.pathname,
        query: url.searchParams,
        headers: request.headers,
        body: text,
      });
      response = intercepted ??
        handle(this, request.method, url, request.headers, record.body as Json);
    }
    record.status = response.status;
    return response;
  }
}
