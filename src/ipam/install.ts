/**
 * Installing the CNI plugin on the host once ipamd is ready (upstream's entrypoint job, spec
 * §1.4): copy aws-cni into HOST_CNI_BIN_PATH and write 10-aws.conflist into
 * HOST_CNI_CONFDIR_PATH, both atomically. A runtime considers the node's network ready only
 * when both exist, so pods never reach a plugin whose daemon is not serving.
 */
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Config } from "../config.ts";
import { installConflist, renderConflist } from "../cni/conflist.ts";
import type { Logger } from "../ops/log.ts";

/**
 * The aws-cni executable shipped with this ipamd: next to a compiled `ipamd`, or the launcher
 * `build/bin/aws-cni` of a source checkout. Callers may pass another path instead
 * (`ipamd init --cni-binary`).
 */
export function bundledPluginPath(): string {
  const exec = Deno.execPath();
  if (basename(exec) === "ipamd") return join(dirname(exec), "aws-cni");
  return join(dirname(fileURLToPath(import.meta.url)), "..", "..", "build", "bin", "aws-cni");
}

/** Copies a file to `dir/name` through a temporary file and a rename (never half a binary). */
export async function installFile(
  source: string,
  options: { dir: string; name: string; mode?: number },
): Promise<string> {
  await Deno.mkdir(options.dir, { recursive: true });
  const target = join(options.dir, options.name);
  const tmp = join(options.dir, `.${options.name}.${crypto.randomUUID()}.tmp`);
  try {
    await Deno.copyFile(source, tmp);
    await Deno.chmod(tmp, options.mode ?? 0o755);
    await Deno.rename(tmp, target);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
  return target;
}

export async function installPlugin(
  config: Pick<
    Config,
    | "hostCniBinPath"
    | "hostCniConfDirPath"
    | "vethPrefix"
    | "podMtu"
    | "podSecurityGroupEnforcingMode"
    | "pluginLogFile"
    | "pluginLogLevel"
    | "socketPath"
    | "podIpWaitSeconds"
    | "enableBandwidthPlugin"
    | "disablePodV6"
  >,
  options: { logger: Logger; pluginBinary?: string },
): Promise<{ binary: string; conflist: string }> {
  const source = options.pluginBinary ?? bundledPluginPath();
  const binary = await installFile(source, { dir: config.hostCniBinPath, name: "aws-cni" });
  const conflist = await installConflist(
    config.hostCniConfDirPath,
    renderConflist({
      vethPrefix: config.vethPrefix,
      mtu: config.podMtu,
      podSGEnforcingMode: config.podSecurityGroupEnforcingMode,
      pluginLogFile: config.pluginLogFile,
      pluginLogLevel: config.pluginLogLevel.toUpperCase(),
      ipamdSocket: config.socketPath,
      addWaitMs: config.podIpWaitSeconds * 1000,
      bandwidth: config.enableBandwidthPlugin,
      disablePodV6: config.disablePodV6,
    }),
  );
  options.logger.info("CNI plugin installed", { binary, conflist, from: source });
  return { binary, conflist };
}
