// manifests/: every document parses, the fields that matter are consistent, and the real
// kubectl's `apply --dry-run=server` is accepted by the API stub (which validates like a server).
import assert from "node:assert/strict";
import { VERSION } from "../../src/version.ts";
import type { JsonObject } from "../lab/k8s_stub_patch.ts";
import { find, loadManifests, type Manifest, MANIFESTS } from "../lab/manifests.ts";
import { withK8sEnv } from "../lab/k8s_env.ts";

const KINDS: Record<string, string[]> = {
  v1: ["ServiceAccount", "ConfigMap", "Namespace"],
  "apps/v1": ["DaemonSet"],
  "rbac.authorization.k8s.io/v1": ["ClusterRole", "ClusterRoleBinding"],
  "apiextensions.k8s.io/v1": ["CustomResourceDefinition"],
  "crd.k8s.amazonaws.com/v1alpha1": ["ENIConfig"],
};
const NAMESPACED = new Set(["ServiceAccount", "ConfigMap", "DaemonSet"]);

type O = JsonObject;
const o = (value: unknown) => (value ?? {}) as O;
const list = (value: unknown) => (value ?? []) as O[];

function daemonSet(manifests: Manifest[]) {
  const ds = find(manifests, "DaemonSet", "aws-node").object;
  const pod = o(o(o(ds.spec).template).spec);
  const containers = [...list(pod.initContainers), ...list(pod.containers)];
  return { ds, pod, containers, main: list(pod.containers).find((c) => c.name === "aws-node")! };
}

Deno.test("every manifest document parses and has a known apiVersion/kind and a name", async () => {
  const manifests = await loadManifests();
  assert.ok(manifests.length >= 7, `${manifests.length} documents`);
  for (const { file, object } of manifests) {
    const kinds = KINDS[String(object.apiVersion)];
    assert.ok(kinds?.includes(String(object.kind)), `${file}: ${object.apiVersion} ${object.kind}`);
    const meta = o(object.metadata);
    assert.ok(typeof meta.name === "string" && meta.name, `${file}: metadata.name`);
    if (NAMESPACED.has(String(object.kind))) assert.equal(meta.namespace, "kube-system", `${file}`);
    else assert.equal(meta.namespace, undefined, `${file}: ${object.kind} is cluster-scoped`);
  }
});

Deno.test("the DaemonSet: volumes and mounts match, host paths and probes as documented", async () => {
  const { ds, pod, containers, main } = daemonSet(await loadManifests());
  const volumes = new Map(list(pod.volumes).map((v) => [String(v.name), o(v.hostPath)]));
  for (const container of containers) {
    for (const mount of list(container.volumeMounts)) {
      assert.ok(
        volumes.has(String(mount.name)),
        `${container.name} mounts unknown volume ${mount.name}`,
      );
    }
  }
  const used = new Set(containers.flatMap((c) => list(c.volumeMounts).map((m) => String(m.name))));
  assert.deepEqual([...volumes.keys()].filter((v) => !used.has(v)), [], "no unused volume");
  const mounts = Object.fromEntries(
    list(main.volumeMounts).map((m) => [m.mountPath, volumes.get(String(m.name))?.path]),
  );
  assert.deepEqual(mounts, {
    "/host/opt/cni/bin": "/opt/cni/bin",
    "/host/etc/cni/net.d": "/etc/cni/net.d",
    "/host/var/log/aws-routed-eni": "/var/log/aws-routed-eni",
    "/var/run/aws-node": "/var/run/aws-node",
    "/run/xtables.lock": "/run/xtables.lock",
  });
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.priorityClassName, "system-node-critical");
  assert.equal(pod.serviceAccountName, "aws-node");
  assert.deepEqual(pod.tolerations, [{ operator: "Exists" }]);
  assert.deepEqual(o(o(ds.spec).updateStrategy), {
    type: "RollingUpdate",
    rollingUpdate: { maxUnavailable: "10%" },
  });
  assert.deepEqual(o(o(main.securityContext).capabilities).add, ["NET_ADMIN", "NET_RAW"]);
  for (const probe of ["livenessProbe", "readinessProbe"]) {
    assert.deepEqual(o(o(main[probe]).exec).command, ["/app/ipamd", "status", "--probe"], probe);
  }
  const [init] = list(pod.initContainers);
  assert.deepEqual(init!.command, ["/app/ipamd", "init", "--plugins-dir", "/app/plugins"]);
  assert.equal(o(init!.securityContext).privileged, true, "the init container writes node sysctls");
  for (const container of containers) assert.equal(container.image, `vpc-cni-deno:${VERSION}`);
});

