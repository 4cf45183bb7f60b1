// NodeWatcher against the stub: list + watch, changes made with the real kubectl, reconnects.
import assert from "node:assert/strict";
import { NodeWatcher } from "../../src/k8s/node_watch.ts";
import { readNodeInfo } from "../../src/k8s/node_info.ts";
import type { NodeInfo } from "../../src/k8s/node_info.ts";
import { eventually, NODE_NAME, nodeObject, withK8sEnv } from "../lab/k8s_env.ts";

const FAST = { minBackoffMs: 20, maxBackoffMs: 100, watchTimeoutSeconds: 30 };

Deno.test("readNodeInfo() sees the cordon taint that kubectl adds and removes", async () => {
  await withK8sEnv(async ({ stub, client, kubectl }) => {
    stub.put(
      nodeObject(NODE_NAME, { taints: [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }] }),
    );
    assert.equal((await readNodeInfo(client, NODE_NAME)).unschedulable, false);
    const taint = await kubectl(
      "taint",
      "nodes",
      NODE_NAME,
      "node.kubernetes.io/unschedulable:NoSchedule",
    );
    assert.equal(taint.code, 0, taint.stderr);
    const tainted = await readNodeInfo(client, NODE_NAME);
    assert.equal(tainted.unschedulable, true);
    assert.deepEqual(tainted.taints.map((t) => t.key).sort(), [
      "dedicated",
      "node.kubernetes.io/unschedulable",
    ]);
    const untaint = await kubectl(
      "taint",
      "nodes",
      NODE_NAME,
      "node.kubernetes.io/unschedulable:NoSchedule-",
    );
    assert.equal(untaint.code, 0, untaint.stderr);
    assert.equal((await readNodeInfo(client, NODE_NAME)).unschedulable, false);
  });
});

Deno.test("NodeWatcher delivers the node, then each change made with kubectl label/annotate", async () => {
  await withK8sEnv(async ({ stub, client, kubectl }) => {
    stub.put(nodeObject(NODE_NAME, { labels: { zone: "a" } }));
    const watcher = new NodeWatcher(client, NODE_NAME, FAST);
    const seen: NodeInfo[] = [];
    watcher.subscribe((node) => seen.push(node));
    try {
      const first = await watcher.start();
      assert.equal(first?.labels.zone, "a");
      assert.equal((await kubectl("label", "node", NODE_NAME, "team=net")).code, 0);
      await eventually(() => watcher.current?.labels.team === "net" || undefined);
      assert.equal((await kubectl("annotate", "node", NODE_NAME, "note=x")).code, 0);
      await eventually(() => watcher.current?.annotations.note === "x" || undefined);
      const versions = seen.map((n) => n.resourceVersion);
      assert.equal(new Set(versions).size, versions.length, "no version delivered twice");
      assert.equal(
        stub.requestsTo("GET", "/api/v1/nodes").filter((r) => r.query.watch !== "true").length,
        1,
      );
      assert.equal(stub.openWatches, 1);
      await watcher.stop();
      await eventually(() => stub.openWatches === 0 || undefined, 2000);
    } finally {
      await watcher.stop();
    }
  });
});

Deno.test("NodeWatcher resumes after the API server drops its watch, without missing a change", async () => {
  await withK8sEnv(async ({ stub, client }) => {
    stub.put(nodeObject(NODE_NAME));
    const watcher = new NodeWatcher(client, NODE_NAME, FAST);
    try {
      await watcher.start();
      await eventually(() =>
        stub.requestsTo("GET", "/api/v1/nodes").some((r) => r.query.watch === "true") || undefined
      );
      // Hold the next watch request back so that a change lands while no watch is open.
      let release = () => {};
      const held = new Promise<void>((resolve) => release = resolve);
      stub.intercept = async ({ query }) => {
        if (query.get("watch") === "true") {
          stub.intercept = undefined;
          await held;
        }
        return undefined;
      };
      stub.dropWatches();
      stub.put(nodeObject(NODE_NAME, { labels: { changed: "while-disconnected" } }));
      release();
      await eventually(() => watcher.current?.labels.changed === "while-disconnected" || undefined);
      const watches = stub.requestsTo("GET", "/api/v1/nodes").filter((r) =>
        r.query.watch === "true"
      );
      assert.ok(watches.length >= 2);
      assert.ok(
        watches.at(-1)!.query.resourceVersion,
        "the new watch resumes from a resourceVersion",
      );
    } finally {
      await watcher.stop();
    }
  });
});

Deno.test("NodeWatcher lists again after 410 Gone", async () => {
  await withK8sEnv(async ({ stub, client }) => {
    stub.put(nodeObject(NODE_NAME));
    const watcher = new NodeWatcher(client, NODE_NAME, FAST);
    let gone = 1;
    stub.intercept = ({ query }) => {
      if (query.get("watch") !== "true" || gone-- <= 0) return undefined;
      const status = {
        kind: "Status",
        apiVersion: "v1",
        status: "Failure",
        reason: "Expired",
        code: 410,
      };
      return new Response(JSON.stringify({ type: "ERROR", object: status }) + "\n", {
        headers: { "content-type": "application/json" },
      });
    };
    try {
      await watcher.start();
      await eventually(() =>
        stub.requestsTo("GET", "/api/v1/nodes").filter((r) => r.query.watch !== "true").length >=
          2 || undefined
      );
      stub.put(nodeObject(NODE_NAME, { labels: { after: "relist" } }));
      await eventually(() => watcher.current?.labels.after === "relist" || undefined);
    } finally {
      await watcher.stop();
    }
  });
});

Deno.test("NodeWatcher waits for a node that does not exist yet and backs off through errors", async () => {
  await withK8sEnv(async ({ stub, client }) => {
    let failures = 2;
    stub.intercept = () => failures-- > 0 ? new Response("busy", { status: 500 }) : undefined;
    const watcher = new NodeWatcher(client, NODE_NAME, FAST);
    try {
      assert.equal(await watcher.start(), undefined);
      stub.put(nodeObject(NODE_NAME, { pods: "11" }));
      const node = await eventually(() => watcher.current);
      assert.equal(node.maxPods, 11);
      const lists = stub.requestsTo("GET", "/api/v1/nodes").filter((r) => r.query.watch !== "true");
      assert.equal(lists.filter((r) => r.status === 500).length, 2);
    } finally {
      await watcher.stop();
    }
  });
});

Deno.test("NodeWatcher.retryNow() ends a backoff wait at once (the API server is back)", async () => {
  await withK8sEnv(async ({ stub, client }) => {
    stub.put(nodeObject(NODE_NAME, { pods: "17" }));
    let down = true;
    stub.intercept = () => down ? new Response("down", { status: 503 }) : undefined;
    const watcher = new NodeWatcher(client, NODE_NAME, {
      minBackoffMs: 60_000,
      maxBackoffMs: 60_000,
    });
    try {
      assert.equal(await watcher.start(), undefined);
      down = false;
      const started = performance.now();
      watcher.retryNow();
      const node = await eventually(() => watcher.current, 3000);
      assert.equal(node.maxPods, 17);
      assert.ok(performance.now() - started < 3000, "not after the 60 s backoff");
    } finally {
      await watcher.stop();
    }
  });
});
