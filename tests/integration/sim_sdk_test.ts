/**
 * The real @aws-sdk/client-ec2 against the simulator over HTTP (in process, no lab): every
 * action, EC2's error codes as the SDK surfaces them, pagination, and the SDK's default
 * credential chain finding the instance-profile credentials in IMDS.
 */
import assert from "node:assert/strict";
import {
  AssignPrivateIpAddressesCommand,
  AttachNetworkInterfaceCommand,
  CreateNetworkInterfaceCommand,
  CreateTagsCommand,
  DeleteNetworkInterfaceCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DetachNetworkInterfaceCommand,
  EC2Client,
  ModifyNetworkInterfaceAttributeCommand,
  paginateDescribeNetworkInterfaces,
  UnassignPrivateIpAddressesCommand,
} from "@aws-sdk/client-ec2";
import { defaultFaultConfig } from "../../src/sim/faults.ts";
import { Sim } from "../../src/sim/sim.ts";

async function startSim(options: { nodes?: number; instanceType?: string } = {}) {
  const stateRoot = await Deno.makeTempDir({ prefix: "tsim-" });
  const sim = await Sim.start({
    nodes: options.nodes ?? 1,
    instanceType: options.instanceType ?? "t3.medium",
    vpcCidr: "10.10.0.0/16",
    region: "us-west-2",
    availabilityZone: "us-west-2a",
    seed: 1234,
    prefix: "tsim",
    faults: defaultFaultConfig(),
    stateRoot,
  });
  const info = sim.readyInfo();
  const ec2 = new EC2Client({
    region: "us-west-2",
    endpoint: info.ec2Endpoint,
    credentials: { accessKeyId: "tsim", secretAccessKey: "tsim" },
    maxAttempts: 1,
  });
  return {
    sim,
    info,
    ec2,
    async [Symbol.asyncDispose]() {
      ec2.destroy();
      await sim.close();
      await Deno.remove(stateRoot, { recursive: true });
    },
  };
}

async function errorOf(
  p: Promise<unknown>,
): Promise<{ name: string; status?: number; message: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: err.name, status: err.$metadata?.httpStatusCode, message: err.message };
  }
  throw new Error("expected the call to fail");
}

