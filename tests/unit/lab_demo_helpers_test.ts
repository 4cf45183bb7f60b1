/** The demo's pure helpers: Prometheus text parsing and the ENI table from /v1/enis. */
import assert from "node:assert/strict";
import { addressRows, duration, eniTable, median } from "../lab/demo_render.ts";
import type { EnisJson } from "../lab/introspection.ts";
import { metricValue, parseMetrics, samplesOf } from "../lab/prometheus.ts";

const EXPOSITION = `# HELP awscni_assigned_ip_addresses The number of IP addresses assigned to pods
# TYPE awscni_assigned_ip_addresses gauge
awscni_assigned_ip_addresses 3

awscni_add_network_duration_seconds_bucket{le="0.01",result="ok"} 2
awscni_add_network_duration_seconds_sum{result="ok"} 0.0262
awscni_add_network_duration_seconds_count{result="ok"} 3
awscni_add_network_duration_seconds_count{result="error"} 1
awscni_ec2api_req_count{fn="DescribeSubnets"} 1
awscni_ec2api_req_count{fn="AssignPrivateIpAddresses"} 4
odd_label{msg="a \\"quoted\\" value, with a comma"} 1 1700000000000
`;

Deno.test("parseMetrics() reads samples with labels, escaped quotes and timestamps", () => {
  const samples = parseMetrics(EXPOSITION);

  assert.equal(samples.length, 8);
  assert.deepEqual(samplesOf(samples, "odd_label")[0], {
    name: "odd_label",
    labels: { msg: 'a "quoted" value, with a comma' },
    value: 1,
  });
  assert.equal(metricValue(samples, "awscni_assigned_ip_addresses"), 3);
  assert.equal(
    metricValue(samples, "awscni_add_network_duration_seconds_count", { result: "ok" }),
    3,
  );
});

Deno.test("metricValue() sums the matching samples and is undefined for a missing metric", () => {
  const samples = parseMetrics(EXPOSITION);

  assert.equal(metricValue(samples, "awscni_ec2api_req_count"), 5);
  assert.equal(metricValue(samples, "awscni_add_network_duration_seconds_count"), 4);
  assert.equal(metricValue(samples, "awscni_no_such_metric"), undefined);
});

Deno.test("parseMetrics() rejects a line that is not a sample", () => {
  assert.throws(() => parseMetrics('awscni_x{le="1"}\n'), SyntaxError);
});

function address(ip: string, pod?: string) {
  return {
    Address: ip,
    IPAMMetadata: pod ? { k8sPodNamespace: "default", k8sPodName: pod } : {},
  };
}

const ENIS: EnisJson = {
  "0": {
    TotalIPs: 4,
    AssignedIPs: 2,
    ENIs: {
      "eni-b": {
        ID: "eni-b",
        IsPrimary: false,
        DeviceNumber: 1,
        RouteTableID: 2,
        SubnetID: "subnet-1",
        AvailableIPv4Cidrs: {
          "10.0.0.9/32": { IsPrefix: false, IPAddresses: {} },
          "10.0.1.0/28": {
            IsPrefix: true,
            IPAddresses: { "10.0.1.3": address("10.0.1.3", "db") },
          },
        },
      },
      "eni-a": {
        ID: "eni-a",
        IsPrimary: true,
        DeviceNumber: 0,
        RouteTableID: 254,
        SubnetID: "subnet-1",
        AvailableIPv4Cidrs: {
          "10.0.0.20/32": {
            IsPrefix: false,
            IPAddresses: { "10.0.0.20": address("10.0.0.20", "web") },
          },
          "10.0.0.3/32": { IsPrefix: false, IPAddresses: {} },
        },
      },
    },
  },
};

Deno.test("addressRows() lists ENIs by device, addresses in numeric order, pods or warm", () => {
  const rows = addressRows(ENIS).map((r) => [r.eni, r.address, r.pod]);

  assert.deepEqual(rows, [
    ["eni-a", "10.0.0.3", "(warm)"],
    ["eni-a", "10.0.0.20", "default/web"],
    ["eni-b", "10.0.0.9", "(warm)"],
    ["eni-b", "10.0.1.3", "default/db"],
  ]);
});

Deno.test("eniTable() names each ENI once, marking the primary", () => {
  const lines = eniTable(ENIS).split("\n");

  assert.match(lines[0]!, /^ENI +DEV +ADDRESS +POD$/);
  assert.match(lines[1]!, /^eni-a \(primary\) +0 +10\.0\.0\.3 +\(warm\)$/);
  assert.match(lines[2]!, /^ +10\.0\.0\.20 +default\/web$/);
  assert.match(lines[3]!, /^eni-b +1 +10\.0\.0\.9 +\(warm\)$/);
  assert.equal(lines.length, 5);
});

Deno.test("duration() and median() format the demo's figures", () => {
  assert.equal(duration(12.4), "12 ms");
  assert.equal(duration(2_345), "2.3 s");
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});
