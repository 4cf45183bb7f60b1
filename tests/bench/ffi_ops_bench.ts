// deno-lint-ignore-file no-console -- benchmark output
/**
 * Latency of the per-pod netlink operations through ffi/, in a throwaway namespace, with one
 * forked `ip` per operation as the reference measured in the same run. Also watches the
 * process RSS over many add/delete cycles (a leak shows as steady growth).
 *   deno run -A tests/bench/ffi_ops_bench.ts [N]      (or `make bench BENCH=ffi_ops`)
 */
import { Netlink, withNetns } from "../../ffi/mod.ts";
import { scratchNetns } from "../lab/scratch_netns.ts";
import { type Benchmark, type BenchResult, type Figure, processMemoryKib } from "./bench_api.ts";

/** Runs the benchmark; `log` gets one line per operation. */
export function benchFfiOps(n = 200, log: (line: string) => void = console.log): BenchResult {
  using s = scratchNetns(2, "tffib");
  const [ns, path, peerPath] = [s.names[0]!, s.paths[0]!, s.paths[1]!];
  const perOpUs: Record<string, number> = {};

  function time(label: string, count: number, fn: (i: number) => void): number {
    const t = performance.now();
    for (let i = 0; i < count; i++) fn(i);
    const per = (performance.now() - t) / count;
    perOpUs[label] = Number((per * 1000).toFixed(1));
    log(`${label.padEnd(44)} ${(per * 1000).toFixed(1).padStart(8)} µs/op  (n=${count})`);
    return per;
  }
  const ip = (args: string[]) => new Deno.Command("ip", { args: ["-n", ns, ...args] }).outputSync();

  Netlink.openIn(path).close(); // bind the symbols first (see ffi/dl.ts)
  time("Netlink.openIn + close", 50, () => Netlink.openIn(path).close());
  time("withNetns (switch in and back)", n, () => withNetns(path, () => 0));
  using nl = Netlink.openIn(path);
  nl.setUp("lo");
  nl.createVeth({ name: "b0", peerName: "b1", up: true, peerUp: true });
  nl.addAddress("b0", "10.90.0.1/16");

  const veth = time(
    "createVeth (same namespace)",
    n,
    (i) => nl.createVeth({ name: `v${i}a`, peerName: `v${i}b` }),
  );
  time("createVeth (peer in other ns, MAC, MTU, up)", n, (i) =>
    nl.createVeth({
      name: `w${i}a`,
      peerName: `w${i}b`,
      peerNetns: peerPath,
      mac: "02:00:00:00:00:01",
      mtu: 9001,
      up: true,
      peerUp: true,
    }));
  time("link(name) (one RTM_GETLINK)", n, (i) => nl.link(`v${i}a`));
  time("setUp(name)", n, (i) => nl.setUp(`v${i}a`));
  const route = time(
    "addRoute /32 dev (by name)",
    n,
    (i) => nl.addRoute({ dst: `10.91.${i >> 8}.${i & 255}/32`, link: "b0" }),
  );
  const b0 = nl.link("b0")!.index;
  time(
    "addRoute /32 dev (by ifindex)",
    n,
    (i) => nl.addRoute({ dst: `10.92.${i >> 8}.${i & 255}/32`, link: b0 }),
  );
  const rule = time(
    "addRule from /32 lookup table",
    n,
    (i) => nl.addRule({ priority: 1536, table: 2, src: `10.91.${i >> 8}.${i & 255}/32` }),
  );
  time("addAddress /32", n, (i) => nl.addAddress("b0", `10.93.${i >> 8}.${i & 255}/32`));
  time(
    "replaceNeighbour (permanent)",
    n,
    (i) =>
      nl.replaceNeighbour({
        link: "b0",
        ip: `10.90.${i >> 8}.${(i & 255) + 1}`,
        mac: "02:00:00:00:00:02",
      }),
  );
  time(`routes() dump (${2 * n + 2}+ routes)`, 20, () => nl.routes());
  time(`rules() dump (${n}+ rules)`, 20, () => nl.rules());
  time(
    "deleteRoute /32",
    n,
    (i) => nl.deleteRoute({ dst: `10.91.${i >> 8}.${i & 255}/32`, link: b0 }),
  );
  time(
    "deleteRule",
    n,
    (i) => nl.deleteRule({ priority: 1536, table: 2, src: `10.91.${i >> 8}.${i & 255}/32` }),
  );
  time("deleteLink (veth pair)", 20, (i) => nl.deleteLink(`v${i}a`));

  log("reference: one `ip` process per operation (what a shell-out would cost)");
  const ipRoute = time(
    "ip route add /32 dev",
    50,
    (i) => ip(["route", "add", `10.94.0.${i}/32`, "dev", "b0"]),
  );
  const ipRule = time(
    "ip rule add from /32 lookup",
    50,
    (i) => ip(["rule", "add", "from", `10.94.0.${i}/32`, "lookup", "3", "prio", "1536"]),
  );
  const ipVeth = time(
    "ip link add veth",
    50,
    (i) => ip(["link", "add", `x${i}a`, "type", "veth", "peer", "name", `x${i}b`]),
  );

  // Leak watch: many full cycles; RSS should flatten after the first rounds.
  const cycle = (i: number) => {
    const dst = `10.95.${(i >> 8) & 255}.${i & 255}/32`;
    nl.addRoute({ dst, link: "b0", table: 9 });
    nl.addRule({ priority: 2000, table: 9, src: dst });
    nl.replaceNeighbour({ link: "b0", ip: "10.90.255.1", mac: "02:00:00:00:00:03" });
    nl.link("b0");
    nl.deleteRouteIfExists({ dst, table: 9 });
    nl.deleteRuleIfExists({ priority: 2000, table: 9, src: dst });
    nl.deleteRouteIfExists({ dst, table: 9 }); // a not-found error each time
  };
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    for (let i = 0; i < 2000; i++) cycle(r * 2000 + i);
    rounds.push(processMemoryKib(Deno.pid)?.rssKib ?? NaN);
  }
  log(`RSS after each 2000 add/delete cycles (KiB): ${rounds.join(", ")}`);

  const us = (ms: number) => Number((ms * 1000).toFixed(1));
  const figures: Figure[] = [
    {
      name: "route add /32 (netlink)",
      value: us(route),
      unit: "µs",
      reference: { name: "one `ip route add` process", value: us(ipRoute) },
    },
    {
      name: "rule add from /32 (netlink)",
      value: us(rule),
      unit: "µs",
      reference: { name: "one `ip rule add` process", value: us(ipRule) },
    },
    {
      name: "veth pair create (netlink)",
      value: us(veth),
      unit: "µs",
      reference: { name: "one `ip link add` process", value: us(ipVeth) },
    },
    {
      name: "RSS after 10000 netlink add/del cycles",
      value: Math.round(rounds.at(-1)! / 1024 * 10) / 10,
      unit: "MiB",
      reference: {
        name: "RSS after the first 2000 (same process)",
        value: Math.round(rounds[0]! / 1024 * 10) / 10,
      },
    },
  ];
  return { figures, details: { perOpUs, rssKibPerRound: rounds, n } };
}

export const benchmark: Benchmark = {
  name: "ffi_ops",
  title: "per-pod netlink operations through ffi/ vs one `ip` process per operation",
  budgetSeconds: 30,
  needsRoot: true,
  run(context) {
    return Promise.resolve(benchFfiOps(context.quick ? 50 : 200, context.log));
  },
};

if (import.meta.main) benchFfiOps(Number(Deno.args[0] ?? 200));
