/**
 * Typed failures of the Kubernetes integration. Callers branch on the class and its fields
 * (`status`, `reason`, `timedOut`), never on message text.
 */

/** No usable connection settings: not in a cluster, no kubeconfig, or an unreadable one. */
export class K8sConfigError extends Error {
  override name = "K8sConfigError";
}

/** The API server answered with an error status (a Kubernetes Status object, usually). */
export class K8sApiError extends Error {
  override name = "K8sApiError";
  /** HTTP status, e.g. 404. */
  readonly status: number;
  /** Status.reason, e.g. "NotFound", "Forbidden", "Conflict"; "" when the body had none. */
  readonly reason: string;
  /** What was attempted, e.g. "get node ip-10-0-1-23". */
  readonly operation: string;

  constructor(
    fields: { status: number; reason: string; operation: string; detail?: string },
    options?: ErrorOptions,
  ) {
    const why = fields.detail ? `: ${fields.detail}` : "";
    super(
      `Kubernetes API: ${fields.operation} failed with HTTP ${fields.status}` +
        `${fields.reason ? ` (${fields.reason})` : ""}${why}${hint(fields.status)}`,
      options,
    );
    this.status = fields.status;
    this.reason = fields.reason;
    this.operation = fields.operation;
  }

  /** Worth retrying: throttled, server-side trouble or a timeout reported by the server. */
  get transient(): boolean {
    return this.status === 429 || this.status >= 500 || this.status === 408;
  }
}

/** The API server could not be reached or did not answer within the deadline. */
export class K8sUnreachableError extends Error {
  override name = "K8sUnreachableError";
  readonly operation: string;
  /** True when our deadline fired; false for refused/reset connections and TLS failures. */
  readonly timedOut: boolean;

  constructor(
    fields: { operation: string; server: string; timedOut: boolean; timeoutMs?: number },
    options?: ErrorOptions,
  ) {
    const what = fields.timedOut
      ? `no answer within ${fields.timeoutMs ?? "?"} ms`
      : `could not connect${
        options?.cause instanceof Error ? ` (${causeText(options.cause)})` : ""
      }`;
    super(
      `Kubernetes API server ${fields.server}: ${fields.operation}: ${what}; check that the API ` +
        "server is reachable from the node (KUBERNETES_SERVICE_HOST/PORT, CLUSTER_ENDPOINT)",
      options,
    );
    this.operation = fields.operation;
    this.timedOut = fields.timedOut;
  }
}

/**
 * Custom networking is on but the node's ENIConfig cannot be had (upstream ErrNoENIConfig): no
 * ENI may be allocated until one exists.
 */
export class NoEniConfigError extends Error {
  override name = "NoEniConfigError";
  readonly eniConfigName: string;

  constructor(eniConfigName: string, detail: string, options?: ErrorOptions) {
    super(
      `eniconfig: ENIConfig "${eniConfigName}" is not available (${detail}); create it ` +
        `(kubectl apply -f an ENIConfig named "${eniConfigName}") or point the node at another ` +
        "one with the ENIConfig label or annotation",
      options,
    );
    this.eniConfigName = eniConfigName;
  }
}

export function isNotFound(error: unknown): boolean {
  return error instanceof K8sApiError && error.status === 404;
}

export function isConflict(error: unknown): boolean {
  return error instanceof K8sApiError && error.status === 409;
}

function hint(status: number): string {
  if (status === 401) return "; the service account token was rejected";
  if (status === 403) {
    return "; the aws-node ClusterRole lacks this permission (see manifests/rbac.yaml)";
  }
  return "";
}

function causeText(cause: Error): string {
  const code = (cause.cause as { code?: unknown } | undefined)?.code ??
    (cause as { code?: unknown }).code;
  return typeof code === "string" ? code : cause.name;
}
