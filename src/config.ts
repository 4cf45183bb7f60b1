/**
 * ipamd's configuration, from the environment: the only reader of `Deno.env` in the project.
 *
 * Every variable keeps upstream aws-vpc-cni's name, default and Go parsing (strconv.ParseBool
 * spellings, strconv.Atoi, base-0 integers, CIDRs normalised to network form). Where upstream
 * silently falls back to a default on a bad value, `loadConfig` refuses it instead: all problems
 * are collected into ONE `ConfigError` that names each variable, its value and what is accepted.
 * An empty variable means "unset" (the default applies), as upstream.
 *
 * Settings that are ours and not upstream's (origin "ours"):
 * - IPAMD_SOCKET_PATH: the JSON-RPC socket aws-cni talks to.
 * - POD_IP_WAIT_SECONDS: how long an ADD may wait for the pool to grow when no address is free
 *   (0 = fail at once, as upstream does and lets kubelet retry).
 * - WARM_POOL_MODE: `static` is upstream's warm targets; `adaptive` sizes the pool from the
 *   observed ADD rate, cooldown and EC2 latency (src/ipam/pool_adaptive.ts).
 * - EC2_API_QPS / EC2_API_BURST: client-side token bucket for EC2 calls, so a fleet of nodes
 *   does not trip EC2's account-wide throttling.
 * - METRICS_BIND_ADDRESS: where Prometheus metrics are served (upstream hard-codes :61678).
 * The AWS SDK's own AWS_ENDPOINT_URL_EC2 and AWS_EC2_METADATA_SERVICE_ENDPOINT are read here
 * too (origin "aws-sdk"), so `ipamd config` shows every endpoint in one place.
 */

import { InvalidValue, type Origin, type Var } from "./config/kinds.ts";
import { DEPRECATED_VARIABLES, VARIABLES } from "./config/variables.ts";

export type { Origin, Var } from "./config/kinds.ts";
export {
  type IpamdEnvSettings,
  ipamdEnvSettings,
  type NetworkutilsEnvSettings,
  networkutilsEnvSettings,
} from "./config/env_settings.ts";

export { DEPRECATED_VARIABLES, VARIABLES } from "./config/variables.ts";

export type ConfigKey = keyof typeof VARIABLES;
type ValueOf<V> = V extends Var<infer T> ? T : never;

export type Config =
  & { readonly [K in ConfigKey]: ValueOf<(typeof VARIABLES)[K]> }
  & {
    /** EC2/IMDS provisioning calls allowed (off with the two variables that disable it). */
    readonly provisioning: boolean;
    /** Hourly leaked-ENI clean-up runs. */
    readonly leakedEniCleanup: boolean;
    /** The EC2 endpoint to use ("" = the SDK's regional default). */
    readonly ec2Endpoint: string;
  };

export type Source = "default" | "environment";

/** One variable as `ipamd config` shows it. */
export interface Setting {
  readonly name: string;
  readonly key: ConfigKey;
  /** The effective value in environment syntax. */
  readonly value: string;
  readonly source: Source;
  /** The environment text, when set. */
  readonly raw?: string;
  readonly type: string;
  readonly default: string;
  readonly origin: Origin;
  readonly upstreamDefault?: string;
  readonly doc: string;
}

export interface LoadedConfig {
  readonly config: Config;
  /** Every variable in table order, with where its value came from. */
  readonly settings: readonly Setting[];
  /** Non-fatal notes for the log (deprecated variables, reserved modes). */
  readonly warnings: readonly string[];
}

export interface ConfigProblem {
  readonly variable: string;
  /** The offending text (undefined when the problem is a combination of variables). */
  readonly value?: string;
  /** What would be accepted, or what to do. */
  readonly accepted: string;
}

/** Every invalid variable at once: fix them all in one go. */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    const lines = problems.map((p) =>
      `  ${p.variable}${p.value === undefined ? "" : `=${JSON.stringify(p.value)}`}: ${p.accepted}`
    );
    super(
      `invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}); ` +
        `fix the environment of ipamd:\n${lines.join("\n")}`,
    );
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/**
 * Reads and validates the configuration. Throws one ConfigError listing every problem.
 * The result and everything in it is frozen.
 */
