import assert from "node:assert/strict";
import { defaultFaultConfig } from "../../src/sim/faults.ts";
import { ec2Handler } from "../../src/sim/ec2_server.ts";
import { handlerFixture, SIGNED } from "../lab/sim_handler.ts";
import { find, parseXml } from "../lab/sim_xml.ts";

Deno.test("an unknown action answers EC2's InvalidAction error envelope with HTTP 400", async () => {
  const f = handlerFixture();
  const { status, doc } = await f.call({ Action: "LaunchRockets", Version: "2016-11-15" });
  assert.equal(status, 400);
  assert.equal(doc.name, "Response");
  assert.equal(find(doc, "Errors", "Error", "Code")?.text, "InvalidAction");
  assert.match(find(doc, "Errors", "Error", "Message")!.text, /LaunchRockets/);
  assert.match(find(doc, "RequestID")!.text, /^[0-9a-f-]{36}$/);
  assert.equal(f.counters.snapshot().actions.LaunchRockets?.failed, 1);
});

Deno.test("a successful call answers <ActionResponse xmlns=...> with a requestId", async () => {
  const f = handlerFixture();
  const res = await f.call({ Action: "DescribeInstances" });
  assert.equal(res.status, 200);
  assert.match(
    res.xml,
    /^<\?xml version="1.0" encoding="UTF-8"\?>\n<DescribeInstancesResponse xmlns="http:\/\/ec2\.amazonaws\.com\/doc\/2016-11-15\/">/,
  );
  const instance = find(res.doc, "reservationSet", "item", "instancesSet", "item")!;
  assert.equal(find(instance, "instanceId")?.text, f.instances[0]!.id);
  assert.equal(
    find(instance, "networkInterfaceSet", "item", "attachment", "deviceIndex")?.text,
    "0",
  );
});

Deno.test("DryRun answers DryRunOperation (HTTP 412) and changes nothing", async () => {
  const f = handlerFixture();
  const { status, doc } = await f.call({
    Action: "CreateNetworkInterface",
    SubnetId: f.subnet.id,
    DryRun: true,
  });
  assert.equal(status, 412);
  assert.equal(find(doc, "Errors", "Error", "Code")?.text, "DryRunOperation");
  assert.equal(f.vpc.enis.size, 1);
});

Deno.test("an empty throttling bucket answers RequestLimitExceeded with HTTP 503", async () => {
  const faults = defaultFaultConfig();
  faults.throttle.enabled = true;
  faults.throttle.describe = { capacity: 2, refillPerSecond: 0 };
  const f = handlerFixture({ faults });
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await f.call({ Action: "DescribeSubnets" })).status);
  assert.deepEqual(statuses, [200, 200, 503]);
  const last = await f.call({ Action: "DescribeSubnets" });
  assert.equal(find(last.doc, "Errors", "Error", "Code")?.text, "RequestLimitExceeded");
  assert.equal(
    (await f.call({ Action: "CreateTags", "ResourceId.1": f.instances[0]!.id, "Tag.1.Key": "a" }))
      .status,
    200,
  );
  assert.deepEqual(f.counters.snapshot().actions.DescribeSubnets, {
    calls: 4,
    ok: 2,
    throttled: 2,
    failed: 0,
    injected: 0,
    timeouts: 0,
    errors: { RequestLimitExceeded: 2 },
  });
});

Deno.test("injected faults answer InternalError (500) and Unavailable (503)", async () => {
  const faults = defaultFaultConfig();
  faults.faults = [
    { action: "AssignPrivateIpAddresses", kind: "InternalError", count: 1 },
    { action: "AssignPrivateIpAddresses", kind: "Unavailable", count: 1 },
  ];
  const f = handlerFixture({ faults });
  const call = () =>
    f.call({
      Action: "AssignPrivateIpAddresses",
      NetworkInterfaceId: f.instances[0]!.primaryEniId,
      SecondaryPrivateIpAddressCount: 1,
    });
  const a = await call();
  const b = await call();
  const c = await call();
  assert.deepEqual([a.status, b.status, c.status], [500, 503, 200]);
  assert.equal(find(a.doc, "Errors", "Error", "Code")?.text, "InternalError");
  assert.equal(find(b.doc, "Errors", "Error", "Code")?.text, "Unavailable");
  assert.equal(
    f.vpc.eni(f.instances[0]!.primaryEniId).secondaryIps.length,
    1,
    "failed calls changed nothing",
  );
  assert.equal(f.counters.snapshot().actions.AssignPrivateIpAddresses?.injected, 2);
});

