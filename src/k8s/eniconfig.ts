/**
 * Custom networking: which ENIConfig applies to this node (upstream precedence, spec §7.2) and
 * fetching it (subnet and security groups for new ENIs).
 *
 *   1. node label `vpc.amazonaws.com/externalEniConfig` (out-of-band source of truth);
 *   2. node annotation ENI_CONFIG_ANNOTATION_DEF (default `k8s.amazonaws.com/eniConfig`);
 *   3. node label ENI_CONFIG_LABEL_DEF (default `k8s.amazonaws.com/eniConfig`; often
 *      `topology.kubernetes.io/zone`, one ENIConfig per zone);
 *   4. otherwise `default`.
 *
 * Deviation: an empty label or annotation value counts as absent (upstream would fetch an
 * ENIConfig named "", which cannot exist).
 */
import type { CallOptions, K8sClient } from "./client.ts";
import { K8sApiError, NoEniConfigError } from "./errors.ts";
import type { EniConfigObject } from "./types.ts";

export const EXTERNAL_ENI_CONFIG_LABEL = "vpc.amazonaws.com/externalEniConfig";
export const DEFAULT_ENI_CONFIG_KEY = "k8s.amazonaws.com/eniConfig";
export const DEFAULT_ENI_CONFIG_NAME = "default";

export interface EniConfigKeys {
  /** ENI_CONFIG_ANNOTATION_DEF; unset or "" → the default key. */
  annotationKey?: string;
  /** ENI_CONFIG_LABEL_DEF; unset or "" → the default key. */
  labelKey?: string;
}

export type EniConfigSource = "external-label" | "annotation" | "label" | "default";

export interface EniConfigSelection {
  name: string;
  source: EniConfigSource;
  /** The label or annotation key that gave the name (none for "default"). */
  key?: string;
}

export interface NodeMetadata {
  labels?: Readonly<Record<string, string>>;
  annotations?: Readonly<Record<string, string>>;
}

export function selectEniConfigName(
  node: NodeMetadata,
  keys: EniConfigKeys = {},
): EniConfigSelection {
  const labels = node.labels ?? {};
  const annotations = node.annotations ?? {};
  const annotationKey = keys.annotationKey || DEFAULT_ENI_CONFIG_KEY;
  const labelKey = keys.labelKey || DEFAULT_ENI_CONFIG_KEY;
  const candidates: [EniConfigSource, string, string | undefined][] = [
    ["external-label", EXTERNAL_ENI_CONFIG_LABEL, labels[EXTERNAL_ENI_CONFIG_LABEL]],
    ["annotation", annotationKey, annotations[annotationKey]],
    ["label", labelKey, labels[labelKey]],
  ];
  for (const [source, key, value] of candidates) {
    if (value) return { name: value, source, key };
  }
  return { name: DEFAULT_ENI_CONFIG_NAME, source: "default" };
}

export interface EniConfig {
  name: string;
  subnet: string;
  /** Empty: new ENIs get the primary ENI's security groups. */
  securityGroups: string[];
}

/** Validates an ENIConfig object; throws NoEniConfigError naming what is wrong. */
export function eniConfigFromObject(object: EniConfigObject): EniConfig {
  const name = object.metadata?.name ?? "";
  const spec = object.spec ?? {};
  if (typeof spec.subnet !== "string" || !/^subnet-[0-9a-f]+$/.test(spec.subnet)) {
    throw new NoEniConfigError(
      name,
      `spec.subnet is ${JSON.stringify(spec.subnet)}, not a subnet id such as subnet-0123abcd`,
    );
  }
  const groups = spec.securityGroups ?? [];
  if (
    !Array.isArray(groups) ||
    !groups.every((g) => typeof g === "string" && /^sg-[0-9a-f]+$/.test(g))
  ) {
    throw new NoEniConfigError(
      name,
      `spec.securityGroups is ${JSON.stringify(groups)}, not a list of ids such as sg-0123abcd`,
    );
  }
  return { name, subnet: spec.subnet, securityGroups: [...groups] };
}

/**
 * Fetches and validates the ENIConfig `name`. Any failure is a NoEniConfigError (upstream
 * ErrNoENIConfig) whose `cause` says why (K8sApiError 404, K8sUnreachableError, ...).
 */
export async function fetchEniConfig(
  client: K8sClient,
  name: string,
  options?: CallOptions,
): Promise<EniConfig> {
  let object: EniConfigObject;
  try {
    object = await client.getEniConfig(name, options);
  } catch (error) {
    const detail = error instanceof K8sApiError && error.status === 404
      ? "no ENIConfig with that name"
      : `the API server could not return it: ${(error as Error).message}`;
    throw new NoEniConfigError(name, detail, { cause: error });
  }
  return eniConfigFromObject(object);
}
