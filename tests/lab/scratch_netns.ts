/**
 * Throwaway network namespaces for tests, and `ip -j` as an independent witness of what the
 * kernel holds. Names are `<prefix>-<random>-<k>`, so parallel runs never collide; `dispose`
 * removes only the namespaces made here.
 */

import { createNetns, deleteNetns } from "../../ffi/mod.ts";

export interface Scratch extends Disposable {
  names: string[];
  paths: string[];
}

export function randomId(length = 6): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (b) => "abcdefghijklmnopqrstuvwxyz0123456789"[b % 36]).join("");
}

/** Creates `count` namespaces; use with `using` so they go on every exit path. */
export function scratchNetns(count: number, prefix = "tffi"): Scratch {
  const run = randomId();
  const names: string[] = [];
  const paths: string[] = [];
  const dispose = () => {
    for (const n of names) deleteNetns(n);
  };
  try {
    for (let k = 1; k <= count; k++) {
      const name = `${prefix}-${run}-${k}`;
      paths.push(createNetns(name));
      names.push(name);
    }
  } catch (e) {
    dispose();
    throw e;
  }
  return { names, paths, [Symbol.dispose]: dispose };
}

/** Runs a command, returns stdout; throws with stderr when it fails. */
export function run(cmd: string, args: string[]): string {
  const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${dec.decode(out.stderr)}`);
  }
  return dec.decode(out.stdout);
}

/** `ip -n <ns> -j <args>` parsed; [] for empty output. */
// deno-lint-ignore no-explicit-any
export function ipJson(ns: string, ...args: string[]): any[] {
  const text = run("ip", ["-n", ns, "-j", ...args]).trim();
  return text === "" ? [] : JSON.parse(text);
}

/** `ip -n <ns> <args>` as text. */
export function ip(ns: string, ...args: string[]): string {
  return run("ip", ["-n", ns, ...args]);
}
