/**
 * The resource types the Kubernetes API stub serves, and the discovery documents built from
 * them. Built-in types are fixed; custom resources appear when their CustomResourceDefinition
 * is stored, as on a real API server (so a CR applied before its CRD fails the same way).
 */

export interface ResourceType {
  /** "" for the core group. */
  group: string;
  version: string;
  /** Plural, lower case: the URL segment. */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  /** Only a CustomResourceDefinition's schema (openAPIV3Schema) for its version, if any. */
  schema?: Record<string, unknown>;
}

const VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

function t(
  group: string,
  version: string,
  resource: string,
  kind: string,
  namespaced: boolean,
  shortNames?: string[],
): ResourceType {
  return { group, version, resource, singular: kind.toLowerCase(), kind, namespaced, shortNames };
}

export const BUILTIN_TYPES: readonly ResourceType[] = [
  t("", "v1", "namespaces", "Namespace", false, ["ns"]),
  t("", "v1", "nodes", "Node", false, ["no"]),
  t("", "v1", "pods", "Pod", true, ["po"]),
  t("", "v1", "events", "Event", true, ["ev"]),
  t("", "v1", "serviceaccounts", "ServiceAccount", true, ["sa"]),
  t("", "v1", "configmaps", "ConfigMap", true, ["cm"]),
  t("", "v1", "secrets", "Secret", true),
  t("", "v1", "services", "Service", true, ["svc"]),
  t("apps", "v1", "daemonsets", "DaemonSet", true, ["ds"]),
  t("apps", "v1", "deployments", "Deployment", true, ["deploy"]),
  t("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false),
  t("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false),
  t("rbac.authorization.k8s.io", "v1", "roles", "Role", true),
  t("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true),
  t("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false, [
    "crd",
    "crds",
  ]),
  t("events.k8s.io", "v1", "events", "Event", true, ["ev"]),
  t("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, ["pdb"]),
  t("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", false, ["pc"]),
];

export function apiVersionOf(type: ResourceType): string {
  return type.group === "" ? type.version : `${type.group}/${type.version}`;
}

/** Resource types declared by the stored CRDs (served versions only). */
export function typesFromCrds(crds: Iterable<Record<string, unknown>>): ResourceType[] {
  const out: ResourceType[] = [];
  for (const crd of crds) {
    const spec = crd.spec as Record<string, unknown> | undefined;
    const names = spec?.names as Record<string, unknown> | undefined;
    if (!spec || !names) continue;
    const versions = (spec.versions ?? []) as Record<string, unknown>[];
    for (const v of versions) {
      if (v.served === false) continue;
      const schema = (v.schema as Record<string, unknown> | undefined)?.openAPIV3Schema;
      out.push({
        group: String(spec.group),
        version: String(v.name),
        resource: String(names.plural),
        singular: String(names.singular ?? String(names.kind).toLowerCase()),
        kind: String(names.kind),
        namespaced: spec.scope === "Namespaced",
        shortNames: names.shortNames as string[] | undefined,
        schema: schema as Record<string, unknown> | undefined,
      });
    }
  }
  return out;
}

export function apiVersions(): Record<string, unknown> {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "127.0.0.1" }],
  };
}

/** GET /apis: one entry per group; the first version is the preferred one. */
export function apiGroupList(types: readonly ResourceType[]): Record<string, unknown> {
  const groups = new Map<string, string[]>();
  for (const type of types) {
    if (type.group === "") continue;
    const versions = groups.get(type.group) ?? [];
    if (!versions.includes(type.version)) versions.push(type.version);
    groups.set(type.group, versions);
  }
  return {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: [...groups].map(([name, versions]) => apiGroup(name, versions)),
  };
}

export function apiGroup(name: string, versions: string[]): Record<string, unknown> {
  const list = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
  return { kind: "APIGroup", apiVersion: "v1", name, versions: list, preferredVersion: list[0] };
}

/** GET /api/v1 or /apis/<group>/<version>. */
export function apiResourceList(
  groupVersion: string,
  types: readonly ResourceType[],
): Record<string, unknown> {
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion,
    resources: types.filter((type) => apiVersionOf(type) === groupVersion).map((type) => ({
      name: type.resource,
      singularName: type.singular,
      namespaced: type.namespaced,
      kind: type.kind,
      verbs: VERBS,
      ...(type.shortNames ? { shortNames: type.shortNames } : {}),
    })),
  };
}

export const STUB_VERSION = {
  major: "1",
  minor: "32",
  gitVersion: "v1.32.0-tk8s-stub",
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2026-01-01T00:00:00Z",
  goVersion: "go1.23",
  compiler: "gc",
  platform: "linux/amd64",
};

/** Path of a group-version in the OpenAPI v3 index: "api/v1" or "apis/<group>/<version>". */
function openApiKey(groupVersion: string): string {
  return groupVersion === "v1" ? "api/v1" : `apis/${groupVersion}`;
}

function hashOf(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/**
 * GET /openapi/v3: the index of per-group-version documents. kubectl reads it to learn that the
 * server validates fields itself (fieldValidation), so it needs no client-side schema.
 */
export function openApiV3Index(types: readonly ResourceType[]): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const gv of new Set(types.map(apiVersionOf))) {
    const hash = hashOf(JSON.stringify(types.filter((t) => apiVersionOf(t) === gv)));
    paths[openApiKey(gv)] = { serverRelativeURL: `/openapi/v3/${openApiKey(gv)}?hash=${hash}` };
  }
  return { paths };
}

/**
 * GET /openapi/v3/<group-version>: only the PATCH operation of each kind, with its
 * group-version-kind extension and the query parameters the stub honours. No request body
 * types are declared, so kubectl computes strategic merge patches from its built-in types.
 */
export function openApiV3Document(
  groupVersion: string,
  types: readonly ResourceType[],
): Record<string, unknown> | undefined {
  const mine = types.filter((t) => apiVersionOf(t) === groupVersion);
  if (mine.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const type of mine) {
    const scope = type.namespaced ? "/namespaces/{namespace}" : "";
    paths[`/${openApiKey(groupVersion)}${scope}/${type.resource}/{name}`] = {
      patch: {
        "x-kubernetes-group-version-kind": {
          group: type.group,
          version: type.version,
          kind: type.kind,
        },
        parameters: ["dryRun", "fieldManager", "fieldValidation"].map((name) => ({
          name,
          in: "query",
          schema: { type: "string", uniqueItems: true },
        })),
        responses: { "200": { description: "OK" } },
      },
    };
  }
  return { openapi: "3.0.0", info: { title: "Kubernetes (tk8s stub)", version: "v1.32.0" }, paths };
}
