/**
 * Lab network namespaces for tests: create and remove throwaway ones, run commands inside them.
 *
 * A guard stands between tests and the host: commands run only in namespaces that this process
 * created (createNetns) or that a process it started made for it (adoptNetns, used for the
 * simulator's lab), and never in one whose identity equals the namespace this process started in.
 */
import type { Cleanup } from "./cleanup.ts";
import { run, type RunOptions, type RunResult } from "./command.ts";
import { recordOwner, RUN_ID } from "./owner.ts";
import { sweepStaleOnce } from "./stale_sweep.ts";

export const NETNS_DIR = "/var/run/netns";

export interface Netns {
  readonly name: string;
  readonly path: string;
}

/** A namespace operation was refused because it could touch something that is not ours. */
export class NetnsGuardError extends Error {
  readonly netns: string;
  constructor(netns: string, why: string) {
    super(`refusing to use network namespace "${netns}": ${why}`);
    this.name = "NetnsGuardError";
    this.netns = netns;
  }
}

/** Identity of the namespace this process started in (the host's, for a test run). */
const HOST_NETNS = nsIdentity("/proc/self/ns/net");
const owned = new Map<string, "created" | "adopted">();
const PREFIX = /^[a-z][a-z0-9]{1,11}$/;
const ROLE = /^[a-z0-9][a-z0-9-]{0,23}$/;

function nsIdentity(path: string): string {
  const st = Deno.statSync(path);
  return `${st.dev}:${st.ino}`;
}

/** Does this path name the namespace the test process started in? */
export function isHostNetns(path: string): boolean {
  try {
    return nsIdentity(path) === HOST_NETNS;
  } catch {
    return false;
  }
}

/** Throws NetnsGuardError unless `ns` is a lab namespace of this process and not the host's. */
export function assertLabNetns(ns: Netns): void {
  if (!owned.has(ns.name)) {
    throw new NetnsGuardError(ns.name, "not created or adopted by this test process");
  }
  if (ns.path !== `${NETNS_DIR}/${ns.name}`) {
    throw new NetnsGuardError(ns.name, `path ${ns.path} is not ${NETNS_DIR}/${ns.name}`);
  }
  if (isHostNetns(ns.path)) {
    throw new NetnsGuardError(ns.name, "it is the namespace this process started in (the host)");
  }
}

/** Throws NetnsGuardError if a namespace path given to a plugin or runtime is the host's. */
export function assertNotHostNetns(path: string): void {
  if (isHostNetns(path)) throw new NetnsGuardError(path, "it is the host's network namespace");
}

function uniqueName(prefix: string, role: string): string {
  if (!PREFIX.test(prefix)) {
    throw new TypeError(`netns prefix "${prefix}" must match ${PREFIX} (the team's test prefix)`);
  }
  if (!ROLE.test(role)) throw new TypeError(`netns role "${role}" must match ${ROLE}`);
  const base = `${prefix}-${RUN_ID}-${role}`;
  for (let n = 1;; n++) {
    const name = n === 1 ? base : `${base}-${n}`;
    if (!owned.has(name) && !exists(`${NETNS_DIR}/${name}`)) return name;
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

export interface CreateNetnsOptions {
  /** Registers the removal here (recommended: the test's Cleanup). */
  cleanup?: Cleanup;
  /** Bring `lo` up (default true). */
  loopbackUp?: boolean;
}

/** Creates `<prefix>-<runId>-<role>` (with a numeric suffix if that is taken). */
export async function createNetns(
  prefix: string,
  role: string,
  options: CreateNetnsOptions = {},
): Promise<Netns> {
  await sweepStaleOnce();
  recordOwner();
  const name = uniqueName(prefix, role);
  const ns: Netns = { name, path: `${NETNS_DIR}/${name}` };
  owned.set(name, "created"); // before `ip netns add`, so an exit half-way still removes it
  options.cleanup?.defer(`remove netns ${name}`, () => removeNetns(ns));
  await run(["ip", "netns", "add", name], { timeoutMs: 10_000 });
  if (options.loopbackUp ?? true) await nsExec(ns, ["ip", "link", "set", "lo", "up"]);
  return ns;
}

/** Removes a namespace created by this process; idempotent. */
export async function removeNetns(ns: Netns): Promise<void> {
  const kind = owned.get(ns.name);
  if (kind === "adopted") {
    throw new NetnsGuardError(ns.name, "it belongs to the process that made it; forget it instead");
  }
  if (kind === undefined) return;
  if (exists(ns.path)) await run(["ip", "netns", "del", ns.name], { timeoutMs: 30_000 });
  owned.delete(ns.name);
}

/**
 * Allows commands in a namespace that a process started by this test made (the simulator's
 * router and nodes). The caller guarantees that; the host check still applies.
 */
export function adoptNetns(name: string): Netns {
  const ns: Netns = { name, path: `${NETNS_DIR}/${name}` };
  if (!owned.has(name)) owned.set(name, "adopted");
  assertLabNetns(ns);
  return ns;
}

/** Stops allowing commands in an adopted namespace (its owner is being stopped). */
export function forgetNetns(ns: Netns): void {
  if (owned.get(ns.name) === "adopted") owned.delete(ns.name);
}

/** Does the namespace still exist? */
export function netnsExists(ns: Netns): boolean {
  return exists(ns.path);
}

/** Runs a command inside a lab namespace (`ip netns exec`, which also gives it its own /sys). */
export async function nsExec(
  ns: Netns,
  argv: readonly string[],
  options?: RunOptions,
): Promise<RunResult> {
  assertLabNetns(ns);
  return await run(["ip", "netns", "exec", ns.name, ...argv], options);
}

/** argv that runs `argv` inside a lab namespace, for long-running processes (Deno.Command). */
export function nsArgv(ns: Netns, argv: readonly string[]): string[] {
  assertLabNetns(ns);
  return ["ip", "netns", "exec", ns.name, ...argv];
}

// A process that exits without running its Cleanups (an uncaught error outside a test, a
// Deno.exit) still removes what it created; only SIGKILL leaves work for the stale sweep.
globalThis.addEventListener("unload", () => {
  for (const [name, kind] of owned) {
    if (kind === "created" && exists(`${NETNS_DIR}/${name}`)) {
      new Deno.Command("ip", { args: ["netns", "del", name], stdout: "null", stderr: "null" })
        .outputSync();
    }
  }
});
