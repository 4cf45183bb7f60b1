/**
 * The stub's object store: objects by (group, resource, namespace, name), one global
 * resourceVersion counter as etcd has, and a bounded history of changes so that a watch can
 * resume from a resourceVersion (older than the history → 410 Gone, as a real server says).
 */
import { clone, deepEqual, isObject, type Json, type JsonObject } from "./k8s_stub_patch.ts";
import type { ResourceType } from "./k8s_stub_resources.ts";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface Change {
  rv: number;
  type: WatchEventType;
  storage: string;
  namespace: string;
  object: JsonObject;
}

export interface WatchFilter {
  storage: string;
  /** "" = all namespaces. */
  namespace: string;
  fieldSelector?: string;
  labelSelector?: string;
}

export class GoneError extends Error {
  override name = "GoneError";
}

export class SelectorError extends Error {
  override name = "SelectorError";
}

const HISTORY_LIMIT = 2000;

/** Events of both API groups share one storage, as on a real server (core/v1 is converted). */
export function storageOf(type: Pick<ResourceType, "group" | "resource">): string {
  if (type.group === "" && type.resource === "events") return "events.k8s.io/events";
  return `${type.group}/${type.resource}`;
}

export class Store {
  #objects = new Map<string, JsonObject>();
  #rv = 1000;
  #history: Change[] = [];
  #watchers = new Set<{ filter: WatchFilter; send: (change: Change) => void }>();

