/**
 * Request handling of the Kubernetes API stub: URL → resource type, then the verb (get, list,
 * watch, create, update, patch, delete) with the API server's answers, including its Status
 * objects for errors.
 */
import type { K8sStub } from "./k8s_stub.ts";
import {
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersionOf,
  apiVersions,
  openApiV3Document,
  openApiV3Index,
  type ResourceType,
  STUB_VERSION,
} from "./k8s_stub_resources.ts";
import {
  clone,
  isObject,
  type Json,
  type JsonObject,
  jsonPatch,
  mergePatch,
  PatchError,
  strategicMergePatch,
} from "./k8s_stub_patch.ts";
import { GoneError, SelectorError, storageOf, type WatchFilter } from "./k8s_stub_store.ts";
import { eventFromCore } from "./k8s_stub_convert.ts";
import { type Cause, pruneUnknown, validateObject } from "./k8s_stub_validate.ts";

export interface Route {
  type: ResourceType;
  namespace: string;
  name?: string;
  subresource?: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly details?: JsonObject,
  ) {
    super(message);
  }
}

export function statusResponse(
  code: number,
  reason: string,
  message: string,
  details?: JsonObject,
): { response: Response; object: JsonObject } {
  const object: JsonObject = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
  return { response: Response.json(object, { status: code }), object };
}

export function handle(
  stub: K8sStub,
  method: string,
  url: URL,
  headers: Headers,
  body: Json,
): Response {
  try {
    const discovery = discover(stub, url.pathname);
    if (discovery !== undefined) {
      if (method !== "GET") {
        throw new HttpError(405, "MethodNotAllowed", `${method} is not allowed`);
      }
      return typeof discovery === "string"
        ? new Response(discovery, { headers: { "content-type": "text/plain" } })
        : Response.json(discovery);
    }
    const route = resolve(stub, url.pathname);
    const q = url.searchParams;
    const dryRun = q.get("dryRun");
    if (dryRun !== null && dryRun !== "All") {
      throw new HttpError(400, "BadRequest", `unsupported dryRun "${dryRun}": only All is valid`);
    }
    const strict = q.get("fieldValidation") === "Strict";
    switch (method) {
      case "GET":
        if (route.name) return ok(stub.view(route.type, mustGet(stub, route)));
        return q.get("watch") === "true" || q.get("watch") === "1"
          ? watch(stub, route, q)
          : list(stub, route, q);
      case "POST":
        if (route.name) throw new HttpError(405, "MethodNotAllowed", "POST needs a collection URL");
        return create(stub, route, body, { dryRun: dryRun !== null, strict });
      case "PUT":
        return update(stub, route, object(body), { dryRun: dryRun !== null, strict });
      case "PATCH":
        return patch(stub, route, headers.get("content-type") ?? "", body, {
          dryRun: dryRun !== null,
          strict,
        });
      case "DELETE": {
        if (!route.name) {
          throw new HttpError(405, "MethodNotAllowed", "deletecollection is not supported");
        }
        const gone = stub.store.delete(
          storageOf(route.type),
          route.namespace,
          route.name,
          dryRun !== null,
        );
        if (!gone) throw notFound(route);
        return ok(stub.view(route.type, gone));
      }
      default:
        throw new HttpError(405, "MethodNotAllowed", `${method} is not allowed`);
    }
  } catch (error) {
    if (error instanceof HttpError) {
      return statusResponse(error.status, error.reason, error.message, error.details).response;
    }
    if (error instanceof PatchError || error instanceof SelectorError) {
      return statusResponse(400, "BadRequest", error.message).response;
    }
    if (error instanceof GoneError) return statusResponse(410, "Expired", error.message).response;
    return statusResponse(500, "InternalError", String(error)).response;
  }
}

