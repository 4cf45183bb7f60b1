/**
 * Per-node warm-pool overrides (beyond upstream; asked for in aws/amazon-vpc-cni-k8s #216,
 * #2072, #2578, #3630): node annotations override the DaemonSet's environment for that node.
 *
 * Precedence, per setting: node annotation > environment variable > built-in default. The
 * environment and default are resolved by the configuration (src/config.ts) into the `base`
 * given here; an annotation replaces one value. An invalid annotation value is rejected with a
 * reason (and the base value kept); nothing else on the node is affected.
 *
 * Pure: no I/O, no SDK.
 */

export interface WarmPoolSettings {
  /** WARM_ENI_TARGET */
  warmEniTarget: number;
  /** WARM_IP_TARGET (0 = not set) */
  warmIpTarget: number;
  /** MINIMUM_IP_TARGET (0 = not set) */
  minimumIpTarget: number;
  /** WARM_PREFIX_TARGET */
  warmPrefixTarget: number;
  /** MAX_ENI (-1 = the instance type's limit) */
  maxEni: number;
}

export type WarmPoolSetting = keyof WarmPoolSettings;

export const OVERRIDE_PREFIX = "vpc-cni-deno.dev/";

interface OverrideRule {
  annotation: string;
  env: string;
  min: number;
  max: number;
  note?: string;
}

/** One annotation per setting; bounds reject typos without limiting real instance types. */
export const OVERRIDE_RULES: Readonly<Record<WarmPoolSetting, OverrideRule>> = {
  warmEniTarget: {
    annotation: `${OVERRIDE_PREFIX}warm-eni-target`,
    env: "WARM_ENI_TARGET",
    min: 0,
    max: 1000,
  },
  warmIpTarget: {
    annotation: `${OVERRIDE_PREFIX}warm-ip-target`,
    env: "WARM_IP_TARGET",
    min: 0,
    max: 65535,
    note: "0 turns warm-IP mode off on this node",
  },
  minimumIpTarget: {
    annotation: `${OVERRIDE_PREFIX}minimum-ip-target`,
    env: "MINIMUM_IP_TARGET",
    min: 0,
    max: 65535,
  },
  warmPrefixTarget: {
    annotation: `${OVERRIDE_PREFIX}warm-prefix-target`,
    env: "WARM_PREFIX_TARGET",
    min: 0,
    max: 65535,
  },
  maxEni: {
    annotation: `${OVERRIDE_PREFIX}max-eni`,
    env: "MAX_ENI",
    min: 1,
    max: 1000,
    note: "remove the annotation to use the environment value or the instance limit",
  },
};

const SETTINGS = Object.keys(OVERRIDE_RULES) as WarmPoolSetting[];

export interface OverrideRejection {
  setting: WarmPoolSetting;
  annotation: string;
  value: string;
  reason: string;
}

export interface NodeOverrides {
  /** Valid overrides only. */
  values: Partial<WarmPoolSettings>;
  rejected: OverrideRejection[];
  /** Annotations under vpc-cni-deno.dev/ that name no setting (likely typos). */
  unknown: string[];
}

export type SettingSource = "annotation" | "env";

export interface EffectiveWarmPool {
  settings: WarmPoolSettings;
  /** Where each value came from; "env" means the environment variable or its default. */
  sources: Record<WarmPoolSetting, SettingSource>;
  rejected: OverrideRejection[];
  unknown: string[];
}

/** Parses and validates the override annotations of a node. */
export function parseNodeOverrides(
  annotations: Readonly<Record<string, string>> = {},
): NodeOverrides {
  const values: Partial<WarmPoolSettings> = {};
  const rejected: OverrideRejection[] = [];
  for (const setting of SETTINGS) {
    const rule = OVERRIDE_RULES[setting];
    const raw = annotations[rule.annotation];
    if (raw === undefined) continue;
    const result = parseValue(raw, rule);
    if (typeof result === "number") values[setting] = result;
    else rejected.push({ setting, annotation: rule.annotation, value: raw, reason: result.reason });
  }
  const known = new Set(SETTINGS.map((s) => OVERRIDE_RULES[s].annotation));
  const unknown = Object.keys(annotations)
    .filter((key) => key.startsWith(OVERRIDE_PREFIX) && !known.has(key))
    .sort();
  return { values, rejected, unknown };
}

function parseValue(raw: string, rule: OverrideRule): number | { reason: string } {
  const text = raw.trim();
  const expected = `${rule.annotation} must be a whole number from ${rule.min} to ${rule.max}`;
  if (!/^\d+$/.test(text)) {
    return {
      reason: `${expected}, got ${JSON.stringify(raw)}; keeping ${rule.env} from the environment`,
    };
  }
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < rule.min || value > rule.max) {
    const note = rule.note && value < rule.min ? ` (${rule.note})` : "";
    return { reason: `${expected}, got ${text}${note}; keeping ${rule.env} from the environment` };
  }
  return value;
}

/** Applies valid overrides to the base settings (annotation > env > default). */
export function applyNodeOverrides(
  base: WarmPoolSettings,
  overrides: NodeOverrides,
): EffectiveWarmPool {
  const settings = { ...base };
  const sources = {} as Record<WarmPoolSetting, SettingSource>;
  for (const setting of SETTINGS) {
    const value = overrides.values[setting];
    if (value === undefined) {
      sources[setting] = "env";
    } else {
      settings[setting] = value;
      sources[setting] = "annotation";
    }
  }
  return { settings, sources, rejected: overrides.rejected, unknown: overrides.unknown };
}

export function sameWarmPool(a: EffectiveWarmPool, b: EffectiveWarmPool): boolean {
  return SETTINGS.every((s) => a.settings[s] === b.settings[s] && a.sources[s] === b.sources[s]);
}

/** One line for logs: "warmIpTarget=5 (annotation), maxEni=-1 (env), ...". */
export function describeWarmPool(effective: EffectiveWarmPool): string {
  return SETTINGS.map((s) => `${s}=${effective.settings[s]} (${effective.sources[s]})`).join(", ");
}
