/** `ipamd sim` command line: options, their parsing and the help text. */
import { type Level, parseLevel } from "../ops/log.ts";
import { faultRule } from "./control.ts";
import {
  type BucketSpec,
  defaultFaultConfig,
  type FaultConfig,
  REALISTIC_LATENCY_MS,
} from "./faults.ts";
import { INSTANCE_TYPES } from "./instance_types.ts";
import { randomSeed } from "./rand.ts";
import type { SubnetSpec } from "./sim.ts";

export interface SimCli {
  help: boolean;
  nodes: number;
  instanceType: string;
  vpcCidr: string;
  nodeSubnet?: string;
  subnets: SubnetSpec[];
  region: string;
  availabilityZone: string;
  seed: number;
  prefix: string;
  stateRoot: string;
  port: number;
  lab: boolean;
  log: string;
  logLevel: Level;
  faults: FaultConfig;
}

export class UsageError extends Error {
  override name = "UsageError";
}

export const USAGE =
  `ipamd sim: a local VPC simulator (EC2 Query API + IMDSv2) driving a lab of network namespaces

Usage: ipamd sim [options]

Builds a VPC router namespace and N node namespaces (EC2 instances, each with its primary ENI
eth0), serves the EC2 API (host loopback and ${"198.51.100.10"}:80 in the lab) and IMDSv2
(169.254.169.254:80 in the lab), prints ONE JSON line on stdout when ready, and removes
everything on SIGINT/SIGTERM. Needs root (network namespaces) unless --no-lab.

Options:
  --nodes N                 instances (node namespaces) to start with (default 1)
  --instance-type T         their instance type (default t3.medium); known types:
                            ${[...INSTANCE_TYPES.keys()].join(" ")}
  --vpc-cidr CIDR           VPC CIDR (default 10.10.0.0/16)
  --node-subnet CIDR        the nodes' subnet (default: first /20 of the VPC)
  --subnet SPEC             an extra subnet, repeatable: CIDR[,az=ZONE][,tag:KEY=VALUE]...
                            e.g. --subnet 10.10.16.0/20,tag:kubernetes.io/role/cni=1
  --region R                region (default us-west-2)
  --az ZONE                 availability zone (default <region>a)
  --latency SPEC            none (default) | realistic, then optional per-action overrides in ms:
                            realistic,AssignPrivateIpAddresses=900,*=50 ("*": all other actions)
  --latency-jitter F        latency varies by +-F of its base (default 0.2)
  --imds-lag DURATION       IMDS shows ENI/IP changes this late (default 0; e.g. 1500ms, 2s)
  --throttle SPEC           off (default) | on[,mutating=CAP/RATE][,describe=CAP/RATE][,ACTION=CAP/RATE]
                            token buckets (default mutating=200/5, describe=100/20); an empty
                            bucket answers RequestLimitExceeded (HTTP 503)
  --fault SPEC              inject faults, repeatable: KIND:ACTION[:rate=R][:count=N][:hold=DURATION]
                            KIND is InternalError, Unavailable, RequestLimitExceeded,
                            UnauthorizedOperation (HTTP 403) or timeout
                            (timeout holds the request, default 30s, then runs it); ACTION may be *
  --seed N                  seed for ids, MACs, addresses and faults (default: random, reported)
  --prefix NAME             namespace name prefix (default vpcsim)
  --state-dir DIR           node state directories go to DIR/<labId>/n<k> (default /run/vpcsim)
  --port N                  EC2 endpoint port on 127.0.0.1 (default 0: any free port)
  --no-lab                  no namespaces (no root needed): EC2 and per-node IMDS on host loopback
  --log DEST                log destination: stderr (default), none or a file path
  --log-level LEVEL         debug, info (default), warn, error
  -h, --help                this help

Control API (JSON) under <controlEndpoint> (<ec2Endpoint>/_sim):
  GET  /state               the whole VPC model
  GET  /counters            EC2 calls by action (ok, throttled, failed, injected, timeouts, errors)
  POST /counters/reset
  GET  /imds/requests       IMDS requests: method, path, source, token (none|valid|invalid), status
  GET  /faults, POST /faults   {"latency":"realistic","latencyMs":{"AttachNetworkInterface":900},
                            "imdsLagMs":1000,"throttle":{"enabled":true,"mutating":{"capacity":10,
                            "refillPerSecond":1}},"faults":[{"action":"*","kind":"InternalError",
                            "rate":0.1}]}; IMDS: "imdsCredentialsTtlSeconds":300,
                            "imdsTokenFailures":2,"imdsTokenFailureStatus":503
  POST /subnets             {"cidr":"10.10.32.0/20","tags":{"kubernetes.io/role/cni":"1"}}
  POST /security-groups     {"name":"pods"}  (a security group in the VPC; answers its groupId)
  POST /reserve             {"subnetId":"subnet-...","count":100 | "cidrs":[...] | "fragment":true
                            | "release":[...]}  (take addresses out of a subnet, or give them back)
  POST /instances           {"instanceType":"m5.large"}  (adds a node; answers its JSON entry)

Example:
  ipamd sim --nodes 2 --instance-type t3.medium
  AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x aws --region us-west-2 \\
    --endpoint-url <ec2Endpoint> ec2 describe-instances`;

