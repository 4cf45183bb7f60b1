// Custom networking over the wire: the project's CRD and example ENIConfigs applied with the
// real kubectl, the node labelled/annotated with kubectl, selection and fetch by ipamd's code.
import assert from "node:assert/strict";
import { fetchEniConfig, selectEniConfigName } from "../../src/k8s/eniconfig.ts";
import { K8sApiError, NoEniConfigError } from "../../src/k8s/errors.ts";
import { readNodeInfo } from "../../src/k8s/node_info.ts";
import {
  installEniConfigCrd,
  type K8sEnv,
  NODE_NAME,
  nodeObject,
  withK8sEnv,
} from "../lab/k8s_env.ts";

const EXAMPLES = new URL("../../manifests/examples/eniconfig.yaml", import.meta.url).pathname;

async function setup(env: K8sEnv): Promise<void> {
  await installEniConfigCrd(env);
  const applied = await env.kubectl("apply", "-f", EXAMPLES);
  assert.equal(applied.code, 0, applied.stderr);
  env.stub.put(nodeObject(NODE_NAME, { labels: { "topology.kubernetes.io/zone": "us-west-2a" } }));
}

async function selected(env: K8sEnv, keys = {}) {
  return selectEniConfigName(await readNodeInfo(env.client, NODE_NAME), keys);
}

Deno.test("per-zone ENIConfig: ENI_CONFIG_LABEL_DEF=topology.kubernetes.io/zone selects and fetches it", async () => {
  await withK8sEnv(async (env) => {
    await setup(env);
    const selection = await selected(env, { labelKey: "topology.kubernetes.io/zone" });
    assert.deepEqual(selection, {
      name: "us-west-2a",
      source: "label",
      key: "topology.kubernetes.io/zone",
    });
    assert.deepEqual(await fetchEniConfig(env.client, selection.name), {
      name: "us-west-2a",
      subnet: "subnet-0a1b2c3d4e5f60718",
      securityGroups: ["sg-0123456789abcdef0"],
    });
    const b = await fetchEniConfig(env.client, "us-west-2b");
    assert.deepEqual(b.securityGroups, [], "no groups: the primary ENI's are used");
  });
});

Deno.test("precedence over the wire: annotation beats label, external label beats both", async () => {
  await withK8sEnv(async (env) => {
    await setup(env);
    const keys = { labelKey: "topology.kubernetes.io/zone" };
    const annotate = await env.kubectl(
      "annotate",
      "node",
      NODE_NAME,
      "k8s.amazonaws.com/eniConfig=us-west-2b",
    );
    assert.equal(annotate.code, 0, annotate.stderr);
    assert.deepEqual(await selected(env, keys), {
      name: "us-west-2b",
      source: "annotation",
      key: "k8s.amazonaws.com/eniConfig",
    });
    const label = await env.kubectl(
      "label",
      "node",
      NODE_NAME,
      "vpc.amazonaws.com/externalEniConfig=us-west-2a",
    );
    assert.equal(label.code, 0, label.stderr);
    assert.equal((await selected(env, keys)).source, "external-label");
    assert.equal((await selected(env, keys)).name, "us-west-2a");
  });
});

Deno.test("no ENIConfig of that name: NoEniConfigError caused by a 404", async () => {
  await withK8sEnv(async (env) => {
    await setup(env);
    assert.deepEqual(await selected(env), { name: "default", source: "default" });
    await assert.rejects(
      () => fetchEniConfig(env.client, "default"),
      (e: unknown) =>
        e instanceof NoEniConfigError && e.eniConfigName === "default" &&
        e.cause instanceof K8sApiError && e.cause.status === 404,
    );
  });
});

Deno.test("no ENIConfig CRD in the cluster: NoEniConfigError as well", async () => {
  await withK8sEnv(async ({ client }) => {
    await assert.rejects(() => fetchEniConfig(client, "us-west-2a"), NoEniConfigError);
  });
});

Deno.test("the API server refuses an ENIConfig without a subnet (the CRD's schema)", async () => {
  await withK8sEnv(async (env) => {
    await installEniConfigCrd(env);
    const file = `${env.dir}/bad.yaml`;
    await Deno.writeTextFile(
      file,
      "apiVersion: crd.k8s.amazonaws.com/v1alpha1\nkind: ENIConfig\nmetadata:\n  name: bad\nspec:\n  securityGroups: [sg-01]\n",
    );
    const result = await env.kubectl("apply", "-f", file);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /spec\.subnet: Required value/);
  });
});

Deno.test("an ENIConfig whose subnet is not a subnet id is refused by ipamd with a reason", async () => {
  await withK8sEnv(async (env) => {
    await installEniConfigCrd(env);
    env.stub.put({
      apiVersion: "crd.k8s.amazonaws.com/v1alpha1",
      kind: "ENIConfig",
      metadata: { name: "typo" },
      spec: { subnet: "sbunet-0123" },
    });
    await assert.rejects(
      () => fetchEniConfig(env.client, "typo"),
      (e: unknown) =>
        e instanceof NoEniConfigError && /spec\.subnet is "sbunet-0123"/.test(e.message),
    );
  });
});
