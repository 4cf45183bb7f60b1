/**
 * Command-line parsing for the node CLI: a tiny parser (long options, `--name=value`, one-letter
 * short options, `--` ends options) with errors that name the option and the command's help,
 * plus the help text layout every command shares. Exit code 2 means "usage error".
 */

export type OptionType = "boolean" | "string";

export interface OptionSpec {
  type: OptionType;
  /** One-letter alias, without the dash. */
  short?: string;
  /** Placeholder in the help, e.g. "PATH". */
  value?: string;
  help: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

export type ParsedOptions<S extends OptionSpecs> = {
  [K in keyof S]?: S[K]["type"] extends "boolean" ? boolean : string;
};

export interface Parsed<S extends OptionSpecs> {
  options: ParsedOptions<S>;
  positionals: string[];
}

/** A command line the command cannot run: exit code 2, and a pointer to the help. */
export class UsageError extends Error {
  readonly command: string;
  constructor(command: string, message: string) {
    super(`ipamd ${command}: ${message}. Run 'ipamd ${command} --help' for its options.`);
    this.name = "UsageError";
    this.command = command;
  }
}

/** Parses `args` against the command's options; throws UsageError. */
export function parseArgs<S extends OptionSpecs>(
  command: string,
  args: readonly string[],
  specs: S,
  limits: { maxPositionals?: number } = {},
): Parsed<S> {
  const options: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  const byShort = new Map(
    Object.entries(specs).filter(([, s]) => s.short).map(([name, s]) => [s.short!, name]),
  );
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
      if (!Object.hasOwn(specs, name)) {
        throw new UsageError(command, `unknown option --${name}${suggest(name, specs)}`);
      }
    } else if (arg.startsWith("-") && arg.length > 1) {
      name = byShort.get(arg.slice(1, 2));
      if (!name) throw new UsageError(command, `unknown option ${arg}`);
      if (arg.length > 2) inline = arg.slice(2);
    } else {
      positionals.push(arg);
      continue;
    }
    const spec = specs[name]!;
    if (spec.type === "boolean") {
      if (inline !== undefined && !["true", "false"].includes(inline)) {
        throw new UsageError(command, `--${name} takes no value (got "${inline}")`);
      }
      options[name] = inline !== "false";
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = args[i + 1];
      if (next === undefined || (next.startsWith("-") && next !== "-")) {
        throw new UsageError(command, `--${name} needs a value (${spec.value ?? "VALUE"})`);
      }
      value = next;
      i++;
    }
    options[name] = value;
  }
  const max = limits.maxPositionals ?? 0;
  if (positionals.length > max) {
    throw new UsageError(command, `unexpected argument "${positionals[max]}"`);
  }
  return { options: options as ParsedOptions<S>, positionals };
}

function suggest(name: string, specs: OptionSpecs): string {
  const close = Object.keys(specs).find((known) =>
    known.startsWith(name) || name.startsWith(known) || distance(known, name) <= 2
  );
  return close ? ` (did you mean --${close}?)` : "";
}

/** Levenshtein distance, for "did you mean"; option names are short. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * A duration as Go writes it ("5s", "500ms", "1m30s") or a plain number of seconds ("2",
 * "0.5"); returns milliseconds. Throws UsageError naming the option.
 */
export function parseDuration(command: string, option: string, text: string): number {
  const trimmed = text.trim();
  let ms: number | undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) ms = Number(trimmed) * 1000;
  else if (/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(trimmed)) {
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
    ms = 0;
    for (const [, n, , u] of trimmed.matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g)) {
      ms += Number(n) * unit[u as keyof typeof unit];
    }
  }
  if (ms === undefined || !(ms > 0)) {
    throw new UsageError(
      command,
      `--${option} "${text}" is not a duration; use e.g. 5s, 500ms or 2 (seconds)`,
    );
  }
  return Math.round(ms);
}

const HELP_WIDTH = 100;

/** Splits a text into lines of at most `width` characters, at spaces. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > Math.max(width, 20)) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

export interface HelpText {
  usage: string;
  summary: string;
  options: OptionSpecs;
  /** Paragraphs after the options (exit codes, environment, examples). */
  sections?: Array<{ title: string; body: string }>;
}

/** The help layout of every command: usage, what it does, options, then sections. */
export function renderHelp(help: HelpText): string {
  const rows = Object.entries(help.options).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : "    "}--${name}${
      spec.type === "string" ? ` ${spec.value ?? "VALUE"}` : ""
    }`;
    return [flag, spec.help] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const options = rows.map(([flag, text]) =>
    wrap(text, HELP_WIDTH - width - 2).map((line, i) =>
      `  ${(i === 0 ? flag : "").padEnd(width)}${line}`.trimEnd()
    ).join("\n")
  ).join("\n");
  const sections = (help.sections ?? []).map((s) => `\n${s.title}:\n${s.body}`).join("\n");
  return `Usage: ${help.usage}\n\n${help.summary}\n\nOptions:\n${options}\n${sections}`
    .trimEnd();
}
