/**
 * Where the API server is and how to authenticate, from the environment ipamd was given:
 * `KUBECONFIG` first, then the in-cluster service account (KUBERNETES_SERVICE_HOST/PORT, token
 * and CA under /var/run/secrets/kubernetes.io/serviceaccount), as controller-runtime does
 * (without its ~/.kube/config fallback: a node daemon must not pick up a person's cluster).
 * `CLUSTER_ENDPOINT` replaces the server URL either way (upstream semantics).
 *
 * The caller passes the variables (src/config.ts is the only reader of Deno.env).
 */
import { K8sConfigError } from "./errors.ts";

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface ConnectionEnv {
  KUBECONFIG?: string;
  KUBERNETES_SERVICE_HOST?: string;
  KUBERNETES_SERVICE_PORT?: string;
  CLUSTER_ENDPOINT?: string;
}

export type K8sConnection =
  | {
    source: "kubeconfig";
    kubeconfigPath: string;
    /** CLUSTER_ENDPOINT, when set; otherwise the kubeconfig's current cluster is used. */
    serverOverride?: string;
  }
  | {
    source: "in-cluster";
    server: string;
    tokenFile: string;
    caFile: string;
  };

export interface ResolveOptions {
  /** Where the service account token and CA are mounted (tests point it elsewhere). */
  serviceAccountDir?: string;
}

/**
 * Resolves the connection, or returns undefined when nothing points at a cluster (ipamd then
 * runs without the API server when its features allow). Throws K8sConfigError when settings
 * exist but are broken (unreadable kubeconfig, missing token, invalid CLUSTER_ENDPOINT).
 */
export function resolveConnection(
  env: ConnectionEnv,
  options: ResolveOptions = {},
): K8sConnection | undefined {
  const override = env.CLUSTER_ENDPOINT ? parseEndpoint(env.CLUSTER_ENDPOINT) : undefined;
  if (env.KUBECONFIG) {
    const paths = env.KUBECONFIG.split(":").filter(Boolean);
    const path = paths.find(isFile);
    if (!path) {
      throw new K8sConfigError(
        `KUBECONFIG=${env.KUBECONFIG}: no readable kubeconfig file there; fix the path or unset ` +
          "KUBECONFIG to use the in-cluster service account",
      );
    }
    return { source: "kubeconfig", kubeconfigPath: path, serverOverride: override };
  }
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return undefined;
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const tokenFile = `${dir}/token`;
  const caFile = `${dir}/ca.crt`;
  for (const file of [tokenFile, caFile]) {
    if (!isFile(file)) {
      throw new K8sConfigError(
        `in-cluster configuration: ${file} is missing; the aws-node pod needs its service ` +
          "account token mounted (automountServiceAccountToken must not be false)",
      );
    }
  }
  const hostPart = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return {
    source: "in-cluster",
    server: override ?? `https://${hostPart}:${port}`,
    tokenFile,
    caFile,
  };
}

/**
 * CLUSTER_ENDPOINT: an https:// URL or a bare host[:port] (meaning https). Plain http is
 * refused here because @kubernetes/client-node refuses it on every request anyway.
 */
export function parseEndpoint(value: string): string {
  const text = value.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw invalidEndpoint(value);
  }
  if (url.protocol !== "https:" || !url.hostname) throw invalidEndpoint(value);
  return withScheme.replace(/\/+$/, "");
}

function invalidEndpoint(value: string): K8sConfigError {
  return new K8sConfigError(
    `CLUSTER_ENDPOINT=${JSON.stringify(value)} is not a valid API server address; use an https ` +
      "URL such as https://ABCD.gr7.us-west-2.eks.amazonaws.com or a host[:port]",
  );
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
