/**
 * The simulator's control API (JSON under /_sim): inspect the VPC model, read and reset call
 * counters, change latency/throttling/faults/IMDS lag at run time, add subnets, take addresses
 * out of a subnet (full or fragmented), add instances.
 */
import { Ec2ApiError } from "./ec2_error.ts";
import type { Counters } from "./counters.ts";
import {
  type BucketSpec,
  FAULT_KINDS,
  type FaultConfig,
  type FaultRule,
  type Faults,
  REALISTIC_LATENCY_MS,
} from "./faults.ts";
import type { ImdsRequestRecord } from "./imds_server.ts";
import { eniStatus, type Vpc } from "./vpc.ts";

export interface ControlContext {
  vpc: Vpc;
  faults: Faults;
  counters: Counters;
  /** IMDS requests, oldest first (GET /imds/requests). */
  imdsRequests?: () => readonly ImdsRequestRecord[];
  /** Launches an instance and its lab node; returns the node's entry of the ready line. */
  addInstance(req: { instanceType?: string; subnetId?: string }): unknown;
}

export class ControlError extends Error {
  override name = "ControlError";
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

export function controlHandler(
  ctx: ControlContext,
): (req: Request, path: string) => Promise<Response> {
  return async (req, path) => {
    try {
      const route = `${req.method} ${path.replace(/\/+$/, "") || "/"}`;
      switch (route) {
        case "GET /state":
          return json(stateOf(ctx.vpc));
        case "GET /counters":
          return json(ctx.counters.snapshot());
        case "POST /counters/reset":
          ctx.counters.reset();
          return json(ctx.counters.snapshot());
        case "GET /imds/requests":
          return json({ requests: ctx.imdsRequests?.() ?? [] });
        case "GET /faults":
          return json(ctx.faults.config);
        case "POST /faults": {
          const next = mergeFaults(ctx.faults.config, await body(req));
          ctx.faults.configure(next);
          return json(next);
        }
        case "POST /subnets": {
          const b = await body(req);
          const subnet = ctx.vpc.addSubnet({
            cidr: str(b.cidr, "cidr"),
            az: b.az === undefined ? undefined : str(b.az, "az"),
            tags: b.tags === undefined ? undefined : strRecord(b.tags, "tags"),
          });
          return json(subnetState(subnet), 201);
        }
        case "POST /security-groups": {
          const b = await body(req);
          const name = str(b.name, "name");
          const sg = ctx.vpc.addSecurityGroup({
            name,
            description: b.description === undefined ? name : str(b.description, "description"),
          });
          return json({ groupId: sg.id, groupName: sg.name, vpcId: sg.vpcId }, 201);
        }
        case "POST /reserve":
          return json(reserve(ctx.vpc, await body(req)));
        case "POST /instances": {
          const b = await body(req);
          return json(
            await ctx.addInstance({
              instanceType: b.instanceType === undefined
                ? undefined
                : str(b.instanceType, "instanceType"),
              subnetId: b.subnetId === undefined ? undefined : str(b.subnetId, "subnetId"),
            }),
            201,
          );
        }
        default:
          return json({
            error: {
              code: "NotFound",
              message: `no control route ${route}; see 'ipamd sim --help'`,
            },
          }, 404);
      }
    } catch (e) {
      if (e instanceof Ec2ApiError) {
        return json({ error: { code: e.code, message: e.message } }, e.status);
      }
      if (e instanceof ControlError) {
        return json({ error: { code: "BadRequest", message: e.message } }, e.status);
      }
      if (e instanceof RangeError) {
        return json({ error: { code: "BadRequest", message: e.message } }, 400);
      }
      return json({ error: { code: "InternalError", message: String(e) } }, 500);
    }
  };
}

export function stateOf(vpc: Vpc): unknown {
  return {
    vpc: {
      vpcId: vpc.id,
      cidr: vpc.cidr,
      region: vpc.region,
      availabilityZone: vpc.az,
      accountId: vpc.accountId,
    },
    subnets: [...vpc.subnets.values()].map(subnetState),
    securityGroups: [...vpc.securityGroups.values()].map((g) => ({
      groupId: g.id,
      groupName: g.name,
      tags: Object.fromEntries(g.tags),
    })),
    instances: [...vpc.instances.values()].map((i) => ({
      instanceId: i.id,
      instanceType: i.type.name,
      node: i.nodeKey,
      privateIp: i.privateIp,
      privateDnsName: i.privateDnsName,
      subnetId: i.subnetId,
      primaryEniId: i.primaryEniId,
      limits: {
        maxEnis: i.type.maxEnis,
        ipv4PerEni: i.type.ipv4PerEni,
        hypervisor: i.type.hypervisor,
      },
      tags: Object.fromEntries(i.tags),
    })),
    networkInterfaces: [...vpc.enis.values()].map((e) => ({
      networkInterfaceId: e.id,
      subnetId: e.subnetId,
      status: eniStatus(e),
      description: e.description,
      macAddress: e.mac,
      primaryIp: e.primaryIp,
      secondaryIps: e.secondaryIps,
      ipv4Prefixes: e.prefixes,
      securityGroupIds: e.groupIds,
      attachment: e.attachment && {
        attachmentId: e.attachment.id,
        instanceId: e.attachment.instanceId,
        deviceIndex: e.attachment.deviceIndex,
        networkCardIndex: e.attachment.networkCardIndex,
        labDevice: `eth${e.attachment.labDevice}`,
        deleteOnTermination: e.attachment.deleteOnTermination,
      },
      tags: Object.fromEntries(e.tags),
    })),
  };
}

function subnetState(s: Vpc["subnets"] extends Map<string, infer S> ? S : never) {
  return {
    subnetId: s.id,
    cidr: s.cidr,
    gateway: s.allocator.gateway,
    availabilityZone: s.az,
    availableIpAddressCount: s.allocator.available,
    freePrefixes: s.allocator.freePrefixes,
    tags: Object.fromEntries(s.tags),
  };
}

/** POST /reserve {subnetId, count?, cidrs?, fragment?, release?} */
function reserve(vpc: Vpc, b: Record<string, unknown>): unknown {
  const subnet = vpc.subnet(str(b.subnetId, "subnetId"));
  let held = 0;
  if (b.count !== undefined) held += subnet.allocator.holdRandom(int(b.count, "count"));
  for (const cidr of b.cidrs === undefined ? [] : strList(b.cidrs, "cidrs")) {
    held += subnet.allocator.hold(cidr);
  }
  if (b.fragment === true) held += subnet.allocator.fragment();
  let released = 0;
  for (const cidr of b.release === undefined ? [] : strList(b.release, "release")) {
    released += subnet.allocator.unhold(cidr);
  }
  return { held, released, ...subnetState(subnet) };
}

/**
 * Merges a partial fault configuration:
 * {latency?: "none"|"realistic", latencyMs?: {Action|"*": ms}, latencyJitter?, imdsLagMs?,
 *  imdsCredentialsTtlSeconds?, imdsTokenFailures?, imdsTokenFailureStatus?,
 *  throttle?: {enabled?, mutating?: {capacity, refillPerSecond}, describe?, perAction?},
 *  faults?: FaultRule[]}   (faults replaces the list; the rest merges)
 */
export function mergeFaults(current: FaultConfig, b: Record<string, unknown>): FaultConfig {
  const next: FaultConfig = structuredClone(current);
  if (b.latency !== undefined) {
    if (b.latency === "none") next.latencyMs = {};
    else if (b.latency === "realistic") next.latencyMs = { ...REALISTIC_LATENCY_MS };
    else {throw new ControlError(
        `latency must be "none" or "realistic", not ${JSON.stringify(b.latency)}`,
      );}
  }
  if (b.latencyMs !== undefined) {
    for (const [action, ms] of Object.entries(obj(b.latencyMs, "latencyMs"))) {
      next.latencyMs[action] = nonNegative(ms, `latencyMs.${action}`);
    }
  }
  if (b.latencyJitter !== undefined) {
    next.latencyJitter = nonNegative(b.latencyJitter, "latencyJitter");
  }
  if (b.imdsLagMs !== undefined) next.imdsLagMs = nonNegative(b.imdsLagMs, "imdsLagMs");
  if (b.imdsCredentialsTtlSeconds !== undefined) {
    next.imdsCredentialsTtlSeconds = int(b.imdsCredentialsTtlSeconds, "imdsCredentialsTtlSeconds");
  }
  if (b.imdsTokenFailures !== undefined) {
    next.imdsTokenFailures = int(b.imdsTokenFailures, "imdsTokenFailures");
  }
  if (b.imdsTokenFailureStatus !== undefined) {
    const status = int(b.imdsTokenFailureStatus, "imdsTokenFailureStatus");
    if (status < 400 || status > 599) {
      throw new ControlError("imdsTokenFailureStatus must be an HTTP error status (400-599)");
    }
    next.imdsTokenFailureStatus = status;
  }
  if (b.throttle !== undefined) {
    const t = obj(b.throttle, "throttle");
    if (t.enabled !== undefined) next.throttle.enabled = bool(t.enabled, "throttle.enabled");
    if (t.mutating !== undefined) next.throttle.mutating = bucket(t.mutating, "throttle.mutating");
    if (t.describe !== undefined) next.throttle.describe = bucket(t.describe, "throttle.describe");
    if (t.perAction !== undefined) {
      for (const [action, spec] of Object.entries(obj(t.perAction, "throttle.perAction"))) {
        next.throttle.perAction[action] = bucket(spec, `throttle.perAction.${action}`);
      }
    }
  }
  if (b.faults !== undefined) {
    if (!Array.isArray(b.faults)) throw new ControlError("faults must be a list of rules");
    next.faults = b.faults.map((r, i) => faultRule(r, `faults[${i}]`));
  }
  return next;
}

export function faultRule(value: unknown, name: string): FaultRule {
  const r = obj(value, name);
  const kind = str(r.kind, `${name}.kind`);
  if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
    throw new ControlError(`${name}.kind must be one of ${FAULT_KINDS.join(", ")}, not "${kind}"`);
  }
  const rule: FaultRule = {
    action: str(r.action ?? "*", `${name}.action`),
    kind: kind as FaultRule["kind"],
  };
  if (r.rate !== undefined) {
    rule.rate = nonNegative(r.rate, `${name}.rate`);
    if (rule.rate > 1) throw new ControlError(`${name}.rate must be between 0 and 1`);
  }
  if (r.count !== undefined) rule.count = int(r.count, `${name}.count`);
  if (r.holdMs !== undefined) rule.holdMs = nonNegative(r.holdMs, `${name}.holdMs`);
  return rule;
}