Deno.test("the AWS SDK drives the whole ENI lifecycle against the simulator", async () => {
  await using t = await startSim({ instanceType: "t3.medium" });
  const { ec2, info } = t;
  const node = info.nodes[0]!;
  const subnetId = info.subnets[0]!.subnetId;

  const types = await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ["t3.medium"] }));
  assert.equal(types.InstanceTypes?.[0]?.NetworkInfo?.MaximumNetworkInterfaces, 3);
  assert.equal(types.InstanceTypes?.[0]?.NetworkInfo?.Ipv4AddressesPerInterface, 6);
  assert.equal(types.InstanceTypes?.[0]?.Hypervisor, "nitro");

  const subnets = await ec2.send(
    new DescribeSubnetsCommand({
      Filters: [{ Name: "vpc-id", Values: [info.vpcId] }, {
        Name: "availability-zone",
        Values: ["us-west-2a"],
      }],
    }),
  );
  assert.equal(subnets.Subnets?.[0]?.SubnetId, subnetId);
  assert.equal(subnets.Subnets?.[0]?.AvailableIpAddressCount, 4096 - 5 - 1);

  const sgs = await ec2.send(new DescribeSecurityGroupsCommand({}));
  const sgId = sgs.SecurityGroups?.[0]?.GroupId;
  assert.match(sgId ?? "", /^sg-/);

  const instances = await ec2.send(
    new DescribeInstancesCommand({ InstanceIds: [node.instanceId] }),
  );
  const instance = instances.Reservations?.[0]?.Instances?.[0];
  assert.equal(instance?.NetworkInterfaces?.[0]?.Attachment?.DeviceIndex, 0);
  assert.equal(instance?.NetworkInterfaces?.[0]?.MacAddress, node.primaryMac);
  assert.equal(instance?.InstanceType, "t3.medium");

  const created = await ec2.send(
    new CreateNetworkInterfaceCommand({
      SubnetId: subnetId,
      Description: `aws-K8S-${node.instanceId}`,
      Groups: [sgId!],
      SecondaryPrivateIpAddressCount: 2,
      TagSpecifications: [{
        ResourceType: "network-interface",
        Tags: [
          { Key: "node.k8s.amazonaws.com/instance_id", Value: node.instanceId },
          { Key: "node.k8s.amazonaws.com/createdAt", Value: new Date().toISOString() },
        ],
      }],
    }),
  );
  const eni = created.NetworkInterface!;
  assert.equal(eni.Status, "available");
  assert.equal(eni.PrivateIpAddresses?.length, 3);
  assert.equal(eni.PrivateIpAddresses?.filter((a) => a.Primary).length, 1);
  assert.equal(eni.TagSet?.length, 2);
  assert.deepEqual(eni.Groups?.map((g) => g.GroupId), [sgId]);

  const attached = await ec2.send(
    new AttachNetworkInterfaceCommand({
      NetworkInterfaceId: eni.NetworkInterfaceId,
      InstanceId: node.instanceId,
      DeviceIndex: 1,
      NetworkCardIndex: 0,
    }),
  );
  assert.match(attached.AttachmentId ?? "", /^eni-attach-/);
  await ec2.send(
    new ModifyNetworkInterfaceAttributeCommand({
      NetworkInterfaceId: eni.NetworkInterfaceId,
      Attachment: { AttachmentId: attached.AttachmentId, DeleteOnTermination: true },
    }),
  );

  const assigned = await ec2.send(
    new AssignPrivateIpAddressesCommand({
      NetworkInterfaceId: eni.NetworkInterfaceId,
      SecondaryPrivateIpAddressCount: 2,
    }),
  );
  assert.equal(
    assigned.AssignedPrivateIpAddresses?.length,
    2,
    "only the new addresses, unlike moto",
  );
  const prefix = await ec2.send(
    new AssignPrivateIpAddressesCommand({
      NetworkInterfaceId: eni.NetworkInterfaceId,
      Ipv4PrefixCount: 1,
    }),
  );
  assert.match(prefix.AssignedIpv4Prefixes?.[0]?.Ipv4Prefix ?? "", /\/28$/);

  const full = await errorOf(ec2.send(
    new AssignPrivateIpAddressesCommand({
      NetworkInterfaceId: eni.NetworkInterfaceId,
      SecondaryPrivateIpAddressCount: 1,
    }),
  ));
  assert.deepEqual([full.name, full.status], ["PrivateIpAddressLimitExceeded", 400]);

  await ec2.send(
    new CreateTagsCommand({
      Resources: [eni.NetworkInterfaceId!],
      Tags: [{ Key: "tsim", Value: "1" }],
    }),
  );
  const described = await ec2.send(
    new DescribeNetworkInterfacesCommand({
      Filters: [
        { Name: "attachment.instance-id", Values: [node.instanceId] },
        { Name: "tag:tsim", Values: ["1"] },
      ],
    }),
  );
  const d = described.NetworkInterfaces?.[0];
  assert.equal(d?.NetworkInterfaceId, eni.NetworkInterfaceId);
  assert.equal(d?.Status, "in-use");
  assert.equal(d?.Attachment?.DeleteOnTermination, true);
  assert.equal(d?.Attachment?.DeviceIndex, 1);
  assert.ok(d?.Attachment?.AttachTime instanceof Date);
  assert.equal(d?.PrivateIpAddresses?.length, 5);
  assert.equal(d?.Ipv4Prefixes?.length, 1);

  await ec2.send(
    new UnassignPrivateIpAddressesCommand({
      NetworkInterfaceId: eni.NetworkInterfaceId,
      PrivateIpAddresses: assigned.AssignedPrivateIpAddresses!.map((a) => a.PrivateIpAddress!),
    }),
  );
  await ec2.send(
    new UnassignPrivateIpAddressesCommand({
      NetworkInterfaceId: eni.NetworkInterfaceId,
      Ipv4Prefixes: [prefix.AssignedIpv4Prefixes![0]!.Ipv4Prefix!],
    }),
  );
  const inUse = await errorOf(
    ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: eni.NetworkInterfaceId })),
  );
  assert.equal(inUse.name, "InvalidNetworkInterface.InUse");
  await ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: attached.AttachmentId }));
  await ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: eni.NetworkInterfaceId }));
  const gone = await errorOf(
    ec2.send(
      new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eni.NetworkInterfaceId!] }),
    ),
  );
  assert.equal(gone.name, "InvalidNetworkInterfaceID.NotFound");
  assert.match(gone.message, new RegExp(`'${eni.NetworkInterfaceId}'`));

  const counters = t.sim.counters.snapshot();
  assert.equal(counters.actions.AssignPrivateIpAddresses?.calls, 3);
  assert.equal(counters.actions.AssignPrivateIpAddresses?.failed, 1);
});

