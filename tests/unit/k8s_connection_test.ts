import assert from "node:assert/strict";
import { parseEndpoint, resolveConnection } from "../../src/k8s/connection.ts";
import { K8sConfigError } from "../../src/k8s/errors.ts";

async function withServiceAccount(
  files: string[],
  fn: (dir: string) => void | Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tk8s-sa-" });
  try {
    for (const f of files) await Deno.writeTextFile(`${dir}/${f}`, "x");
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("resolveConnection() returns undefined when nothing points at a cluster", () => {
  assert.equal(resolveConnection({}), undefined);
  assert.equal(resolveConnection({ KUBERNETES_SERVICE_HOST: "10.100.0.1" }), undefined);
});

Deno.test("resolveConnection() uses the in-cluster service account", async () => {
  await withServiceAccount(["token", "ca.crt"], (dir) => {
    const env = { KUBERNETES_SERVICE_HOST: "10.100.0.1", KUBERNETES_SERVICE_PORT: "443" };
    assert.deepEqual(resolveConnection(env, { serviceAccountDir: dir }), {
      source: "in-cluster",
      server: "https://10.100.0.1:443",
      tokenFile: `${dir}/token`,
      caFile: `${dir}/ca.crt`,
    });
  });
});

Deno.test("resolveConnection() brackets an IPv6 service host", async () => {
  await withServiceAccount(["token", "ca.crt"], (dir) => {
    const env = { KUBERNETES_SERVICE_HOST: "fd00:10::1", KUBERNETES_SERVICE_PORT: "443" };
    const connection = resolveConnection(env, { serviceAccountDir: dir });
    assert.equal(
      connection?.source === "in-cluster" && connection.server,
      "https://[fd00:10::1]:443",
    );
  });
});

Deno.test("resolveConnection() fails clearly when the service account token is missing", async () => {
  await withServiceAccount(["ca.crt"], (dir) => {
    const env = { KUBERNETES_SERVICE_HOST: "10.100.0.1", KUBERNETES_SERVICE_PORT: "443" };
    assert.throws(
      () => resolveConnection(env, { serviceAccountDir: dir }),
      (e: unknown) => e instanceof K8sConfigError && e.message.includes(`${dir}/token is missing`),
    );
  });
});

Deno.test("resolveConnection() prefers KUBECONFIG (first readable file of the list)", async () => {
  await withServiceAccount(["kubeconfig", "token", "ca.crt"], (dir) => {
    const env = {
      KUBECONFIG: `${dir}/absent:${dir}/kubeconfig`,
      KUBERNETES_SERVICE_HOST: "10.100.0.1",
      KUBERNETES_SERVICE_PORT: "443",
    };
    assert.deepEqual(resolveConnection(env, { serviceAccountDir: dir }), {
      source: "kubeconfig",
      kubeconfigPath: `${dir}/kubeconfig`,
      serverOverride: undefined,
    });
  });
});

Deno.test("resolveConnection() rejects a KUBECONFIG that names no file", () => {
  assert.throws(
    () => resolveConnection({ KUBECONFIG: "/nonexistent/tk8s/kubeconfig" }),
    K8sConfigError,
  );
});

Deno.test("resolveConnection() applies CLUSTER_ENDPOINT to both sources", async () => {
  await withServiceAccount(["kubeconfig", "token", "ca.crt"], (dir) => {
    const inCluster = resolveConnection({
      KUBERNETES_SERVICE_HOST: "10.100.0.1",
      KUBERNETES_SERVICE_PORT: "443",
      CLUSTER_ENDPOINT: "https://ABC.gr7.us-west-2.eks.amazonaws.com/",
    }, { serviceAccountDir: dir });
    assert.equal(
      inCluster?.source === "in-cluster" && inCluster.server,
      "https://ABC.gr7.us-west-2.eks.amazonaws.com",
    );
    const kubeconfig = resolveConnection({
      KUBECONFIG: `${dir}/kubeconfig`,
      CLUSTER_ENDPOINT: "api.example:6443",
    });
    assert.equal(
      kubeconfig?.source === "kubeconfig" && kubeconfig.serverOverride,
      "https://api.example:6443",
    );
  });
});

Deno.test("parseEndpoint() accepts https URLs and bare hosts and rejects the rest", () => {
  assert.equal(parseEndpoint("https://k8s.example"), "https://k8s.example");
  assert.equal(parseEndpoint("https://127.0.0.1:6443/"), "https://127.0.0.1:6443");
  assert.equal(parseEndpoint("10.0.0.1:443"), "https://10.0.0.1:443");
  for (const bad of ["", "ftp://x", "https://", "http://127.0.0.1:8080", "https:// spaces"]) {
    assert.throws(
      () => parseEndpoint(bad),
      (e: unknown) => e instanceof K8sConfigError && e.message.includes("CLUSTER_ENDPOINT"),
      bad,
    );
  }
});
