/**
 * The three PATCH flavours of the Kubernetes API, as the stub applies them: JSON merge patch
 * (RFC 7386), strategic merge patch (the subset of directives kubectl sends, with the merge keys
 * of the fields our manifests and code use) and JSON patch (RFC 6902).
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export class PatchError extends Error {
  override name = "PatchError";
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function clone<T>(value: T): T {
  return value === undefined ? value : structuredClone(value);
}

export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/**
 * Merge keys by field name (k8s.io/api `patchMergeKey` tags). Field names are distinct enough
 * across the kinds the stub serves that the path is not needed; `ports` is keyed by
 * `containerPort` in pod specs and by `port` in services, decided by the elements.
 */
const MERGE_KEYS: Record<string, string> = {
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  env: "name",
  volumes: "name",
  volumeMounts: "mountPath",
  volumeDevices: "devicePath",
  imagePullSecrets: "name",
  hostAliases: "ip",
  topologySpreadConstraints: "topologyKey",
  conditions: "type",
  ownerReferences: "uid",
};
/** Lists of scalars with patchStrategy=merge (a union, not a replacement). */
const MERGED_SCALAR_LISTS = new Set(["finalizers"]);

const ORDER = "$setElementOrder/";
const DELETE_FROM = "$deleteFromPrimitiveList/";

export function strategicMergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === "delete") return null;
  if (patch.$patch === "replace") {
    const { $patch: _directive, ...rest } = patch;
    return clone(rest);
  }
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key === "$patch" || key === "$retainKeys" || key.startsWith(ORDER)) continue;
    if (key.startsWith(DELETE_FROM)) {
      const field = key.slice(DELETE_FROM.length);
      const current = out[field];
      if (Array.isArray(current) && Array.isArray(value)) {
        out[field] = current.filter((item) => !value.some((v) => deepEqual(v, item)));
      }
      continue;
    }
    if (value === null) {
      delete out[key];
    } else if (Array.isArray(value)) {
      out[key] = mergeList(key, out[key], value);
    } else if (isObject(value)) {
      const merged = strategicMergePatch(out[key], value);
      if (merged === null) delete out[key];
      else out[key] = merged;
    } else {
      out[key] = value;
    }
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith(ORDER) && Array.isArray(value)) {
      const field = key.slice(ORDER.length);
      const list = out[field];
      if (Array.isArray(list)) out[field] = reorder(field, list, value);
    }
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys.map(String));
    for (const key of Object.keys(out)) if (!keep.has(key)) delete out[key];
  }
  return out;
}

function mergeKeyFor(field: string, items: Json[]): string | undefined {
  if (field === "ports") {
    return items.some((item) => isObject(item) && "containerPort" in item)
      ? "containerPort"
      : "port";
  }
  return MERGE_KEYS[field];
}

function mergeList(field: string, current: Json | undefined, patch: Json[]): Json {
  const base = Array.isArray(current) ? current : [];
  if (MERGED_SCALAR_LISTS.has(field)) {
    const out = [...base];
    for (const item of patch) if (!out.some((x) => deepEqual(x, item))) out.push(item);
    return out;
  }
  const key = mergeKeyFor(field, [...base, ...patch]);
  if (!key) {
    if (patch.some((item) => isObject(item) && item.$patch === "replace")) {
      return patch.filter((item) => !(isObject(item) && item.$patch === "replace"));
    }
    return clone(patch);
  }
  if (patch.some((item) => isObject(item) && item.$patch === "replace")) {
    return patch.filter((item) => !(isObject(item) && item.$patch === "replace")).map((item) =>
      clone(item)
    );
  }
  const out = [...base];
  for (const item of patch) {
    if (!isObject(item)) throw new PatchError(`list ${field} needs objects with key ${key}`);
    const index = out.findIndex((x) => isObject(x) && deepEqual(x[key] ?? null, item[key] ?? null));
    if (item.$patch === "delete") {
      if (index >= 0) out.splice(index, 1);
      continue;
    }
    if (index >= 0) out[index] = strategicMergePatch(out[index], item);
    else out.push(strategicMergePatch(undefined, item));
  }
  return out;
}

