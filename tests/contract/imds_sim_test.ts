/**
 * The IMDS client against the VPC simulator's IMDS (the per-node endpoint on loopback), checked
 * against what the same simulator's EC2 API says: the two views ipamd joins must agree.
 */

import assert from "node:assert/strict";
import { Ec2Client } from "../../src/aws/ec2.ts";
import { ImdsClient } from "../../src/aws/imds.ts";
import { InstanceMetadata } from "../../src/aws/imds_metadata.ts";
import { SimBackend } from "./sim_backend.ts";

async function withSim(
  fn: (ctx: {
    backend: SimBackend;
    md: InstanceMetadata;
    ec2: Ec2Client;
    fx: Awaited<ReturnType<SimBackend["fixture"]>>;
  }) => Promise<void>,
) {
  const backend = await SimBackend.start();
  let ec2: Ec2Client | undefined;
  try {
    const fx = await backend.fixture();
    ec2 = new Ec2Client({
      region: backend.region,
      endpoint: backend.endpoint,
      credentials: { accessKeyId: "taws", secretAccessKey: "taws-secret" },
      rateLimit: false,
    });
    const md = new InstanceMetadata(new ImdsClient({ endpoint: backend.imdsEndpoint }));
    await fn({ backend, md, ec2, fx });
  } finally {
    ec2?.close();
    await backend.stop();
  }
}

Deno.test("InstanceMetadata reads the sim node's identity as EC2 describes the instance", async () => {
  await withSim(async ({ md, ec2, fx, backend }) => {
    const identity = await md.identity();
    const instance = await ec2.describeInstance(fx.instanceId);
    const [primary] = await ec2.describeNetworkInterfaces({ ids: [fx.primaryEniId] });
    assert.deepEqual(identity, {
      region: backend.region,
      availabilityZone: fx.availabilityZone,
      instanceId: fx.instanceId,
      instanceType: "t3.medium",
      localIpv4: instance?.privateIp,
      primaryMac: primary?.mac,
    });
  });
});

Deno.test("InstanceMetadata.listEnis() after attach and assign matches EC2's ENIs", async () => {
  await withSim(async ({ md, ec2, fx }) => {
    const eni = await ec2.createNetworkInterface({
      subnetId: fx.subnetId,
      groupIds: [fx.altGroupId],
      secondaryIpCount: 2,
    });
    await ec2.attachNetworkInterface(eni.eniId, {
      instanceId: fx.instanceId,
      deviceIndex: 1,
      networkCardIndex: 0,
    });
    await ec2.assignPrefixes(eni.eniId, 1);
    const fromEc2 = await ec2.describeNetworkInterfaces({
      filters: { "attachment.instance-id": [fx.instanceId] },
    });
    const fromImds = await md.listEnis();
    assert.deepEqual(fromImds.map((e) => e.eniId), [fx.primaryEniId, eni.eniId]);
    for (const seen of fromImds) {
      const truth = fromEc2.find((e) => e.eniId === seen.eniId);
      assert.ok(truth, seen.eniId);
      assert.equal(seen.mac, truth.mac);
      assert.equal(seen.deviceNumber, truth.attachment?.deviceIndex);
      assert.equal(seen.networkCard, truth.attachment?.networkCardIndex);
      assert.equal(seen.subnetId, truth.subnetId);
      assert.equal(seen.vpcId, truth.vpcId);
      assert.equal(seen.subnetCidr, fx.subnetCidr);
      assert.deepEqual(seen.ipv4s, truth.privateIps.map((p) => p.address), "primary first");
      assert.deepEqual(seen.ipv4Prefixes, truth.prefixes);
      assert.deepEqual(seen.securityGroupIds, truth.groups.map((g) => g.groupId));
      assert.deepEqual(seen.vpcCidrs, ["10.10.0.0/16"]);
    }
  });
});

Deno.test("the sim's IMDS shows an attach only after its configured lag", async () => {
  await withSim(async ({ md, ec2, fx, backend }) => {
    const res = await fetch(`${backend.sim.readyInfo().controlEndpoint}/faults`, {
      method: "POST",
      body: JSON.stringify({ imdsLagMs: 300 }),
    });
    await res.body?.cancel();
    assert.equal(res.status, 200);
    const eni = await ec2.createNetworkInterface({ subnetId: fx.subnetId });
    await ec2.attachNetworkInterface(eni.eniId, { instanceId: fx.instanceId, deviceIndex: 1 });
    assert.deepEqual((await md.macs()).length, 1, "not visible right after the attach");
    let polls = 0;
    while ((await md.macs()).length < 2) {
      assert.ok(++polls < 60, "visible within 3 s");
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual((await md.listEnis()).map((e) => e.eniId), [fx.primaryEniId, eni.eniId]);
  });
});

Deno.test("the sim's IMDS refuses reads without a token, and the client's token flow works", async () => {
  await withSim(async ({ backend, md, fx }) => {
    const raw = await fetch(`${backend.imdsEndpoint}latest/meta-data/instance-id`);
    await raw.body?.cancel();
    assert.equal(raw.status, 401);
    assert.equal(await md.instanceId(), fx.instanceId);
    assert.equal(await md.client.getOptional("ipv6"), undefined);
  });
});