Deno.test("the SDK sees AttachmentLimitExceeded on a t3.medium's fourth ENI", async () => {
  await using t = await startSim({ instanceType: "t3.medium" });
  const { ec2, info } = t;
  const instanceId = info.nodes[0]!.instanceId;
  const results = [];
  for (const deviceIndex of [1, 2, 3]) {
    const { NetworkInterface } = await ec2.send(
      new CreateNetworkInterfaceCommand({ SubnetId: info.subnets[0]!.subnetId }),
    );
    results.push(
      await ec2.send(
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: NetworkInterface!.NetworkInterfaceId,
          InstanceId: instanceId,
          DeviceIndex: deviceIndex,
        }),
      )
        .then(() => "attached", (e) => (e as Error).name),
    );
  }
  assert.deepEqual(results, ["attached", "attached", "AttachmentLimitExceeded"]);
});

Deno.test("the SDK paginator walks every page of DescribeNetworkInterfaces", async () => {
  await using t = await startSim();
  for (let i = 0; i < 11; i++) {
    await t.ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: t.info.subnets[0]!.subnetId }));
  }
  const ids: string[] = [];
  let pages = 0;
  for await (const page of paginateDescribeNetworkInterfaces({ client: t.ec2, pageSize: 5 }, {})) {
    pages++;
    ids.push(...(page.NetworkInterfaces ?? []).map((e) => e.NetworkInterfaceId!));
  }
  assert.equal(pages, 3);
  assert.equal(new Set(ids).size, 12);
});

Deno.test("the SDK's retryer rides out throttling and injected 5xx", async () => {
  await using t = await startSim();
  const faults = defaultFaultConfig();
  faults.faults = [{ action: "DescribeSubnets", kind: "InternalError", count: 1 }];
  faults.throttle = {
    ...faults.throttle,
    enabled: true,
    describe: { capacity: 1, refillPerSecond: 20 },
  };
  t.sim.faults.configure(faults);
  const ec2 = new EC2Client({
    region: "us-west-2",
    endpoint: t.info.ec2Endpoint,
    credentials: { accessKeyId: "tsim", secretAccessKey: "tsim" },
    maxAttempts: 5,
  });
  try {
    const first = await errorOf(t.ec2.send(new DescribeSubnetsCommand({})));
    assert.deepEqual([first.name, first.status], ["InternalError", 500]);
    const second = await errorOf(t.ec2.send(new DescribeSubnetsCommand({})));
    assert.deepEqual([second.name, second.status], ["RequestLimitExceeded", 503]);
    const ok = await ec2.send(new DescribeSubnetsCommand({}));
    assert.equal(ok.Subnets?.length, 1);
    assert.ok(ok.$metadata.attempts! > 1, "the SDK retried the throttled call");
  } finally {
    ec2.destroy();
  }
});

Deno.test("the SDK's default credential chain gets the instance-profile credentials from IMDS", async () => {
  await using t = await startSim();
  const saved = Object.fromEntries(
    [
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "AWS_SESSION_TOKEN",
      "AWS_PROFILE",
      "AWS_SHARED_CREDENTIALS_FILE",
      "AWS_CONFIG_FILE",
      "AWS_EC2_METADATA_SERVICE_ENDPOINT",
      "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
      "AWS_CONTAINER_CREDENTIALS_FULL_URI",
      "AWS_WEB_IDENTITY_TOKEN_FILE",
    ]
      .map((k) => [k, Deno.env.get(k)]),
  );
  for (const k of Object.keys(saved)) Deno.env.delete(k);
  Deno.env.set("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/tsim-credentials");
  Deno.env.set("AWS_CONFIG_FILE", "/nonexistent/tsim-config");
  Deno.env.set(
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    t.info.nodes[0]!.env.AWS_EC2_METADATA_SERVICE_ENDPOINT!,
  );
  const ec2 = new EC2Client({ region: "us-west-2", endpoint: t.info.ec2Endpoint, maxAttempts: 1 });
  try {
    const creds = await ec2.config.credentials();
    assert.match(creds.accessKeyId, /^ASIA[0-9A-F]{16}$/);
    assert.ok(creds.sessionToken);
    assert.ok(creds.expiration && creds.expiration.getTime() > Date.now());
    const out = await ec2.send(new DescribeInstancesCommand({}));
    assert.equal(out.Reservations?.length, 1);
  } finally {
    ec2.destroy();
    for (const [k, v] of Object.entries(saved)) {
      v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
  }
});
