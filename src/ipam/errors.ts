/**
 * Typed errors of the datastore and the checkpoint. Callers branch on the class and its
 * fields (one table maps them to JSON-RPC and CNI codes), never on the message.
 */

import type { AttachmentKey } from "../rpc/protocol.ts";

function describeKey(key: AttachmentKey): string {
  return `network ${JSON.stringify(key.networkName)}, container ${
    JSON.stringify(key.containerId)
  }, interface ${JSON.stringify(key.ifName)}`;
}

/** No address is free and out of cooldown right now. */
export class PoolExhaustedError extends Error {
  readonly total: number;
  readonly assigned: number;
  readonly cooling: number;
  constructor(counts: { total: number; assigned: number; cooling: number }) {
    super(
      `no free IPv4 address on this node (${counts.total} in the pool, ${counts.assigned} ` +
        `assigned, ${counts.cooling} in cooldown); ipamd grows the pool when the ENI and ` +
        `subnet limits allow it: retry, or check \`ipamd status\` for why it cannot grow`,
    );
    this.name = "PoolExhaustedError";
    this.total = counts.total;
    this.assigned = counts.assigned;
    this.cooling = counts.cooling;
  }
}

/** DEL/GET of an attachment ipamd does not hold (already released, or never added). */
export class UnknownAttachmentError extends Error {
  readonly key: AttachmentKey;
  constructor(key: AttachmentKey) {
    super(`no address is assigned to ${describeKey(key)}`);
    this.name = "UnknownAttachmentError";
    this.key = key;
  }
}

export class UnknownEniError extends Error {
  readonly eniId: string;
  constructor(eniId: string) {
    super(`ENI ${eniId} is not in the datastore`);
    this.name = "UnknownEniError";
    this.eniId = eniId;
  }
}

export class UnknownCidrError extends Error {
  readonly eniId: string;
  readonly cidr: string;
  constructor(eniId: string, cidr: string) {
    super(`${cidr} is not on ENI ${eniId} in the datastore`);
    this.name = "UnknownCidrError";
    this.eniId = eniId;
    this.cidr = cidr;
  }
}

/**
 * A CIDR or ENI still holds pod addresses ("assigned") or addresses in cooldown ("cooling"),
 * so it cannot be removed without `force`.
 */
export class AddressInUseError extends Error {
  readonly eniId: string;
  readonly cidr?: string;
  readonly reason: "assigned" | "cooling";
  readonly addresses: readonly string[];
  constructor(
    options: { eniId: string; cidr?: string; reason: "assigned" | "cooling"; addresses: string[] },
  ) {
    const what = options.cidr ? `${options.cidr} on ENI ${options.eniId}` : `ENI ${options.eniId}`;
    super(
      `${what} cannot be removed: ${options.addresses.join(", ")} ${
        options.reason === "assigned" ? "held by pods" : "in cooldown after a pod released it"
      }`,
    );
    this.name = "AddressInUseError";
    this.eniId = options.eniId;
    if (options.cidr !== undefined) this.cidr = options.cidr;
    this.reason = options.reason;
    this.addresses = options.addresses;
  }
}

/** The same CIDR is already recorded on another ENI. */
export class CidrConflictError extends Error {
  readonly cidr: string;
  readonly eniId: string;
  readonly existingEniId: string;
  constructor(cidr: string, options: { eniId: string; existingEniId: string }) {
    super(
      `cannot add ${cidr} to ENI ${options.eniId}: the datastore has it on ENI ` +
        `${options.existingEniId}; remove it there first`,
    );
    this.name = "CidrConflictError";
    this.cidr = cidr;
    this.eniId = options.eniId;
    this.existingEniId = options.existingEniId;
  }
}

/** The checkpoint write behind a change failed; the change was rolled back. */
export class PersistError extends Error {
  constructor(what: string, options: { cause: unknown }) {
    super(
      `${what} was not made: the checkpoint could not be written (${
        options.cause instanceof Error ? options.cause.message : String(options.cause)
      }); check the disk holding AWS_VPC_K8S_CNI_BACKING_STORE`,
      options,
    );
    this.name = "PersistError";
  }
}

export type CheckpointProblem = "unreadable" | "corrupt" | "version" | "conflict";

const START_OVER = "To start over, move the file aside and restart every pod on this node " +
  "(ipamd may hand their addresses to new pods).";

/** The checkpoint cannot be used; ipamd must not start without deciding what to do. */
export class CheckpointError extends Error {
  readonly path: string;
  readonly problem: CheckpointProblem;
  constructor(
    path: string,
    options: { problem: CheckpointProblem; detail: string; cause?: unknown },
  ) {
    const advice = {
      unreadable: "Check the file's permissions and the disk.",
      corrupt: `Inspect the file. ${START_OVER}`,
      version:
        `It was written by an incompatible release: run that release again, or: ${START_OVER}`,
      conflict: `Find the pods that hold this address (\`ipamd pods\`). ${START_OVER}`,
    }[options.problem];
    super(`checkpoint ${path}: ${options.detail}. ${advice}`, { cause: options.cause });
    this.name = "CheckpointError";
    this.path = path;
    this.problem = options.problem;
  }
}
