/**
 * The kinds of configuration values (bool, int, enum, CIDR list...): each builder returns a
 * `Var` that parses the environment text the way upstream does and refuses what upstream
 * would silently replace by its default, saying which values are accepted.
 */

import { formatCidr, parseCidr } from "../ipv4.ts";
import { BOOL_SPELLINGS, parseGoAtoi, parseGoBool } from "./go_parse.ts";

/** Who defines a variable: upstream aws-vpc-cni, this project, or the AWS SDKs. */
export type Origin = "upstream" | "ours" | "aws-sdk" | "kubernetes";

/** Thrown by `Var.parse`; loadConfig turns it into one line of a ConfigError. */
export class InvalidValue extends Error {
  readonly accepted: string;
  constructor(accepted: string) {
    super(accepted);
    this.name = "InvalidValue";
    this.accepted = accepted;
  }
}

export interface Var<T> {
  readonly name: string;
  /** Short type for documentation ("bool", "int ≥ 0", "CSV of IPv4 CIDRs"...). */
  readonly type: string;
  readonly default: T;
  readonly doc: string;
  readonly origin: Origin;
  /** Upstream's default, documented where ours differs. */
  readonly upstreamDefault?: string;
  /** Parses non-empty environment text; throws InvalidValue naming the accepted values. */
  parse(raw: string): T;
  /** The environment text that parses back to `value` ("" = unset). */
  render(value: T): string;
}

export interface VarOptions<T> {
  default: T;
  doc: string;
  origin?: Origin;
  upstreamDefault?: string;
}

function make<T>(
  name: string,
  options: VarOptions<T> & {
    type: string;
    parse(raw: string): T;
    render?(value: T): string;
  },
): Var<T> {
  return Object.freeze({
    name,
    type: options.type,
    default: options.default,
    doc: options.doc,
    origin: options.origin ?? "upstream",
    ...(options.upstreamDefault === undefined ? {} : { upstreamDefault: options.upstreamDefault }),
    parse: options.parse,
    render: options.render ?? ((value: T) => String(value)),
  });
}

export function custom<T>(
  name: string,
  options: VarOptions<T> & { type: string; parse(raw: string): T; render?(value: T): string },
): Var<T> {
  return make(name, options);
}

/** Go strconv.ParseBool spellings only ("yes" or "TrUe" are refused, not defaulted). */
export function bool(name: string, options: VarOptions<boolean>): Var<boolean> {
  return make(name, {
    ...options,
    type: "bool",
    parse(raw) {
      const value = parseGoBool(raw);
      if (value === undefined) throw new InvalidValue(BOOL_SPELLINGS);
      return value;
    },
  });
}

/** Go strconv.Atoi, then a range check. */
export function int(
  name: string,
  options: VarOptions<number> & { min?: number; max?: number; unit?: string },
): Var<number> {
  const { min, max, unit } = options;
  const range = min !== undefined && max !== undefined
    ? `${min}–${max}`
    : min !== undefined
    ? `≥ ${min}`
    : max !== undefined
    ? `≤ ${max}`
    : "";
  const accepted = `a decimal integer${range ? ` ${range}` : ""}${unit ? ` (${unit})` : ""}`;
  return make(name, {
    ...options,
    type: `int${range ? ` ${range}` : ""}`,
    parse(raw) {
      const value = parseGoAtoi(raw);
      if (value === undefined) throw new InvalidValue(accepted);
      if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
        throw new InvalidValue(accepted);
      }
      return value;
    },
  });
}

/** A positive decimal number such as 5 or 0.5 (rates). */
export function positiveNumber(name: string, options: VarOptions<number>): Var<number> {
  return make(name, {
    ...options,
    type: "number > 0",
    parse(raw) {
      const value = /^[0-9]+(\.[0-9]+)?$/.test(raw) ? Number(raw) : NaN;
      if (!(value > 0) || !Number.isFinite(value)) {
        throw new InvalidValue("a decimal number greater than 0, such as 5 or 0.5");
      }
      return value;
    },
  });
}

/** One of a fixed set of words; `caseInsensitive` where upstream lower-cases first. */
export function oneOf<T extends string>(
  name: string,
  options: VarOptions<T> & { values: readonly T[]; caseInsensitive?: boolean },
): Var<T> {
  const { values, caseInsensitive = false } = options;
  return make(name, {
    ...options,
    type: values.join(" | "),
    parse(raw) {
      const wanted = caseInsensitive ? raw.toLowerCase() : raw;
      const value = values.find((v) => (caseInsensitive ? v.toLowerCase() : v) === wanted);
      if (value === undefined) {
        throw new InvalidValue(
          `one of ${values.join(", ")}${caseInsensitive ? " (any case)" : ""}`,
        );
      }
      return value;
    },
  });
}

/** Free text; `check` returns the accepted-values text when the value is refused. */
export function text(
  name: string,
  options: VarOptions<string> & { type?: string; check?(value: string): string | undefined },
): Var<string> {
  return make(name, {
    ...options,
    type: options.type ?? "string",
    parse(raw) {
      const refused = options.check?.(raw);
      if (refused !== undefined) throw new InvalidValue(refused);
      return raw;
    },
  });
}

/**
 * Comma-separated IPv4 CIDRs, whitespace-trimmed and normalised to network form
 * ("10.1.2.3/16" → "10.1.0.0/16"); empty items are skipped, duplicates kept once.
 */
export function cidrList(
  name: string,
  options: VarOptions<readonly string[]>,
): Var<readonly string[]> {
  return make(name, {
    ...options,
    type: "CSV of IPv4 CIDRs",
    parse(raw) {
      const out: string[] = [];
      const bad: string[] = [];
      for (const item of raw.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
        const cidr = parseCidr(item);
        if (cidr === undefined) bad.push(JSON.stringify(item));
        else if (!out.includes(formatCidr(cidr))) out.push(formatCidr(cidr));
      }
      if (bad.length > 0) {
        throw new InvalidValue(
          `comma-separated IPv4 CIDRs such as 10.0.0.0/8,192.168.0.0/16 (not valid: ${
            bad.join(", ")
          })`,
        );
      }
      return Object.freeze(out);
    },
    render: (value) => value.join(","),
  });
}

/** An http(s) URL ("" = unset). */
export function url(name: string, options: VarOptions<string>): Var<string> {
  return text(name, {
    ...options,
    type: "URL",
    check(value) {
      try {
        const parsed = new URL(value);
        if (parsed.protocol === "http:" || parsed.protocol === "https:") return undefined;
      } catch {
        // fall through to the refusal
      }
      return "an http:// or https:// URL, such as https://ec2.us-west-2.amazonaws.com";
    },
  });
}

/** "host:port" (host may be empty or [v6]) or "unix:/path". */
export function bindAddress(name: string, options: VarOptions<string>): Var<string> {
  return text(name, {
    ...options,
    type: "host:port or unix:/path",
    check(value) {
      const accepted = "host:port (such as 127.0.0.1:61679 or :61678) or unix:/absolute/path";
      if (value.startsWith("unix:")) {
        return value.length > "unix:/".length && value[5] === "/" ? undefined : accepted;
      }
      const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s\[\]]*):([0-9]{1,5})$/.exec(value);
      return match && Number(match[2]) <= 65535 ? undefined : accepted;
    },
  });
}
