/**
 * Applies the node's SNAT/connmark/mangle rules (snat_rules.ts) with one atomic
 * `iptables-restore -w --noflush`, after diffing against `iptables-save` (iptables_plan.ts).
 * Works on the calling process's network namespace; ipamd runs inside the node's.
 *
 * Deviation from upstream, on purpose: with the nf_tables backend upstream programs the
 * connmark part as a native nftables table (`ip aws-cni`, chain at priority dstnat+10). We keep
 * the iptables connmark rules on both backends: iptables-nft already turns them into nftables
 * rules, there is no `nft` CLI on the node image, and a second netlink surface (libnftnl)
 * is not worth it for one chain. The cost: with kube-proxy in nftables mode both nat hooks sit
 * at priority -100, so their order is not guaranteed (upstream #3563). Documented in README.
 */

import { type Logger, silentLogger } from "../ops/log.ts";
import { type Change, parseIptablesSave, planRestore, type SavedTables } from "./iptables_plan.ts";
import { renderSnatRules, type SnatRuleSet, type SnatSettings } from "./snat_rules.ts";

export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}
/** Runs one program; injectable so tests can run iptables inside a namespace (`ip netns exec`). */
export type CommandRunner = (
  program: string,
  args: readonly string[],
  stdin?: string,
) => Promise<CommandOutput>;

export interface IptablesBackend {
  kind: "legacy" | "nft";
  /** "iptables", "iptables-nft" or "iptables-legacy"; -save and -restore are derived from it. */
  command: string;
  /** "1.8.9" */
  version: string;
  /** `--random-fully` exists from iptables 1.6.2 (the check go-iptables makes). */
  hasRandomFully: boolean;
}

/** An iptables program failed or could not be started; carries what it printed. */
export class IptablesError extends Error {
  readonly program: string;
  readonly args: readonly string[];
  /** Exit status; -1 when the program could not be started (see `cause`). */
  readonly exitCode: number;
  readonly stderr: string;
  /** The iptables-restore input, when that was the failing command. */
  readonly input?: string;

  constructor(
    message: string,
    details: {
      program: string;
      args: readonly string[];
      exitCode: number;
      stderr: string;
      input?: string;
      cause?: unknown;
    },
  ) {
    super(message, { cause: details.cause });
    this.name = "IptablesError";
    this.program = details.program;
    this.args = details.args;
    this.exitCode = details.exitCode;
    this.stderr = details.stderr;
    this.input = details.input;
  }
}

const TIMEOUT_MS = 30_000;
/** Seconds iptables waits for the xtables lock (legacy) before giving up. */
const LOCK_WAIT_SECONDS = "10";
const decoder = new TextDecoder();

/** The runner for this process's own namespace, optionally behind a prefix (`ip netns exec x`). */
export function commandRunner(prefix: readonly string[] = []): CommandRunner {
  return async (program, args, stdin) => {
    const argv = [...prefix, program, ...args];
    const child = new Deno.Command(argv[0] ?? program, {
      args: argv.slice(1),
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    }).spawn();
    if (stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(stdin));
      await writer.close();
    }
    const out = await child.output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  };
}

/**
 * Finds the backend as upstream does: `<command> --version` mentioning "legacy" → legacy,
 * anything else → nf_tables. Pass command "iptables-nft" or "iptables-legacy" to force one.
 */
export async function detectIptablesBackend(
  options: { command?: string; run?: CommandRunner } = {},
): Promise<IptablesBackend> {
  const command = options.command ?? "iptables";
  const out = await exec(options.run ?? commandRunner(), command, ["--version"]);
  const version = /v(\d+)\.(\d+)\.(\d+)/.exec(out);
  if (!version) {
    throw new IptablesError(`Unrecognised "${command} --version" output: ${out.trim()}`, {
      program: command,
      args: ["--version"],
      exitCode: 0,
      stderr: "",
    });
  }
  const [major, minor, patch] = version.slice(1).map(Number) as [number, number, number];
  return {
    kind: out.includes("legacy") ? "legacy" : "nft",
    command,
    version: `${major}.${minor}.${patch}`,
    hasRandomFully: major > 1 || (major === 1 && (minor > 6 || (minor === 6 && patch >= 2))),
  };
}

