import assert from "node:assert/strict";
import {
  assignPrivateIpAddresses,
  attachNetworkInterface,
  createNetworkInterface,
} from "../../src/sim/eni_ops.ts";
import { ImdsHistory, imdsView } from "../../src/sim/imds.ts";
import { imdsHandler } from "../../src/sim/imds_server.ts";
import { vpcFixture } from "../lab/sim_fixture.ts";

function imdsFixture(lagMs = 0) {
  const f = vpcFixture({ nodes: 2, type: "m5.large" });
  const history = new ImdsHistory();
  for (const i of f.instances) history.record(i.id, imdsView(f.vpc, i.id), f.clock.now);
  f.vpc.onInstanceChanged = (id) => history.record(id, imdsView(f.vpc, id), f.clock.now);
  const handler = imdsHandler({
    instanceFor: (ip) => f.vpc.instanceByAddress(ip)?.id,
    viewOf: (id) => history.view(id, f.clock.now, lagMs),
    credentials: { roleName: "tsim-role", accessKeyId: "ASIAX", secretAccessKey: "s", token: "t" },
    now: () => f.clock.now,
  });
  const request = async (
    path: string,
    init: RequestInit = {},
    from = f.instances[0]!.privateIp,
  ) => {
    const res = handler(new Request(`http://169.254.169.254${path}`, init), {
      remoteAddr: { transport: "tcp", hostname: from, port: 40000 },
    });
    return { status: res.status, body: await res.text() };
  };
  const token = async (from?: string) =>
    (await request("/latest/api/token", {
      method: "PUT",
      headers: { "x-aws-ec2-metadata-token-ttl-seconds": "60" },
    }, from)).body;
  const get = async (path: string, from?: string) =>
    await request(path, { headers: { "x-aws-ec2-metadata-token": await token(from) } }, from);
  return { ...f, request, token, get };
}

Deno.test("IMDSv2 only: no token is 401, a token needs a valid TTL header", async () => {
  const f = imdsFixture();
  assert.equal((await f.request("/latest/meta-data/instance-id")).status, 401);
  assert.equal((await f.request("/latest/api/token", { method: "PUT" })).status, 400);
  assert.equal(
    (await f.request("/latest/api/token", {
      method: "PUT",
      headers: { "x-aws-ec2-metadata-token-ttl-seconds": "99999" },
    })).status,
    400,
  );
  assert.equal(
    (await f.request("/latest/meta-data/instance-id", {
      headers: { "x-aws-ec2-metadata-token": "forged" },
    })).status,
    401,
  );
  const token = await f.token();
  const ok = await f.request("/latest/meta-data/instance-id", {
    headers: { "x-aws-ec2-metadata-token": token },
  });
  assert.deepEqual(ok, { status: 200, body: f.instances[0]!.id });
  f.clock.now += 61_000;
  assert.equal(
    (await f.request("/latest/meta-data/instance-id", {
      headers: { "x-aws-ec2-metadata-token": token },
    })).status,
    401,
    "expired",
  );
});

Deno.test("a token works only for the instance that asked for it", async () => {
  const f = imdsFixture();
  const token = await f.token(f.instances[0]!.privateIp);
  const other = await f.request("/latest/meta-data/instance-id", {
    headers: { "x-aws-ec2-metadata-token": token },
  }, f.instances[1]!.privateIp);
  assert.equal(other.status, 401);
  assert.equal(
    (await f.request("/latest/meta-data/instance-id", {}, "10.99.0.1")).status,
    403,
    "unknown source",
  );
});