async function body(req: Request): Promise<Record<string, unknown>> {
  const text = await req.text();
  if (!text.trim()) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ControlError(`the request body is not JSON: ${(e as Error).message}`);
  }
  return obj(value, "body");
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value, null, 2) + "\n", {
    status,
    headers: { "content-type": "application/json" },
  });
}

function obj(v: unknown, name: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new ControlError(`${name} must be an object`);
  }
  return v as Record<string, unknown>;
}

function str(v: unknown, name: string): string {
  if (typeof v !== "string" || !v) throw new ControlError(`${name} must be a non-empty string`);
  return v;
}

function strList(v: unknown, name: string): string[] {
  if (!Array.isArray(v)) throw new ControlError(`${name} must be a list of strings`);
  return v.map((x, i) => str(x, `${name}[${i}]`));
}

function strRecord(v: unknown, name: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(obj(v, name)).map(([k, x]) => [k, typeof x === "string" ? x : String(x)]),
  );
}

function bool(v: unknown, name: string): boolean {
  if (typeof v !== "boolean") throw new ControlError(`${name} must be true or false`);
  return v;
}

function nonNegative(v: unknown, name: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    throw new ControlError(`${name} must be a number >= 0`);
  }
  return v;
}

function int(v: unknown, name: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new ControlError(`${name} must be an integer >= 0`);
  }
  return v;
}

function bucket(v: unknown, name: string): BucketSpec {
  const b = obj(v, name);
  const capacity = nonNegative(b.capacity, `${name}.capacity`);
  const refillPerSecond = nonNegative(b.refillPerSecond, `${name}.refillPerSecond`);
  return { capacity, refillPerSecond };
}
