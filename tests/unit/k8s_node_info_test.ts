import assert from "node:assert/strict";
import { mayManageEnis, nodeInfoFromObject, parseCount } from "../../src/k8s/node_info.ts";
import { microTime } from "../../src/k8s/events.ts";

Deno.test("nodeInfoFromObject() reads labels, annotations, taints and max pods", () => {
  const info = nodeInfoFromObject({
    metadata: {
      name: "ip-10-0-1-23",
      uid: "u-1",
      resourceVersion: "42",
      labels: { "topology.kubernetes.io/zone": "us-west-2a" },
      annotations: { "k8s.amazonaws.com/eniConfig": "a" },
    },
    spec: {
      taints: [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }],
      providerID: "aws:///us-west-2a/i-0",
    },
    status: { capacity: { pods: "29", cpu: "2" } },
  });
  assert.equal(info.name, "ip-10-0-1-23");
  assert.equal(info.uid, "u-1");
  assert.equal(info.resourceVersion, "42");
  assert.equal(info.labels["topology.kubernetes.io/zone"], "us-west-2a");
  assert.equal(info.annotations["k8s.amazonaws.com/eniConfig"], "a");
  assert.equal(info.maxPods, 29);
  assert.equal(info.unschedulable, false);
  assert.equal(info.providerId, "aws:///us-west-2a/i-0");
});

Deno.test("nodeInfoFromObject() marks a node unschedulable by the NoSchedule unschedulable taint", () => {
  const taint = { key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" };
  assert.equal(
    nodeInfoFromObject({ metadata: { name: "n" }, spec: { taints: [taint] } }).unschedulable,
    true,
  );
  const noExecute = { ...taint, effect: "NoExecute" };
  assert.equal(
    nodeInfoFromObject({ metadata: { name: "n" }, spec: { taints: [noExecute] } }).unschedulable,
    false,
  );
});

Deno.test("nodeInfoFromObject() leaves max pods undefined without a usable capacity", () => {
  assert.equal(nodeInfoFromObject({ metadata: { name: "n" } }).maxPods, undefined);
  assert.equal(
    nodeInfoFromObject({ metadata: { name: "n" }, status: { capacity: { pods: "1.5" } } }).maxPods,
    undefined,
  );
});

Deno.test("parseCount() reads plain and k/M quantities and nothing else", () => {
  assert.equal(parseCount("110"), 110);
  assert.equal(parseCount("1k"), 1000);
  assert.equal(parseCount("2M"), 2_000_000);
  for (const bad of ["", "-1", "1.5", "1Ki", "ten", undefined]) {
    assert.equal(parseCount(bad), undefined);
  }
});

Deno.test("mayManageEnis() follows AWS_MANAGE_ENIS_NON_SCHEDULABLE", () => {
  const cordoned = nodeInfoFromObject({
    metadata: { name: "n" },
    spec: { taints: [{ key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }] },
  });
  const open = nodeInfoFromObject({ metadata: { name: "n" } });
  assert.equal(mayManageEnis(cordoned, false), false);
  assert.equal(mayManageEnis(cordoned, true), true);
  assert.equal(mayManageEnis(open, false), true);
  assert.equal(
    mayManageEnis(undefined, false),
    true,
    "no API server: nothing says the node is cordoned",
  );
});

Deno.test("microTime() writes RFC 3339 with six fractional digits", () => {
  assert.equal(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), "2026-01-02T03:04:05.678000Z");
});
