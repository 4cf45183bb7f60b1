// Events over the wire: MissingIAMPermissions on the aws-node pod, de-duplicated; seen by kubectl.
import assert from "node:assert/strict";
import { AwsNodeEvents, MISSING_IAM_PERMISSIONS } from "../../src/k8s/aws_node_events.ts";
import { EventRecorder } from "../../src/k8s/events.ts";
import { type K8sEnv, podObject, withK8sEnv } from "../lab/k8s_env.ts";

const POD = "aws-node-tk8s1";

function makeEvents(
  env: K8sEnv,
  recorder: Partial<ConstructorParameters<typeof EventRecorder>[1]> = {},
) {
  const rec = new EventRecorder(env.client, {
    reportingInstance: "aws-node-ip-10-0-1-23",
    flushIntervalMs: 50,
    ...recorder,
  });
  return { recorder: rec, events: new AwsNodeEvents(env.client, rec, { podName: POD }) };
}

Deno.test("missingIamPermissions() records one Warning on the aws-node pod, with its uid", async () => {
  await withK8sEnv(async (env) => {
    const pod = env.stub.put(podObject("kube-system", POD));
    const { recorder, events } = makeEvents(env);
    events.missingIamPermissions("CreateNetworkInterface");
    await events.flush();
    const [event, ...more] = env.stub.list("events.k8s.io/v1", "Event", "kube-system");
    assert.equal(more.length, 0);
    assert.equal(event!.type, "Warning");
    assert.equal(event!.reason, MISSING_IAM_PERMISSIONS);
    assert.equal(event!.action, "ec2:CreateNetworkInterface");
    assert.equal(event!.reportingController, "aws-node");
    assert.deepEqual(event!.regarding, {
      apiVersion: "v1",
      kind: "Pod",
      namespace: "kube-system",
      name: POD,
      uid: (pod.metadata as { uid: string }).uid,
    });
    assert.match(
      String(event!.note),
      /failed to call ec2:CreateNetworkInterface due to missing permissions/,
    );
    assert.match(String(event!.eventTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    await recorder.close();
  });
});

Deno.test("an UnauthorizedOperation storm becomes one event with a series count, not an event storm", async () => {
  await withK8sEnv(async (env) => {
    env.stub.put(podObject("kube-system", POD));
    const { recorder, events } = makeEvents(env);
    for (let i = 0; i < 200; i++) events.missingIamPermissions("ec2:AssignPrivateIpAddresses");
    await events.flush();
    await new Promise((r) => setTimeout(r, 120)); // one series flush interval
    await recorder.close();
    const posts = env.stub.requestsTo(
      "POST",
      "/apis/events.k8s.io/v1/namespaces/kube-system/events",
    );
    const patches = env.stub.requestsTo(
      "PATCH",
      /^\/apis\/events\.k8s\.io\/v1\/namespaces\/kube-system\/events\//,
    );
    assert.equal(posts.length, 1);
    assert.ok(patches.length >= 1 && patches.length <= 2, `${patches.length} series patches`);
    const [event] = env.stub.list("events.k8s.io/v1", "Event", "kube-system");
    assert.equal((event!.series as { count: number }).count, 200);
    assert.equal(
      env.stub.requestsTo("GET", `/api/v1/namespaces/kube-system/pods/${POD}`).length,
      1,
      "uid read once",
    );
    assert.deepEqual(recorder.stats(), {
      created: 1,
      folded: 199,
      patched: patches.length,
      dropped: 0,
      failed: 0,
    });
  });
});

Deno.test("different EC2 actions are different events; past the burst, new ones are dropped and counted", async () => {
  await withK8sEnv(async (env) => {
    env.stub.put(podObject("kube-system", POD));
    const { recorder, events } = makeEvents(env, { burst: 3 });
    for (
      const action of [
        "CreateNetworkInterface",
        "AttachNetworkInterface",
        "CreateTags",
        "DeleteNetworkInterface",
      ]
    ) {
      events.missingIamPermissions(action);
    }
    await events.flush();
    const actions = env.stub.list("events.k8s.io/v1", "Event", "kube-system").map((e) => e.action)
      .sort();
    assert.deepEqual(actions, [
      "ec2:AttachNetworkInterface",
      "ec2:CreateNetworkInterface",
      "ec2:CreateTags",
    ]);
    assert.equal(recorder.stats().dropped, 1);
    await recorder.close();
  });
});

Deno.test("kubectl shows the event on the pod (core/v1 view, matched by uid)", async () => {
  await withK8sEnv(async (env) => {
    const pod = env.stub.put(podObject("kube-system", POD));
    const { recorder, events } = makeEvents(env);
    events.missingIamPermissions("DescribeNetworkInterfaces");
    await events.flush();
    await recorder.close();
    const uid = (pod.metadata as { uid: string }).uid;
    const result = await env.kubectl("get", "events", "-n", "kube-system", "-o", "json");
    assert.equal(result.code, 0, result.stderr);
    const [core] = JSON.parse(result.stdout).items;
    assert.equal(core.reason, MISSING_IAM_PERMISSIONS);
    assert.equal(core.involvedObject.uid, uid);
    assert.match(core.message, /ec2:DescribeNetworkInterfaces/);
  });
});

Deno.test("event writes that fail (no RBAC) are logged and counted, never thrown", async () => {
  await withK8sEnv(async (env) => {
    env.stub.put(podObject("kube-system", POD));
    env.stub.intercept = ({ path }) =>
      path.includes("/events")
        ? Response.json({ kind: "Status", reason: "Forbidden", code: 403 }, { status: 403 })
        : undefined;
    const { recorder, events } = makeEvents(env);
    events.missingIamPermissions("CreateTags");
    await events.flush();
    assert.equal(recorder.stats().failed, 1);
    await recorder.close();
  });
});

Deno.test("without MY_POD_NAME nothing is sent", async () => {
  await withK8sEnv(async (env) => {
    const recorder = new EventRecorder(env.client, { reportingInstance: "x" });
    const events = new AwsNodeEvents(env.client, recorder, { podName: undefined });
    events.missingIamPermissions("CreateTags");
    await events.flush();
    assert.equal(env.stub.requests.length, 0);
    await recorder.close();
  });
});
