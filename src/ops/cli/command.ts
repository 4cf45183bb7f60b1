// deno-lint-ignore-file no-console -- command-line output
/**
 * What every node CLI command shares: the common options, output to stdout (results) and
 * stderr (errors), and one mapping from failures to exit codes:
 * 0 ok, 1 failure (or a doctor FAIL), 2 usage error.
 */
import { parseArgs, type Parsed, UsageError } from "./args.ts";
import type { OptionSpecs } from "./args.ts";
import { IpamdApiError } from "./ipamd_api.ts";

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** What main.ts hands a command: its arguments and the process environment. */
export interface CommandContext {
  args: readonly string[];
  env: Readonly<Record<string, string>>;
}

export const JSON_OPTION = {
  json: { type: "boolean", help: "print JSON instead of tables (stable shape, see README)" },
} as const satisfies OptionSpecs;

export const HELP_OPTION = {
  help: { type: "boolean", short: "h", help: "print this help" },
} as const satisfies OptionSpecs;

export const SOCKET_OPTION = {
  socket: {
    type: "string",
    value: "PATH",
    help: "ipamd's JSON-RPC socket (default $IPAMD_SOCKET_PATH or /var/run/aws-node/ipamd.sock)",
  },
} as const satisfies OptionSpecs;

export const INTROSPECTION_OPTION = {
  introspection: {
    type: "string",
    value: "ADDR",
    help: "introspection API, host:port or unix:/path (default $INTROSPECTION_BIND_ADDRESS " +
      "or 127.0.0.1:61679)",
  },
} as const satisfies OptionSpecs;

export function print(text: string): void {
  console.log(text);
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

export function printError(text: string): void {
  console.error(text);
}

/**
 * Parses the command line, prints the help for -h/--help, runs the command and turns what it
 * throws into a message on stderr and an exit code.
 */
export async function runCommand<S extends OptionSpecs>(
  name: string,
  context: CommandContext,
  spec: { options: S; help: () => string; maxPositionals?: number },
  body: (parsed: Parsed<S>) => Promise<number>,
): Promise<number> {
  try {
    const parsed = parseArgs(name, context.args, spec.options, {
      maxPositionals: spec.maxPositionals ?? 0,
    });
    if ((parsed.options as Record<string, unknown>).help) {
      print(spec.help());
      return EXIT.ok;
    }
    return await body(parsed);
  } catch (error) {
    return reportError(name, error);
  }
}

export function reportError(name: string, error: unknown): number {
  if (error instanceof UsageError) {
    printError(error.message);
    return EXIT.usage;
  }
  if (error instanceof IpamdApiError) {
    printError(`ipamd ${name}: ${error.message}`);
    return EXIT.failure;
  }
  const message = error instanceof Error ? error.message : String(error);
  printError(`ipamd ${name}: ${message}`);
  return EXIT.failure;
}