Deno.test("an injected UnauthorizedOperation answers HTTP 403 with EC2's error envelope and changes nothing", async () => {
  const faults = defaultFaultConfig();
  faults.faults = [{ action: "CreateNetworkInterface", kind: "UnauthorizedOperation", count: 2 }];
  const f = handlerFixture({ faults });
  const create = () => f.call({ Action: "CreateNetworkInterface", SubnetId: f.subnet.id });
  const a = await create();
  const b = await create();
  const c = await create();
  assert.deepEqual([a.status, b.status, c.status], [403, 403, 200]);
  assert.equal(a.doc.name, "Response");
  assert.equal(find(a.doc, "Errors", "Error", "Code")?.text, "UnauthorizedOperation");
  assert.equal(
    find(a.doc, "Errors", "Error", "Message")?.text,
    "You are not authorized to perform this operation.",
  );
  assert.match(find(a.doc, "RequestID")!.text, /^[0-9a-f-]{36}$/);
  assert.equal(f.vpc.enis.size, 2, "only the third call created an ENI");
  const counted = f.counters.snapshot().actions.CreateNetworkInterface;
  assert.equal(counted?.injected, 2);
  assert.deepEqual(counted?.errors, { UnauthorizedOperation: 2 });
});

Deno.test("an injected timeout holds the request, then runs it (the client may have given up)", async () => {
  const faults = defaultFaultConfig();
  faults.faults = [{ action: "CreateNetworkInterface", kind: "timeout", count: 1, holdMs: 150 }];
  const f = handlerFixture({ faults });
  const t0 = performance.now();
  const res = await f.call({ Action: "CreateNetworkInterface", SubnetId: f.subnet.id });
  assert.ok(performance.now() - t0 >= 140);
  assert.equal(res.status, 200);
  assert.equal(f.counters.snapshot().actions.CreateNetworkInterface?.timeouts, 1);
});

Deno.test("assign on an attached ENI routes the new addresses in the lab", async () => {
  const f = handlerFixture();
  const eniId = f.instances[0]!.primaryEniId;
  const res = await f.call({
    Action: "AssignPrivateIpAddresses",
    NetworkInterfaceId: eniId,
    "PrivateIpAddress.1": "10.10.3.3",
    Ipv4PrefixCount: 0,
  });
  assert.equal(res.status, 400, "a list and a count together are refused");
  const ok = await f.call({
    Action: "AssignPrivateIpAddresses",
    NetworkInterfaceId: eniId,
    "PrivateIpAddress.1": "10.10.3.3",
  });
  assert.equal(
    find(ok.doc, "assignedPrivateIpAddressesSet", "item", "privateIpAddress")?.text,
    "10.10.3.3",
  );
  assert.ok(f.plumbing.routes.get("n1")!.has("0|10.10.3.3/32"));
});

Deno.test("DescribeNetworkInterfaces filters by tag and attachment and paginates with NextToken", async () => {
  const f = handlerFixture({ nodes: 2 });
  for (let i = 0; i < 7; i++) {
    await f.call({
      Action: "CreateNetworkInterface",
      SubnetId: f.subnet.id,
      "TagSpecification.1.ResourceType": "network-interface",
      "TagSpecification.1.Tag.1.Key": "node.k8s.amazonaws.com/instance_id",
      "TagSpecification.1.Tag.1.Value": f.instances[i % 2]!.id,
    });
  }
  const ids = (doc: Parameters<typeof find>[0]) =>
    find(doc, "networkInterfaceSet")!.children.map((c) => find(c, "networkInterfaceId")!.text);
  const byTag = await f.call({
    Action: "DescribeNetworkInterfaces",
    "Filter.1.Name": "tag-key",
    "Filter.1.Value.1": "node.k8s.amazonaws.com/*",
    "Filter.2.Name": "status",
    "Filter.2.Value.1": "available",
  });
  assert.equal(ids(byTag.doc).length, 7);
  const byValue = await f.call({
    Action: "DescribeNetworkInterfaces",
    "Filter.1.Name": "tag:node.k8s.amazonaws.com/instance_id",
    "Filter.1.Value.1": f.instances[0]!.id,
  });
  assert.equal(ids(byValue.doc).length, 4);
  const attached = await f.call({
    Action: "DescribeNetworkInterfaces",
    "Filter.1.Name": "attachment.instance-id",
    "Filter.1.Value.1": f.instances[1]!.id,
  });
  assert.deepEqual(ids(attached.doc), [f.instances[1]!.primaryEniId]);

  const seen: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page = await f.call({
      Action: "DescribeNetworkInterfaces",
      MaxResults: 5,
      ...(token ? { NextToken: token } : {}),
    });
    seen.push(...ids(page.doc));
    token = find(page.doc, "nextToken")?.text;
    pages++;
  } while (token);
  assert.equal(pages, 2);
  assert.equal(new Set(seen).size, 9);

  const bad = await f.call({
    Action: "DescribeNetworkInterfaces",
    "Filter.1.Name": "colour",
    "Filter.1.Value.1": "red",
  });
  assert.equal(find(bad.doc, "Errors", "Error", "Code")?.text, "InvalidParameterValue");
  const small = await f.call({ Action: "DescribeNetworkInterfaces", MaxResults: 2 });
  assert.equal(small.status, 400);
  const both = await f.call({
    Action: "DescribeNetworkInterfaces",
    MaxResults: 5,
    "NetworkInterfaceId.1": f.instances[0]!.primaryEniId,
  });
  assert.equal(find(both.doc, "Errors", "Error", "Code")?.text, "InvalidParameterCombination");
});

