/**
 * Reads the project's manifests the way Kubernetes does: YAML 1.1 scalars (as sigs.k8s.io/yaml,
 * so an unquoted `on` or `yes` is a boolean), several documents per file, duplicate keys an
 * error. Also an RBAC evaluator for checking that rules cover the requests ipamd makes.
 */
import { loadAll, YAML11_SCHEMA } from "js-yaml";
import type { JsonObject } from "./k8s_stub_patch.ts";

export const MANIFESTS = new URL("../../manifests/", import.meta.url);

export interface Manifest {
  /** Path relative to manifests/. */
  file: string;
  object: JsonObject;
}

/** Every document of every .yaml file under manifests/ (subdirectories included). */
export async function loadManifests(dir = MANIFESTS, prefix = ""): Promise<Manifest[]> {
  const out: Manifest[] = [];
  const entries = [];
  for await (const entry of Deno.readDir(dir)) entries.push(entry);
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) out.push(...await loadManifests(url, `${prefix}${entry.name}/`));
    else if (entry.name.endsWith(".yaml") || entry.name.endsWith(".yml")) {
      const text = await Deno.readTextFile(url);
      const docs = loadAll(text, { schema: YAML11_SCHEMA, filename: entry.name });
      for (const doc of docs) {
        if (doc === null || doc === undefined) continue;
        out.push({ file: `${prefix}${entry.name}`, object: doc as JsonObject });
      }
    }
  }
  return out;
}

export function find(manifests: Manifest[], kind: string, name: string): Manifest {
  const found = manifests.find((m) =>
    m.object.kind === kind && (m.object.metadata as JsonObject)?.name === name
  );
  if (!found) throw new Error(`no ${kind} ${name} in manifests/`);
  return found;
}

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
  resourceNames?: string[];
}

export interface ApiCall {
  verb: string;
  group: string;
  resource: string;
  /** Set for non-resource requests (/version). */
  path?: string;
}

/** RBAC's rule matching (no aggregation, no resourceNames restrictions used by us). */
export function allows(rules: PolicyRule[], call: ApiCall): boolean {
  return rules.some((rule) => {
    const verbOk = rule.verbs.includes("*") || rule.verbs.includes(call.verb);
    if (!verbOk) return false;
    if (call.path !== undefined) {
      return (rule.nonResourceURLs ?? []).some((u) =>
        u === "*" || u === call.path || (u.endsWith("*") && call.path!.startsWith(u.slice(0, -1)))
      );
    }
    const groupOk = (rule.apiGroups ?? []).some((g) => g === "*" || g === call.group);
    const resourceOk = (rule.resources ?? []).some((r) => r === "*" || r === call.resource);
    return groupOk && resourceOk && !rule.resourceNames?.length;
  });
}

/** The RBAC verb and resource of an API request, as the API server's authorizer sees it. */
export function apiCallOf(method: string, path: string, query: Record<string, string>): ApiCall {
  const m = /^\/api\/v1\/(.*)$/.exec(path) ?? /^\/apis\/([^/]+)\/[^/]+\/(.*)$/.exec(path);
  if (!m) return { verb: method.toLowerCase(), group: "", resource: "", path };
  const group = m.length === 3 ? m[1]! : "";
  const rest = (m.length === 3 ? m[2]! : m[1]!).split("/");
  const parts = rest[0] === "namespaces" && rest.length >= 3 ? rest.slice(2) : rest;
  const [resource, name] = parts as [string, string?];
  const verb = method === "GET"
    ? name ? "get" : query.watch === "true" || query.watch === "1" ? "watch" : "list"
    : { POST: "create", PUT: "update", PATCH: "patch", DELETE: "delete" }[method] ?? method;
  return { verb, group, resource };
}
