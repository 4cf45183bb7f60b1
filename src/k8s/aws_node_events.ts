/**
 * The events ipamd reports, on its own aws-node pod (MY_POD_NAME in kube-system) or on its
 * Node. Each call returns at once; writes go through the de-duplicating EventRecorder.
 */
import { type Logger, silentLogger } from "../ops/log.ts";
import type { K8sClient } from "./client.ts";
import type { EventRecorder } from "./events.ts";
import type { NodeInfo } from "./node_info.ts";
import type { OverrideRejection } from "./node_overrides.ts";
import type { ObjectReference } from "./types.ts";

export const MISSING_IAM_PERMISSIONS = "MissingIAMPermissions";
export const INVALID_NODE_OVERRIDE = "InvalidNodeOverride";

export interface AwsNodeEventsOptions {
  /** MY_POD_NAME; without it pod events are only logged. */
  podName: string | undefined;
  podNamespace?: string;
  logger?: Logger;
}

export class AwsNodeEvents {
  #client: K8sClient;
  #recorder: EventRecorder;
  #podName: string | undefined;
  #podNamespace: string;
  #log: Logger;
  #podRef: Promise<ObjectReference> | undefined;
  #pending = new Set<Promise<void>>();

  constructor(client: K8sClient, recorder: EventRecorder, options: AwsNodeEventsOptions) {
    this.#client = client;
    this.#recorder = recorder;
    this.#podName = options.podName;
    this.#podNamespace = options.podNamespace ?? "kube-system";
    this.#log = options.logger ?? silentLogger;
  }

  /**
   * An EC2 call failed with UnauthorizedOperation: a Warning `MissingIAMPermissions` on the
   * aws-node pod, action `ec2:<Action>`. `ec2Action` is "CreateNetworkInterface" or
   * "ec2:CreateNetworkInterface".
   */
  missingIamPermissions(ec2Action: string): void {
    const action = ec2Action.startsWith("ec2:") ? ec2Action : `ec2:${ec2Action}`;
    const note = `Unauthorized operation: failed to call ${action} due to missing permissions. ` +
      "Attach the policy in manifests/iam/iam-policy.json (or AmazonEKS_CNI_Policy) to the IAM " +
      "role of the aws-node service account or of the node.";
    this.#log.warn("EC2 call not authorized; check the IAM policy", { action });
    if (!this.#podName) return;
    this.#run(async () => {
      this.#recorder.record({
        regarding: await this.#pod(),
        type: "Warning",
        reason: MISSING_IAM_PERMISSIONS,
        action,
        note,
      });
    });
  }

  /** An invalid per-node override annotation: a Warning on the Node; the env value is kept. */
  invalidNodeOverride(node: NodeInfo, rejection: OverrideRejection): void {
    this.#log.warn("ignoring an invalid node override annotation", {
      annotation: rejection.annotation,
      value: rejection.value,
      reason: rejection.reason,
    });
    this.#recorder.record({
      regarding: { apiVersion: "v1", kind: "Node", name: node.name, uid: node.uid || undefined },
      type: "Warning",
      reason: INVALID_NODE_OVERRIDE,
      action: "ApplyWarmPoolOverride",
      note: rejection.reason,
    });
  }

  /** Waits until every event started so far is written (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
    await this.#recorder.flush();
  }

  /**
   * The pod reference with its uid (kubectl describe matches events by uid). One GET shared by
   * concurrent callers and kept once it has the uid; retried on the next event after a failure.
   */
  #pod(): Promise<ObjectReference> {
    this.#podRef ??= (async () => {
      const ref: ObjectReference = {
        apiVersion: "v1",
        kind: "Pod",
        namespace: this.#podNamespace,
        name: this.#podName!,
      };
      try {
        const pod = await this.#client.getPod(this.#podNamespace, this.#podName!);
        return { ...ref, uid: pod.metadata.uid };
      } catch (error) {
        this.#log.debug("could not read the aws-node pod for its uid", { error });
        this.#podRef = undefined;
        return ref;
      }
    })();
    return this.#podRef;
  }

  #run(fn: () => Promise<void>): void {
    const promise = fn().catch((error) => this.#log.warn("event not recorded", { error }));
    this.#pending.add(promise);
    promise.then(() => this.#pending.delete(promise));
  }
}
