// ANNOTATE_POD_IP over the wire: merge patches on the pod, the release rule, conflicts.
import assert from "node:assert/strict";
import {
  annotatePodIp,
  POD_IPS_ANNOTATION,
  PodIpMismatchError,
  releasePodIpAnnotation,
} from "../../src/k8s/pod_ip_annotation.ts";
import { podObject, withK8sEnv } from "../lab/k8s_env.ts";

const POD = { namespace: "default", name: "web-1" };

function annotation(
  stub: Parameters<Parameters<typeof withK8sEnv>[0]>[0]["stub"],
): string | undefined {
  const meta = stub.get("v1", "Pod", POD.name, POD.namespace)?.metadata as {
    annotations?: Record<string, string>;
  };
  return meta?.annotations?.[POD_IPS_ANNOTATION];
}

Deno.test("annotatePodIp() sets the annotation with a merge patch; releasePodIpAnnotation() clears it", async () => {
  await withK8sEnv(async ({ stub, client }) => {
    stub.put(podObject(POD.namespace, POD.name));
    await annotatePodIp(client, POD, "10.0.1.24");
    assert.equal(annotation(stub), "10.0.1.24");
    const patch = stub.requestsTo("PATCH", `/api/v1/namespaces/default/pods/${POD.name}`)[0]!;
    assert.equal(patch.contentType, "application/merge-patch+json");
    await annotatePodIp(client, POD, "10.0.1.24");
    assert.equal(annotation(stub), "10.0.1.24", "idempotent");
    await releasePodIpAnnotation(client, POD, "10.0.1.24");
    assert.equal(annotation(stub), "");
  });
});

Deno.test("releasePodIpAnnotation() leaves another IP alone and says so", async () => {
  await withK8sEnv(async ({ stub, client }) => {
    stub.put(podObject(POD.namespace, POD.name));
    await annotatePodIp(client, POD, "10.0.1.25");
    await assert.rejects(
      () => releasePodIpAnnotation(client, POD, "10.0.1.24"),
      (e: unknown) => e instanceof PodIpMismatchError && e.annotated === "10.0.1.25",
    );
    assert.equal(annotation(stub), "10.0.1.25");
  });
});

Deno.test("releasePodIpAnnotation() is fine when the pod is gone", async () => {
  await withK8sEnv(async ({ client }) => {
    await releasePodIpAnnotation(client, POD, "10.0.1.24");
  });
});

Deno.test("releasePodIpAnnotation() retries when the pod changed between its read and its patch", async () => {
  await withK8sEnv(async ({ stub, client }) => {
    stub.put(podObject(POD.namespace, POD.name));
    await annotatePodIp(client, POD, "10.0.1.24");
    let raced = false;
    stub.intercept = ({ method }) => {
      if (method === "PATCH" && !raced) {
        raced = true; // someone else writes the pod first: the patch's resourceVersion is stale
        const pod = stub.get("v1", "Pod", POD.name, POD.namespace)!;
        stub.put({
          ...pod,
          metadata: { ...(pod.metadata as object), labels: { other: "writer" } },
        });
      }
      return undefined;
    };
    await releasePodIpAnnotation(client, POD, "10.0.1.24");
    assert.equal(annotation(stub), "");
    const patches = stub.requestsTo("PATCH", `/api/v1/namespaces/default/pods/${POD.name}`);
    assert.deepEqual(patches.map((p) => p.status), [200, 409, 200]);
  });
});
