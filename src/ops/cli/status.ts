/**
 * `ipamd status`: readiness, mode and pool of the running ipamd (`ipam.status` over the socket,
 * plus `/v1/pool` for the instance and the plan). `--probe` is the Kubernetes liveness and
 * readiness probe, with grpc-health-probe's exit codes.
 */
import { IpamdUnreachableError, RpcClient } from "../../rpc/client.ts";
import { RpcError, type StatusResult } from "../../rpc/protocol.ts";
import { parseArgs, parseDuration, renderHelp, UsageError } from "./args.ts";
import {
  type CommandContext,
  EXIT,
  HELP_OPTION,
  INTROSPECTION_OPTION,
  JSON_OPTION,
  print,
  printError,
  printJson,
  runCommand,
  SOCKET_OPTION,
} from "./command.ts";
import { fetchIntrospection, fetchStatus, IpamdApiError, resolveEndpoints } from "./ipamd_api.ts";
import type { PoolInfo } from "./introspection_types.ts";

const OPTIONS = {
  ...JSON_OPTION,
  probe: {
    type: "boolean",
    help: "health probe: print one line, exit 0 serving, 2 cannot connect, 3 RPC failure, " +
      "4 not ready",
  },
  "connect-timeout": {
    type: "string",
    value: "DURATION",
    help: "time to connect to the socket (default 5s with --probe, else 2s)",
  },
  "rpc-timeout": {
    type: "string",
    value: "DURATION",
    help: "time to wait for the answer (default 5s)",
  },
  ...SOCKET_OPTION,
  ...INTROSPECTION_OPTION,
  ...HELP_OPTION,
} as const;

/** grpc-health-probe's exit codes (spec §1.6). */
export const PROBE_EXIT = {
  serving: 0,
  invalidArguments: 1,
  connectionFailure: 2,
  rpcFailure: 3,
  notServing: 4,
} as const;

export function help(): string {
  return renderHelp({
    usage: "ipamd status [--json] [--probe] [--socket PATH] [--introspection ADDR]",
    summary: "Shows whether ipamd is ready, its mode, the address pool (total, assigned, " +
      "available, cooling),\nthe ENIs, ADDs waiting for addresses and why the pool cannot grow.",
    options: OPTIONS,
    sections: [
      {
        title: "Exit codes",
        body: "  0 ipamd answered (ready or not), 1 ipamd cannot be reached, 2 usage error.\n" +
          "  With --probe: 0 serving, 1 usage error, 2 cannot connect, 3 RPC failure, 4 not ready.",
      },
      {
        title: "Kubernetes probes",
        body: "  exec: {command: [/app/ipamd, status, --probe]}, timeoutSeconds: 10",
      },
    ],
  });
}

export async function main(context: CommandContext): Promise<number> {
  if (context.args.includes("--probe")) return await probeMain(context);
  return await runCommand("status", context, { options: OPTIONS, help }, async ({ options }) => {
    const endpoints = resolveEndpoints("status", options, context.env);
    const connectMs = options["connect-timeout"]
      ? parseDuration("status", "connect-timeout", options["connect-timeout"])
      : 2_000;
    const rpcMs = options["rpc-timeout"]
      ? parseDuration("status", "rpc-timeout", options["rpc-timeout"])
      : 5_000;
    const status = await fetchStatus(endpoints.socket, { connectMs, rpcMs });
    let pool: PoolInfo | undefined;
    let poolError: string | undefined;
    try {
      pool = await fetchIntrospection<PoolInfo>(endpoints, "/v1/pool", { timeoutMs: rpcMs });
    } catch (error) {
      if (!(error instanceof IpamdApiError)) throw error;
      poolError = error.message;
    }
    if (options.json) {
      printJson({
        socket: endpoints.socket,
        status,
        pool: pool ?? null,
        ...(poolError ? { poolError } : {}),
      });
    } else {
      print(renderStatus(status, pool, poolError));
    }
    return EXIT.ok;
  });
}

