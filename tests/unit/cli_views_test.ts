import assert from "node:assert/strict";
import { buildEnisView, ipOrder, renderEnis } from "../../src/ops/cli/enis_view.ts";
import type {
  PodEntry,
  PoolInfo,
  UpstreamAddress,
  UpstreamEnis,
} from "../../src/ops/cli/introspection_types.ts";
import { age, filterPods, renderPods } from "../../src/ops/cli/pods.ts";
import { probeOutcome, renderStatus } from "../../src/ops/cli/status.ts";
import type { StatusResult } from "../../src/rpc/protocol.ts";

const ZERO = "0001-01-01T00:00:00Z";
const NOW = Date.parse("2026-01-01T12:00:00Z");

function held(ip: string, ns: string, name: string): UpstreamAddress {
  return {
    Address: ip,
    IPAMKey: { networkName: "aws-cni", containerID: "", ifName: "" },
    IPAMMetadata: { k8sPodNamespace: ns, k8sPodName: name },
    AssignedTime: "2026-01-01T11:00:00Z",
    UnassignedTime: ZERO,
  };
}

function released(ip: string): UpstreamAddress {
  return {
    Address: ip,
    IPAMKey: { networkName: "", containerID: "", ifName: "" },
    IPAMMetadata: {},
    AssignedTime: ZERO,
    UnassignedTime: "2026-01-01T11:59:50Z",
  };
}

const cidr = (ip: string, bits: number, addresses: UpstreamAddress[], isPrefix = bits < 32) => ({
  Cidr: { IP: ip, Mask: "" },
  IPAddresses: Object.fromEntries(addresses.map((a) => [a.Address, a])),
  IsPrefix: isPrefix,
});

/** Primary ENI with three /32s (one held, one cooling, one free); eth1 with a /28 prefix. */
const ENIS: UpstreamEnis = {
  "0": {
    TotalIPs: 19,
    AssignedIPs: 3,
    ENIs: {
      "eni-b": {
        ID: "eni-b",
        IsPrimary: false,
        IsTrunk: false,
        IsEFA: false,
        DeviceNumber: 1,
        AvailableIPv4Cidrs: {
          "10.0.16.16/28": cidr("10.0.16.16", 28, [
            held("10.0.16.18", "kube-system", "coredns-1"),
            held("10.0.16.17", "default", "web-2"),
          ]),
        },
        IsExcludedForPodIPs: false,
        RouteTableID: 2,
        SubnetID: "subnet-1",
      },
      "eni-a": {
        ID: "eni-a",
        IsPrimary: true,
        IsTrunk: false,
        IsEFA: false,
        DeviceNumber: 0,
        AvailableIPv4Cidrs: {
          "10.0.0.10/32": cidr("10.0.0.10", 32, [held("10.0.0.10", "default", "web-1")]),
          "10.0.0.9/32": cidr("10.0.0.9", 32, [released("10.0.0.9")]),
          "10.0.0.20/32": cidr("10.0.0.20", 32, []),
        },
        IsExcludedForPodIPs: false,
        RouteTableID: 254,
        SubnetID: "subnet-1",
      },
    },
  },
};

const PODS: PodEntry[] = [
  pod("default", "web-1", "10.0.0.10", "eni-a", 0, 254, "c0ffee0000000001"),
  pod("default", "web-2", "10.0.16.17", "eni-b", 1, 2, "c0ffee0000000002"),
  pod("kube-system", "coredns-1", "10.0.16.18", "eni-b", 1, 2, "c0ffee0000000003"),
];

function pod(
  ns: string,
  name: string,
  ip: string,
  eni: string,
  device: number,
  table: number,
  containerId: string,
): PodEntry {
  return {
    podNamespace: ns,
    podName: name,
    ipv4: ip,
    eniId: eni,
    cidr: `${ip}/32`,
    deviceNumber: device,
    routeTableId: table,
    networkName: "aws-cni",
    containerId,
    ifName: "eth0",
    assignedAt: "2026-01-01T11:00:00Z",
  };
}