/** `iptables-save` of the given tables, parsed. */
export async function readIptables(
  backend: IptablesBackend,
  options: { tables?: readonly string[]; run?: CommandRunner; logger?: Logger } = {},
): Promise<SavedTables> {
  const run = options.run ?? commandRunner();
  const tables = options.tables ?? ["nat", "mangle"];
  const texts = await Promise.all(
    tables.map((t) => execFull(run, `${backend.command}-save`, ["-t", t])),
  );
  const merged: SavedTables = new Map();
  for (const out of texts) {
    // iptables-nft warns here when legacy tables exist too: both sets of rules then apply
    // (upstream #1847), which is worth a loud line in the log.
    if (backend.kind === "nft" && out.stderr.includes("legacy tables present")) {
      options.logger?.warn("iptables-legacy tables exist beside nf_tables ones", {
        hint: `inspect them with iptables-legacy-save; remove rules another tool left there`,
      });
    }
    for (const [name, table] of parseIptablesSave(out.stdout)) merged.set(name, table);
  }
  return merged;
}

export interface ApplyResult {
  changed: boolean;
  changes: Change[];
  /** The restore input that was applied (undefined when nothing changed). */
  input?: string;
  /** Number of iptables-restore runs (0 for a no-op, more than 1 after a retry). */
  restores: number;
  ruleSet: SnatRuleSet;
  durationMs: number;
}

export interface ApplyOptions {
  backend: IptablesBackend;
  run?: CommandRunner;
  logger?: Logger;
}

/**
 * Makes the node's rules match `settings` (spec §5.4): adds, removes and reorders our rules,
 * removes upstream's legacy `AWS-*-CHAIN-1..N`, and everything of ours in nat when external
 * SNAT is on; never touches other programs' rules. Idempotent: a second call runs no restore.
 */
export async function applySnatRules(
  settings: SnatSettings,
  options: ApplyOptions,
): Promise<ApplyResult> {
  const started = performance.now();
  const run = options.run ?? commandRunner();
  const logger = options.logger ?? silentLogger;
  const { backend } = options;
  const ruleSet = renderSnatRules({ hasRandomFully: backend.hasRandomFully, ...settings });
  for (const skipped of ruleSet.skippedExclusions) {
    logger.warn("Skipping AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS entry", skipped);
  }
  if (ruleSet.randomFallback) {
    logger.warn("iptables lacks --random-fully: SNAT uses --random", { version: backend.version });
  }
  let restores = 0;
  // A concurrent writer can make a `-D` miss between our save and restore: re-read and retry.
  for (let attempt = 1;; attempt++) {
    const saved = await readIptables(backend, { run, logger });
    const plan = planRestore(saved, ruleSet);
    if (!plan.input) {
      return { changed: restores > 0, changes: [], restores, ruleSet, durationMs: since(started) };
    }
    const args = ["-w", LOCK_WAIT_SECONDS, "--noflush"];
    const program = `${backend.command}-restore`;
    const out = await run(program, args, plan.input).catch((cause) => {
      throw notStarted(program, args, cause);
    });
    restores++;
    if (out.code === 0) {
      logger.info("iptables rules updated", {
        changes: plan.changes.length,
        backend: backend.kind,
      });
      return {
        changed: true,
        changes: plan.changes,
        input: plan.input,
        restores,
        ruleSet,
        durationMs: since(started),
      };
    }
    if (attempt >= 3) {
      throw new IptablesError(
        `${program} failed (exit ${out.code}): ${out.stderr.trim()}; check the input with ` +
          `"${program} --test" and whether another program edits the same chains`,
        { program, args, exitCode: out.code, stderr: out.stderr, input: plan.input },
      );
    }
    logger.warn("iptables-restore failed, retrying", { stderr: out.stderr.trim(), attempt });
  }
}

async function exec(run: CommandRunner, program: string, args: string[]): Promise<string> {
  return (await execFull(run, program, args)).stdout;
}

async function execFull(run: CommandRunner, program: string, args: string[]) {
  const out = await run(program, args).catch((cause) => {
    throw notStarted(program, args, cause);
  });
  if (out.code !== 0) {
    throw new IptablesError(
      `${program} ${args.join(" ")} failed (exit ${out.code}): ${out.stderr.trim()}`,
      { program, args, exitCode: out.code, stderr: out.stderr },
    );
  }
  return out;
}

function notStarted(program: string, args: readonly string[], cause: unknown): IptablesError {
  return new IptablesError(
    `Could not run ${program}: ${cause instanceof Error ? cause.message : String(cause)}; ` +
      `install iptables (Debian package "iptables") or fix PATH`,
    { program, args, exitCode: -1, stderr: "", cause },
  );
}

function since(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
