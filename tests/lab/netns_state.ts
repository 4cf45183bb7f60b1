/**
 * What a namespace holds (links, addresses, routes, rules, iptables), as plain comparable data:
 * take one before a test and one after, and deepEqual them to prove nothing was left behind.
 * IPv6 link-local addresses and their routes are left out: the kernel makes them for every link
 * (which `links` already covers) and they appear only when duplicate address detection is done.
 */
import { type Netns, nsExec } from "./namespaces.ts";

export interface NetnsState {
  links: string[];
  addresses: string[];
  routes: string[];
  rules: string[];
  /** iptables-save of the namespace without comments and counters. */
  iptables: string[];
}

async function lines(ns: Netns, argv: string[]): Promise<string[]> {
  const out = await nsExec(ns, argv, { timeoutMs: 20_000 });
  return out.stdout.split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

export async function netnsState(ns: Netns): Promise<NetnsState> {
  const links = (await lines(ns, ["ip", "-o", "link", "show"]))
    .map((l) => l.split(": ")[1]?.split("@")[0] ?? l);
  const addresses = (await lines(ns, ["ip", "-o", "addr", "show"]))
    .map((l) => l.replace(/\\.*$/, "").replace(/^\d+: /, "").trim())
    .filter((l) => !/ inet6 fe80:/.test(l));
  const routes = [
    ...await lines(ns, ["ip", "-4", "route", "show", "table", "all"]),
    ...(await lines(ns, ["ip", "-6", "route", "show", "table", "all"])).filter((l) =>
      !/fe80:/.test(l)
    ),
  ];
  const rules = [
    ...await lines(ns, ["ip", "-4", "rule", "show"]),
    ...await lines(ns, ["ip", "-6", "rule", "show"]),
  ];
  const iptables = (await lines(ns, ["iptables-save"]))
    .filter((l) => !l.startsWith("#"))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ""));
  return { links, addresses, routes, rules, iptables };
}