export function loadConfig(env: Record<string, string> = Deno.env.toObject()): LoadedConfig {
  const problems: ConfigProblem[] = [];
  const values: Record<string, unknown> = {};
  const sources = new Map<ConfigKey, Source>();
  for (const [key, spec] of Object.entries(VARIABLES) as Array<[ConfigKey, Var<unknown>]>) {
    const raw = env[spec.name];
    if (raw === undefined || raw === "") {
      values[key] = spec.default;
      sources.set(key, "default");
      continue;
    }
    try {
      values[key] = spec.parse(raw);
      sources.set(key, "environment");
    } catch (error) {
      if (!(error instanceof InvalidValue)) throw error;
      problems.push({ variable: spec.name, value: raw, accepted: error.accepted });
      values[key] = spec.default;
      sources.set(key, "default");
    }
  }
  if (sources.get("podMtu") === "default") values.podMtu = values.eniMtu;
  const typed = values as { [K in ConfigKey]: ValueOf<(typeof VARIABLES)[K]> };
  problems.push(...crossCheck(typed, env));
  if (problems.length > 0) throw new ConfigError(problems);

  const imdsOnly = typed.imdsOnlyMode;
  const provisioning = !typed.disableNetworkResourceProvisioning && !imdsOnly;
  const config: Config = Object.freeze({
    ...typed,
    provisioning,
    leakedEniCleanup: provisioning && !typed.disableLeakedEniCleanup,
    ec2Endpoint: typed.awsEc2Endpoint || typed.awsEndpointUrlEc2,
  });
  const settings = (Object.entries(VARIABLES) as Array<[ConfigKey, Var<unknown>]>).map(
    ([key, spec]) => {
      const raw = env[spec.name];
      const setting: Setting = {
        name: spec.name,
        key,
        value: spec.render(config[key]),
        source: sources.get(key)!,
        ...(raw ? { raw } : {}),
        type: spec.type,
        default: key === "podMtu" ? "AWS_VPC_ENI_MTU" : spec.render(spec.default),
        origin: spec.origin,
        ...(spec.upstreamDefault ? { upstreamDefault: spec.upstreamDefault } : {}),
        doc: spec.doc,
      };
      return Object.freeze(setting);
    },
  );
  return Object.freeze({
    config,
    settings: Object.freeze(settings),
    warnings: Object.freeze(warningsFor(typed, env)),
  });
}

/** Rules that involve more than one variable, or values this release does not support. */
function crossCheck(
  c: { [K in ConfigKey]: ValueOf<(typeof VARIABLES)[K]> },
  env: Record<string, string>,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const unsupported = (key: ConfigKey, what: string) =>
    problems.push({
      variable: VARIABLES[key].name,
      value: env[VARIABLES[key].name],
      accepted: `${what} is not supported by this release; unset it or set it to false`,
    });
  if (c.enableIpv6) unsupported("enableIpv6", "IPv6");
  if (!c.enableIpv4) {
    problems.push({
      variable: "ENABLE_IPv4",
      value: env.ENABLE_IPv4,
      accepted: "this release is IPv4-only: unset ENABLE_IPv4 or set it to true",
    });
  }
  if (c.enablePodEni) unsupported("enablePodEni", "security groups for pods");
  if (c.enableMultiNic) unsupported("enableMultiNic", "managing more than one network card");
  if (c.enableV6Egress) unsupported("enableV6Egress", "IPv6 egress for IPv4 pods");
  // Upstream compares these as strings ("-1" <= "0", "10" > "0"); here they are numbers.
  if (c.prefixDelegation && c.warmIpTarget + c.warmPrefixTarget + c.minimumIpTarget === 0) {
    problems.push({
      variable: "WARM_PREFIX_TARGET",
      value: env.WARM_PREFIX_TARGET,
      accepted: "with ENABLE_PREFIX_DELEGATION=true at least one of WARM_PREFIX_TARGET, " +
        "WARM_IP_TARGET and MINIMUM_IP_TARGET must be > 0 (WARM_PREFIX_TARGET=1 keeps one free " +
        "/28 prefix)",
    });
  }
  if (c.awsEc2Endpoint && c.awsEndpointUrlEc2 && c.awsEc2Endpoint !== c.awsEndpointUrlEc2) {
    problems.push({
      variable: "AWS_EC2_ENDPOINT",
      value: c.awsEc2Endpoint,
      accepted: `differs from AWS_ENDPOINT_URL_EC2=${
        JSON.stringify(c.awsEndpointUrlEc2)
      }: set only one of them, or both to the same URL`,
    });
  }
  return problems;
}

function warningsFor(
  c: { [K in ConfigKey]: ValueOf<(typeof VARIABLES)[K]> },
  env: Record<string, string>,
): string[] {
  const warnings: string[] = [];
  for (const [name, why] of Object.entries(DEPRECATED_VARIABLES)) {
    if (env[name]) warnings.push(`${name} is deprecated and ignored: ${why}`);
  }
  if (c.warmPoolMode === "adaptive" && (env.WARM_ENI_TARGET || env.WARM_PREFIX_TARGET)) {
    warnings.push(
      "WARM_ENI_TARGET and WARM_PREFIX_TARGET are ignored with WARM_POOL_MODE=adaptive " +
        "(MINIMUM_IP_TARGET is its floor, WARM_IP_TARGET its ceiling)",
    );
  }
  if (
    c.prefixDelegation && (c.warmIpTarget > 0 || c.minimumIpTarget > 0) && env.WARM_PREFIX_TARGET
  ) {
    warnings.push(
      "WARM_PREFIX_TARGET is ignored because WARM_IP_TARGET or MINIMUM_IP_TARGET is set",
    );
  }
  return warnings;
}

/** The rows of `ipamd config`: every variable, its effective value and where it came from. */
export function describe(loaded: LoadedConfig): readonly Setting[] {
  return loaded.settings;
}

/**
 * The configuration as environment variables (every variable, effective values): feeding
 * this back to loadConfig gives the same Config. For `ipamd config --env`.
 */
export function renderEnv(loaded: LoadedConfig): Record<string, string> {
  return Object.fromEntries(loaded.settings.map((s) => [s.name, s.value]));
}
