/**
 * What a namespace holds (links, addresses, routes, rules, iptables), as plain comparable data:
 * take one before a test and one after, and deepEqual them to prove nothing was left behind.
 * IPv6 link-local addresses and their routes are left out: the kernel makes them for every link
 * (which `links` already covers) and they appear only when duplicate address detection is done.
 */
import { run } from "./command.ts";
import { type Netns, nsExec } from "./namespaces.ts";

export interface NetnsState {
  links: string[];
  addresses: string[];
  routes: string[];
  rules: string[];
  /** iptables-save of the namespace without comments and counters. */
  iptables: string[];
}

type Lines = (argv: string[]) => Promise<string[]>;

function linesOf(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

async function collect(lines: Lines): Promise<NetnsState> {
  const links = (await lines(["ip", "-o", "link", "show"]))
    .map((l) => l.split(": ")[1]?.split("@")[0] ?? l);
  const addresses = (await lines(["ip", "-o", "addr", "show"]))
    .map((l) => l.replace(/\\.*$/, "").replace(/^\d+: /, "").trim())
    .filter((l) => !/ inet6 fe80:/.test(l));
  const routes = [
    ...await lines(["ip", "-4", "route", "show", "table", "all"]),
    ...(await lines(["ip", "-6", "route", "show", "table", "all"])).filter((l) => !/fe80:/.test(l)),
  ];
  const rules = [
    ...await lines(["ip", "-4", "rule", "show"]),
    ...await lines(["ip", "-6", "rule", "show"]),
  ];
  const iptables = (await lines(["iptables-save"]))
    .filter((l) => !l.startsWith("#"))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ""));
  return { links, addresses, routes, rules, iptables };
}

export function netnsState(ns: Netns): Promise<NetnsState> {
  return collect(async (argv) => linesOf((await nsExec(ns, argv, { timeoutMs: 20_000 })).stdout));
}

/**
 * The same view of the namespace this process runs in (the host's, for a test run or the demo),
 * only read: to show a run left the host as it found it. Routes marked linkdown are left out, as
 * in tests/run.sh: they flip with links outside anyone's control.
 */
export async function hostNetworkState(): Promise<NetnsState> {
  const state = await collect(async (argv) =>
    linesOf((await run(argv, { timeoutMs: 20_000 })).stdout)
  );
  return { ...state, routes: state.routes.filter((r) => !/\blinkdown\b/.test(r)) };
}
