// API server connectivity at start (spec §3.1), with short intervals injected.
import assert from "node:assert/strict";
import { connectApiServer, waitForApiServer } from "../../src/k8s/api_server.ts";
import { createK8sClient } from "../../src/k8s/client.ts";
import { K8sApiError, K8sConfigError } from "../../src/k8s/errors.ts";
import { readNodeInfo } from "../../src/k8s/node_info.ts";
import { K8sStub } from "../lab/k8s_stub.ts";
import { freePort, NODE_NAME, nodeObject } from "../lab/k8s_env.ts";

// Short intervals; the probe deadline stays generous because the first TLS request of a
// process is slow on a loaded machine.
const FAST = { pollIntervalMs: 50, probeTimeoutMs: 3000, backgroundIntervalMs: 50 };

/** A kubeconfig for https://127.0.0.1:<port> (with the stub's CA) while nothing listens there. */
async function kubeconfigForPort(dir: string, port: number): Promise<string> {
  const template = await K8sStub.start({ tls: true });
  const text = template.kubeconfig().replace(template.url, `https://127.0.0.1:${port}`);
  await template.close();
  await Deno.writeTextFile(`${dir}/kubeconfig`, text);
  return `${dir}/kubeconfig`;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tk8s-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("required: keeps polling while the API server is down, connects when it comes up", async () => {
  await withDir(async (dir) => {
    const port = freePort();
    await using client = await createK8sClient({
      source: "kubeconfig",
      kubeconfigPath: await kubeconfigForPort(dir, port),
    });
    let stub: K8sStub | undefined;
    const starter = setTimeout(async () => stub = await K8sStub.start({ tls: true, port }), 300);
    try {
      const started = performance.now();
      const state = await waitForApiServer(client, { required: true, ...FAST });
      assert.equal(state.connected, true);
      assert.ok(performance.now() - started >= 250, "it waited for the server");
      assert.ok((stub?.requestsTo("GET", "/version").length ?? 0) >= 1);
    } finally {
      clearTimeout(starter);
      await stub?.close();
    }
  });
});

Deno.test("required: keeps polling through probe timeouts", async () => {
  const stub = await K8sStub.start({ tls: true });
  await withDir(async (dir) => {
    await using client = await createK8sClient({
      source: "kubeconfig",
      kubeconfigPath: await stub.writeKubeconfig(dir),
    });
    let slow = 2;
    stub.intercept = async ({ path }) => {
      if (path !== "/version" || slow-- <= 0) return undefined;
      await new Promise((r) => setTimeout(r, 1500));
      return undefined;
    };
    const state = await waitForApiServer(client, { required: true, ...FAST, probeTimeoutMs: 500 });
    assert.equal(state.connected, true);
    assert.ok(
      stub.requestsTo("GET", "/version").length >= 3,
      "two probes timed out, then one answered",
    );
    await new Promise((r) => setTimeout(r, 1600)); // the abandoned slow answers finish
  });
  await stub.close();
});

Deno.test("required: a permanent error (403 on /version) aborts at once", async () => {
  const stub = await K8sStub.start({ tls: true });
  await withDir(async (dir) => {
    await using client = await createK8sClient({
      source: "kubeconfig",
      kubeconfigPath: await stub.writeKubeconfig(dir),
    });
    stub.intercept = () =>
      Response.json({ kind: "Status", reason: "Forbidden", code: 403, message: "forbidden" }, {
        status: 403,
      });
    await assert.rejects(
      () => waitForApiServer(client, { required: true, ...FAST }),
      (e: unknown) => e instanceof K8sApiError && e.status === 403,
    );
    assert.equal(stub.requests.length, 1);
  });
  await stub.close();
});

Deno.test("optional: gives up after the wait, then a background probe connects and calls onConnected", async () => {
  await withDir(async (dir) => {
    const port = freePort();
    await using client = await createK8sClient({
      source: "kubeconfig",
      kubeconfigPath: await kubeconfigForPort(dir, port),
    });
    const started = performance.now();
    const connectedTo: string[] = [];
    let maxPods: number | undefined;
    const state = await waitForApiServer(client, {
      required: false,
      optionalWaitMs: 200,
      ...FAST,
      onConnected: async (version) => {
        connectedTo.push(version.gitVersion);
        maxPods = (await readNodeInfo(client, NODE_NAME)).maxPods;
      },
    });
    const waited = performance.now() - started;
    assert.equal(state.connected, false);
    assert.ok(waited >= 150 && waited < 2000, `waited ${waited} ms`);
    assert.ok(!state.connected && state.background, "a background probe runs");
    const stub = await K8sStub.start({ tls: true, port });
    try {
      stub.put(nodeObject(NODE_NAME, { pods: "17" }));
      const version = await state.background!.connected;
      assert.equal(version?.gitVersion, "v1.32.0-tk8s-stub");
      assert.deepEqual(connectedTo, ["v1.32.0-tk8s-stub"]);
      assert.equal(maxPods, 17, "max pods refreshed from the Node once connected");
    } finally {
      await stub.close();
    }
  });
});

Deno.test("optional: stop() ends the background probe", async () => {
  await withDir(async (dir) => {
    await using client = await createK8sClient({
      source: "kubeconfig",
      kubeconfigPath: await kubeconfigForPort(dir, freePort()),
    });
    const state = await waitForApiServer(client, { required: false, optionalWaitMs: 0, ...FAST });
    assert.ok(!state.connected && state.background);
    await new Promise((r) => setTimeout(r, 120));
    state.background.stop();
    assert.equal(await state.background.connected, undefined);
  });
});

Deno.test("optional: connects at once when the API server is up", async () => {
  const stub = await K8sStub.start({ tls: true });
  await withDir(async (dir) => {
    const { client, state } = await connectApiServer({
      KUBECONFIG: await stub.writeKubeconfig(dir),
    }, {
      required: false,
      ...FAST,
    });
    assert.ok(client);
    assert.equal(state.connected, true);
  });
  await stub.close();
});

Deno.test("connectApiServer() without any configuration: optional runs without, required fails", async () => {
  const { client, state } = await connectApiServer({}, { required: false, ...FAST });
  assert.equal(client, undefined);
  assert.ok(!state.connected && state.reason instanceof K8sConfigError && !state.background);
  await assert.rejects(() => connectApiServer({}, { required: true, ...FAST }), K8sConfigError);
  await assert.rejects(
    () => connectApiServer({ KUBECONFIG: "/nonexistent/tk8s" }, { required: true, ...FAST }),
    K8sConfigError,
  );
});
