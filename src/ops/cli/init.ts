/**
 * `ipamd init`: the init container's job (upstream aws-vpc-cni-init, spec §1.5). Installs the
 * aws-cni binary into HOST_CNI_BIN_PATH and sets the node sysctls of src/node/sysctl.ts on the
 * primary interface, found by the MAC that IMDS reports. Idempotent: an up-to-date binary is
 * not rewritten and a sysctl already right is not written again.
 */
import { basename } from "node:path";
import { type Config, ConfigError, loadConfig } from "../../config.ts";
import { DEFAULT_IMDS_ENDPOINT, ImdsClient } from "../../aws/imds.ts";
import { InstanceMetadata } from "../../aws/imds_metadata.ts";
import { bundledPluginPath, installFile } from "../../ipam/install.ts";
import { findLinkByMac } from "../../node/host_network.ts";
import { applyNodeSysctls, type SysctlWrite } from "../../node/sysctl.ts";
import { Netlink } from "../../../ffi/mod.ts";
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
  "cni-binary": {
    type: "string",
    value: "PATH",
    help: "the aws-cni to install (default: the one shipped next to this ipamd)",
  },
  "plugins-dir": {
    type: "string",
    value: "DIR",
    help:
      "also install every file in DIR (the reference plugins the conflist chains: portmap, ...)",
  },
  "skip-sysctls": { type: "boolean", help: "only install aws-cni" },
  ...HELP_OPTION,
} as const;

export function help(): string {
  return renderHelp({
    usage: "ipamd init [--cni-binary PATH] [--plugins-dir DIR] [--skip-sysctls] [--json]",
    summary: "Does what aws-node's init container does, once per node boot:\n" +
      "  1. copies aws-cni (and with --plugins-dir the plugins it chains, such as portmap) into\n" +
      "     HOST_CNI_BIN_PATH (atomically; skipped when already identical);\n" +
      "  2. finds the primary interface by the MAC in instance metadata (IMDSv2) and sets\n" +
      "     net.ipv4.conf.<primary>.rp_filter=2 (loose) and net.ipv4.tcp_early_demux (0 when\n" +
      "     DISABLE_TCP_EARLY_DEMUX=true, else 1), plus the IPv6 ones when IPv6 is enabled.\n" +
      "Safe to run again. Needs root (sysctls) and the node's network namespace.",
    options: OPTIONS,
    sections: [{
      title: "Exit codes",
      body: "  0 done, 1 a step failed or the environment is invalid, 2 usage error.",
    }],
  });
}

export interface InitReport {
  plugin: { source: string; path: string; changed: boolean };
  /** Files installed from --plugins-dir. */
  otherPlugins: Array<{ source: string; path: string; changed: boolean }>;
  primaryInterface?: string;
  sysctls: Array<SysctlWrite & { changed: boolean }>;
}

export async function main(context: CommandContext): Promise<number> {
  return await runCommand("init", context, { options: OPTIONS, help }, async ({ options }) => {
    let config: Config;
    try {
      config = loadConfig({ ...context.env }).config;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      printError(`ipamd init: ${error.message}`);
      return EXIT.failure;
    }
    const source = options["cni-binary"] ?? bundledPluginPath();
    const plugin = await installIfChanged(source, config.hostCniBinPath);
    const otherPlugins = [];
    const pluginsDir = options["plugins-dir"];
    if (pluginsDir) {
      for (const name of await regularFiles(pluginsDir)) {
        otherPlugins.push(
          await installIfChanged(`${pluginsDir}/${name}`, config.hostCniBinPath, name),
        );
      }
    }
    const report: InitReport = options["skip-sysctls"]
      ? { plugin, otherPlugins, sysctls: [] }
      : { plugin, otherPlugins, ...await setNodeSysctls(config) };
    if (options.json) printJson(report);
    else print(renderInit(report));
    return EXIT.ok;
  });
}

/** Finds the primary interface by the IMDS MAC and sets the sysctls of src/node/sysctl.ts. */
async function setNodeSysctls(
  config: Config,
): Promise<{ primaryInterface: string; sysctls: InitReport["sysctls"] }> {
  const imds = new InstanceMetadata(
    new ImdsClient({ endpoint: config.imdsEndpoint || DEFAULT_IMDS_ENDPOINT, timeoutMs: 2000 }),
  );
  const mac = await imds.primaryMac();
  using nl = Netlink.open();
  const link = await findLinkByMac(nl, mac, { attempts: 5, intervalMs: 1000 });
  const sysctls = applyNodeSysctls({
    primaryInterface: link.name,
    disableTcpEarlyDemux: config.disableTcpEarlyDemux,
    enableIpv6: config.enableIpv6,
    enableV6Egress: config.enableV6Egress,
  }).map((w) => ({ ...w, changed: w.previous !== undefined }));
  return { primaryInterface: link.name, sysctls };
}

/** Copies `source` to `<dir>/<name>` unless the file there is already byte-identical. */
export async function installIfChanged(
  source: string,
  dir: string,
  name = "aws-cni",
): Promise<InitReport["plugin"]> {
  const path = `${dir.replace(/\/+$/, "")}/${name}`;
  let wanted: Uint8Array;
  try {
    wanted = await Deno.readFile(source);
  } catch (error) {
    throw new Error(
      `cannot read the ${name} to install at ${source} (${errorName(error)}); ` +
        (name === "aws-cni" ? "pass --cni-binary" : "check --plugins-dir"),
      { cause: error },
    );
  }
  const current = await Deno.readFile(path).catch(() => undefined);
  const mode = (await Deno.stat(path).catch(() => undefined))?.mode ?? 0;
  if (current && equal(current, wanted) && (mode & 0o111) !== 0) {
    return { source, path, changed: false };
  }
  await installFile(source, { dir, name: basename(path) });
  return { source, path, changed: true };
}

export function renderInit(report: InitReport): string {
  const lines = [
    report.plugin.changed
      ? `installed ${report.plugin.path} (from ${report.plugin.source})`
      : `${report.plugin.path} is up to date`,
  ];
  for (const p of report.otherPlugins) {
    lines.push(p.changed ? `installed ${p.path} (from ${p.source})` : `${p.path} is up to date`);
  }
  if (report.primaryInterface) lines.push(`primary interface: ${report.primaryInterface}`);
  for (const s of report.sysctls) {
    const key = s.key.replaceAll("/", ".");
    lines.push(
      s.changed ? `set ${key} = ${s.value} (was ${s.previous})` : `${key} = ${s.value} (unchanged)`,
    );
  }
  return lines.join("\n");
}

async function regularFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) if (entry.isFile) names.push(entry.name);
  } catch (error) {
    throw new Error(`cannot list --plugins-dir ${dir} (${errorName(error)})`, { cause: error });
  }
  return names.sort();
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : String(error);
}
