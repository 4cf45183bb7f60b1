import assert from "node:assert/strict";
import {
  applyNodeOverrides,
  describeWarmPool,
  OVERRIDE_RULES,
  parseNodeOverrides,
  type WarmPoolSettings,
} from "../../src/k8s/node_overrides.ts";
import { WarmPoolOverrides } from "../../src/k8s/override_watch.ts";
import { nodeInfoFromObject } from "../../src/k8s/node_info.ts";

const BASE: WarmPoolSettings = {
  warmEniTarget: 1,
  warmIpTarget: 0,
  minimumIpTarget: 0,
  warmPrefixTarget: 1,
  maxEni: -1,
};
const A = {
  warmEni: "vpc-cni-deno.dev/warm-eni-target",
  warmIp: "vpc-cni-deno.dev/warm-ip-target",
  minIp: "vpc-cni-deno.dev/minimum-ip-target",
  warmPrefix: "vpc-cni-deno.dev/warm-prefix-target",
  maxEni: "vpc-cni-deno.dev/max-eni",
};

Deno.test("OVERRIDE_RULES names one annotation per warm-pool setting", () => {
  assert.deepEqual(
    Object.values(OVERRIDE_RULES).map((r) => r.annotation).sort(),
    Object.values(A).sort(),
  );
});

Deno.test("parseNodeOverrides() reads every valid annotation", () => {
  const overrides = parseNodeOverrides({
    [A.warmEni]: "0",
    [A.warmIp]: "5",
    [A.minIp]: "10",
    [A.warmPrefix]: "2",
    [A.maxEni]: "3",
    unrelated: "x",
  });
  assert.deepEqual(overrides.values, {
    warmEniTarget: 0,
    warmIpTarget: 5,
    minimumIpTarget: 10,
    warmPrefixTarget: 2,
    maxEni: 3,
  });
  assert.deepEqual(overrides.rejected, []);
  assert.deepEqual(overrides.unknown, []);
});

Deno.test("parseNodeOverrides() accepts surrounding whitespace", () => {
  assert.equal(parseNodeOverrides({ [A.warmIp]: " 7 " }).values.warmIpTarget, 7);
});

Deno.test("parseNodeOverrides() rejects values that are not whole numbers, with a reason", () => {
  for (const value of ["", "abc", "-1", "+5", "1.5", "1e3", "0x10", "5 pods"]) {
    const overrides = parseNodeOverrides({ [A.warmIp]: value });
    assert.equal(overrides.values.warmIpTarget, undefined, value);
    assert.equal(overrides.rejected.length, 1, value);
    const [rejection] = overrides.rejected;
    assert.equal(rejection!.setting, "warmIpTarget");
    assert.equal(rejection!.value, value);
    assert.match(rejection!.reason, /must be a whole number from 0 to 65535/);
    assert.match(rejection!.reason, /keeping WARM_IP_TARGET/);
  }
});

Deno.test("parseNodeOverrides() rejects out-of-range values", () => {
  const overrides = parseNodeOverrides({
    [A.warmIp]: "65536",
    [A.maxEni]: "0",
    [A.warmEni]: "1001",
  });
  assert.deepEqual(overrides.values, {});
  assert.deepEqual(overrides.rejected.map((r) => r.setting).sort(), [
    "maxEni",
    "warmEniTarget",
    "warmIpTarget",
  ]);
  const maxEni = overrides.rejected.find((r) => r.setting === "maxEni")!;
  assert.match(maxEni.reason, /from 1 to 1000, got 0/);
  assert.match(maxEni.reason, /remove the annotation/);
});

Deno.test("parseNodeOverrides() keeps valid values next to rejected ones", () => {
  const overrides = parseNodeOverrides({ [A.warmIp]: "3", [A.minIp]: "many" });
  assert.deepEqual(overrides.values, { warmIpTarget: 3 });
  assert.deepEqual(overrides.rejected.map((r) => r.annotation), [A.minIp]);
});

Deno.test("parseNodeOverrides() lists unknown vpc-cni-deno.dev/ annotations (typos)", () => {
  const overrides = parseNodeOverrides({
    "vpc-cni-deno.dev/warm-ip-targets": "3",
    "other.io/x": "1",
  });
  assert.deepEqual(overrides.unknown, ["vpc-cni-deno.dev/warm-ip-targets"]);
  assert.deepEqual(overrides.values, {});
});

Deno.test("applyNodeOverrides() gives annotations precedence over the environment", () => {
  const effective = applyNodeOverrides(
    BASE,
    parseNodeOverrides({ [A.warmIp]: "4", [A.maxEni]: "2" }),
  );
  assert.deepEqual(effective.settings, { ...BASE, warmIpTarget: 4, maxEni: 2 });
  assert.deepEqual(effective.sources, {
    warmEniTarget: "env",
    warmIpTarget: "annotation",
    minimumIpTarget: "env",
    warmPrefixTarget: "env",
    maxEni: "annotation",
  });
});

Deno.test("applyNodeOverrides() keeps the environment value for a rejected annotation", () => {
  const effective = applyNodeOverrides(
    { ...BASE, warmIpTarget: 8 },
    parseNodeOverrides({ [A.warmIp]: "lots" }),
  );
  assert.equal(effective.settings.warmIpTarget, 8);
  assert.equal(effective.sources.warmIpTarget, "env");
  assert.equal(effective.rejected.length, 1);
});

Deno.test("applyNodeOverrides() can turn warm-IP mode off on one node with 0", () => {
  const effective = applyNodeOverrides(
    { ...BASE, warmIpTarget: 8 },
    parseNodeOverrides({ [A.warmIp]: "0" }),
  );
  assert.equal(effective.settings.warmIpTarget, 0);
  assert.equal(effective.sources.warmIpTarget, "annotation");
});

Deno.test("describeWarmPool() names each value and its source", () => {
  const text = describeWarmPool(applyNodeOverrides(BASE, parseNodeOverrides({ [A.warmIp]: "4" })));
  assert.match(text, /warmIpTarget=4 \(annotation\)/);
  assert.match(text, /maxEni=-1 \(env\)/);
});

function node(annotations: Record<string, string>, resourceVersion: string) {
  return nodeInfoFromObject({ metadata: { name: "n1", uid: "u1", resourceVersion, annotations } });
}

Deno.test("WarmPoolOverrides.update() notifies only when an effective setting changes", () => {
  const overrides = new WarmPoolOverrides(BASE);
  const seen: number[] = [];
  overrides.subscribe((effective) => seen.push(effective.settings.warmIpTarget));
  assert.equal(overrides.update(node({}, "1")), false, "no annotations: same as the base");
  assert.equal(overrides.update(node({ [A.warmIp]: "6" }, "2")), true);
  assert.equal(overrides.update(node({ [A.warmIp]: "6", other: "x" }, "3")), false);
  assert.equal(overrides.update(node({ [A.warmIp]: "bad" }, "4")), true, "invalid: back to env");
  assert.equal(overrides.update(node({}, "5")), false);
  assert.deepEqual(seen, [6, 0]);
  assert.equal(overrides.current.settings.warmIpTarget, 0);
});

Deno.test("WarmPoolOverrides.subscribe() returns an unsubscribe function", () => {
  const overrides = new WarmPoolOverrides(BASE);
  let calls = 0;
  const unsubscribe = overrides.subscribe(() => calls++);
  overrides.update(node({ [A.warmEni]: "2" }, "1"));
  unsubscribe();
  overrides.update(node({ [A.warmEni]: "3" }, "2"));
  assert.equal(calls, 1);
  assert.equal(overrides.current.settings.warmEniTarget, 3);
});
