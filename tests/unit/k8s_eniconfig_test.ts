import assert from "node:assert/strict";
import {
  eniConfigFromObject,
  EXTERNAL_ENI_CONFIG_LABEL,
  selectEniConfigName,
} from "../../src/k8s/eniconfig.ts";
import { NoEniConfigError } from "../../src/k8s/errors.ts";

const KEY = "k8s.amazonaws.com/eniConfig";
const ZONE = "topology.kubernetes.io/zone";

Deno.test("selectEniConfigName() prefers the external label over everything", () => {
  const selection = selectEniConfigName({
    labels: { [EXTERNAL_ENI_CONFIG_LABEL]: "external", [KEY]: "label" },
    annotations: { [KEY]: "annotation" },
  });
  assert.deepEqual(selection, {
    name: "external",
    source: "external-label",
    key: EXTERNAL_ENI_CONFIG_LABEL,
  });
});

Deno.test("selectEniConfigName() prefers the annotation over the label", () => {
  const selection = selectEniConfigName({
    labels: { [KEY]: "label" },
    annotations: { [KEY]: "annotation" },
  });
  assert.deepEqual(selection, { name: "annotation", source: "annotation", key: KEY });
});

Deno.test("selectEniConfigName() uses the label when there is no annotation", () => {
  assert.deepEqual(selectEniConfigName({ labels: { [KEY]: "label" } }), {
    name: "label",
    source: "label",
    key: KEY,
  });
});

Deno.test('selectEniConfigName() falls back to "default"', () => {
  assert.deepEqual(selectEniConfigName({}), { name: "default", source: "default" });
  assert.deepEqual(selectEniConfigName({ labels: { other: "x" }, annotations: { other: "y" } }), {
    name: "default",
    source: "default",
  });
});

Deno.test("selectEniConfigName() reads the keys named by ENI_CONFIG_LABEL_DEF and ENI_CONFIG_ANNOTATION_DEF", () => {
  const node = {
    labels: { [ZONE]: "us-west-2a", [KEY]: "ignored-label" },
    annotations: { [KEY]: "ignored-annotation", "example.com/eni": "from-annotation" },
  };
  assert.deepEqual(selectEniConfigName(node, { labelKey: ZONE }), {
    name: "ignored-annotation",
    source: "annotation",
    key: KEY,
  });
  assert.deepEqual(
    selectEniConfigName({ labels: node.labels }, { labelKey: ZONE }),
    { name: "us-west-2a", source: "label", key: ZONE },
  );
  assert.deepEqual(
    selectEniConfigName(node, { annotationKey: "example.com/eni", labelKey: ZONE }),
    { name: "from-annotation", source: "annotation", key: "example.com/eni" },
  );
});

Deno.test("selectEniConfigName() treats empty key settings as the default key", () => {
  const node = { labels: { [KEY]: "label" } };
  assert.equal(selectEniConfigName(node, { annotationKey: "", labelKey: "" }).name, "label");
});

Deno.test('selectEniConfigName() skips empty values instead of naming an ENIConfig ""', () => {
  const node = {
    labels: { [EXTERNAL_ENI_CONFIG_LABEL]: "", [KEY]: "label" },
    annotations: { [KEY]: "" },
  };
  assert.deepEqual(selectEniConfigName(node), { name: "label", source: "label", key: KEY });
});

Deno.test("eniConfigFromObject() returns subnet and security groups", () => {
  const config = eniConfigFromObject({
    metadata: { name: "us-west-2a" },
    spec: { subnet: "subnet-0a1b2c3d", securityGroups: ["sg-01", "sg-0f"] },
  });
  assert.deepEqual(config, {
    name: "us-west-2a",
    subnet: "subnet-0a1b2c3d",
    securityGroups: ["sg-01", "sg-0f"],
  });
});

Deno.test("eniConfigFromObject() allows no security groups (the primary ENI's are used)", () => {
  const config = eniConfigFromObject({ metadata: { name: "z" }, spec: { subnet: "subnet-0a" } });
  assert.deepEqual(config.securityGroups, []);
});

Deno.test("eniConfigFromObject() rejects a missing or malformed subnet with NoEniConfigError", () => {
  for (const spec of [{}, { subnet: "" }, { subnet: 42 }, { subnet: "sg-0123" }]) {
    assert.throws(
      () => eniConfigFromObject({ metadata: { name: "bad" }, spec }),
      (error: unknown) => error instanceof NoEniConfigError && error.eniConfigName === "bad",
    );
  }
});

Deno.test("eniConfigFromObject() rejects security groups that are not sg- ids", () => {
  for (const securityGroups of ["sg-01", ["subnet-01"], [1]]) {
    assert.throws(
      () =>
        eniConfigFromObject({
          metadata: { name: "bad" },
          spec: { subnet: "subnet-01", securityGroups },
        }),
      NoEniConfigError,
    );
  }
});
