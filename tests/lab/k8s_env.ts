/**
 * Test harness around the Kubernetes API stub: a stub, a temporary directory with its
 * kubeconfig, an ipamd K8sClient built from that kubeconfig (the real @kubernetes/client-node
 * underneath), and the real `kubectl` pointed at the same stub.
 */
import { createK8sClient, type K8sClient, type K8sClientOptions } from "../../src/k8s/client.ts";
import { type JsonObject, K8sStub, type K8sStubOptions } from "./k8s_stub.ts";

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface K8sEnv {
  stub: K8sStub;
  client: K8sClient;
  dir: string;
  kubeconfig: string;
  /** Runs the real kubectl against the stub (30 s deadline); never throws on a non-zero exit. */
  kubectl(...args: string[]): Promise<KubectlResult>;
}

export const NODE_NAME = "ip-10-0-1-23.us-west-2.compute.internal";

export async function withK8sEnv(
  fn: (env: K8sEnv) => Promise<void>,
  options: { stub?: K8sStubOptions; client?: K8sClientOptions } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tk8s-" });
  // TLS like a real API server: @kubernetes/client-node refuses plain http.
  const stub = await K8sStub.start({ tls: true, ...options.stub });
  try {
    const kubeconfig = await stub.writeKubeconfig(dir);
    const client = await createK8sClient({ source: "kubeconfig", kubeconfigPath: kubeconfig }, {
      timeoutMs: 3000,
      ...options.client,
    });
    await fn({
      stub,
      client,
      dir,
      kubeconfig,
      kubectl: (...args) => kubectl(kubeconfig, dir, args),
    });
  } finally {
    await stub.close();
    await Deno.remove(dir, { recursive: true });
  }
}

export async function kubectl(
  kubeconfig: string,
  dir: string,
  args: string[],
): Promise<KubectlResult> {
  const command = new Deno.Command("kubectl", {
    args: [
      `--kubeconfig=${kubeconfig}`,
      `--cache-dir=${dir}/kubectl-cache`,
      "--request-timeout=20s",
      ...args,
    ],
    env: { HOME: dir, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  });
  const out = await command.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

export function nodeObject(
  name: string,
  fields: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    taints?: { key: string; value?: string; effect: string }[];
    pods?: string;
  } = {},
): JsonObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, labels: fields.labels ?? {}, annotations: fields.annotations ?? {} },
    spec: {
      providerID: "aws:///us-west-2a/i-0123456789abcdef0",
      ...(fields.taints ? { taints: fields.taints } : {}),
    },
    status: { capacity: { pods: fields.pods ?? "29", cpu: "2", memory: "8Gi" } },
  };
}

export function podObject(namespace: string, name: string, nodeName = NODE_NAME): JsonObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels: { "k8s-app": "aws-node" } },
    spec: { nodeName, containers: [{ name: "aws-node", image: "vpc-cni-deno:0.1.0" }] },
  };
}

/** A loopback port nothing listens on (for "API server down"; a later stub may take it). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Polls `check` until it returns a value other than undefined (or fails after `ms`). */
export async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  ms = 5000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Reads manifests/eniconfig-crd.yaml into the stub (as a cluster that has the CRD already). */
export async function installEniConfigCrd(env: K8sEnv): Promise<void> {
  const crd = new URL("../../manifests/eniconfig-crd.yaml", import.meta.url).pathname;
  const result = await env.kubectl("apply", "-f", crd);
  if (result.code !== 0) throw new Error(`kubectl apply of the CRD failed: ${result.stderr}`);
}