Deno.test("DescribeInstanceTypes answers the table's limits and rejects unknown types", async () => {
  const f = handlerFixture();
  const res = await f.call({ Action: "DescribeInstanceTypes", "InstanceType.1": "m4.4xlarge" });
  const t = find(res.doc, "instanceTypeSet", "item")!;
  assert.equal(find(t, "hypervisor")?.text, "xen");
  assert.equal(find(t, "networkInfo", "maximumNetworkInterfaces")?.text, "8");
  assert.equal(find(t, "networkInfo", "ipv4AddressesPerInterface")?.text, "30");
  assert.equal(find(t, "vCpuInfo", "defaultVCpus")?.text, "16");
  const metal = await f.call({ Action: "DescribeInstanceTypes", "InstanceType.1": "c5.metal" });
  assert.equal(find(metal.doc, "instanceTypeSet", "item", "bareMetal")?.text, "true");
  assert.equal(find(metal.doc, "instanceTypeSet", "item", "hypervisor"), undefined);
  const unknown = await f.call({ Action: "DescribeInstanceTypes", "InstanceType.1": "z9.huge" });
  assert.equal(find(unknown.doc, "Errors", "Error", "Code")?.text, "InvalidInstanceType");
});

Deno.test("CreateNetworkInterface with a ClientToken is idempotent", async () => {
  const f = handlerFixture();
  const a = await f.call({
    Action: "CreateNetworkInterface",
    SubnetId: f.subnet.id,
    ClientToken: "tok-1",
  });
  const b = await f.call({
    Action: "CreateNetworkInterface",
    SubnetId: f.subnet.id,
    ClientToken: "tok-1",
  });
  assert.equal(
    find(a.doc, "networkInterface", "networkInterfaceId")?.text,
    find(b.doc, "networkInterface", "networkInterfaceId")?.text,
  );
  assert.equal(f.vpc.enis.size, 2);
});

Deno.test("IPv6 requests are refused with a clear error: the simulated VPC has no IPv6", async () => {
  const f = handlerFixture();
  const res = await f.call({
    Action: "CreateNetworkInterface",
    SubnetId: f.subnet.id,
    Ipv6AddressCount: 1,
  });
  assert.equal(res.status, 400);
  assert.match(find(res.doc, "Errors", "Error", "Message")!.text, /IPv6 is not simulated/);
  const v6 = await f.call({
    Action: "AssignIpv6Addresses",
    NetworkInterfaceId: f.instances[0]!.primaryEniId,
  });
  assert.equal(find(v6.doc, "Errors", "Error", "Code")?.text, "InvalidAction");
});

Deno.test("unsigned requests and requests signed for another region are refused (401)", async () => {
  const f = handlerFixture();
  const handler = ec2Handler({
    vpc: f.vpc,
    faults: f.faults,
    counters: f.counters,
    plumbing: f.plumbing,
  });
  const send = async (headers: Record<string, string>) => {
    const res = await handler(
      new Request("http://sim.test/", { method: "POST", body: "Action=DescribeSubnets", headers }),
    );
    return {
      status: res.status,
      code: find(parseXml(await res.text()), "Errors", "Error", "Code")?.text,
    };
  };
  assert.deepEqual(await send({}), { status: 401, code: "MissingAuthenticationToken" });
  assert.deepEqual(await send({ authorization: SIGNED.replace("us-west-2", "us-east-1") }), {
    status: 401,
    code: "AuthFailure",
  });
  assert.deepEqual(await send({ authorization: SIGNED }), { status: 200, code: undefined });
});
