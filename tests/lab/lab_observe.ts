/**
 * What a lab test looks at while ipamd runs in a node of `ipamd sim`: what EC2 (the simulator)
 * holds for the node, ipamd's introspection and log, and polling helpers with bounds.
 */
import assert from "node:assert/strict";
import { run } from "./command.ts";
import { introspect, INTROSPECTION_ADDRESS } from "./introspection.ts";
import { type Netns, nsArgv } from "./namespaces.ts";
import type { LabNode, Sim } from "./sim.ts";

export interface SimEni {
  networkInterfaceId: string;
  subnetId: string;
  secondaryIps: string[];
  securityGroupIds: string[];
  attachment?: { instanceId: string; deviceIndex: number };
}

/** The parts of /v1/pool read here (tests/lab/introspection.ts has the generic shape). */
export interface PoolState {
  limits: { maxPods: number };
  settings: { warmIpTarget: number; maxPods: number; maxEnis: number };
  counts: { total: number; enis: number };
  plan: { blocked?: { code: string; message: string }; reason: string };
}

/** The ENIs EC2 (the simulator) has attached to this node's instance. */
export async function enisOf(sim: Sim, node: LabNode): Promise<SimEni[]> {
  const state = await sim.control.state();
  return (state.networkInterfaces as unknown as SimEni[])
    .filter((e) => e.attachment?.instanceId === node.info.instanceId)
    .sort((a, b) => a.attachment!.deviceIndex - b.attachment!.deviceIndex);
}

/** Secondary IPs EC2 has given this node's ENIs. */
export async function secondaryIps(sim: Sim, node: LabNode): Promise<number> {
  return (await enisOf(sim, node)).reduce((n, e) => n + e.secondaryIps.length, 0);
}

/** ipamd's /v1/pool (limits, settings in force, counts, the last plan). */
export function poolOf(node: LabNode): Promise<PoolState> {
  return introspect<PoolState>(node.netns, "/v1/pool");
}

/** Polls until `check` returns true; returns the milliseconds since `since` (default: now). */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  options: { ms?: number; every?: number; since?: number } = {},
): Promise<number> {
  const started = options.since ?? performance.now();
  const deadline = started + (options.ms ?? 15_000);
  for (;;) {
    if (await check()) return Math.round(performance.now() - started);
    if (performance.now() > deadline) {
      throw new Error(`${what}: not within ${options.ms ?? 15_000} ms`);
    }
    await new Promise((r) => setTimeout(r, options.every ?? 200));
  }
}

/** Checks that `check` stays true for `ms` (sampled). */
export async function holds(
  what: string,
  check: () => Promise<boolean>,
  ms: number,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    assert.ok(await check(), `${what}: stopped holding`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** ipamd's own log (AWS_VPC_K8S_CNI_LOG_FILE in the node's state dir), parsed. */
export async function ipamdLog(node: LabNode): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(`${node.info.stateDir}/ipamd.log`);
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/**
 * GET of ipamd's introspection endpoint inside the node, also when it answers an error (such
 * as /v1/eni-configs' 404): the status and the body, parsed when it is JSON.
 */
export async function introspectStatus(
  netns: Netns,
  path: `/v1/${string}`,
): Promise<{ status: number; body: unknown }> {
  const out = await run(
    nsArgv(netns, [
      "curl",
      "-sS",
      "--max-time",
      "5",
      "-w",
      "\n%{http_code}",
      `http://${INTROSPECTION_ADDRESS}${path}`,
    ]),
    { timeoutMs: 10_000 },
  );
  const cut = out.stdout.lastIndexOf("\n");
  const text = out.stdout.slice(0, cut);
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (a 404 text body)
  }
  return { status: Number(out.stdout.slice(cut + 1)), body };
}
