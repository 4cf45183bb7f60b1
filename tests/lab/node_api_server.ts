/**
 * A Kubernetes API server (the wire-level stub, HTTPS) for one lab node: it listens on the node
 * namespace's loopback, so the ipamd running in that node reaches it at 127.0.0.1 and nothing
 * outside the lab can, and the real kubectl talks to it from inside the namespace. The test
 * reads and seeds objects in the stub directly.
 *
 *   const api = await startNodeApiServer(node, { scope, pods: "8" });
 *   const ipamd = await startIpamd(node, { env: { ...api.env, WARM_IP_TARGET: "20" } });
 *   await api.kubectl("annotate", "node", api.nodeName, "vpc-cni-deno.dev/warm-ip-target=6");
 */
import { withNetns } from "../../ffi/mod.ts";
import { run } from "./command.ts";
import type { KubectlResult } from "./k8s_env.ts";
import { nodeObject, podObject } from "./k8s_env.ts";
import { type JsonObject, K8sStub } from "./k8s_stub.ts";
import type { Netns } from "./namespaces.ts";
import { nsArgv } from "./namespaces.ts";
import type { TestScope } from "./scope.ts";
import { SYSTEM_PATH } from "./paths.ts";

export interface NodeApiServer {
  stub: K8sStub;
  nodeName: string;
  /** The aws-node pod (kube-system) ipamd reports events on. */
  podName: string;
  kubeconfig: string;
  /** For ipamd: KUBECONFIG, MY_NODE_NAME, MY_POD_NAME. */
  env: Record<string, string>;
  /** The real kubectl, run inside the node's namespace (30 s deadline; never throws on exit). */
  kubectl(...args: string[]): Promise<KubectlResult>;
  /** `kubectl apply -f` of these objects (written to files). */
  apply(...objects: JsonObject[]): Promise<KubectlResult>;
  /** events.k8s.io/v1 Events with this reason, in every namespace. */
  events(reason: string): JsonObject[];
  /** Stops serving (idempotent; the scope calls it too). */
  close(): Promise<void>;
}

export interface NodeApiServerOptions {
  scope: TestScope;
  /** The Node's status.capacity.pods (default "110"). */
  pods?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Stored before ipamd starts (after the Node and the aws-node pod). */
  objects?: JsonObject[];
  /** Port on the node's loopback (default: any free one). */
  port?: number;
}

export async function startNodeApiServer(
  node: { netns: Netns; info: { name: string } },
  options: NodeApiServerOptions,
): Promise<NodeApiServer> {
  const { scope } = options;
  const dir = await scope.tempDir("kube");
  const nodeName = node.info.name;
  const podName = `aws-node-${node.netns.name.split("-").at(-1)}`;
  // The bind is synchronous, so the socket is made in the node's namespace; serving goes on
  // after the thread switched back.
  const stub = await K8sStub.start({
    tls: true,
    ...(options.port ? { port: options.port } : {}),
    bindWith: (bind) => withNetns(node.netns.path, bind),
    objects: [
      nodeObject(nodeName, {
        pods: options.pods ?? "110",
        labels: options.labels ?? {},
        annotations: options.annotations ?? {},
      }),
      podObject("kube-system", podName, nodeName),
      ...options.objects ?? [],
    ],
  });
  let closed: Promise<void> | undefined;
  const close = () => closed ??= stub.close();
  scope.defer(`stop the API stub of ${node.netns.name}`, close);
  const kubeconfig = await stub.writeKubeconfig(dir);
  const kubectl = async (args: string[]): Promise<KubectlResult> => {
    const argv = nsArgv(node.netns, [
      "kubectl",
      `--kubeconfig=${kubeconfig}`,
      `--cache-dir=${dir}/kubectl-cache`,
      "--request-timeout=20s",
      ...args,
    ]);
    const out = await run(argv, {
      env: { HOME: dir, PATH: SYSTEM_PATH },
      clearEnv: true,
      timeoutMs: 30_000,
      allowFailure: true,
    });
    return { code: out.code, stdout: out.stdout, stderr: out.stderr };
  };
  return {
    stub,
    nodeName,
    podName,
    kubeconfig,
    env: { KUBECONFIG: kubeconfig, MY_NODE_NAME: nodeName, MY_POD_NAME: podName },
    kubectl: (...args) => kubectl(args),
    apply: async (...objects) => {
      const files = await Deno.makeTempDir({ dir, prefix: "apply-" });
      for (const [i, object] of objects.entries()) {
        await Deno.writeTextFile(`${files}/${i}.json`, JSON.stringify(object));
      }
      return await kubectl(["apply", "-f", files]);
    },
    close,
    events: (reason) => stub.list("events.k8s.io/v1", "Event").filter((e) => e.reason === reason),
  };
}