Deno.test("the DaemonSet env: upstream defaults, string values, no duplicates, downward API names", async () => {
  const { main } = daemonSet(await loadManifests());
  const env = list(main.env);
  const names = env.map((e) => String(e.name));
  assert.equal(new Set(names).size, names.length, "duplicate env names");
  const values = Object.fromEntries(env.filter((e) => "value" in e).map((e) => [e.name, e.value]));
  for (const [name, value] of Object.entries(values)) assert.equal(typeof value, "string", name);
  assert.equal(values.WARM_ENI_TARGET, "1");
  assert.equal(values.WARM_PREFIX_TARGET, "1");
  assert.equal(values.ENABLE_IPv4, "true");
  assert.equal(values.ENABLE_IPv6, "false");
  assert.equal(values.AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG, "false");
  assert.equal(values.AWS_VPC_K8S_CNI_RANDOMIZESNAT, "prng");
  assert.equal(values.VPC_CNI_VERSION, VERSION);
  const field = (name: string) =>
    o(o(env.find((e) => e.name === name)?.valueFrom).fieldRef).fieldPath;
  assert.equal(field("MY_NODE_NAME"), "spec.nodeName");
  assert.equal(field("MY_POD_NAME"), "metadata.name");
});

Deno.test("the ENIConfig CRD matches upstream's group, scope, names and required subnet", async () => {
  const crd =
    find(await loadManifests(), "CustomResourceDefinition", "eniconfigs.crd.k8s.amazonaws.com")
      .object;
  const spec = o(crd.spec);
  assert.equal(spec.group, "crd.k8s.amazonaws.com");
  assert.equal(spec.scope, "Cluster");
  assert.deepEqual(o(spec.names).kind, "ENIConfig");
  const [version] = list(spec.versions);
  assert.equal(version!.name, "v1alpha1");
  const schema = o(o(version!.schema).openAPIV3Schema);
  assert.deepEqual(o(o(schema.properties).spec).required, ["subnet"]);
});

Deno.test("kubectl apply --dry-run=server -f manifests/ is accepted and stores nothing", async () => {
  await withK8sEnv(async ({ stub, kubectl }) => {
    const result = await kubectl("apply", "--dry-run=server", "-f", MANIFESTS.pathname);
    assert.equal(result.code, 0, result.stderr);
    for (
      const what of [
        "daemonset.apps/aws-node",
        "customresourcedefinition.apiextensions.k8s.io/eniconfigs.crd.k8s.amazonaws.com",
        "serviceaccount/aws-node",
        "clusterrole.rbac.authorization.k8s.io/aws-node",
        "clusterrolebinding.rbac.authorization.k8s.io/aws-node",
      ]
    ) {
      assert.match(
        result.stdout,
        new RegExp(`${what.replaceAll(".", "\\.")} created \\(server dry run\\)`),
      );
    }
    const writes = stub.requests.filter((r) => r.method !== "GET");
    assert.ok(
      writes.length >= 5 && writes.every((r) => r.query.dryRun === "All"),
      "all writes were dry runs",
    );
    assert.equal(stub.list("apps/v1", "DaemonSet", "kube-system").length, 0);
    assert.equal(stub.list("rbac.authorization.k8s.io/v1", "ClusterRole").length, 0);
  });
});

Deno.test("the example ENIConfigs need the CRD first, then apply; the optional RBAC applies", async () => {
  await withK8sEnv(async ({ kubectl }) => {
    const examples = new URL("examples/", MANIFESTS).pathname;
    const before = await kubectl("apply", "--dry-run=server", "-f", examples);
    assert.notEqual(before.code, 0, "no ENIConfig kind before the CRD exists");
    const base = await kubectl("apply", "-f", MANIFESTS.pathname);
    assert.equal(base.code, 0, base.stderr);
    const after = await kubectl("apply", "--dry-run=server", "-f", examples);
    assert.equal(after.code, 0, after.stderr);
    const optional = await kubectl(
      "apply",
      "--dry-run=server",
      "-f",
      new URL("optional/", MANIFESTS).pathname,
    );
    assert.equal(optional.code, 0, optional.stderr);
    const again = await kubectl("apply", "--dry-run=server", "-f", MANIFESTS.pathname);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /daemonset\.apps\/aws-node unchanged \(server dry run\)/);
  });
});

Deno.test("server dry run has teeth: a DaemonSet mounting a missing volume is refused", async () => {
  await withK8sEnv(async ({ dir, kubectl }) => {
    const text = await Deno.readTextFile(new URL("aws-node.yaml", MANIFESTS));
    const broken = text.replace(
      "- name: xtables-lock\n          hostPath:",
      "- name: xtables-lock-renamed\n          hostPath:",
    );
    assert.notEqual(broken, text);
    await Deno.writeTextFile(`${dir}/broken.yaml`, broken);
    const result = await kubectl("apply", "--dry-run=server", "-f", `${dir}/broken.yaml`);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /volumeMounts\[4\]\.name: Not found: "xtables-lock"/);
  });
});
