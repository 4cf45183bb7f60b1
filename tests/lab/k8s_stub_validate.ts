/**
 * The API server's validation, for the kinds and fields the project uses: what a real server
 * answers 422 Invalid to. Deliberately partial (no full OpenAPI here), but every rule below is
 * one the real server enforces, so a manifest or an event the stub accepts is not obviously
 * broken. Custom resources are checked against their CRD's openAPIV3Schema (structural subset).
 */
import { isObject, type Json, type JsonObject } from "./k8s_stub_patch.ts";

export interface Cause {
  field: string;
  message: string;
  reason: "FieldValueRequired" | "FieldValueInvalid" | "FieldValueNotFound" | "FieldValueDuplicate";
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function required(causes: Cause[], field: string, value: unknown): boolean {
  const empty = value === undefined || value === null || value === "" ||
    (Array.isArray(value) && value.length === 0);
  if (empty) causes.push({ field, message: "Required value", reason: "FieldValueRequired" });
  return !empty;
}

function invalid(causes: Cause[], field: string, value: unknown, why: string): void {
  causes.push({
    field,
    message: `Invalid value: ${JSON.stringify(value)}: ${why}`,
    reason: "FieldValueInvalid",
  });
}

function obj(value: Json | undefined): JsonObject {
  return isObject(value) ? value : {};
}

function list(value: Json | undefined): Json[] {
  return Array.isArray(value) ? value : [];
}

/** Validates an object of `kind` (in group `group`) about to be stored. */
export function validateObject(
  group: string,
  kind: string,
  object: JsonObject,
  schema?: Record<string, unknown>,
): Cause[] {
  const causes: Cause[] = [];
  const meta = obj(object.metadata);
  if (required(causes, "metadata.name", meta.name) && typeof meta.name === "string") {
    if (meta.name.length > 253 || !DNS_SUBDOMAIN.test(meta.name)) {
      invalid(causes, "metadata.name", meta.name, "a lowercase RFC 1123 subdomain is required");
    }
  }
  for (const field of ["labels", "annotations"]) {
    for (const [key, value] of Object.entries(obj(meta[field]))) {
      if (typeof value !== "string") {
        invalid(causes, `metadata.${field}.${key}`, value, "must be a string");
      }
    }
  }
  const spec = obj(object.spec);
  switch (`${group}/${kind}`) {
    case "/Pod":
      validatePodSpec(causes, "spec", spec);
      break;
    case "apps/DaemonSet":
    case "apps/Deployment":
      validateWorkload(causes, spec);
      break;
    case "rbac.authorization.k8s.io/ClusterRole":
    case "rbac.authorization.k8s.io/Role":
      validateRules(causes, list(object.rules));
      break;
    case "rbac.authorization.k8s.io/ClusterRoleBinding":
    case "rbac.authorization.k8s.io/RoleBinding":
      validateBinding(causes, object);
      break;
    case "apiextensions.k8s.io/CustomResourceDefinition":
      validateCrd(causes, meta, spec);
      break;
    case "events.k8s.io/Event":
      validateEvent(causes, object);
      break;
  }
  if (schema) validateSchema(causes, "", object, schema, true);
  return causes;
}

function validateWorkload(causes: Cause[], spec: JsonObject): void {
  const selector = obj(spec.selector);
  const template = obj(spec.template);
  const labels = obj(obj(template.metadata).labels);
  if (required(causes, "spec.selector", spec.selector)) {
    const match = obj(selector.matchLabels);
    if (Object.keys(match).length === 0 && list(selector.matchExpressions).length === 0) {
      invalid(causes, "spec.selector", selector, "empty selector is invalid for a workload");
    }
    for (const [key, value] of Object.entries(match)) {
      if (labels[key] !== value) {
        invalid(
          causes,
          "spec.template.metadata.labels",
          labels,
          "`selector` does not match template `labels`",
        );
        break;
      }
    }
  }
  validatePodSpec(causes, "spec.template.spec", obj(template.spec));
  const strategy = obj(spec.updateStrategy ?? spec.strategy);
  const rolling = obj(strategy.rollingUpdate);
  for (const field of ["maxUnavailable", "maxSurge"]) {
    const value = rolling[field];
    if (value === undefined) continue;
    const ok = (typeof value === "number" && Number.isInteger(value) && value >= 0) ||
      (typeof value === "string" && /^\d+%$/.test(value));
    if (!ok) invalid(causes, `updateStrategy.rollingUpdate.${field}`, value, "int or percent");
  }
}

function validatePodSpec(causes: Cause[], path: string, spec: JsonObject): void {
  const volumes = list(spec.volumes).map(obj);
  const volumeNames = new Set<string>();
  volumes.forEach((volume, i) => {
    const name = String(volume.name ?? "");
    if (!required(causes, `${path}.volumes[${i}].name`, volume.name)) return;
    if (!DNS_LABEL.test(name)) invalid(causes, `${path}.volumes[${i}].name`, name, "DNS label");
    if (volumeNames.has(name)) {
      causes.push({
        field: `${path}.volumes[${i}].name`,
        message: `Duplicate value: "${name}"`,
        reason: "FieldValueDuplicate",
      });
    }
    volumeNames.add(name);
    const sources = Object.keys(volume).filter((k) => k !== "name");
    if (sources.length !== 1) {
      invalid(causes, `${path}.volumes[${i}]`, sources, "exactly one volume source is required");
    }
  });
  required(causes, `${path}.containers`, spec.containers);
  const names = new Set<string>();
  for (const field of ["initContainers", "containers"]) {
    list(spec[field]).map(obj).forEach((container, i) => {
      const at = `${path}.${field}[${i}]`;
      if (required(causes, `${at}.name`, container.name)) {
        const name = String(container.name);
        if (names.has(name)) {
          causes.push({
            field: `${at}.name`,
            message: `Duplicate value: "${name}"`,
            reason: "FieldValueDuplicate",
          });
        }
        names.add(name);
      }
      required(causes, `${at}.image`, container.image);
      list(container.volumeMounts).map(obj).forEach((mount, j) => {
        required(causes, `${at}.volumeMounts[${j}].mountPath`, mount.mountPath);
        if (!volumeNames.has(String(mount.name ?? ""))) {
          causes.push({
            field: `${at}.volumeMounts[${j}].name`,
            message: `Not found: ${JSON.stringify(mount.name ?? "")}`,
            reason: "FieldValueNotFound",
          });
        }
      });
      list(container.env).map(obj).forEach((env, j) => {
        required(causes, `${at}.env[${j}].name`, env.name);
        if (env.value !== undefined && env.valueFrom !== undefined) {
          invalid(causes, `${at}.env[${j}]`, env.name, "value and valueFrom are exclusive");
        }
      });
      list(container.ports).map(obj).forEach((port, j) => {
        const n = port.containerPort;
        if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 65535) {
          invalid(causes, `${at}.ports[${j}].containerPort`, n, "must be between 1 and 65535");
        }
      });
      for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
        const p = container[probe];
        if (p === undefined) continue;
        const handlers = ["exec", "httpGet", "tcpSocket", "grpc"].filter((h) => h in obj(p));
        if (handlers.length !== 1) {
          invalid(causes, `${at}.${probe}`, handlers, "must specify exactly one handler");
        }
        if (handlers[0] === "exec") {
          required(causes, `${at}.${probe}.exec.command`, obj(obj(p).exec).command);
        }
      }
    });
  }
}

