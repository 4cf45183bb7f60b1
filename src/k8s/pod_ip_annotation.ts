/**
 * ANNOTATE_POD_IP (spec §7.3): ipamd writes the pod's IP into the annotation
 * `vpc.amazonaws.com/pod-ips` on ADD (so controllers see it before the kubelet reports it) and
 * clears it on DEL when it still names the released IP. Needs the `pods patch` permission,
 * which the base RBAC does not grant: manifests/optional/rbac-annotate-pod-ip.yaml adds it.
 */
import type { K8sClient } from "./client.ts";
import { isConflict, isNotFound } from "./errors.ts";

export const POD_IPS_ANNOTATION = "vpc.amazonaws.com/pod-ips";
const ATTEMPTS = 3;

export interface PodRef {
  namespace: string;
  name: string;
}

/** The annotation names another IP than the one released: it is left alone. */
export class PodIpMismatchError extends Error {
  override name = "PodIpMismatchError";
  constructor(readonly pod: PodRef, readonly released: string, readonly annotated: string) {
    super(
      `released IP ${released} does not match the ${POD_IPS_ANNOTATION} annotation ` +
        `"${annotated}" of pod ${pod.namespace}/${pod.name}; not patching the pod`,
    );
  }
}

/** ADD: sets the annotation to `ip` (idempotent). */
export async function annotatePodIp(client: K8sClient, pod: PodRef, ip: string): Promise<void> {
  await withConflictRetry(() =>
    client.patchPod(pod.namespace, pod.name, {
      metadata: { annotations: { [POD_IPS_ANNOTATION]: ip } },
    })
  );
}

/**
 * DEL: sets the annotation to "" if it still equals `ip`. A pod that is already gone is fine;
 * a different IP throws PodIpMismatchError. The patch carries the pod's resourceVersion, so a
 * concurrent change is retried against the new version instead of overwritten.
 */
export async function releasePodIpAnnotation(
  client: K8sClient,
  pod: PodRef,
  ip: string,
): Promise<void> {
  await withConflictRetry(async () => {
    let current;
    try {
      current = await client.getPod(pod.namespace, pod.name);
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    const annotated = current.metadata.annotations?.[POD_IPS_ANNOTATION];
    if (annotated === undefined || annotated === "") return;
    if (annotated !== ip) throw new PodIpMismatchError(pod, ip, annotated);
    try {
      await client.patchPod(pod.namespace, pod.name, {
        metadata: {
          resourceVersion: current.metadata.resourceVersion,
          annotations: { [POD_IPS_ANNOTATION]: "" },
        },
      });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  });
}

async function withConflictRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!isConflict(error) || attempt >= ATTEMPTS) throw error;
    }
  }
}
