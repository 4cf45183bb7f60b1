/**
 * Real traffic through the SNAT rules: pod namespace → node namespace → "outside" namespace
 * (VPC router and internet stand-in). Pod wired as aws-cni does it. Everything lives in three
 * namespaces created here; the outside namespace has no route anywhere else.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { applySnatRules, commandRunner, detectIptablesBackend } from "../../src/node/iptables.ts";
import { ScratchNetns } from "../lab/node_lab.ts";

const PEER = fileURLToPath(new URL("../lab/tcp_peer.ts", import.meta.url));
const PORT = "7000";
const PRIMARY_IP = "10.10.0.10";
const POD_IP = "10.10.0.50";
const INTERNET = "203.0.113.10"; // off-VPC
const EXCLUDED = "172.31.5.5"; // off-VPC, in AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS
const IN_VPC = "10.10.0.1";
const HOST_VETH = "eni0a1b2c3d4e5";

async function wire(node: ScratchNetns, pod: ScratchNetns, out: ScratchNetns): Promise<void> {
  // node eth0 (primary ENI) <-> outside vpc0 (subnet gateway, "internet" addresses on lo)
  await node.ip("link", "add", "eth0", "type", "veth", "peer", "name", "vpc0", "netns", out.name);
  await node.ip("addr", "add", `${PRIMARY_IP}/24`, "dev", "eth0");
  await node.ip("link", "set", "eth0", "up");
  await node.ip("route", "add", "default", "via", IN_VPC, "dev", "eth0");
  await node.exec(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  await out.ip("addr", "add", `${IN_VPC}/24`, "dev", "vpc0");
  await out.ip("link", "set", "vpc0", "up");
  await out.ip("addr", "add", `${INTERNET}/32`, "dev", "lo");
  await out.ip("addr", "add", `${EXCLUDED}/32`, "dev", "lo");
  await out.ip("route", "add", `${POD_IP}/32`, "via", PRIMARY_IP); // the VPC knows pod IPs
  // pod eth0 <-> node eni…, as aws-cni wires it (spec §5.5)
  await node.ip(
    "link",
    "add",
    HOST_VETH,
    "type",
    "veth",
    "peer",
    "name",
    "eth0",
    "netns",
    pod.name,
  );
  await node.ip("link", "set", HOST_VETH, "up");
  const hostMac = (await node.ipJson<{ address: string }[]>("link", "show", HOST_VETH))[0]?.address;
  assert.ok(hostMac);
  await pod.ip("addr", "add", `${POD_IP}/32`, "dev", "eth0");
  await pod.ip("link", "set", "eth0", "up");
  await pod.ip("route", "add", "169.254.1.1", "dev", "eth0", "scope", "link");
  await pod.ip("route", "add", "default", "via", "169.254.1.1", "dev", "eth0");
  await pod.ip("neigh", "add", "169.254.1.1", "dev", "eth0", "lladdr", hostMac, "nud", "permanent");
  await node.ip("route", "add", `${POD_IP}/32`, "dev", HOST_VETH, "scope", "link");
  await node.ip("rule", "add", "to", `${POD_IP}/32`, "lookup", "main", "prio", "512");
  await node.ip("rule", "add", "fwmark", "0x80/0x80", "lookup", "main", "prio", "1024");
}

async function probe(pod: ScratchNetns, out: ScratchNetns): Promise<Record<string, string>> {
  const server = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      out.name,
      Deno.execPath(),
      "run",
      "-A",
      "--no-config",
      PEER,
      "serve",
      PORT,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
    signal: AbortSignal.timeout(30_000),
  }).spawn();
  const stdin = server.stdin.getWriter();
  const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    const first = await lines.read();
    assert.equal(first.value?.trim(), "ready");
    const text = await pod.exec([
      Deno.execPath(),
      "run",
      "-A",
      "--no-config",
      PEER,
      "probe",
      PORT,
      INTERNET,
      EXCLUDED,
      IN_VPC,
    ]);
    return JSON.parse(text) as Record<string, string>;
  } finally {
    await stdin.close();
    await lines.cancel();
    await server.status;
  }
}

for (const command of ["iptables-nft", "iptables-legacy"]) {
  Deno.test(`SNAT rules rewrite off-VPC pod traffic to the primary IP, except excluded CIDRs (${command})`, async () => {
    await using node = await ScratchNetns.create("tnod");
    await using pod = await ScratchNetns.create("tnod");
    await using out = await ScratchNetns.create("tnod");
    await wire(node, pod, out);
    const run = commandRunner(node.execPrefix);
    const backend = await detectIptablesBackend({ command, run });
    await applySnatRules({
      vpcCidrs: ["10.10.0.0/16"],
      excludeSnatCidrs: ["172.31.0.0/16"],
      primaryIp: PRIMARY_IP,
      primaryInterface: "eth0",
    }, { backend, run });

    assert.deepEqual(await probe(pod, out), {
      [INTERNET]: PRIMARY_IP,
      [EXCLUDED]: POD_IP,
      [IN_VPC]: POD_IP,
    });
    // One connection (the first packet of it) was conn-marked and SNATed; the others returned.
    const counters = await node.exec([`${command}-save`, "-c", "-t", "nat"]);
    assert.match(
      counters,
      /\n\[1:\d+\] -A AWS-CONNMARK-CHAIN-0 -m comment --comment "AWS, CONNMARK"/,
    );
    assert.match(counters, /\n\[1:\d+\] -A AWS-SNAT-CHAIN-0 ! -o vlan\+ /);

    // Without our rules the same connection leaves with the pod's address.
    await applySnatRules({
      vpcCidrs: ["10.10.0.0/16"],
      primaryIp: PRIMARY_IP,
      primaryInterface: "eth0",
      externalSnat: true,
    }, { backend, run });
    assert.equal((await probe(pod, out))[INTERNET], POD_IP);
  });
}