export function parseSimArgs(args: string[]): SimCli {
  const cli: SimCli = {
    help: false,
    nodes: 1,
    instanceType: "t3.medium",
    vpcCidr: "10.10.0.0/16",
    subnets: [],
    region: "us-west-2",
    availabilityZone: "",
    seed: randomSeed(),
    prefix: "vpcsim",
    stateRoot: "/run/vpcsim",
    port: 0,
    lab: true,
    log: "stderr",
    logLevel: "info",
    faults: defaultFaultConfig(),
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "-h":
      case "--help":
        cli.help = true;
        break;
      case "--nodes":
        cli.nodes = intArg(flag, value(), 0, 64);
        break;
      case "--instance-type":
        cli.instanceType = value();
        if (!INSTANCE_TYPES.has(cli.instanceType)) {
          throw new UsageError(
            `--instance-type: unknown type "${cli.instanceType}"; known: ${
              [...INSTANCE_TYPES.keys()].join(", ")
            }`,
          );
        }
        break;
      case "--vpc-cidr":
        cli.vpcCidr = value();
        break;
      case "--node-subnet":
        cli.nodeSubnet = value();
        break;
      case "--subnet":
        cli.subnets.push(subnetArg(value()));
        break;
      case "--region":
        cli.region = value();
        break;
      case "--az":
        cli.availabilityZone = value();
        break;
      case "--latency":
        latencyArg(cli.faults, value());
        break;
      case "--latency-jitter":
        cli.faults.latencyJitter = Number(value());
        if (!(cli.faults.latencyJitter >= 0 && cli.faults.latencyJitter <= 1)) {
          throw new UsageError("--latency-jitter must be between 0 and 1");
        }
        break;
      case "--imds-lag":
        cli.faults.imdsLagMs = durationArg(flag, value());
        break;
      case "--throttle":
        throttleArg(cli.faults, value());
        break;
      case "--fault":
        cli.faults.faults.push(faultArg(value()));
        break;
      case "--seed":
        cli.seed = intArg(flag, value(), 0, 2 ** 32 - 1);
        break;
      case "--prefix":
        cli.prefix = value();
        if (!/^[a-z][a-z0-9]{0,15}$/.test(cli.prefix)) {
          throw new UsageError(
            "--prefix must be 1-16 lower-case letters or digits, starting with a letter",
          );
        }
        break;
      case "--state-dir":
        cli.stateRoot = value().replace(/\/+$/, "");
        break;
      case "--port":
        cli.port = intArg(flag, value(), 0, 65535);
        break;
      case "--no-lab":
        cli.lab = false;
        break;
      case "--log":
        cli.log = value();
        break;
      case "--log-level": {
        const level = parseLevel(value());
        if (!level) throw new UsageError("--log-level must be debug, info, warn or error");
        cli.logLevel = level;
        break;
      }
      default:
        throw new UsageError(`unknown option "${arg}"`);
    }
  }
  if (!cli.availabilityZone) cli.availabilityZone = `${cli.region}a`;
  return cli;
}

function intArg(flag: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, not "${v}"`);
  }
  return n;
}

/** "1500", "1500ms", "1.5s" -> milliseconds. */
export function durationArg(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v.trim());
  if (!m) throw new UsageError(`${flag}: "${v}" is not a duration (e.g. 500, 500ms, 1.5s)`);
  return Math.round(Number(m[1]) * (m[2] === "s" ? 1000 : 1));
}

function subnetArg(v: string): SubnetSpec {
  const [cidr, ...rest] = v.split(",");
  const spec: SubnetSpec = { cidr: cidr!, tags: {} };
  for (const item of rest) {
    if (item.startsWith("az=")) spec.az = item.slice(3);
    else if (item.startsWith("tag:") && item.includes("=")) {
      const kv = item.slice(4);
      spec.tags![kv.slice(0, kv.indexOf("="))] = kv.slice(kv.indexOf("=") + 1);
    } else throw new UsageError(`--subnet ${v}: "${item}" is neither az=ZONE nor tag:KEY=VALUE`);
  }
  return spec;
}

function latencyArg(faults: FaultConfig, v: string): void {
  const [preset, ...overrides] = v.split(",");
  if (preset === "none") faults.latencyMs = {};
  else if (preset === "realistic") faults.latencyMs = { ...REALISTIC_LATENCY_MS };
  else throw new UsageError(`--latency must start with none or realistic, not "${preset}"`);
  for (const o of overrides) {
    const [action, ms] = o.split("=");
    if (!action || ms === undefined) {
      throw new UsageError(`--latency: "${o}" is not ACTION=DURATION`);
    }
    faults.latencyMs[action] = durationArg("--latency", ms);
  }
}

function throttleArg(faults: FaultConfig, v: string): void {
  const [mode, ...buckets] = v.split(",");
  if (mode !== "on" && mode !== "off") {
    throw new UsageError(`--throttle must start with on or off, not "${mode}"`);
  }
  faults.throttle.enabled = mode === "on";
  for (const b of buckets) {
    const [name, spec] = b.split("=");
    const m = /^(\d+)\/(\d+(?:\.\d+)?)$/.exec(spec ?? "");
    if (!name || !m) {
      throw new UsageError(`--throttle: "${b}" is not NAME=CAPACITY/REFILL_PER_SECOND`);
    }
    const bucket: BucketSpec = { capacity: Number(m[1]), refillPerSecond: Number(m[2]) };
    if (name === "mutating" || name === "describe") faults.throttle[name] = bucket;
    else faults.throttle.perAction[name] = bucket;
  }
}

function faultArg(v: string): FaultConfig["faults"][number] {
  const [kind, action, ...opts] = v.split(":");
  const rule: Record<string, unknown> = { kind, action: action ?? "*" };
  for (const o of opts) {
    const [k, x] = o.split("=");
    if (k === "rate") rule.rate = Number(x);
    else if (k === "count") rule.count = Number(x);
    else if (k === "hold") rule.holdMs = durationArg("--fault hold", x ?? "");
    else throw new UsageError(`--fault ${v}: unknown option "${o}" (rate=, count=, hold=)`);
  }
  try {
    return faultRule(rule, "--fault");
  } catch (e) {
    throw new UsageError(`--fault ${v}: ${(e as Error).message}`);
  }
}
