import assert from "node:assert/strict";
import { planRestore, vethSuffix } from "../../src/ipam/checkpoint_restore.ts";
import type { AllocationRecord } from "../../src/ipam/datastore.ts";
import { CheckpointError } from "../../src/ipam/errors.ts";

const NOW = 1_700_000_000_000;

function record(containerId: string, ipv4: string, pod?: [string, string]): AllocationRecord {
  return {
    key: { networkName: "aws-cni", containerId, ifName: "eth0" },
    ipv4,
    assignedAt: 1,
    ...(pod ? { pod: { podNamespace: pod[0], podName: pod[1], interfacesCount: 1 } } : {}),
  };
}

Deno.test("vethSuffix() is sha1hex('<namespace>.<name>')[:11], as upstream names host veths", () => {
  // Spec §4.6: the coredns pod's host veth is enib5faff8a083.
  assert.equal(vethSuffix("kube-system", "coredns-57ff979f67-qqbdh"), "b5faff8a083");
  assert.equal(vethSuffix("default", "web-0"), "0d7763386da");
});

Deno.test("planRestore() restores allocations whose veth exists and whose address a CIDR holds", () => {
  const web = record("a", "10.0.0.5", ["default", "web-0"]);
  const noMetadata = record("b", "10.0.1.20"); // cannot be checked: kept
  const stale = record("c", "10.9.9.9", ["default", "web-0"]);
  const plan = planRestore({
    checkpoint: { allocations: [web, noMetadata, stale], cooling: [] },
    cidrs: ["10.0.0.5/32", "10.0.1.16/28"],
    hostLinks: ["lo", "eth0", "eni0d7763386da"],
    now: NOW,
  });
  assert.deepEqual(plan.restore, [web, noMetadata]);
  assert.deepEqual(plan.stale, [stale]);
  assert.deepEqual([plan.invalid, plan.rulesToDelete, plan.cooling], [[], [], []]);
});

Deno.test("planRestore() accepts the veth under any prefix (AWS_VPC_K8S_CNI_VETHPREFIX)", () => {
  const web = record("a", "10.0.0.5", ["default", "web-0"]);
  const plan = planRestore({
    checkpoint: { allocations: [web], cooling: [] },
    cidrs: ["10.0.0.5/32"],
    hostLinks: ["cali0d7763386da"],
    now: NOW,
  });
  assert.deepEqual(plan.restore, [web]);
});

Deno.test("planRestore() drops allocations whose pod veth is gone, cools them, and lists their rules", () => {
  const gone = record("a", "10.0.0.5", ["default", "web-0"]);
  const plan = planRestore({
    checkpoint: { allocations: [gone], cooling: [] },
    cidrs: ["10.0.0.5/32"],
    hostLinks: ["eth0"],
    now: NOW,
  });
  assert.deepEqual([plan.restore, plan.invalid], [[], [gone]]);
  assert.deepEqual(plan.rulesToDelete, [
    { priority: 512, dst: "10.0.0.5/32", table: 254 },
    { priority: 1536, src: "10.0.0.5/32" },
  ]);
  assert.deepEqual(plan.cooling, [{ ipv4: "10.0.0.5", unassignedAt: NOW }]);
});

Deno.test("planRestore() keeps cooldowns only for addresses the node still has and no pod holds", () => {
  const held = record("a", "10.0.0.5");
  const plan = planRestore({
    checkpoint: {
      allocations: [held],
      cooling: [
        { ipv4: "10.0.0.5", unassignedAt: NOW - 1 },
        { ipv4: "10.0.0.6", unassignedAt: NOW - 2 },
        { ipv4: "10.9.0.1", unassignedAt: NOW - 3 },
      ],
    },
    cidrs: ["10.0.0.5/32", "10.0.0.6/32"],
    hostLinks: [],
    now: NOW,
  });
  assert.deepEqual(plan.cooling, [{ ipv4: "10.0.0.6", unassignedAt: NOW - 2 }]);
});

Deno.test("planRestore() refuses two allocations of one address or one attachment", () => {
  const input = {
    cidrs: ["10.0.0.0/28"],
    hostLinks: [],
    now: NOW,
    path: "/var/run/aws-node/ipam.json",
  };
  assert.throws(
    () =>
      planRestore({
        ...input,
        checkpoint: {
          allocations: [record("a", "10.0.0.5"), record("b", "10.0.0.5")],
          cooling: [],
        },
      }),
    (e) =>
      e instanceof CheckpointError && e.problem === "conflict" && /10\.0\.0\.5/.test(e.message),
  );
  assert.throws(
    () =>
      planRestore({
        ...input,
        checkpoint: {
          allocations: [record("a", "10.0.0.5"), record("a", "10.0.0.6")],
          cooling: [],
        },
      }),
    (e) => e instanceof CheckpointError && e.problem === "conflict" && /attachment/.test(e.message),
  );
});
