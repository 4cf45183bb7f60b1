/**
 * `ipamd doctor`'s checks of what the container runtime needs: aws-cni in HOST_CNI_BIN_PATH and
 * 10-aws.conflist in HOST_CNI_CONFDIR_PATH, pointing at ipamd's socket, first in the directory,
 * with every chained plugin installed. Evaluation is pure; `readPluginFiles` does the reading.
 */
import { join } from "node:path";
import { CONFLIST_NAME } from "../../cni/conflist.ts";
import { check, type CheckResult } from "./doctor_report.ts";

export interface PluginFiles {
  binDir: string;
  confDir: string;
  /** Mode of `<binDir>/aws-cni`; undefined when missing. */
  awsCniMode?: number;
  /** Names in the conf dir (undefined when the directory is missing). */
  confEntries?: string[];
  /** Text of 10-aws.conflist; undefined when missing. */
  conflistText?: string;
  /** Plugin types found as executables in binDir or the extra CNI_PATH directories. */
  installedPlugins: Set<string>;
}

/** Who puts the file there, depending on whether ipamd is ready (it installs both then). */
function installRemedy(ipamdReady: boolean): string {
  return ipamdReady
    ? "ipamd installed it when it became ready and something removed it since: restart " +
      "aws-node to install it again"
    : "ipamd installs it once ready (see 'ipamd status' and its log, AWS_VPC_K8S_CNI_LOG_FILE)";
}

export function checkCniBinary(files: PluginFiles, ipamdReady: boolean): CheckResult {
  const path = join(files.binDir, "aws-cni");
  if (files.awsCniMode === undefined) {
    return check("cni-binary", "FAIL", `${path} is missing: the runtime cannot run aws-cni`, {
      remedy: `${installRemedy(ipamdReady)}; 'ipamd init' (the init container) installs it too`,
    });
  }
  if ((files.awsCniMode & 0o111) === 0) {
    return check("cni-binary", "FAIL", `${path} is not executable`, {
      remedy: `chmod 755 ${path}, or run 'ipamd init'`,
    });
  }
  return check("cni-binary", "PASS", `${path} installed`);
}

/** The conflist: present, valid, first, pointing at our socket, every plugin installed. */
export function checkConflist(
  files: PluginFiles,
  socket: string,
  ipamdReady: boolean,
): CheckResult {
  const path = join(files.confDir, CONFLIST_NAME);
  if (files.conflistText === undefined) {
    return check(
      "conflist",
      "FAIL",
      `${path} is missing: kubelet reports the node's network ` +
        "not ready and no pod can start",
      { remedy: installRemedy(ipamdReady) },
    );
  }
  let conf: { plugins?: Array<{ type?: unknown; ipamdSocket?: unknown }> };
  try {
    conf = JSON.parse(files.conflistText);
  } catch {
    return check("conflist", "FAIL", `${path} is not valid JSON`, {
      remedy: `remove it and restart aws-node, which writes it again`,
    });
  }
  const plugins = Array.isArray(conf.plugins) ? conf.plugins : [];
  const problems: string[] = [];
  const first = plugins[0];
  if (first?.type !== "aws-cni") {
    problems.push(`its first plugin is ${JSON.stringify(first?.type)}, not "aws-cni"`);
  } else if (typeof first.ipamdSocket === "string" && first.ipamdSocket !== socket) {
    problems.push(
      `aws-cni would call ipamd at ${first.ipamdSocket}, but ipamd listens on ${socket}`,
    );
  }
  for (const plugin of plugins) {
    if (typeof plugin.type === "string" && !files.installedPlugins.has(plugin.type)) {
      problems.push(`plugin "${plugin.type}" is not installed in ${files.binDir}: every ADD fails`);
    }
  }
  if (problems.length > 0) {
    return check("conflist", "FAIL", `${path} is not usable`, {
      details: problems,
      remedy: "restart aws-node so ipamd writes the conflist again; install missing chained " +
        "plugins (CNI reference plugins) into the CNI bin directory",
    });
  }
  const before = (files.confEntries ?? []).filter((name) =>
    /\.(conflist|conf|json)$/.test(name) && name < CONFLIST_NAME
  ).sort();
  if (before.length > 0) {
    return check(
      "conflist",
      "WARN",
      `${path} is valid, but the runtime uses the first file in ` +
        `name order: ${before.join(", ")} comes first`,
      {
        remedy: `remove or rename ${before.map((n) => join(files.confDir, n)).join(", ")} ` +
          "unless you chain it on purpose",
      },
    );
  }
  return check(
    "conflist",
    "PASS",
    `${path}: ${plugins.map((p) => p.type).join(" → ")}, ` +
      `ipamd socket ${socket}`,
  );
}

/** Reads what the two checks need; missing files and directories are results, not errors. */
export async function readPluginFiles(
  binDir: string,
  confDir: string,
  extraPluginDirs: readonly string[],
): Promise<PluginFiles> {
  const awsCniMode = (await Deno.stat(join(binDir, "aws-cni")).catch(() => undefined))?.mode ??
    undefined;
  const confEntries = await names(confDir);
  const conflistText = await Deno.readTextFile(join(confDir, CONFLIST_NAME)).catch(() => undefined);
  const installedPlugins = new Set<string>();
  for (const dir of [binDir, ...extraPluginDirs]) {
    for (const name of (await names(dir)) ?? []) {
      const stat = await Deno.stat(join(dir, name)).catch(() => undefined);
      if (stat?.isFile && stat.mode !== null && (stat.mode & 0o111) !== 0) {
        installedPlugins.add(name);
      }
    }
  }
  return {
    binDir,
    confDir,
    ...(awsCniMode === undefined || awsCniMode === null ? {} : { awsCniMode }),
    ...(confEntries ? { confEntries } : {}),
    ...(conflistText === undefined ? {} : { conflistText }),
    installedPlugins,
  };
}

async function names(dir: string): Promise<string[] | undefined> {
  try {
    const out: string[] = [];
    for await (const entry of Deno.readDir(dir)) out.push(entry.name);
    return out;
  } catch {
    return undefined;
  }
}
