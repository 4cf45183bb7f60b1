// deno-lint-ignore-file no-console -- benchmark report
/**
 * Where aws-cni's time goes: hyperfine over the Deno runtime alone, VERSION, the ADD import
 * graph, FFI start (dlopen + one netlink socket), and full ADD+DEL pairs inside a lab node
 * namespace against the ipamd stub; the plugin log adds the RPC and netlink split of ADD/DEL.
 * Root: builds tcni-* namespaces and removes them. Run:
 *   deno run -A tests/bench/cni_startup.ts [runs]
 */
import { IpamdStub } from "../lab/ipamd_stub.ts";
import { ip, randomId, scratchNetns } from "../lab/scratch_netns.ts";
import { hostVethName } from "../../src/cni/names.ts";
import { callIpamd } from "../../src/rpc/client.ts";
import { removePodInterface, teardownHost, wirePodInterface } from "../../src/cni/pod_network.ts";

const runs = Number(Deno.args[0] ?? 30);
const root = new URL("../../", import.meta.url).pathname;
const deno = Deno.execPath();
const perms = "--allow-read --allow-write --allow-net --allow-env --allow-ffi";
const run = `${deno} run --quiet --no-prompt --cached-only ${perms}`;

const work = await Deno.makeTempDir({ prefix: "tcni-bench-" });
using lab = scratchNetns(1, "tcni");
const node = lab.names[0]!;
ip(node, "link", "set", "lo", "up");
const pool = Array.from({ length: 200 }, (_, i) => ({ ip: `10.213.${i >> 8}.${(i & 255) + 1}` }));
await using stub = await IpamdStub.start({ pool });
const podNs = `tcni-${randomId()}-pod`;
try {
  const conf = JSON.stringify({
    cniVersion: "1.0.0",
    name: "aws-cni",
    type: "aws-cni",
    ipamdSocket: stub.socketPath,
    pluginLogFile: `${work}/plugin.log`,
    pluginLogLevel: "info",
  });
  await Deno.writeTextFile(`${work}/conf.json`, conf);
  const env = [
    "CNI_CONTAINERID=bench01",
    "CNI_IFNAME=eth0",
    "CNI_PATH=/usr/lib/cni",
    `CNI_NETNS=/var/run/netns/${podNs}`,
    "'CNI_ARGS=K8S_POD_NAMESPACE=default;K8S_POD_NAME=bench-pod'",
  ].join(" ");
  const inNode = `ip netns exec ${node}`;
  const veth = await hostVethName("eni", { podNamespace: "default", podName: "bench-pod" });
  const cni = `${root}cni.ts`;
  const commands: Array<[string, string, string?]> = [
    ["Go loopback VERSION (reference)", `CNI_COMMAND=VERSION /usr/lib/cni/loopback`],
    ["deno run, empty module", `${run} ${root}tests/bench/fixtures/cni_empty.ts`],
    ["aws-cni VERSION", `CNI_COMMAND=VERSION ${run} ${cni}`],
    ["load the ADD import graph", `${run} ${root}tests/bench/fixtures/cni_graph.ts`],
    [
      "graph + dlopen libnl + one lookup",
      `${inNode} ${run} ${root}tests/bench/fixtures/cni_ffi_open.ts`,
    ],
    [
      "aws-cni ADD + DEL",
      `${inNode} env ${env} CNI_COMMAND=ADD ${run} ${cni} < ${work}/conf.json > /dev/null && ` +
      `${inNode} env ${env} CNI_COMMAND=DEL ${run} ${cni} < ${work}/conf.json`,
      // A fresh pod namespace each run; removing the old one and its veth is not timed.
      `ip -n ${node} link del ${veth} 2>/dev/null; ip netns del ${podNs} 2>/dev/null; ` +
      `ip netns add ${podNs}`,
    ],
  ];
  const results: Array<[string, number, number]> = [];
  for (const [name, command, prepare] of commands) {
    const out = `${work}/h.json`;
    const args = [
      "--runs",
      String(runs),
      "--warmup",
      "3",
      "--export-json",
      out,
      "--style",
      "none",
    ];
    if (prepare) args.push("--prepare", prepare);
    const r = await new Deno.Command("hyperfine", {
      args: [...args, "--shell", "bash", command],
      env: { DENO_DIR: Deno.env.get("DENO_DIR") ?? "" },
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!r.success) throw new Error(`hyperfine ${name}: ${new TextDecoder().decode(r.stderr)}`);
    const [res] = JSON.parse(await Deno.readTextFile(out)).results;
    results.push([name, res.median * 1000, res.stddev * 1000]);
  }
  console.log(`aws-cni start-up, ${runs} runs each (median ± stddev, ms)`);
  for (const [name, median, sd] of results) {
    console.log(`  ${name.padEnd(36)} ${median.toFixed(1).padStart(7)} ± ${sd.toFixed(1)}`);
  }
  const log = (await Deno.readTextFile(`${work}/plugin.log`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const wired = log.filter((l) => l.msg === "pod wired");
  const unwired = log.filter((l) => l.msg === "pod unwired");
  console.log("inside the plugin (plugin log, median ms):");
  console.log(
    `  ADD: ipamd connect+call ${median(wired.map((l) => l.ipamdMs))}, ` +
      `netlink wiring ${median(wired.map((l) => l.wiringMs))}`,
  );
  console.log(
    `  DEL: ipamd connect+call ${median(unwired.map((l) => l.ipamdMs))}, ` +
      `netlink teardown ${median(unwired.map((l) => l.teardownMs))}`,
  );
  await inProcess(stub.socketPath, lab.paths[0]!, runs);
} finally {
  new Deno.Command("ip", { args: ["netns", "del", podNs], stderr: "null" }).outputSync();
  await Deno.remove(work, { recursive: true });
}

/** The same steps without process start-up: RPC round trips and netlink wiring in-process. */
async function inProcess(socketPath: string, nodePath: string, n: number): Promise<void> {
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const rpc: number[] = [];
  for (let i = 0; i < n * 5; i++) {
    const t = performance.now();
    await callIpamd(socketPath, "ipam.status", {});
    rpc.push(performance.now() - t);
  }
  using pods = scratchNetns(1, "tcni");
  const spec = {
    podNetns: pods.paths[0]!,
    hostNetns: nodePath,
    hostVeth: "enitcnibench01",
    containerIf: "eth0",
    ip: "10.213.9.9",
    index: 0,
    routeTableId: 3,
    mtu: 9001,
  };
  const wire: number[] = [];
  const teardown: number[] = [];
  for (let i = 0; i < n; i++) {
    let t = performance.now();
    wirePodInterface(spec);
    wire.push(performance.now() - t);
    t = performance.now();
    teardownHost(spec);
    teardown.push(performance.now() - t);
    removePodInterface(spec); // veth deletion: the kernel's ~16 ms, paid by netns removal in real life
  }
  console.log("in-process (median ms):");
  console.log(`  RPC connect + ipam.status + close   ${median(rpc).toFixed(2)}`);
  console.log(`  wirePodInterface (secondary ENI)    ${median(wire).toFixed(2)}`);
  console.log(`  teardownHost                        ${median(teardown).toFixed(2)}`);
}
