import assert from "node:assert/strict";
import { controlHandler } from "../../src/sim/control.ts";
import { Counters } from "../../src/sim/counters.ts";
import { defaultFaultConfig, Faults, REALISTIC_LATENCY_MS } from "../../src/sim/faults.ts";
import { Rng } from "../../src/sim/rand.ts";
import { vpcFixture } from "../lab/sim_fixture.ts";

function controlFixture() {
  const f = vpcFixture({ subnetCidr: "10.10.0.0/24" });
  const faults = new Faults(defaultFaultConfig(), new Rng(1));
  const counters = new Counters();
  const added: unknown[] = [];
  const handler = controlHandler({
    vpc: f.vpc,
    faults,
    counters,
    addInstance: (req) => {
      added.push(req);
      return { instanceId: "i-new" };
    },
  });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await handler(
      new Request(`http://sim.test/_sim${path}`, {
        method,
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
      path,
    );
    return { status: res.status, json: await res.json() };
  };
  return { ...f, faults, counters, added, call };
}

Deno.test("GET /state shows the VPC model with subnets' free space and ENIs", async () => {
  const f = controlFixture();
  const { status, json } = await f.call("GET", "/state");
  assert.equal(status, 200);
  assert.equal(json.vpc.vpcId, f.vpc.id);
  assert.equal(json.subnets[0].availableIpAddressCount, 256 - 5 - 1);
  assert.equal(json.subnets[0].freePrefixes, 13);
  assert.equal(json.instances[0].limits.maxEnis, 3);
  assert.equal(json.networkInterfaces[0].attachment.deviceIndex, 0);
});

Deno.test("POST /faults merges latency, IMDS lag, throttling and fault rules", async () => {
  const f = controlFixture();
  const { json } = await f.call("POST", "/faults", {
    latency: "realistic",
    latencyMs: { AttachNetworkInterface: 1200 },
    imdsLagMs: 800,
    throttle: { enabled: true, mutating: { capacity: 10, refillPerSecond: 1 } },
    faults: [{ action: "CreateTags", kind: "Unavailable", rate: 0.5 }],
  });
  assert.equal(
    json.latencyMs.AssignPrivateIpAddresses,
    REALISTIC_LATENCY_MS.AssignPrivateIpAddresses,
  );
  assert.equal(f.faults.config.latencyMs.AttachNetworkInterface, 1200);
  assert.equal(f.faults.config.imdsLagMs, 800);
  assert.deepEqual(f.faults.config.throttle.mutating, { capacity: 10, refillPerSecond: 1 });
  assert.deepEqual(f.faults.config.throttle.describe, { capacity: 100, refillPerSecond: 20 });
  assert.deepEqual(f.faults.config.faults, [{
    action: "CreateTags",
    kind: "Unavailable",
    rate: 0.5,
  }]);
  await f.call("POST", "/faults", { latency: "none" });
  assert.deepEqual(f.faults.config.latencyMs, {});
  assert.equal(f.faults.config.imdsLagMs, 800, "what is not given stays");
  const bad = await f.call("POST", "/faults", { faults: [{ kind: "Explode" }] });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error.message, /kind must be one of/);
});

Deno.test("POST /subnets adds a tagged subnet; overlaps are EC2 errors", async () => {
  const f = controlFixture();
  const ok = await f.call("POST", "/subnets", {
    cidr: "10.10.16.0/20",
    tags: { "kubernetes.io/role/cni": "1" },
  });
  assert.equal(ok.status, 201);
  assert.equal(ok.json.gateway, "10.10.16.1");
  assert.equal(f.vpc.subnet(ok.json.subnetId).tags.get("kubernetes.io/role/cni"), "1");
  const overlap = await f.call("POST", "/subnets", { cidr: "10.10.16.0/24" });
  assert.deepEqual([overlap.status, overlap.json.error.code], [400, "InvalidSubnet.Conflict"]);
  const outside = await f.call("POST", "/subnets", { cidr: "10.99.0.0/24" });
  assert.equal(outside.json.error.code, "InvalidSubnet.Range");
});

Deno.test("POST /security-groups adds a security group that new ENIs may use", async () => {
  const f = controlFixture();
  const made = await f.call("POST", "/security-groups", { name: "pods" });
  assert.equal(made.status, 201);
  assert.match(made.json.groupId, /^sg-[0-9a-f]+$/);
  assert.equal(made.json.vpcId, f.vpc.id);
  assert.equal(f.vpc.securityGroup(made.json.groupId).name, "pods");
  const unnamed = await f.call("POST", "/security-groups", {});
  assert.equal(unnamed.status, 400);
});

Deno.test("POST /reserve fills or fragments a subnet and gives addresses back", async () => {
  const f = controlFixture();
  const frag = await f.call("POST", "/reserve", { subnetId: f.subnet.id, fragment: true });
  assert.equal(frag.json.freePrefixes, 0);
  assert.ok(frag.json.availableIpAddressCount > 200);
  const full = await f.call("POST", "/reserve", { subnetId: f.subnet.id, count: 1000 });
  assert.equal(full.json.availableIpAddressCount, 0);
  const back = await f.call("POST", "/reserve", {
    subnetId: f.subnet.id,
    release: ["10.10.0.0/24"],
  });
  assert.equal(
    back.json.availableIpAddressCount,
    256 - 5 - 1,
    "the instance's address stays in use",
  );
  assert.equal(back.json.released, 250);
  assert.equal(f.subnet.allocator.isFree(f.instances[0]!.privateIp), false);
  assert.equal(
    (await f.call("POST", "/reserve", { subnetId: "subnet-0123456789abcdef0" })).json.error.code,
    "InvalidSubnetID.NotFound",
  );
});

Deno.test("POST /instances, counters and unknown routes", async () => {
  const f = controlFixture();
  const added = await f.call("POST", "/instances", { instanceType: "m5.large" });
  assert.deepEqual([added.status, added.json], [201, { instanceId: "i-new" }]);
  assert.deepEqual(f.added, [{ instanceType: "m5.large", subnetId: undefined }]);
  f.counters.call("DescribeSubnets");
  f.counters.ok("DescribeSubnets");
  assert.equal((await f.call("GET", "/counters")).json.total.calls, 1);
  assert.equal((await f.call("POST", "/counters/reset")).json.total.calls, 0);
  assert.equal((await f.call("GET", "/nope")).status, 404);
  assert.equal((await f.call("POST", "/subnets", { cidr: 5 })).status, 400);
});