function discover(stub: K8sStub, path: string): JsonObject | string | undefined {
  if (path === "/version") return STUB_VERSION as JsonObject;
  if (path === "/healthz" || path === "/readyz" || path === "/livez") return "ok";
  if (path === "/api") return apiVersions() as JsonObject;
  const types = stub.types();
  if (path === "/apis") return apiGroupList(types) as JsonObject;
  if (path === "/api/v1") return apiResourceList("v1", types) as JsonObject;
  if (path === "/openapi/v3") return openApiV3Index(types) as JsonObject;
  if (path.startsWith("/openapi/v3/")) {
    const key = path.slice("/openapi/v3/".length);
    const doc = openApiV3Document(key === "api/v1" ? "v1" : key.replace(/^apis\//, ""), types);
    if (!doc) {
      throw new HttpError(404, "NotFound", "the server could not find the requested resource");
    }
    return doc as JsonObject;
  }
  const m = /^\/apis\/([^/]+)(?:\/([^/]+))?\/?$/.exec(path);
  if (!m) return undefined;
  const [, group, version] = m;
  const versions = [...new Set(types.filter((t) => t.group === group).map((t) => t.version))];
  if (versions.length === 0) {
    throw new HttpError(404, "NotFound", "the server could not find the requested resource");
  }
  if (!version) return apiGroup(group!, versions) as JsonObject;
  if (!versions.includes(version)) {
    throw new HttpError(404, "NotFound", "the server could not find the requested resource");
  }
  return apiResourceList(`${group}/${version}`, types) as JsonObject;
}

function resolve(stub: K8sStub, path: string): Route {
  const m = /^\/api\/(v1)\/(.+)$/.exec(path) ?? /^\/apis\/([^/]+\/[^/]+)\/(.+)$/.exec(path);
  if (!m) throw new HttpError(404, "NotFound", "the server could not find the requested resource");
  const groupVersion = m[1]!;
  const rest = m[2]!.split("/").filter(Boolean).map(decodeURIComponent);
  let namespace = "";
  let resource: string;
  let name: string | undefined;
  let subresource: string | undefined;
  const nsSub = rest.length === 3 && (rest[2] === "status" || rest[2] === "finalize");
  if (rest[0] === "namespaces" && rest.length >= 3 && !nsSub) {
    [, namespace, resource, name, subresource] = rest as [string, string, string, string?, string?];
  } else {
    [resource, name, subresource] = rest as [string, string?, string?];
  }
  const type = stub.types().find((t) =>
    apiVersionOf(t) === groupVersion && t.resource === resource
  );
  if (!type) {
    throw new HttpError(404, "NotFound", "the server could not find the requested resource");
  }
  if (namespace && !type.namespaced) {
    throw new HttpError(404, "NotFound", "the server could not find the requested resource");
  }
  if (subresource && subresource !== "status") {
    throw new HttpError(404, "NotFound", `the stub has no subresource ${subresource}`);
  }
  return { type, namespace, name, subresource };
}

function notFound(route: Route): HttpError {
  const what = route.type.group
    ? `${route.type.resource}.${route.type.group}`
    : route.type.resource;
  return new HttpError(404, "NotFound", `${what} "${route.name}" not found`, {
    name: route.name ?? "",
    group: route.type.group,
    kind: route.type.resource,
  });
}

function mustGet(stub: K8sStub, route: Route): JsonObject {
  const found = stub.store.get(storageOf(route.type), route.namespace, route.name ?? "");
  if (!found) throw notFound(route);
  return found;
}

function ok(object: JsonObject, status = 200): Response {
  return Response.json(object, { status });
}

function object(body: Json): JsonObject {
  if (!isObject(body)) {
    throw new HttpError(400, "BadRequest", "the request body must be a JSON object");
  }
  return clone(body);
}

function filterOf(route: Route, q: URLSearchParams): WatchFilter {
  return {
    storage: storageOf(route.type),
    namespace: route.namespace,
    fieldSelector: q.get("fieldSelector") ?? undefined,
    labelSelector: q.get("labelSelector") ?? undefined,
  };
}

function list(stub: K8sStub, route: Route, q: URLSearchParams): Response {
  const items = stub.store.list(filterOf(route, q)).map((o) => stub.view(route.type, o));
  return ok({
    apiVersion: apiVersionOf(route.type),
    kind: `${route.type.kind}List`,
    metadata: { resourceVersion: stub.store.resourceVersion },
    items,
  });
}

function watch(stub: K8sStub, route: Route, q: URLSearchParams): Response {
  const filter = filterOf(route, q);
  if (route.name) filter.fieldSelector = `metadata.name=${route.name}`;
  const rv = q.get("resourceVersion") ?? undefined;
  const timeout = Number(q.get("timeoutSeconds") ?? "0");
  return stub.openWatch(route, rv, timeout, (send) => stub.store.watch(filter, rv, send));
}

interface WriteOptions {
  dryRun: boolean;
  strict: boolean;
}

/** Normalises and checks an object about to be written: kind, namespace, schema, validation. */
function admit(stub: K8sStub, route: Route, input: JsonObject, options: WriteOptions): JsonObject {
  const type = route.type;
  if (input.kind !== undefined && input.kind !== type.kind) {
    throw new HttpError(
      400,
      "BadRequest",
      `the body kind ${input.kind} does not match ${type.kind}`,
    );
  }
  if (!isObject(input.metadata)) input.metadata = {};
  const meta = input.metadata as JsonObject;
  if (type.namespaced) {
    if (!route.namespace) {
      throw new HttpError(404, "NotFound", "a namespaced resource needs a namespace in the URL");
    }
    if (meta.namespace !== undefined && meta.namespace !== route.namespace) {
      throw new HttpError(
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    }
    if (!stub.store.get("/namespaces", "", route.namespace)) {
      throw new HttpError(404, "NotFound", `namespaces "${route.namespace}" not found`, {
        name: route.namespace,
        kind: "namespaces",
      });
    }
    meta.namespace = route.namespace;
  } else if (typeof meta.namespace === "string" && meta.namespace !== "") {
    delete meta.namespace;
  }
  let stored = type.group === "" && type.resource === "events" ? eventFromCore(input) : input;
  stored = { ...stored, apiVersion: apiVersionOf(type), kind: type.kind };
  if (type.schema) {
    const unknown = pruneUnknown(stored, type.schema);
    if (options.strict && unknown.length > 0) {
      throw new HttpError(
        400,
        "BadRequest",
        `${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: strict decoding error: ${
          unknown.map((f) => `unknown field "${f}"`).join(", ")
        }`,
      );
    }
  }
  const group = type.group === "" && type.resource === "events" ? "" : type.group;
  const causes = validateObject(group, type.kind, stored, type.schema);
  if (causes.length > 0) throw invalid(type, String(meta.name ?? meta.generateName ?? ""), causes);
  return stored;
}

function invalid(type: ResourceType, name: string, causes: Cause[]): HttpError {
  const summary = causes.map((c) => `${c.field}: ${c.message}`).join(", ");
  const kind = type.group ? `${type.kind}.${type.group}` : type.kind;
  return new HttpError(422, "Invalid", `${kind} "${name}" is invalid: ${summary}`, {
    name,
    group: type.group,
    kind: type.kind,
    causes: causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field })),
  });
}

