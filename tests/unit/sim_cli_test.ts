import assert from "node:assert/strict";
import { durationArg, parseSimArgs, UsageError } from "../../src/sim/cli.ts";

Deno.test("parseSimArgs() reads every option", () => {
  const cli = parseSimArgs([
    "--nodes",
    "3",
    "--instance-type=m5.large",
    "--vpc-cidr",
    "10.20.0.0/16",
    "--subnet",
    "10.20.16.0/20,az=us-west-2b,tag:kubernetes.io/role/cni=1,tag:Name=pods",
    "--latency",
    "realistic,AssignPrivateIpAddresses=900,*=40",
    "--imds-lag",
    "1.5s",
    "--throttle",
    "on,mutating=10/2,describe=50/10,CreateTags=1/0.5",
    "--fault",
    "InternalError:AttachNetworkInterface:rate=0.25",
    "--fault",
    "timeout:*:count=1:hold=2s",
    "--seed",
    "42",
    "--prefix",
    "tsim",
    "--no-lab",
    "--log",
    "none",
    "--log-level",
    "debug",
  ]);
  assert.equal(cli.nodes, 3);
  assert.equal(cli.instanceType, "m5.large");
  assert.deepEqual(cli.subnets, [{
    cidr: "10.20.16.0/20",
    az: "us-west-2b",
    tags: { "kubernetes.io/role/cni": "1", Name: "pods" },
  }]);
  assert.equal(cli.faults.latencyMs.AssignPrivateIpAddresses, 900);
  assert.equal(cli.faults.latencyMs.AttachNetworkInterface, 800);
  assert.equal(cli.faults.latencyMs["*"], 40);
  assert.equal(cli.faults.imdsLagMs, 1500);
  assert.deepEqual(cli.faults.throttle, {
    enabled: true,
    mutating: { capacity: 10, refillPerSecond: 2 },
    describe: { capacity: 50, refillPerSecond: 10 },
    perAction: { CreateTags: { capacity: 1, refillPerSecond: 0.5 } },
  });
  assert.deepEqual(cli.faults.faults, [
    { action: "AttachNetworkInterface", kind: "InternalError", rate: 0.25 },
    { action: "*", kind: "timeout", count: 1, holdMs: 2000 },
  ]);
  assert.equal(cli.seed, 42);
  assert.equal(cli.lab, false);
  assert.equal(cli.availabilityZone, "us-west-2a");
  assert.equal(cli.logLevel, "debug");
});

Deno.test("parseSimArgs() explains what is wrong with a bad option", () => {
  assert.throws(() => parseSimArgs(["--instance-type", "t9.huge"]), {
    name: "UsageError",
    message: /known: .*t3\.medium/,
  });
  assert.throws(() => parseSimArgs(["--nodes"]), /needs a value/);
  assert.throws(() => parseSimArgs(["--fault", "Boom:*"]), /kind must be one of/);
  assert.throws(() => parseSimArgs(["--throttle", "on,mutating=lots"]), UsageError);
  assert.throws(
    () => parseSimArgs(["--subnet", "10.1.0.0/20,color=red"]),
    /neither az=ZONE nor tag:KEY=VALUE/,
  );
  assert.throws(() => parseSimArgs(["--frobnicate"]), /unknown option/);
  assert.equal(durationArg("x", "250ms"), 250);
  assert.equal(durationArg("x", "2"), 2);
});

Deno.test("parseSimArgs() accepts the UnauthorizedOperation fault kind", () => {
  const cli = parseSimArgs(["--fault", "UnauthorizedOperation:AssignPrivateIpAddresses:count=3"]);
  assert.deepEqual(cli.faults.faults, [
    { action: "AssignPrivateIpAddresses", kind: "UnauthorizedOperation", count: 3 },
  ]);
});