  get resourceVersion(): string {
    return String(this.#rv);
  }

  get(storage: string, namespace: string, name: string): JsonObject | undefined {
    return clone(this.#objects.get(key(storage, namespace, name)));
  }

  list(filter: WatchFilter): JsonObject[] {
    const out: JsonObject[] = [];
    for (const [k, object] of this.#objects) {
      const [storage, namespace] = k.split("|");
      if (storage !== filter.storage) continue;
      if (filter.namespace && namespace !== filter.namespace) continue;
      if (!matches(object, filter)) continue;
      out.push(clone(object));
    }
    return out.sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
  }

  /** Stores a new object; fills uid, resourceVersion, creationTimestamp, generation. */
  create(storage: string, namespace: string, object: JsonObject, dryRun = false): JsonObject {
    const meta = metadata(object);
    if (!meta.name && typeof meta.generateName === "string") {
      meta.name = meta.generateName + crypto.randomUUID().slice(0, 5);
    }
    if (namespace) meta.namespace = namespace;
    meta.uid = crypto.randomUUID();
    meta.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    meta.generation = 1;
    delete meta.resourceVersion;
    return this.#commit("ADDED", storage, namespace, object, dryRun);
  }

  /** Replaces an existing object, keeping its identity; bumps generation when spec changes. */
  update(storage: string, namespace: string, object: JsonObject, dryRun = false): JsonObject {
    const meta = metadata(object);
    const old = this.#objects.get(key(storage, namespace, String(meta.name)));
    if (!old) throw new Error(`update of a missing object ${meta.name}`);
    const oldMeta = metadata(old);
    meta.uid = oldMeta.uid!;
    meta.creationTimestamp = oldMeta.creationTimestamp!;
    if (namespace) meta.namespace = namespace;
    const generation = Number(oldMeta.generation ?? 1);
    meta.generation = deepEqual(old.spec, object.spec) ? generation : generation + 1;
    return this.#commit("MODIFIED", storage, namespace, object, dryRun);
  }

  delete(storage: string, namespace: string, name: string, dryRun = false): JsonObject | undefined {
    const k = key(storage, namespace, name);
    const old = this.#objects.get(k);
    if (!old) return undefined;
    if (dryRun) return clone(old);
    this.#objects.delete(k);
    const object = clone(old);
    metadata(object).resourceVersion = String(++this.#rv);
    this.#record({ rv: this.#rv, type: "DELETED", storage, namespace, object });
    return clone(object);
  }

  /**
   * Registers a watcher. Without a resourceVersion (or "0") the current objects arrive first as
   * ADDED; with one, the recorded changes after it are replayed. Throws GoneError when the
   * history no longer reaches back that far.
   */
  watch(
    filter: WatchFilter,
    resourceVersion: string | undefined,
    send: (change: Change) => void,
  ): () => void {
    const backlog: Change[] = [];
    if (!resourceVersion || resourceVersion === "0") {
      for (const object of this.list(filter)) {
        backlog.push({
          rv: Number(metadata(object).resourceVersion),
          type: "ADDED",
          storage: filter.storage,
          namespace: String(metadata(object).namespace ?? ""),
          object,
        });
      }
    } else {
      const from = Number(resourceVersion);
      if (!Number.isFinite(from)) {
        throw new SelectorError(`invalid resourceVersion ${resourceVersion}`);
      }
      const oldest = this.#history[0]?.rv ?? this.#rv + 1;
      if (from < oldest - 1 && from < this.#rv) {
        throw new GoneError(`too old resource version: ${from} (${oldest - 1})`);
      }
      backlog.push(...this.#history.filter((c) => c.rv > from && selected(c, filter)));
    }
    for (const change of backlog) send({ ...change, object: clone(change.object) });
    const watcher = { filter, send };
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }

  #commit(
    type: WatchEventType,
    storage: string,
    namespace: string,
    object: JsonObject,
    dryRun: boolean,
  ): JsonObject {
    const meta = metadata(object);
    if (dryRun) return clone(object);
    meta.resourceVersion = String(++this.#rv);
    const stored = clone(object);
    this.#objects.set(key(storage, namespace, String(meta.name)), stored);
    this.#record({ rv: this.#rv, type, storage, namespace, object: clone(stored) });
    return clone(stored);
  }

  #record(change: Change): void {
    this.#history.push(change);
    if (this.#history.length > HISTORY_LIMIT) this.#history.shift();
    for (const watcher of this.#watchers) {
      if (selected(change, watcher.filter)) {
        watcher.send({ ...change, object: clone(change.object) });
      }
    }
  }
}

function key(storage: string, namespace: string, name: string): string {
  return `${storage}|${namespace}|${name}`;
}

function metadata(object: JsonObject): JsonObject {
  if (!isObject(object.metadata)) object.metadata = {};
  return object.metadata as JsonObject;
}

function nameOf(object: JsonObject): string {
  const meta = metadata(object);
  return `${meta.namespace ?? ""}/${meta.name ?? ""}`;
}

function selected(change: Change, filter: WatchFilter): boolean {
  if (change.storage !== filter.storage) return false;
  if (filter.namespace && change.namespace !== filter.namespace) return false;
  return matches(change.object, filter);
}

function matches(object: JsonObject, filter: WatchFilter): boolean {
  return matchFields(object, filter.fieldSelector) && matchLabels(object, filter.labelSelector);
}

function lookup(object: Json, path: string): string {
  let node: Json | undefined = object;
  for (const part of path.split(".")) node = isObject(node) ? node[part] : undefined;
  return node === undefined || node === null ? "" : String(node);
}

/** Field selectors: `a.b=x`, `a.b==x`, `a.b!=x`, comma-separated (AND). */
export function matchFields(object: JsonObject, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(",").every((term) => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(term.trim());
    if (!m) throw new SelectorError(`invalid field selector "${term}"`);
    const value = lookup(object, m[1]!);
    return m[2] === "!=" ? value !== m[3] : value === m[3];
  });
}

/** Label selectors: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`. */
export function matchLabels(object: JsonObject, selector: string | undefined): boolean {
  if (!selector) return true;
  const labels = (isObject(object.metadata) && isObject(object.metadata.labels))
    ? object.metadata.labels
    : {};
  const terms = selector.match(/[^,(]+(\([^)]*\))?/g) ?? [];
  return terms.every((raw) => {
    const term = raw.trim();
    let m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(term);
    if (m) {
      const has = m[1]! in labels;
      return m[2] === "!=" ? !has || labels[m[1]!] !== m[3] : has && labels[m[1]!] === m[3];
    }
    m = /^([\w./-]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
    if (m) {
      const set = m[3]!.split(",").map((s) => s.trim());
      const value = labels[m[1]!];
      const inSet = typeof value === "string" && set.includes(value);
      return m[2] === "in" ? inSet : !inSet;
    }
    m = /^(!?)([\w./-]+)$/.exec(term);
    if (m) return m[1] === "!" ? !(m[2]! in labels) : m[2]! in labels;
    throw new SelectorError(`invalid label selector "${term}"`);
  });
}