function create(stub: K8sStub, route: Route, body: Json, options: WriteOptions): Response {
  const input = admit(stub, route, object(body), options);
  const meta = input.metadata as JsonObject;
  const storage = storageOf(route.type);
  if (typeof meta.name === "string" && stub.store.get(storage, route.namespace, meta.name)) {
    const what = route.type.group
      ? `${route.type.resource}.${route.type.group}`
      : route.type.resource;
    throw new HttpError(409, "AlreadyExists", `${what} "${meta.name}" already exists`, {
      name: meta.name,
      group: route.type.group,
      kind: route.type.resource,
    });
  }
  const created = stub.store.create(storage, route.namespace, input, options.dryRun);
  return ok(stub.view(route.type, created), 201);
}

function update(stub: K8sStub, route: Route, body: JsonObject, options: WriteOptions): Response {
  if (!route.name) throw new HttpError(405, "MethodNotAllowed", "PUT needs an object URL");
  const current = mustGet(stub, route);
  const meta = isObject(body.metadata) ? body.metadata : {};
  if (meta.name !== undefined && meta.name !== route.name) {
    throw new HttpError(
      400,
      "BadRequest",
      "the name of the object does not match the name on the URL",
    );
  }
  return write(stub, route, current, body, options);
}

function write(
  stub: K8sStub,
  route: Route,
  current: JsonObject,
  next: JsonObject,
  options: WriteOptions,
): Response {
  const meta = (isObject(next.metadata) ? next.metadata : (next.metadata = {})) as JsonObject;
  const currentRv = String((current.metadata as JsonObject).resourceVersion);
  if (meta.resourceVersion !== undefined && meta.resourceVersion !== currentRv) {
    const what = route.type.group
      ? `${route.type.resource}.${route.type.group}`
      : route.type.resource;
    throw new HttpError(
      409,
      "Conflict",
      `Operation cannot be fulfilled on ${what} "${route.name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name: route.name ?? "", group: route.type.group, kind: route.type.resource },
    );
  }
  meta.name = route.name!;
  const input = admit(stub, route, next, options);
  const updated = stub.store.update(storageOf(route.type), route.namespace, input, options.dryRun);
  return ok(stub.view(route.type, updated));
}

function patch(
  stub: K8sStub,
  route: Route,
  contentType: string,
  body: Json,
  options: WriteOptions,
): Response {
  if (!route.name) throw new HttpError(405, "MethodNotAllowed", "PATCH needs an object URL");
  const current = stub.view(route.type, mustGet(stub, route));
  const kind = contentType.split(";")[0]!.trim();
  let next: Json;
  if (kind === "application/merge-patch+json") next = mergePatch(current, object(body));
  else if (kind === "application/strategic-merge-patch+json") {
    if (route.type.schema) {
      throw new HttpError(
        415,
        "UnsupportedMediaType",
        "strategic merge patch is not supported for custom resources",
      );
    }
    next = strategicMergePatch(current, object(body));
  } else if (kind === "application/json-patch+json") next = jsonPatch(current, body);
  else {
    throw new HttpError(
      415,
      "UnsupportedMediaType",
      `the stub does not accept PATCH bodies of type "${contentType}"`,
    );
  }
  if (!isObject(next)) throw new HttpError(422, "Invalid", "the patch produced a non-object");
  const meta = isObject(next.metadata) ? next.metadata : {};
  const curMeta = current.metadata as JsonObject;
  if (meta.resourceVersion === curMeta.resourceVersion) delete meta.resourceVersion;
  return write(stub, route, current, next, options);
}
