// Per-node warm-pool overrides applied live: annotations changed with the real kubectl reach
// WarmPoolOverrides through NodeWatcher, invalid values become a Warning event on the Node.
import assert from "node:assert/strict";
import { AwsNodeEvents, INVALID_NODE_OVERRIDE } from "../../src/k8s/aws_node_events.ts";
import { EventRecorder } from "../../src/k8s/events.ts";
import type { EffectiveWarmPool, WarmPoolSettings } from "../../src/k8s/node_overrides.ts";
import { NodeWatcher } from "../../src/k8s/node_watch.ts";
import { WarmPoolOverrides } from "../../src/k8s/override_watch.ts";
import { eventually, type K8sEnv, NODE_NAME, nodeObject, withK8sEnv } from "../lab/k8s_env.ts";

const ENV: WarmPoolSettings = {
  warmEniTarget: 1,
  warmIpTarget: 0,
  minimumIpTarget: 0,
  warmPrefixTarget: 1,
  maxEni: -1,
};
const WARM_IP = "vpc-cni-deno.dev/warm-ip-target";
const MAX_ENI = "vpc-cni-deno.dev/max-eni";

async function follow(
  env: K8sEnv,
  fn: (
    overrides: WarmPoolOverrides,
    changes: EffectiveWarmPool[],
    watcher: NodeWatcher,
  ) => Promise<void>,
) {
  const recorder = new EventRecorder(env.client, {
    reportingInstance: "aws-node-test",
    flushIntervalMs: 50,
  });
  const events = new AwsNodeEvents(env.client, recorder, { podName: undefined });
  const watcher = new NodeWatcher(env.client, NODE_NAME, { minBackoffMs: 20, maxBackoffMs: 100 });
  const overrides = new WarmPoolOverrides(ENV, { events });
  const changes: EffectiveWarmPool[] = [];
  overrides.subscribe((effective) => changes.push(effective));
  const unfollow = overrides.follow(watcher);
  try {
    await watcher.start();
    await fn(overrides, changes, watcher);
  } finally {
    unfollow();
    await watcher.stop();
    await events.flush();
    await recorder.close();
  }
}

Deno.test("an annotation set with kubectl overrides the env value without a restart, and removing it restores it", async () => {
  await withK8sEnv(async (env) => {
    env.stub.put(nodeObject(NODE_NAME, { annotations: { [MAX_ENI]: "2" } }));
    await follow(env, async (overrides, changes) => {
      await eventually(() => overrides.current.sources.maxEni === "annotation" || undefined);
      assert.equal(overrides.current.settings.maxEni, 2);
      const set = await env.kubectl("annotate", "node", NODE_NAME, `${WARM_IP}=7`);
      assert.equal(set.code, 0, set.stderr);
      await eventually(() => overrides.current.settings.warmIpTarget === 7 || undefined);
      assert.equal(overrides.current.sources.warmIpTarget, "annotation");
      const removed = await env.kubectl("annotate", "node", NODE_NAME, `${WARM_IP}-`);
      assert.equal(removed.code, 0, removed.stderr);
      await eventually(() => overrides.current.sources.warmIpTarget === "env" || undefined);
      assert.equal(overrides.current.settings.warmIpTarget, ENV.warmIpTarget);
      assert.deepEqual(changes.map((c) => c.settings.warmIpTarget), [0, 7, 0]);
      assert.deepEqual(changes.map((c) => c.settings.maxEni), [2, 2, 2]);
    });
  });
});

Deno.test("an invalid annotation keeps the env value and is reported once as a Warning on the Node", async () => {
  await withK8sEnv(async (env) => {
    const node = env.stub.put(nodeObject(NODE_NAME));
    await follow(env, async (overrides, _changes, watcher) => {
      const set = await env.kubectl("annotate", "node", NODE_NAME, `${WARM_IP}=lots`);
      assert.equal(set.code, 0, set.stderr);
      const event = await eventually(() =>
        env.stub.list("events.k8s.io/v1", "Event", "default")[0]
      );
      assert.equal(event.type, "Warning");
      assert.equal(event.reason, INVALID_NODE_OVERRIDE);
      assert.deepEqual(event.regarding, {
        apiVersion: "v1",
        kind: "Node",
        name: NODE_NAME,
        uid: (node.metadata as { uid: string }).uid,
      });
      assert.match(
        String(event.note),
        /warm-ip-target must be a whole number from 0 to 65535, got "lots"/,
      );
      assert.equal(overrides.current.settings.warmIpTarget, ENV.warmIpTarget);
      assert.equal(overrides.current.sources.warmIpTarget, "env");
      // More updates of the node with the same bad value: no new event.
      assert.equal((await env.kubectl("label", "node", NODE_NAME, "touch=1")).code, 0);
      await eventually(() => watcher.current?.labels.touch === "1" || undefined);
      await new Promise((r) => setTimeout(r, 100)); // an event, if any, would be on its way
      assert.equal(
        env.stub.requestsTo("POST", "/apis/events.k8s.io/v1/namespaces/default/events").length,
        1,
      );
      // A corrected value applies.
      assert.equal(
        (await env.kubectl("annotate", "node", NODE_NAME, "--overwrite", `${WARM_IP}=3`)).code,
        0,
      );
      await eventually(() => overrides.current.settings.warmIpTarget === 3 || undefined);
    });
  });
});