const POOL: PoolInfo = {
  ready: true,
  mode: "prefix-delegation",
  instanceId: "i-1",
  instanceType: "m5.large",
  cooling: [{
    ipv4: "10.0.0.9",
    eniId: "eni-a",
    cidr: "10.0.0.9/32",
    availableAt: "2026-01-01T12:00:20Z",
  }],
};

Deno.test("buildEnisView() joins ENIs, pods and cooling addresses into the --json shape", () => {
  const view = buildEnisView(ENIS, PODS, POOL);
  assert.equal(view.ready, true);
  assert.equal(view.mode, "prefix-delegation");
  assert.deepEqual(view.totals, {
    enis: 2,
    prefixes: 1,
    total: 19,
    assigned: 3,
    cooling: 1,
    available: 15,
  });
  assert.deepEqual(view.enis.map((e) => e.id), ["eni-a", "eni-b"], "device order");
  const primary = view.enis[0]!;
  assert.deepEqual(primary.cidrs.map((c) => c.cidr), [
    "10.0.0.9/32",
    "10.0.0.10/32",
    "10.0.0.20/32",
  ]);
  assert.deepEqual(primary.cidrs[0]!.addresses, [
    { ip: "10.0.0.9", state: "cooling", availableAt: "2026-01-01T12:00:20Z" },
  ]);
  assert.deepEqual(primary.cidrs[1]!.addresses[0], {
    ip: "10.0.0.10",
    state: "assigned",
    pod: { namespace: "default", name: "web-1" },
    containerId: "c0ffee0000000001",
    ifName: "eth0",
    assignedAt: "2026-01-01T11:00:00Z",
  });
  assert.deepEqual(primary.cidrs[2]!, {
    cidr: "10.0.0.20/32",
    prefix: false,
    size: 1,
    addresses: [],
    free: 1,
  });
  const prefix = view.enis[1]!.cidrs[0]!;
  assert.equal(prefix.size, 16);
  assert.equal(prefix.free, 14);
  assert.deepEqual(prefix.addresses.map((a) => `${a.ip} ${a.pod?.name}`), [
    "10.0.16.17 web-2",
    "10.0.16.18 coredns-1",
  ]);
});

Deno.test("buildEnisView() gives an excluded ENI no available addresses", () => {
  const excluded = structuredClone(ENIS);
  excluded["0"]!.ENIs["eni-a"]!.IsExcludedForPodIPs = true;
  const view = buildEnisView(excluded, PODS, POOL);
  assert.equal(view.enis[0]!.counts.available, 0);
  assert.equal(view.totals.available, 14);
  assert.match(renderEnis(view, { now: NOW }), /10\.0\.0\.20\s+excluded/);
});

Deno.test("renderEnis() prints the ENI table, then every address with its pod or state", () => {
  const text = renderEnis(buildEnisView(ENIS, PODS, POOL), { now: NOW });
  const lines = text.split("\n");
  assert.equal(
    lines[0],
    "Instance i-1 (m5.large), prefix-delegation mode: 2 ENIs, 19 addresses (3 assigned, " +
      "1 cooling, 15 available), 1 /28 prefixes",
  );
  assert.match(
    text,
    /^ENI\s+DEVICE\s+TABLE\s+SUBNET\s+ADDRESSES\s+ASSIGNED\s+COOLING\s+FREE\s+NOTE$/m,
  );
  assert.match(text, /^eni-a\s+0\s+main\s+subnet-1\s+3\s+1\s+1\s+1\s+primary$/m);
  assert.match(text, /^eni-b\s+1\s+2\s+subnet-1\s+16\s+2\s+0\s+14$/m);
  assert.match(text, /^eni-a\s+10\.0\.0\.9\/32\s+10\.0\.0\.9\s+cooling \(20s left\)\s+-$/m);
  assert.match(text, /^eni-a\s+10\.0\.0\.10\/32\s+10\.0\.0\.10\s+assigned\s+default\/web-1$/m);
  assert.match(text, /^eni-a\s+10\.0\.0\.20\/32\s+10\.0\.0\.20\s+free\s+-$/m);
  assert.match(
    text,
    /^eni-b\s+10\.0\.16\.16\/28\s+10\.0\.16\.18\s+assigned\s+kube-system\/coredns-1$/m,
  );
  assert.match(text, /^eni-b\s+10\.0\.16\.16\/28\s+\(14 more free\)\s+free\s+-$/m);
});

