/**
 * The demo's last three steps: show the ENIs and who holds what, prove traffic (pod to pod
 * across nodes, SNAT to the internet) with a metrics excerpt, and tear everything down checking
 * that nothing is left.
 */
import { type DemoNode, type DemoPod, DemoRun, leftovers } from "./demo_run.ts";
import { duration, eniTable, indent, median, say } from "./demo_render.ts";
import { type EnisJson, introspect, type PodJson, scrapeMetrics } from "./introspection.ts";
import { ipamdHasCommand } from "./ipamd.ts";
import { nsExec, removeNetns } from "./namespaces.ts";
import { netnsState } from "./netns_state.ts";
import { metricValue } from "./prometheus.ts";
import { probeTcpPeer, serveTcpPeer } from "./tcp_peers.ts";

const PEER_PORT = 7000;

export async function showEnis(run: DemoRun): Promise<void> {
  say(
    "Every address ipamd holds, on which ENI (device 0 is the primary ENI, eth0), and which pod\n" +
      "has it; the rest is the warm pool that makes the next ADD instant.",
  );
  const cli = await ipamdHasCommand("enis");
  for (const node of run.nodes) {
    say();
    if (cli) {
      say(`${node.label} (${node.lab.info.primaryIp}): \`ipamd enis\``);
      const out = await node.ipamd.cli(["enis"]);
      if (!out.success) throw new Error(`ipamd enis in ${node.label} failed: ${out.stderr.trim()}`);
      say(indent(out.stdout.trimEnd()));
    } else {
      say(`${node.label} (${node.lab.info.primaryIp}):`);
      say(indent(eniTable(await introspect<EnisJson>(node.lab.netns, "/v1/enis"))));
    }
  }
  if (!cli) {
    say();
    say("(rendered from /v1/enis on :61679: the `ipamd enis` command is not on this branch yet)");
  }
}

function first(run: DemoRun, label: string): DemoPod {
  const pod = run.podsOf(run.node(label))[0];
  if (!pod) throw new RangeError(`no pod on ${label}`);
  return pod;
}

export async function proveTraffic(run: DemoRun): Promise<void> {
  const from = first(run, "n1");
  const to = first(run, "n2");
  say(`Pod to pod across nodes: ${from.name} (${from.ip}, n1) pings ${to.name} (${to.ip}, n2).`);
  // Three echoes 0.2 s apart, one second each to answer, five seconds in all.
  const argv = ["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", "-w", "5", to.ip];
  const ping = await nsExec(from.netns, argv, { allowFailure: true, timeoutMs: 10_000 });
  const counts = /(\d+) packets transmitted, (\d+) received/.exec(ping.stdout);
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(ping.stdout);
  if (!counts || counts[1] !== "3" || counts[2] !== "3") {
    throw new Error(`ping ${from.name} → ${to.name} lost packets:\n${ping.stdout}${ping.stderr}`);
  }
  say(`  ${counts[2]}/${counts[1]} replies, average round trip ${rtt?.[1] ?? "?"} ms`);

  say();
  say(
    "Source addresses, seen by a TCP server that answers with the address it saw (tcp_peer.ts):",
  );
  {
    await using server = await serveTcpPeer(to.netns, PEER_PORT, { cleanup: run.scope.cleanup });
    const seen = (await probeTcpPeer(from.netns, server.port, [to.ip]))[to.ip];
    say(`  ${from.name} → ${to.name} (inside the VPC): seen as ${seen}`);
    if (seen !== from.ip) {
      throw new Error(`${to.name} saw ${from.name} as ${seen}, not its own address ${from.ip}`);
    }
  }
  const router = run.sim!.router;
  const internet = run.sim!.info.router?.internetAddress;
  if (!router || !internet) throw new Error("the simulator reported no router namespace");
  {
    await using server = await serveTcpPeer(router, PEER_PORT, { cleanup: run.scope.cleanup });
    for (const pod of [from, to]) {
      const seen = (await probeTcpPeer(pod.netns, server.port, [internet]))[internet];
      const primary = pod.node.lab.info.primaryIp;
      say(
        `  ${pod.name} (${pod.ip}) → ${internet} (the internet): seen as ${seen}, ` +
          `${pod.node.label}'s primary IP`,
      );
      if (seen !== primary) {
        throw new Error(`${internet} saw ${pod.name} as ${seen}, not as ${primary} (no SNAT?)`);
      }
    }
  }
  say(
    "  Inside the VPC pods keep their own address; towards the internet ipamd's iptables rules\n" +
      "  SNAT them to the node's primary IP, as the VPC's internet gateway needs.",
  );
  say();
  await metricsExcerpt(run, run.node("n1"));
}

