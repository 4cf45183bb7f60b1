// Least privilege, checked against what the code really does: every Kubernetes API request
// src/k8s makes (recorded by the stub) is allowed by manifests/rbac.yaml and every rule there is
// used; every EC2 action the EC2 client calls is allowed by manifests/iam/iam-policy.json, with
// tag or VPC conditions on everything that changes state.
import assert from "node:assert/strict";
import { connectApiServer } from "../../src/k8s/api_server.ts";
import { AwsNodeEvents } from "../../src/k8s/aws_node_events.ts";
import { fetchEniConfig } from "../../src/k8s/eniconfig.ts";
import { EventRecorder } from "../../src/k8s/events.ts";
import { readNodeInfo } from "../../src/k8s/node_info.ts";
import { parseNodeOverrides } from "../../src/k8s/node_overrides.ts";
import { NodeWatcher } from "../../src/k8s/node_watch.ts";
import { annotatePodIp, releasePodIpAnnotation } from "../../src/k8s/pod_ip_annotation.ts";
import { eventually, NODE_NAME, nodeObject, podObject, withK8sEnv } from "../lab/k8s_env.ts";
import {
  allows,
  type ApiCall,
  apiCallOf,
  find,
  loadManifests,
  MANIFESTS,
  type PolicyRule,
} from "../lab/manifests.ts";

const POD = "aws-node-tk8s9";

/** Runs every Kubernetes API call path of src/k8s against the stub; returns the calls made. */
async function exerciseEverything(): Promise<
  { base: ApiCall[]; podIp: ApiCall[]; paths: string[] }
> {
  let base: ApiCall[] = [];
  let podIp: ApiCall[] = [];
  let paths: string[] = [];
  await withK8sEnv(async (env) => {
    const crd = find(
      await loadManifests(),
      "CustomResourceDefinition",
      "eniconfigs.crd.k8s.amazonaws.com",
    );
    env.stub.put(crd.object);
    env.stub.put({
      apiVersion: "crd.k8s.amazonaws.com/v1alpha1",
      kind: "ENIConfig",
      metadata: { name: "default" },
      spec: { subnet: "subnet-01" },
    });
    env.stub.put(
      nodeObject(NODE_NAME, { annotations: { "vpc-cni-deno.dev/warm-ip-target": "x" } }),
    );
    env.stub.put(podObject("kube-system", POD));
    env.stub.put(podObject("default", "web-1"));
    env.stub.requests.length = 0;

    const { client } = await connectApiServer({ KUBECONFIG: env.kubeconfig }, { required: true });
    try {
      const node = await readNodeInfo(client!, NODE_NAME);
      await fetchEniConfig(client!, "default");
      const watcher = new NodeWatcher(client!, NODE_NAME, { minBackoffMs: 10 });
      await watcher.start();
      await eventually(() => env.stub.openWatches === 1 || undefined);
      await watcher.stop();
      const recorder = new EventRecorder(client!, { reportingInstance: "t", flushIntervalMs: 10 });
      const events = new AwsNodeEvents(client!, recorder, { podName: POD });
      events.missingIamPermissions("CreateTags");
      events.missingIamPermissions("CreateTags");
      events.invalidNodeOverride(node, parseNodeOverrides(node.annotations).rejected[0]!);
      await events.flush();
      await recorder.close();
      base = env.stub.requests.map((r) => apiCallOf(r.method, r.path, r.query));
      env.stub.requests.length = 0;
      await annotatePodIp(client!, { namespace: "default", name: "web-1" }, "10.0.1.9");
      await releasePodIpAnnotation(client!, { namespace: "default", name: "web-1" }, "10.0.1.9");
      podIp = env.stub.requests.map((r) => apiCallOf(r.method, r.path, r.query));
      paths = [...base, ...podIp].filter((c) => c.path !== undefined).map((c) => c.path!);
    } finally {
      await client?.close();
    }
  });
  return { base, podIp, paths };
}

function rulesOf(manifestRole: unknown): PolicyRule[] {
  return (manifestRole as { rules: PolicyRule[] }).rules;
}

Deno.test("RBAC: the aws-node ClusterRole allows every call src/k8s makes, and grants nothing unused", async () => {
  const manifests = await loadManifests();
  const rules = rulesOf(find(manifests, "ClusterRole", "aws-node").object);
  const optional = rulesOf(find(manifests, "ClusterRole", "aws-node-annotate-pod-ip").object);
  const { base, podIp, paths } = await exerciseEverything();
  const resourceCalls = base.filter((c) => c.path === undefined);
  assert.ok(resourceCalls.length >= 8, `${resourceCalls.length} calls`);
  for (const call of resourceCalls) {
    assert.ok(allows(rules, call), `base RBAC denies ${JSON.stringify(call)}`);
  }
  // Only /version is a non-resource URL; every authenticated identity may read it
  // (system:public-info-viewer), so no rule is needed.
  assert.deepEqual([...new Set(paths)], ["/version"]);
  const used = new Set(resourceCalls.map((c) => `${c.group}/${c.resource}/${c.verb}`));
  for (const rule of rules) {
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        for (const verb of rule.verbs) {
          assert.ok(
            used.has(`${group}/${resource}/${verb}`),
            `unused grant: ${verb} ${group}/${resource}`,
          );
        }
      }
    }
  }
  // ANNOTATE_POD_IP: the base role plus the optional one allow it, the base role alone does not.
  const patch = podIp.filter((c) => c.verb === "patch");
  assert.ok(patch.length >= 2);
  for (const call of podIp) assert.ok(allows([...rules, ...optional], call), JSON.stringify(call));
  assert.ok(patch.every((c) => !allows(rules, c)), "pods patch stays out of the base role");
});