Deno.test("every path ipamd reads is served, // collapsed, and instances told apart by source", async () => {
  const f = imdsFixture();
  const [a, b] = f.instances;
  const eni = f.vpc.eni(a!.primaryEniId);
  const base = `/latest/meta-data/network/interfaces/macs/${eni.mac}`;
  const expect: Record<string, string> = {
    "/latest/meta-data/instance-id": a!.id,
    "/latest/meta-data/instance-type": "m5.large",
    "/latest/meta-data/local-ipv4": a!.privateIp,
    "/latest/meta-data/mac": eni.mac,
    "/latest/meta-data/placement/availability-zone": "us-west-2a",
    "/latest/meta-data/placement/region": "us-west-2",
    "/latest/meta-data/network/interfaces/macs/": `${eni.mac}/`,
    [`${base}/interface-id`]: eni.id,
    [`${base}/device-number`]: "0",
    [`${base}/network-card`]: "0",
    [`${base}/subnet-id`]: f.subnet.id,
    [`${base}/vpc-id`]: f.vpc.id,
    [`${base}/local-ipv4s`]: a!.privateIp,
    [`${base}/subnet-ipv4-cidr-block`]: "10.10.0.0/20",
    [`${base}/vpc-ipv4-cidr-blocks`]: "10.10.0.0/16",
    [`${base}/security-group-ids`]: f.vpc.defaultSecurityGroupId,
    ["//latest/meta-data//local-ipv4"]: a!.privateIp,
  };
  for (const [path, body] of Object.entries(expect)) {
    assert.deepEqual(await f.get(path, a!.privateIp), { status: 200, body }, path);
  }
  for (const missing of ["ipv4-prefix", "ipv6s", "subnet-ipv6-cidr-blocks", "ipv6-prefix"]) {
    assert.equal((await f.get(`${base}/${missing}`, a!.privateIp)).status, 404, missing);
  }
  const fields = (await f.get(`${base}/`, a!.privateIp)).body.split("\n");
  assert.ok(
    fields.includes("local-ipv4s") && fields.includes("interface-id") &&
      !fields.includes("ipv4-prefix"),
  );
  assert.equal((await f.get("/latest/meta-data/instance-id", b!.privateIp)).body, b!.id);
});

Deno.test("the identity document and the role credentials are what the SDK expects", async () => {
  const f = imdsFixture();
  const doc = JSON.parse((await f.get("/latest/dynamic/instance-identity/document")).body);
  assert.equal(doc.region, "us-west-2");
  assert.equal(doc.instanceId, f.instances[0]!.id);
  assert.equal((await f.get("/latest/meta-data/iam/security-credentials/")).body, "tsim-role");
  const creds = JSON.parse(
    (await f.get("/latest/meta-data/iam/security-credentials/tsim-role")).body,
  );
  assert.equal(creds.Code, "Success");
  assert.equal(creds.AccessKeyId, "ASIAX");
  assert.ok(Date.parse(creds.Expiration) > f.clock.now);
});

Deno.test("IMDS shows attach and assign only after the lag, secondary IPs and prefixes included", async () => {
  const f = imdsFixture(1000);
  const a = f.instances[0]!;
  const eni = createNetworkInterface(f.vpc, { subnetId: f.subnet.id, secondaryCount: 1 });
  attachNetworkInterface(f.vpc, { eniId: eni.id, instanceId: a.id, deviceIndex: 1 });
  const macs = async () =>
    (await f.get("/latest/meta-data/network/interfaces/macs/")).body.split("\n");
  assert.equal((await macs()).length, 1, "not visible yet");
  f.clock.now += 1000;
  assert.deepEqual(await macs(), [`${f.vpc.eni(a.primaryEniId).mac}/`, `${eni.mac}/`]);
  const base = `/latest/meta-data/network/interfaces/macs/${eni.mac}`;
  assert.equal((await f.get(`${base}/device-number`)).body, "1");
  const { prefixes } = assignPrivateIpAddresses(f.vpc, { eniId: eni.id, prefixCount: 1 });
  f.clock.now += 500;
  assert.equal((await f.get(`${base}/ipv4-prefix`)).status, 404);
  f.clock.now += 500;
  assert.equal((await f.get(`${base}/ipv4-prefix`)).body, prefixes[0]);
  assert.deepEqual((await f.get(`${base}/local-ipv4s`)).body.split("\n"), [
    eni.primaryIp,
    ...eni.secondaryIps,
  ]);
});
