/**
 * `ipamd config`: every setting's effective value and where it came from (default or
 * environment), our additions marked, the deprecated variables, and the same error ipamd gives
 * for an invalid environment, so users can check settings before rolling them out.
 */
import {
  ConfigError,
  DEPRECATED_VARIABLES,
  describe,
  loadConfig,
  type LoadedConfig,
  renderEnv,
  type Setting,
} from "../../config.ts";
import { renderTable } from "../table.ts";
import { renderHelp } from "./args.ts";
import {
  type CommandContext,
  EXIT,
  HELP_OPTION,
  JSON_OPTION,
  print,
  printError,
  printJson,
  runCommand,
} from "./command.ts";

const OPTIONS = {
  ...JSON_OPTION,
  changed: { type: "boolean", help: "only the settings taken from the environment" },
  wide: { type: "boolean", short: "w", help: "add each setting's type, default and meaning" },
  env: {
    type: "boolean",
    help: "print NAME=value lines (every effective value), e.g. for a DaemonSet patch",
  },
  ...HELP_OPTION,
} as const;

export function help(): string {
  return renderHelp({
    usage: "ipamd config [--json | --env] [--changed] [--wide]",
    summary: "Validates the environment exactly as 'ipamd run' does, then prints every setting " +
      "with its\neffective value and its source: default or environment. Settings that are not " +
      "upstream\naws-node's are marked (ours, aws-sdk); deprecated variables are listed with what " +
      "happens\nto them. Run it with aws-node's environment (kubectl exec ... -- ipamd config) to " +
      "check a\nchange before rolling it out.",
    options: OPTIONS,
    sections: [{
      title: "Exit codes",
      body: "  0 the environment is valid, 1 it is not (every problem is listed on stderr), " +
        "2 usage error.",
    }],
  });
}

export interface DeprecatedView {
  name: string;
  set: boolean;
  value?: string;
  /** What happens instead. */
  note: string;
}

/** `ipamd config --json` for a valid environment. */
export interface ConfigView {
  valid: true;
  settings: readonly Setting[];
  deprecated: DeprecatedView[];
  warnings: readonly string[];
}

export async function main(context: CommandContext): Promise<number> {
  return await runCommand("config", context, { options: OPTIONS, help }, (parsed) => {
    const { options } = parsed;
    let loaded: LoadedConfig;
    try {
      loaded = loadConfig({ ...context.env });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      if (options.json) printJson({ valid: false, problems: error.problems });
      printError(`ipamd config: ${error.message}`);
      return Promise.resolve(EXIT.failure);
    }
    const view = configView(loaded, context.env);
    const settings = options.changed
      ? view.settings.filter((s) => s.source === "environment")
      : view.settings;
    if (options.env) {
      const env = renderEnv(loaded);
      print(settings.map((s) => `${s.name}=${env[s.name] ?? ""}`).join("\n"));
    } else if (options.json) {
      printJson({ ...view, settings });
    } else {
      print(renderConfig({ ...view, settings }, { wide: options.wide ?? false }));
    }
    return Promise.resolve(EXIT.ok);
  });
}

export function configView(
  loaded: LoadedConfig,
  env: Readonly<Record<string, string>>,
): ConfigView {
  return {
    valid: true,
    settings: describe(loaded),
    deprecated: Object.entries(DEPRECATED_VARIABLES).map(([name, note]) => ({
      name,
      set: Boolean(env[name]),
      ...(env[name] ? { value: env[name] } : {}),
      note,
    })),
    warnings: loaded.warnings,
  };
}

export function renderConfig(view: ConfigView, options: { wide?: boolean } = {}): string {
  const columns = [
    { header: "NAME", value: (s: Setting) => s.name },
    { header: "VALUE", value: (s: Setting) => (s.value === "" ? '""' : s.value) },
    { header: "SOURCE", value: (s: Setting) => s.source },
    { header: "NOTE", value: (s: Setting) => note(s) },
  ];
  if (options.wide) {
    columns.push(
      { header: "TYPE", value: (s: Setting) => s.type },
      { header: "DEFAULT", value: (s: Setting) => (s.default === "" ? '""' : s.default) },
      { header: "MEANING", value: (s: Setting) => s.doc },
    );
  }
  const parts = [
    view.settings.length === 0
      ? "No setting comes from the environment."
      : renderTable(view.settings, columns),
  ];
  parts.push(
    "Deprecated (accepted and ignored):\n" +
      view.deprecated.map((d) =>
        `  ${d.name}${d.set ? `=${JSON.stringify(d.value)} (set)` : " (not set)"}: ${d.note}`
      ).join("\n"),
  );
  if (view.warnings.length > 0) {
    parts.push("Warnings:\n" + view.warnings.map((w) => `  ${w}`).join("\n"));
  }
  return parts.join("\n\n");
}

function note(s: Setting): string {
  const notes: string[] = [];
  if (s.origin === "ours") notes.push("ours (not in upstream aws-node)");
  if (s.origin === "aws-sdk") notes.push("AWS SDK standard variable");
  if (s.upstreamDefault !== undefined) notes.push(`upstream default: ${s.upstreamDefault}`);
  return notes.join("; ");
}
