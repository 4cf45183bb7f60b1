// ipamd's Kubernetes client (real @kubernetes/client-node) against the wire-level API stub.
import assert from "node:assert/strict";
import { createK8sClient } from "../../src/k8s/client.ts";
import { resolveConnection } from "../../src/k8s/connection.ts";
import { K8sApiError, K8sUnreachableError } from "../../src/k8s/errors.ts";
import { readNodeInfo } from "../../src/k8s/node_info.ts";
import { K8sStub } from "../lab/k8s_stub.ts";
import { freePort, NODE_NAME, nodeObject, withK8sEnv } from "../lab/k8s_env.ts";

Deno.test("createK8sClient() reads the server from a kubeconfig and talks to it", async () => {
  await withK8sEnv(async ({ stub, client }) => {
    stub.put(nodeObject(NODE_NAME, { labels: { zone: "a" }, pods: "58" }));
    const version = await client.version();
    assert.equal(version.gitVersion, "v1.32.0-tk8s-stub");
    const info = await readNodeInfo(client, NODE_NAME);
    assert.equal(info.labels.zone, "a");
    assert.equal(info.maxPods, 58);
    const get = stub.requestsTo("GET", `/api/v1/nodes/${NODE_NAME}`);
    assert.equal(get.length, 1);
    assert.match(get[0]!.userAgent, /^ipamd\/\d+\.\d+\.\d+ \(vpc-cni-deno\)$/);
  });
});

Deno.test("in-cluster: the client verifies the API server with the service account CA and sends the token", async () => {
  const stub = await K8sStub.start({ tls: true, token: "tk8s-token-1" });
  const dir = await Deno.makeTempDir({ prefix: "tk8s-sa-" });
  try {
    stub.put(nodeObject(NODE_NAME));
    await Deno.writeTextFile(`${dir}/token`, "tk8s-token-1");
    await Deno.copyFile(stub.caFile!, `${dir}/ca.crt`);
    const connection = resolveConnection(
      { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(stub.port) },
      { serviceAccountDir: dir },
    );
    assert.equal(connection?.source, "in-cluster");
    await using client = await createK8sClient(connection!);
    assert.equal((await readNodeInfo(client, NODE_NAME)).name, NODE_NAME);

    await Deno.writeTextFile(`${dir}/wrong-token`, "not-the-token");
    await using wrong = await createK8sClient(
      { ...connection!, tokenFile: `${dir}/wrong-token` } as never,
    );
    await assert.rejects(
      () => wrong.getNode(NODE_NAME),
      (e: unknown) =>
        e instanceof K8sApiError && e.status === 401 && /token was rejected/.test(e.message),
    );
  } finally {
    await stub.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("in-cluster: a server certificate from another CA is refused", async () => {
  const stub = await K8sStub.start({ tls: true });
  const dir = await Deno.makeTempDir({ prefix: "tk8s-sa-" });
  try {
    await Deno.writeTextFile(`${dir}/token`, "t");
    // The server's own certificate is not a CA: trusting it alone must not validate the chain.
    await Deno.copyFile(
      new URL("../lab/fixtures/k8s_stub_server.pem", import.meta.url),
      `${dir}/ca.crt`,
    );
    await using client = await createK8sClient({
      source: "in-cluster",
      server: stub.url,
      tokenFile: `${dir}/token`,
      caFile: `${dir}/ca.crt`,
    });
    await assert.rejects(
      () => client.version(),
      (e: unknown) => e instanceof K8sUnreachableError && !e.timedOut,
    );
    assert.equal(stub.requests.length, 0, "no request reached the server");
  } finally {
    await stub.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CLUSTER_ENDPOINT replaces the kubeconfig's server", async () => {
  await withK8sEnv(async ({ stub, dir }) => {
    const port = freePort();
    const kubeconfig = `${dir}/elsewhere`;
    await Deno.writeTextFile(
      kubeconfig,
      stub.kubeconfig().replace(stub.url, `https://127.0.0.1:${port}`),
    );
    const connection = resolveConnection({ KUBECONFIG: kubeconfig, CLUSTER_ENDPOINT: stub.url });
    await using client = await createK8sClient(connection!);
    assert.equal(client.server, stub.url);
    assert.equal((await client.version()).major, "1");
  });
});

Deno.test("API errors are K8sApiError with the Status reason", async () => {
  await withK8sEnv(async ({ stub, client }) => {
    await assert.rejects(
      () => client.getNode("no-such-node"),
      (e: unknown) =>
        e instanceof K8sApiError && e.status === 404 && e.reason === "NotFound" &&
        e.operation === "get node no-such-node",
    );
    stub.intercept = ({ path }) =>
      path.startsWith("/api/v1/nodes")
        ? Response.json({
          kind: "Status",
          status: "Failure",
          reason: "Forbidden",
          code: 403,
          message: "nope",
        }, {
          status: 403,
        })
        : undefined;
    await assert.rejects(
      () => client.getNode(NODE_NAME),
      (e: unknown) =>
        e instanceof K8sApiError && e.reason === "Forbidden" && !e.transient &&
        /aws-node ClusterRole lacks this permission/.test(e.message),
    );
    stub.intercept = () => new Response("overloaded", { status: 503 });
    await assert.rejects(
      () => client.version(),
      (e: unknown) => e instanceof K8sApiError && e.status === 503 && e.transient,
    );
  });
});

Deno.test("a request that outlives its deadline is a K8sUnreachableError with timedOut", async () => {
  await withK8sEnv(async ({ stub, client }) => {
    stub.put(nodeObject(NODE_NAME));
    stub.intercept = async () => {
      await new Promise((r) => setTimeout(r, 600));
      return undefined;
    };
    const started = performance.now();
    await assert.rejects(
      () => client.getNode(NODE_NAME, { timeoutMs: 150 }),
      (e: unknown) =>
        e instanceof K8sUnreachableError && e.timedOut && /within 150 ms/.test(e.message),
    );
    assert.ok(performance.now() - started < 500, "the deadline, not the server, ended the call");
    await new Promise((r) => setTimeout(r, 700)); // let the stub finish the abandoned request
  });
});

Deno.test("an API server that is down is a K8sUnreachableError without timedOut", async () => {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "tk8s-" });
  try {
    const stub = await K8sStub.start({ tls: true });
    await Deno.writeTextFile(
      `${dir}/kubeconfig`,
      stub.kubeconfig().replace(stub.url, `https://127.0.0.1:${port}`),
    );
    await stub.close();
    await using client = await createK8sClient({
      source: "kubeconfig",
      kubeconfigPath: `${dir}/kubeconfig`,
    });
    await assert.rejects(
      () => client.version(),
      (e: unknown) =>
        e instanceof K8sUnreachableError && !e.timedOut && /ECONNREFUSED/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a caller's abort signal ends a call with the caller's reason", async () => {
  await withK8sEnv(async ({ stub, client }) => {
    stub.intercept = async () => {
      await new Promise((r) => setTimeout(r, 400));
      return undefined;
    };
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("shutting down")), 50);
    await assert.rejects(() => client.version({ signal: controller.signal }), /shutting down/);
    await new Promise((r) => setTimeout(r, 500));
  });
});