/** The human form: a headline, then one fact per line. */
export function renderStatus(status: StatusResult, pool?: PoolInfo, poolError?: string): string {
  const instance = pool?.instanceId
    ? ` on ${pool.instanceId}${pool.instanceType ? ` (${pool.instanceType})` : ""}`
    : "";
  const state = status.terminating
    ? "shutting down (no new addresses)"
    : status.ready
    ? "ready"
    : `not ready (${status.reason ?? "starting"})`;
  const lines = [`ipamd ${status.version}${instance}: ${state}`];
  if (status.ready) {
    const row = (label: string, value: string) => lines.push(`  ${label.padEnd(14)}${value}`);
    row("Mode", status.mode);
    row(
      "Addresses",
      `${status.totalIPs} total, ${status.assignedIPs} assigned, ${status.availableIPs} ` +
        `available, ${status.cooldownIPs} cooling`,
    );
    row("ENIs", `${status.enis} of ${status.maxENIs}`);
    if (pool?.limits) row("Max pods", String(pool.limits.maxPods));
    row("Waiting ADDs", String(status.waitingAdds ?? 0));
    const reason = status.reason ?? pool?.plan?.reason ?? "";
    row(status.canGrow ? "Pool" : "Cannot grow", reason || (status.canGrow ? "ok" : "unknown"));
  }
  if (poolError) lines.push(`  (no pool details: ${poolError})`);
  return lines.join("\n");
}

/** --probe: fast, one line, grpc-health-probe's exit codes; nothing but the socket is read. */
async function probeMain(context: CommandContext): Promise<number> {
  let socket: string;
  // Upstream's manifest gives grpc-health-probe 5 s for each (kubelet's timeout is 10 s): a
  // daemon busy loading the AWS SDK at start-up must not fail its probe.
  let connectMs = 5_000;
  let rpcMs = 5_000;
  let json = false;
  try {
    const parsed = parseArgs("status", context.args, OPTIONS);
    const o = parsed.options;
    if (o.help) {
      print(help());
      return PROBE_EXIT.serving;
    }
    socket = resolveEndpoints("status", o, context.env).socket;
    if (o["connect-timeout"]) {
      connectMs = parseDuration("status", "connect-timeout", o["connect-timeout"]);
    }
    if (o["rpc-timeout"]) rpcMs = parseDuration("status", "rpc-timeout", o["rpc-timeout"]);
    json = o.json ?? false;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    printError(error.message);
    return PROBE_EXIT.invalidArguments;
  }
  const outcome = await probe(socket, { connectMs, rpcMs });
  if (json) printJson({ socket, ...outcome });
  else if (outcome.code === PROBE_EXIT.serving) print(outcome.message);
  else printError(outcome.message);
  return outcome.code;
}

export interface ProbeOutcome {
  code: number;
  status: "SERVING" | "NOT_SERVING" | "CONNECTION_FAILURE" | "RPC_FAILURE";
  message: string;
}

export async function probe(
  socket: string,
  timeouts: { connectMs: number; rpcMs: number },
): Promise<ProbeOutcome> {
  let client: RpcClient;
  try {
    client = await RpcClient.connect(socket, { connectTimeoutMs: timeouts.connectMs });
  } catch (error) {
    if (!(error instanceof IpamdUnreachableError)) throw error;
    const timeout = error.reason === "timeout" ? { detail: `${timeouts.connectMs} ms` } : {};
    return {
      code: PROBE_EXIT.connectionFailure,
      status: "CONNECTION_FAILURE",
      message: new IpamdApiError("socket", socket, error.reason, timeout).message,
    };
  }
  try {
    const status = await client.call("ipam.status", {}, { timeoutMs: timeouts.rpcMs });
    return probeOutcome(status);
  } catch (error) {
    const detail = error instanceof RpcError
      ? `ipamd refused ipam.status: ${error.kind}: ${error.message}`
      : error instanceof Error
      ? error.message
      : String(error);
    return { code: PROBE_EXIT.rpcFailure, status: "RPC_FAILURE", message: `status: ${detail}` };
  } finally {
    client.close();
    await client.closed();
  }
}

export function probeOutcome(status: StatusResult): ProbeOutcome {
  if (status.ready && !status.terminating) {
    return { code: PROBE_EXIT.serving, status: "SERVING", message: "status: SERVING" };
  }
  const why = status.terminating ? "shutting down" : status.reason ?? "starting";
  return {
    code: PROBE_EXIT.notServing,
    status: "NOT_SERVING",
    message: `status: NOT_SERVING (ipamd is not ready: ${why})`,
  };
}