Deno.test("ipOrder() sorts addresses and CIDRs numerically", () => {
  assert.deepEqual(
    ["10.0.0.10", "10.0.0.9/32", "9.255.0.1"].sort(ipOrder),
    ["9.255.0.1", "10.0.0.9/32", "10.0.0.10"],
  );
});

Deno.test("filterPods() filters by namespace and ENI and sorts by namespace, name", () => {
  assert.deepEqual(filterPods(PODS, {}).map((p) => p.podName), ["web-1", "web-2", "coredns-1"]);
  assert.deepEqual(filterPods(PODS, { namespace: "kube-system" }).map((p) => p.podName), [
    "coredns-1",
  ]);
  assert.deepEqual(filterPods(PODS, { eni: "eni-b", namespace: "default" }).map((p) => p.ipv4), [
    "10.0.16.17",
  ]);
  assert.deepEqual(filterPods(PODS, { namespace: "nope" }), []);
});

Deno.test("renderPods() shows address, ENI, device, table, veth, container and age", () => {
  const text = renderPods([{ ...PODS[1]!, hostVeth: "enia1b2c3d4e5f" }], NOW);
  assert.equal(
    text,
    "NAMESPACE  NAME   ADDRESS     ENI    DEVICE  TABLE  VETH            CONTAINER     IFNAME  AGE\n" +
      "default    web-2  10.0.16.17  eni-b       1  2      enia1b2c3d4e5f  c0ffee000000  eth0    60m",
  );
  assert.equal(age("2026-01-01T11:59:30Z", NOW), "30s");
  assert.equal(age("2025-12-30T12:00:00Z", NOW), "2d");
  assert.equal(age("garbage", NOW), "?");
});

const STATUS: StatusResult = {
  version: "0.1.0",
  ready: true,
  terminating: false,
  mode: "secondary-ip",
  totalIPs: 10,
  assignedIPs: 2,
  availableIPs: 7,
  cooldownIPs: 1,
  enis: 2,
  maxENIs: 3,
  canGrow: false,
  reason: "all 3 ENIs attached and full",
  waitingAdds: 4,
};

Deno.test("probeOutcome() follows grpc-health-probe: 0 serving, 4 not ready or shutting down", () => {
  assert.deepEqual(probeOutcome(STATUS), {
    code: 0,
    status: "SERVING",
    message: "status: SERVING",
  });
  const starting = probeOutcome({ ...STATUS, ready: false, reason: "initialising the node" });
  assert.equal(starting.code, 4);
  assert.match(starting.message, /NOT_SERVING \(ipamd is not ready: initialising the node\)/);
  assert.equal(probeOutcome({ ...STATUS, terminating: true }).code, 4);
});

Deno.test("renderStatus() shows readiness, pool, ENIs, waiting ADDs and why the pool cannot grow", () => {
  const text = renderStatus(STATUS, {
    ready: true,
    instanceId: "i-1",
    instanceType: "t3.medium",
    limits: { maxEnis: 3, ipv4PerEni: 6, maxPods: 17 },
  });
  assert.equal(
    text,
    [
      "ipamd 0.1.0 on i-1 (t3.medium): ready",
      "  Mode          secondary-ip",
      "  Addresses     10 total, 2 assigned, 7 available, 1 cooling",
      "  ENIs          2 of 3",
      "  Max pods      17",
      "  Waiting ADDs  4",
      "  Cannot grow   all 3 ENIs attached and full",
    ].join("\n"),
  );
  assert.equal(
    renderStatus({ ...STATUS, ready: false, reason: "initialising the node" }, undefined, "x"),
    "ipamd 0.1.0: not ready (initialising the node)\n  (no pool details: x)",
  );
});