async function metricsExcerpt(run: DemoRun, node: DemoNode): Promise<void> {
  const samples = await scrapeMetrics(node.lab.netns);
  const value = (name: string, labels?: Record<string, string>) => {
    const v = metricValue(samples, name, labels);
    if (v === undefined) throw new Error(`${node.label}'s /metrics has no ${name}`);
    return v;
  };
  const addCount = value("awscni_add_network_duration_seconds_count", { result: "ok" });
  const addSum = value("awscni_add_network_duration_seconds_sum", { result: "ok" });
  run.ipamdAddMeanMs[node.label] = addCount > 0 ? (addSum / addCount) * 1000 : NaN;
  say(
    `Prometheus metrics of ${node.label} (curl 127.0.0.1:61678/metrics in the node), an excerpt:`,
  );
  const lines = [
    ["awscni_eni_allocated", value("awscni_eni_allocated")],
    ["awscni_total_ip_addresses", value("awscni_total_ip_addresses")],
    ["awscni_assigned_ip_addresses", value("awscni_assigned_ip_addresses")],
    ['awscni_add_network_duration_seconds_count{result="ok"}', addCount],
    ["awscni_ec2api_req_count (all actions)", value("awscni_ec2api_req_count")],
  ] as const;
  for (const [name, v] of lines) say(`  ${name.padEnd(56)} ${v}`);
  say(
    `  ADD inside ipamd: ${duration(run.ipamdAddMeanMs[node.label]!)} mean over ${addCount} ` +
      "(awscni_add_network_duration_seconds)",
  );
  const pods = run.podsOf(node).length;
  if (value("awscni_assigned_ip_addresses") !== pods || addCount < pods) {
    throw new Error(`${node.label}'s metrics do not count its ${pods} pods`);
  }
}

export async function tearDown(run: DemoRun): Promise<void> {
  say("DEL every pod through the runtime, stop ipamd (SIGTERM) and the simulator, then check.");
  for (const pod of run.pods) {
    const t0 = performance.now();
    await pod.node.driver.del(pod.netns, pod.containerId, { args: pod.cniArgs });
    run.delMs.push(performance.now() - t0);
    pod.deleted = true;
  }
  say(`  DEL of ${run.pods.length} pods: ok (median ${duration(median(run.delMs))})`);
  for (const node of run.nodes) {
    const held = await introspect<PodJson[]>(node.lab.netns, "/v1/pods");
    if (held.length > 0) {
      throw new Error(
        `ipamd in ${node.label} still holds ${held.map((p) => p.podName).join(", ")}`,
      );
    }
  }
  // The runtime removes a pod's namespace after its DEL; that takes the veth pair with it.
  for (const pod of run.pods) await removeNetns(pod.netns);
  for (const node of run.nodes) {
    const pods = run.podsOf(node);
    const state = await netnsState(node.lab.netns);
    const left = [
      ...state.links.filter((l) => pods.some((p) => p.hostVeth === l)),
      ...[...state.routes, ...state.rules, ...state.iptables].filter((line) =>
        pods.some((p) => mentions(line, p.ip))
      ),
    ];
    if (left.length > 0) throw new Error(`the pods left in ${node.label}: ${left.join("; ")}`);
  }
  say("  ipamd released every address; no pod veth, route, rule or iptables rule is left");
  for (const node of run.nodes) {
    const t0 = performance.now();
    const { status, killed } = await node.ipamd.stop({ graceMs: 20_000 });
    if (killed || status.code !== 0) {
      throw new Error(
        `ipamd in ${node.label} ${killed ? "ignored SIGTERM" : `exited with ${status.code}`}`,
      );
    }
    say(`  ipamd on ${node.label}: SIGTERM, exit 0 in ${duration(performance.now() - t0)}`);
  }
  const t0 = performance.now();
  await run.sim!.stop();
  say(`  simulator: SIGTERM, exit 0 in ${duration(performance.now() - t0)}, lab removed`);
  await run.scope.cleanup.run();
  const left = await leftovers(run);
  if (left.length > 0) throw new Error(`left behind:\n${left.join("\n")}`);
  say(
    "  checked: no namespace, state dir, temp dir or process of this run is left, and the host's\n" +
      "  links, addresses, routes, rules and iptables are as they were",
  );
}

/** Does an `ip`/iptables line name this address (alone or as a /32)? */
function mentions(line: string, ip: string): boolean {
  return new RegExp(`(^|[^\\d.])${ip.replaceAll(".", "\\.")}(/32)?($|[^\\d.])`).test(line);
}
