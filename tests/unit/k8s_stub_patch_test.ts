// The test stub's patch and selector logic: the integration tests trust it, so it is tested too.
import assert from "node:assert/strict";
import {
  type JsonObject,
  jsonPatch,
  mergePatch,
  PatchError,
  strategicMergePatch,
} from "../lab/k8s_stub_patch.ts";
import { matchFields, matchLabels } from "../lab/k8s_stub_store.ts";

Deno.test("mergePatch() merges objects, replaces lists and deletes on null (RFC 7386)", () => {
  const target = { a: { b: 1, c: 2 }, list: [1, 2], keep: true };
  assert.deepEqual(mergePatch(target, { a: { b: 9, c: null }, list: [3] }), {
    a: { b: 9 },
    list: [3],
    keep: true,
  });
  assert.deepEqual(target, { a: { b: 1, c: 2 }, list: [1, 2], keep: true }, "input untouched");
});

Deno.test("strategicMergePatch() merges containers by name and keeps the others", () => {
  const target: JsonObject = {
    spec: {
      containers: [{ name: "a", image: "a:1", env: [{ name: "X", value: "1" }] }, {
        name: "b",
        image: "b:1",
      }],
    },
  };
  const patched = strategicMergePatch(target, {
    spec: { containers: [{ name: "a", image: "a:2", env: [{ name: "Y", value: "2" }] }] },
  });
  assert.deepEqual(patched, {
    spec: {
      containers: [
        { name: "a", image: "a:2", env: [{ name: "X", value: "1" }, { name: "Y", value: "2" }] },
        { name: "b", image: "b:1" },
      ],
    },
  });
});

Deno.test("strategicMergePatch() honours $patch: delete, $setElementOrder and $deleteFromPrimitiveList", () => {
  const target = {
    volumes: [{ name: "a", hostPath: { path: "/a" } }, { name: "b", hostPath: { path: "/b" } }],
    finalizers: ["x", "y"],
  };
  const patched = strategicMergePatch(target, {
    "$setElementOrder/volumes": [{ name: "c" }, { name: "a" }],
    volumes: [{ name: "b", $patch: "delete" }, { name: "c", emptyDir: {} }],
    "$deleteFromPrimitiveList/finalizers": ["x"],
  });
  assert.deepEqual(patched, {
    volumes: [{ name: "c", emptyDir: {} }, { name: "a", hostPath: { path: "/a" } }],
    finalizers: ["y"],
  });
});

Deno.test("strategicMergePatch() replaces lists without a merge key (tolerations)", () => {
  const patched = strategicMergePatch({ tolerations: [{ operator: "Exists" }] }, {
    tolerations: [{ key: "k", operator: "Equal", value: "v" }],
  });
  assert.deepEqual(patched, { tolerations: [{ key: "k", operator: "Equal", value: "v" }] });
});

Deno.test("jsonPatch() applies add, replace, remove and test", () => {
  const doc = { metadata: { labels: { a: "1" } }, list: [1, 3] };
  const out = jsonPatch(doc, [
    { op: "add", path: "/metadata/labels/b~1c", value: "2" },
    { op: "replace", path: "/metadata/labels/a", value: "9" },
    { op: "add", path: "/list/1", value: 2 },
    { op: "add", path: "/list/-", value: 4 },
    { op: "remove", path: "/list/0" },
    { op: "test", path: "/list/0", value: 2 },
  ]);
  assert.deepEqual(out, { metadata: { labels: { a: "9", "b/c": "2" } }, list: [2, 3, 4] });
});

Deno.test("jsonPatch() fails on a failed test or a missing path", () => {
  assert.throws(() => jsonPatch({ a: 1 }, [{ op: "test", path: "/a", value: 2 }]), PatchError);
  assert.throws(() => jsonPatch({ a: 1 }, [{ op: "replace", path: "/b", value: 2 }]), PatchError);
  assert.throws(() => jsonPatch({ a: 1 }, [{ op: "remove", path: "/b/c" }]), PatchError);
});

Deno.test("matchFields() and matchLabels() implement the selector forms kubectl and clients send", () => {
  const object = {
    metadata: { name: "n1", labels: { app: "x", tier: "web" } },
    spec: { nodeName: "a" },
  };
  assert.equal(matchFields(object, "metadata.name=n1"), true);
  assert.equal(matchFields(object, "metadata.name==n2"), false);
  assert.equal(matchFields(object, "spec.nodeName!=b,metadata.name=n1"), true);
  assert.equal(matchLabels(object, "app=x,tier"), true);
  assert.equal(matchLabels(object, "app in (y, x),!missing"), true);
  assert.equal(matchLabels(object, "tier notin (web)"), false);
  assert.equal(matchLabels(object, "app!=x"), false);
});