Deno.test("RBAC: the binding gives the role to the DaemonSet's service account", async () => {
  const manifests = await loadManifests();
  for (const name of ["aws-node", "aws-node-annotate-pod-ip"]) {
    const binding = find(manifests, "ClusterRoleBinding", name).object;
    assert.deepEqual(binding.roleRef, {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name,
    });
    assert.deepEqual(binding.subjects, [{
      kind: "ServiceAccount",
      name: "aws-node",
      namespace: "kube-system",
    }]);
  }
});

interface Statement {
  Sid: string;
  Effect: "Allow" | "Deny";
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string>>;
}

async function policy(): Promise<Statement[]> {
  return JSON.parse(await Deno.readTextFile(new URL("iam/iam-policy.json", MANIFESTS))).Statement;
}

const arr = (v: string | string[]) => Array.isArray(v) ? v : [v];

/** EC2 actions of the IPv4 datapath (spec §3.9 and §7.4). */
const SPEC_ACTIONS = [
  "AssignPrivateIpAddresses",
  "AttachNetworkInterface",
  "CreateNetworkInterface",
  "CreateTags",
  "DeleteNetworkInterface",
  "DescribeInstances",
  "DescribeInstanceTypes",
  "DescribeNetworkInterfaces",
  "DescribeSecurityGroups",
  "DescribeSubnets",
  "DetachNetworkInterface",
  "ModifyNetworkInterfaceAttribute",
  "UnassignPrivateIpAddresses",
];

/** The EC2 commands the project's EC2 client sends (src/aws/*.ts), or undefined if absent. */
async function clientActions(): Promise<string[] | undefined> {
  const dir = Deno.env.get("TK8S_EC2_SRC") ?? new URL("../../src/aws/", import.meta.url).pathname;
  const actions = new Set<string>();
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.name.endsWith(".ts")) continue;
      const text = await Deno.readTextFile(`${dir}/${entry.name}`);
      if (!text.includes("@aws-sdk/client-ec2")) continue;
      for (const m of text.matchAll(/new (\w+)Command\(/g)) actions.add(m[1]!);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  return actions.size > 0 ? [...actions].sort() : undefined;
}

function check(statements: Statement[], actions: string[]): void {
  const allowed = (action: string) =>
    statements.some((s) => s.Effect === "Allow" && arr(s.Action).includes(`ec2:${action}`));
  for (const action of actions) {
    assert.ok(allowed(action), `iam-policy.json does not allow ec2:${action}`);
  }
}

Deno.test("IAM: the policy allows every EC2 action of the IPv4 datapath and nothing else", async () => {
  const statements = await policy();
  check(statements, SPEC_ACTIONS);
  const granted = new Set(
    statements.filter((s) => s.Effect === "Allow").flatMap((s) => arr(s.Action)),
  );
  assert.deepEqual([...granted].filter((a) => !SPEC_ACTIONS.includes(a.replace(/^ec2:/, ""))), []);
});

const EC2_CLIENT = await clientActions();
Deno.test({
  name: EC2_CLIENT
    ? "IAM: the policy allows every EC2 command the project's EC2 client sends"
    : "IAM: the policy allows every EC2 command the EC2 client sends (skipped: no src/aws EC2 client on this branch)",
  ignore: EC2_CLIENT === undefined,
  fn: async () => check(await policy(), EC2_CLIENT!),
});

Deno.test("IAM: only Describe* runs unconditioned; changes are scoped by cluster tag or VPC", async () => {
  for (const s of await policy()) {
    if (s.Effect !== "Allow") continue;
    const actions = arr(s.Action);
    if (arr(s.Resource).includes("*")) {
      assert.ok(
        actions.every((a) => a.startsWith("ec2:Describe")),
        `${s.Sid}: Resource "*" for ${actions}`,
      );
    } else {
      assert.ok(s.Condition && Object.keys(s.Condition).length > 0, `${s.Sid} has no condition`);
    }
  }
  const statements = await policy();
  const create = statements.find((s) => s.Sid === "CreateEnisTaggedForThisCluster")!;
  assert.equal(
    create.Condition!.StringEquals!["aws:RequestTag/cluster.k8s.amazonaws.com/name"],
    "${CLUSTER_NAME}",
  );
  const change = statements.find((s) => s.Sid === "ChangeOnlyThisClustersEnis")!;
  assert.equal(
    change.Condition!.StringEquals!["aws:ResourceTag/cluster.k8s.amazonaws.com/name"],
    "${CLUSTER_NAME}",
  );
  assert.ok(arr(change.Action).includes("ec2:DeleteNetworkInterface"));
  const denies = statements.filter((s) => s.Effect === "Deny").map((s) => s.Sid).sort();
  assert.deepEqual(denies, ["NeverRetagAnotherClustersEnis", "NeverTagForAnotherCluster"]);
});

Deno.test("IAM: placeholders are only ${CLUSTER_NAME}, ${VPC_ID} (policy) and the OIDC/account ones (trust)", async () => {
  const files = {
    "iam-policy.json": ["CLUSTER_NAME", "VPC_ID"],
    "trust-policy-irsa.json": ["AWS_ACCOUNT_ID", "OIDC_PROVIDER"],
    "trust-policy-pod-identity.json": [],
  };
  for (const [file, expected] of Object.entries(files)) {
    const text = await Deno.readTextFile(new URL(`iam/${file}`, MANIFESTS));
    JSON.parse(text);
    const found = [...new Set([...text.matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]))].sort();
    assert.deepEqual(found, expected, file);
  }
  const irsa = await Deno.readTextFile(new URL("iam/trust-policy-irsa.json", MANIFESTS));
  assert.match(irsa, /system:serviceaccount:kube-system:aws-node/);
});
