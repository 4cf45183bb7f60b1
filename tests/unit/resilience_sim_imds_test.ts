/**
 * The simulator's IMDS request log and IMDS knobs (added for the resilience security suite):
 * every request is recorded with whether it carried a valid session token, token requests
 * can be made to fail, and the role credentials' lifetime can be shortened.
 */
import assert from "node:assert/strict";
import { ImdsHistory, imdsView } from "../../src/sim/imds.ts";
import { imdsHandler, type ImdsRequestRecord } from "../../src/sim/imds_server.ts";
import { vpcFixture } from "../lab/sim_fixture.ts";

function fixture(knobs: { failures?: number; ttlSeconds?: number } = {}) {
  const f = vpcFixture({ nodes: 1, type: "m5.large" });
  const history = new ImdsHistory();
  for (const i of f.instances) history.record(i.id, imdsView(f.vpc, i.id), f.clock.now);
  const log: ImdsRequestRecord[] = [];
  let failures = knobs.failures ?? 0;
  const handler = imdsHandler({
    instanceFor: (ip) => f.vpc.instanceByAddress(ip)?.id,
    viewOf: (id) => history.view(id, f.clock.now, 0),
    credentials: { roleName: "tres-role", accessKeyId: "ASIAX", secretAccessKey: "s", token: "t" },
    now: () => f.clock.now,
    onRequest: (r) => log.push(r),
    tokenFault: () => failures-- > 0 ? 503 : undefined,
    ...(knobs.ttlSeconds ? { credentialsTtlSeconds: () => knobs.ttlSeconds! } : {}),
  });
  const request = async (path: string, init: RequestInit = {}) => {
    const res = handler(new Request(`http://169.254.169.254${path}`, init), {
      remoteAddr: { transport: "tcp", hostname: f.instances[0]!.privateIp, port: 40000 },
    });
    return { status: res.status, body: await res.text() };
  };
  const put = () =>
    request("/latest/api/token", {
      method: "PUT",
      headers: { "x-aws-ec2-metadata-token-ttl-seconds": "60" },
    });
  return { ...f, log, request, put };
}

Deno.test("IMDS request log: each request with its token state, status and issued token", async () => {
  const f = fixture();
  const token = (await f.put()).body;
  await f.request("/latest/meta-data/instance-id", {
    headers: { "x-aws-ec2-metadata-token": token },
  });
  await f.request("/latest/meta-data/instance-id");
  await f.request("/latest/meta-data/instance-id", {
    headers: { "x-aws-ec2-metadata-token": "forged" },
  });

  assert.deepEqual(
    f.log.map((r) => [r.method, r.path, r.token, r.status]),
    [
      ["PUT", "/latest/api/token", "none", 200],
      ["GET", "/latest/meta-data/instance-id", "valid", 200],
      ["GET", "/latest/meta-data/instance-id", "none", 401],
      ["GET", "/latest/meta-data/instance-id", "invalid", 401],
    ],
  );
  assert.equal(f.log[0]!.issuedToken, token);
  assert.equal(f.log[1]!.instanceId, f.instances[0]!.id);
});

Deno.test("IMDS token faults answer the next token requests with the injected status, then recover", async () => {
  const f = fixture({ failures: 2 });
  assert.equal((await f.put()).status, 503);
  assert.equal((await f.put()).status, 503);
  const ok = await f.put();
  assert.equal(ok.status, 200);
  assert.ok(ok.body.length > 20);
});

Deno.test("IMDS serves role credentials that expire after the configured lifetime", async () => {
  const f = fixture({ ttlSeconds: 300 });
  const token = (await f.put()).body;
  const creds = JSON.parse(
    (await f.request("/latest/meta-data/iam/security-credentials/tres-role", {
      headers: { "x-aws-ec2-metadata-token": token },
    })).body,
  );
  const lifetime = Date.parse(creds.Expiration) - f.clock.now;
  assert.ok(lifetime > 299_000 && lifetime <= 300_000, `${lifetime} ms`);
});