function reorder(field: string, list: Json[], order: Json[]): Json[] {
  const key = mergeKeyFor(field, list);
  const identity = (item: Json): Json => (key && isObject(item) ? item[key] ?? null : item);
  const wanted = order.map(identity);
  const rank = (item: Json) => {
    const i = wanted.findIndex((w) => deepEqual(w, identity(item)));
    return i < 0 ? wanted.length : i;
  };
  return [...list].sort((a, b) => rank(a) - rank(b));
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return false;
}

interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

export function jsonPatch(document: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new PatchError("a JSON patch must be an array of operations");
  let doc = clone(document);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== "string" || typeof raw.path !== "string") {
      throw new PatchError(`invalid JSON patch operation ${JSON.stringify(raw)}`);
    }
    const op = raw as unknown as JsonPatchOp;
    switch (op.op) {
      case "add":
        doc = setAt(doc, op.path, clone(op.value ?? null), "add");
        break;
      case "replace":
        doc = setAt(doc, op.path, clone(op.value ?? null), "replace");
        break;
      case "remove":
        doc = removeAt(doc, op.path);
        break;
      case "test":
        if (!deepEqual(getAt(doc, op.path), op.value)) {
          throw new PatchError(`test failed at ${op.path}`);
        }
        break;
      case "copy":
      case "move": {
        const value = clone(getAt(doc, op.from ?? ""));
        if (op.op === "move") doc = removeAt(doc, op.from ?? "");
        doc = setAt(doc, op.path, value, "add");
        break;
      }
      default:
        throw new PatchError(`unknown JSON patch operation "${op.op}"`);
    }
  }
  return doc;
}

function tokens(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new PatchError(`invalid JSON pointer "${pointer}"`);
  return pointer.slice(1).split("/").map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~"));
}

function getAt(doc: Json, pointer: string): Json {
  let node: Json = doc;
  for (const token of tokens(pointer)) {
    if (Array.isArray(node)) node = node[Number(token)] ?? missing(pointer);
    else if (isObject(node) && token in node) node = node[token]!;
    else missing(pointer);
  }
  return node;
}

function missing(pointer: string): never {
  throw new PatchError(`path ${pointer} does not exist`);
}

function parentOf(doc: Json, pointer: string): { parent: Json; last: string } {
  const parts = tokens(pointer);
  const last = parts.pop();
  if (last === undefined) throw new PatchError("cannot modify the document root in place");
  const prefix = parts.map((p) => "/" + p.replaceAll("~", "~0").replaceAll("/", "~1")).join("");
  return { parent: getAt(doc, prefix), last };
}

function setAt(doc: Json, pointer: string, value: Json, mode: "add" | "replace"): Json {
  if (pointer === "") return value;
  const { parent, last } = parentOf(doc, pointer);
  if (Array.isArray(parent)) {
    const index = last === "-" ? parent.length : Number(last);
    if (!Number.isInteger(index) || index < 0 || index > parent.length) missing(pointer);
    if (mode === "add") parent.splice(index, 0, value);
    else if (index < parent.length) parent[index] = value;
    else missing(pointer);
  } else if (isObject(parent)) {
    if (mode === "replace" && !(last in parent)) missing(pointer);
    parent[last] = value;
  } else {
    missing(pointer);
  }
  return doc;
}

function removeAt(doc: Json, pointer: string): Json {
  const { parent, last } = parentOf(doc, pointer);
  if (Array.isArray(parent)) {
    const index = Number(last);
    if (!Number.isInteger(index) || index < 0 || index >= parent.length) missing(pointer);
    parent.splice(index, 1);
  } else if (isObject(parent) && last in parent) {
    delete parent[last];
  } else {
    missing(pointer);
  }
  return doc;
}