function validateRules(causes: Cause[], rules: Json[]): void {
  rules.map(obj).forEach((rule, i) => {
    required(causes, `rules[${i}].verbs`, rule.verbs);
    const urls = list(rule.nonResourceURLs).length > 0;
    const resources = list(rule.resources).length > 0;
    if (urls && resources) {
      invalid(causes, `rules[${i}]`, rule, "nonResourceURLs and resources are exclusive");
    }
    if (!urls && !resources) required(causes, `rules[${i}].resources`, rule.resources);
    if (resources && !Array.isArray(rule.apiGroups)) {
      required(causes, `rules[${i}].apiGroups`, null);
    }
  });
}

function validateBinding(causes: Cause[], object: JsonObject): void {
  const ref = obj(object.roleRef);
  if (ref.apiGroup !== "rbac.authorization.k8s.io") {
    invalid(causes, "roleRef.apiGroup", ref.apiGroup, "supported: rbac.authorization.k8s.io");
  }
  if (ref.kind !== "ClusterRole" && ref.kind !== "Role") {
    invalid(causes, "roleRef.kind", ref.kind, "supported: ClusterRole, Role");
  }
  required(causes, "roleRef.name", ref.name);
  list(object.subjects).map(obj).forEach((subject, i) => {
    required(causes, `subjects[${i}].name`, subject.name);
    if (subject.kind === "ServiceAccount") {
      required(causes, `subjects[${i}].namespace`, subject.namespace);
    } else if (subject.kind !== "User" && subject.kind !== "Group") {
      invalid(causes, `subjects[${i}].kind`, subject.kind, "ServiceAccount, User or Group");
    }
  });
}

