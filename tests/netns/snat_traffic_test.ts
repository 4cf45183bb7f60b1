/**
 * Real traffic through the node setup: pod namespaces → node namespace → "outside" namespace
 * (VPC router and internet stand-in). Pods are wired as aws-cni does it; the node is set up
 * with setupHostNetwork, setupEniNetwork and applySnatRules. The outside namespace checks
 * reverse paths strictly, so a packet that leaves the node by the wrong ENI is dropped there.
 * Everything lives in namespaces created here; the outside one has no route anywhere else.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Netlink } from "../../ffi/mod.ts";
import { setupEniNetwork } from "../../src/node/eni_network.ts";
import { setupHostNetwork } from "../../src/node/host_network.ts";
import { applySnatRules, commandRunner, detectIptablesBackend } from "../../src/node/iptables.ts";
import { ScratchNetns } from "../lab/node_lab.ts";

const PEER = fileURLToPath(new URL("../lab/tcp_peer.ts", import.meta.url));
const PORT = "7000";
const PRIMARY_MAC = "02:00:00:00:00:01";
const PRIMARY_IP = "10.10.0.10";
const ENI_MAC = "02:00:00:00:01:01";
const ENI_IP = "10.10.1.20";
const POD_IP = "10.10.0.50"; // on the primary ENI
const POD2_IP = "10.10.1.50"; // on the secondary ENI (table 2)
const INTERNET = "203.0.113.10"; // off-VPC
const EXCLUDED = "172.31.5.5"; // off-VPC, in AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS
const IN_VPC = "10.10.0.1";

/** A pod as aws-cni wires it (spec §5.5), plus rule 1536 when it uses a secondary ENI. */
async function wirePod(
  node: ScratchNetns,
  pod: ScratchNetns,
  ip: string,
  veth: string,
  table?: number,
) {
  await node.ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", pod.name);
  await node.ip("link", "set", veth, "up");
  const hostMac = (await node.ipJson<{ address: string }[]>("link", "show", veth))[0]?.address;
  assert.ok(hostMac);
  await pod.ip("addr", "add", `${ip}/32`, "dev", "eth0");
  await pod.ip("link", "set", "eth0", "up");
  await pod.ip("route", "add", "169.254.1.1", "dev", "eth0", "scope", "link");
  await pod.ip("route", "add", "default", "via", "169.254.1.1", "dev", "eth0");
  await pod.ip("neigh", "add", "169.254.1.1", "dev", "eth0", "lladdr", hostMac, "nud", "permanent");
  await node.ip("route", "add", `${ip}/32`, "dev", veth, "scope", "link");
  await node.ip("rule", "add", "to", `${ip}/32`, "lookup", "main", "prio", "512");
  if (table) await node.ip("rule", "add", "from", `${ip}/32`, "lookup", `${table}`, "prio", "1536");
}

/** The node's ENIs (veths into `out`, which plays the VPC) and the outside world. */
async function wireNode(node: ScratchNetns, out: ScratchNetns): Promise<void> {
  await node.ip(
    "link",
    "add",
    "eth0",
    "address",
    PRIMARY_MAC,
    "type",
    "veth",
    "peer",
    "name",
    "vpc0",
    "netns",
    out.name,
  );
  await node.ip("addr", "add", `${PRIMARY_IP}/24`, "dev", "eth0");
  await node.ip("link", "set", "eth0", "up");
  await node.ip("route", "add", "default", "via", IN_VPC, "dev", "eth0");
  await node.ip(
    "link",
    "add",
    "eth1",
    "address",
    ENI_MAC,
    "type",
    "veth",
    "peer",
    "name",
    "vpc1",
    "netns",
    out.name,
  );
  await node.exec(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  await out.exec(["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"]);
  await out.ip("addr", "add", `${IN_VPC}/24`, "dev", "vpc0");
  await out.ip("addr", "add", "10.10.1.1/24", "dev", "vpc1");
  for (const l of ["vpc0", "vpc1"]) await out.ip("link", "set", l, "up");
  await out.ip("addr", "add", `${INTERNET}/32`, "dev", "lo");
  await out.ip("addr", "add", `${EXCLUDED}/32`, "dev", "lo");
  // The VPC knows which ENI holds each pod IP.
  await out.ip("route", "add", `${POD_IP}/32`, "via", PRIMARY_IP, "dev", "vpc0");
  await out.ip("route", "add", `${POD2_IP}/32`, "via", ENI_IP, "dev", "vpc1");
}

async function probe(
  pod: ScratchNetns,
  out: ScratchNetns,
  addresses = [INTERNET, EXCLUDED, IN_VPC],
): Promise<Record<string, string>> {
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
      ...addresses,
    ]);
    return JSON.parse(text) as Record<string, string>;
  } finally {
    await stdin.close();
    await lines.cancel();
    await server.status;
  }
}

for (const command of ["iptables-nft", "iptables-legacy"]) {
  Deno.test(`pods reach off-VPC addresses SNATed via the primary ENI, excluded CIDRs unSNATed (${command})`, async () => {
    await using node = await ScratchNetns.create("tnod");
    await using out = await ScratchNetns.create("tnod");
    await using pod = await ScratchNetns.create("tnod");
    await using pod2 = await ScratchNetns.create("tnod");
    await wireNode(node, out);
    using nl = Netlink.openIn(node.path);
    const host = await setupHostNetwork(nl, { primaryMac: PRIMARY_MAC });
    const eni = await setupEniNetwork(nl, {
      eniIp: ENI_IP,
      mac: ENI_MAC,
      subnetCidr: "10.10.1.0/24",
      deviceNumber: 1,
    });
    await wirePod(node, pod, POD_IP, "eni0a1b2c3d4e5");
    await wirePod(node, pod2, POD2_IP, "eni5e4d3c2b1a0", eni.table);
    const run = commandRunner(node.execPrefix);
    const backend = await detectIptablesBackend({ command, run });
    const snat = {
      vpcCidrs: ["10.10.0.0/16"],
      excludeSnatCidrs: ["172.31.0.0/16"],
      primaryIp: PRIMARY_IP,
      primaryInterface: host.primaryInterface,
    };
    await applySnatRules(snat, { backend, run });

    assert.deepEqual(await probe(pod, out), {
      [INTERNET]: PRIMARY_IP,
      [EXCLUDED]: POD_IP,
      [IN_VPC]: POD_IP,
    });
    // The secondary-ENI pod: off-VPC traffic is conn-marked, routed by the fwmark rule through
    // the primary ENI and SNATed (by eth1 it would fail the outside's reverse-path check);
    // excluded and VPC destinations keep the pod's address and leave through eth1.
    assert.deepEqual(await probe(pod2, out), {
      [INTERNET]: PRIMARY_IP,
      [EXCLUDED]: POD2_IP,
      [IN_VPC]: POD2_IP,
    });
    // Two connections (the first packet of each) were conn-marked and SNATed.
    const counters = await node.exec([`${command}-save`, "-c", "-t", "nat"]);
    assert.match(
      counters,
      /\n\[2:\d+\] -A AWS-CONNMARK-CHAIN-0 -m comment --comment "AWS, CONNMARK"/,
    );
    assert.match(counters, /\n\[2:\d+\] -A AWS-SNAT-CHAIN-0 ! -o vlan\+ /);

    // External SNAT: no rules of ours, so pod traffic leaves with the pod's address.
    await applySnatRules({ ...snat, externalSnat: true }, { backend, run });
    assert.equal((await probe(pod, out, [INTERNET]))[INTERNET], POD_IP);
  });
}