function validateCrd(causes: Cause[], meta: JsonObject, spec: JsonObject): void {
  const names = obj(spec.names);
  required(causes, "spec.group", spec.group);
  required(causes, "spec.names.plural", names.plural);
  required(causes, "spec.names.kind", names.kind);
  if (spec.scope !== "Cluster" && spec.scope !== "Namespaced") {
    invalid(causes, "spec.scope", spec.scope, "supported values: Cluster, Namespaced");
  }
  if (meta.name !== `${names.plural}.${spec.group}`) {
    invalid(causes, "metadata.name", meta.name, 'must be spec.names.plural+"."+spec.group');
  }
  const versions = list(spec.versions).map(obj);
  if (required(causes, "spec.versions", spec.versions)) {
    const storage = versions.filter((v) => v.storage === true).length;
    if (storage !== 1) invalid(causes, "spec.versions", storage, "exactly one storage version");
  }
  versions.forEach((version, i) => {
    required(causes, `spec.versions[${i}].name`, version.name);
    required(
      causes,
      `spec.versions[${i}].schema.openAPIV3Schema`,
      obj(version.schema).openAPIV3Schema,
    );
  });
}

function validateEvent(causes: Cause[], event: JsonObject): void {
  required(causes, "eventTime", event.eventTime);
  required(causes, "reportingController", event.reportingController);
  required(causes, "reportingInstance", event.reportingInstance);
  for (const field of ["action", "reason"]) {
    if (required(causes, field, event[field]) && String(event[field]).length > 128) {
      invalid(causes, field, event[field], "can have at most 128 characters");
    }
  }
  if (event.type !== "Normal" && event.type !== "Warning") {
    invalid(causes, "type", event.type, "supported values: Normal, Warning");
  }
  if (typeof event.note === "string" && new TextEncoder().encode(event.note).length > 1024) {
    invalid(causes, "note", "...", "can have at most 1024 bytes");
  }
  const series = event.series;
  if (series !== undefined && series !== null) {
    const s = obj(series);
    if (typeof s.count !== "number" || s.count < 2) {
      invalid(causes, "series.count", s.count, ">= 2");
    }
    required(causes, "series.lastObservedTime", s.lastObservedTime);
  }
  const namespace = obj(event.metadata).namespace;
  const regardingNs = obj(event.regarding).namespace;
  if (regardingNs ? regardingNs !== namespace : namespace !== "default" && namespace !== "") {
    invalid(causes, "regarding.namespace", regardingNs ?? "", "does not match event.namespace");
  }
}

/** Structural-schema subset: type, required, properties, items, enum, preserve-unknown. */
function validateSchema(
  causes: Cause[],
  path: string,
  value: Json | undefined,
  schema: Record<string, unknown>,
  root = false,
): void {
  if (value === undefined) return;
  const type = schema.type;
  const at = path || "<root>";
  const actual = Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
  const typeOk = type === undefined || type === actual ||
    (type === "integer" && typeof value === "number" && Number.isInteger(value));
  if (!typeOk) {
    invalid(causes, at, value, `must be of type ${type}`);
    return;
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) {
    invalid(causes, at, value, `supported values: ${schema.enum.join(", ")}`);
  }
  if (isObject(value)) {
    const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
    for (const name of (schema.required ?? []) as string[]) {
      required(causes, path ? `${path}.${name}` : name, value[name]);
    }
    for (const [name, child] of Object.entries(value)) {
      if (root && (name === "apiVersion" || name === "kind" || name === "metadata")) continue;
      const sub = props[name];
      if (sub) validateSchema(causes, path ? `${path}.${name}` : name, child, sub);
    }
  } else if (Array.isArray(value) && isObject(schema.items as Json)) {
    value.forEach((item, i) =>
      validateSchema(causes, `${at}[${i}]`, item, schema.items as Record<string, unknown>)
    );
  }
}

/**
 * Drops fields a structural schema does not declare (the API server's pruning) and returns
 * their paths, which `fieldValidation=Strict` turns into an error.
 */
export function pruneUnknown(
  value: Json | undefined,
  schema: Record<string, unknown>,
  path = "",
  root = true,
): string[] {
  if (schema["x-kubernetes-preserve-unknown-fields"] === true) return [];
  const unknown: string[] = [];
  if (isObject(value)) {
    const props = schema.properties as Record<string, Record<string, unknown>> | undefined;
    if (!props) return [];
    for (const name of Object.keys(value)) {
      if (root && (name === "apiVersion" || name === "kind" || name === "metadata")) continue;
      const sub = props[name];
      const field = path ? `${path}.${name}` : name;
      if (!sub) {
        unknown.push(field);
        delete value[name];
      } else {
        unknown.push(...pruneUnknown(value[name], sub, field, false));
      }
    }
  } else if (Array.isArray(value) && isObject(schema.items as Json)) {
    value.forEach((item, i) =>
      unknown.push(
        ...pruneUnknown(item, schema.items as Record<string, unknown>, `${path}[${i}]`, false),
      )
    );
  }
  return unknown;
}
