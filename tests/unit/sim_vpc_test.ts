import assert from "node:assert/strict";
import {
  assignPrivateIpAddresses,
  attachNetworkInterface,
  createNetworkInterface,
  deleteNetworkInterface,
  detachNetworkInterface,
  modifyNetworkInterfaceAttribute,
  unassignPrivateIpAddresses,
} from "../../src/sim/eni_ops.ts";
import { codeOf, vpcFixture } from "../lab/sim_fixture.ts";

Deno.test("ids, MACs and addresses are the same for the same seed", () => {
  const describe = (seed: number) => {
    const { vpc, subnet, instances } = vpcFixture({ seed });
    const eni = createNetworkInterface(vpc, { subnetId: subnet.id, secondaryCount: 3 });
    return [vpc.id, instances[0]!.id, eni.id, eni.mac, eni.primaryIp, ...eni.secondaryIps];
  };
  assert.deepEqual(describe(5), describe(5));
  assert.notDeepEqual(describe(5), describe(6));
});

Deno.test("an instance starts with its primary ENI at device 0, DeleteOnTermination true", () => {
  const { vpc, instances } = vpcFixture();
  const [eni] = vpc.enisOf(instances[0]!.id);
  assert.equal(eni!.id, instances[0]!.primaryEniId);
  assert.equal(eni!.attachment?.deviceIndex, 0);
  assert.equal(eni!.attachment?.deleteOnTermination, true);
  assert.match(eni!.mac, /^02(:[0-9a-f]{2}){5}$/);
});

Deno.test("attaching a fourth ENI to a t3.medium fails with AttachmentLimitExceeded", () => {
  const { vpc, subnet, instances } = vpcFixture({ type: "t3.medium" });
  const instanceId = instances[0]!.id;
  for (const deviceIndex of [1, 2]) {
    const eni = createNetworkInterface(vpc, { subnetId: subnet.id });
    attachNetworkInterface(vpc, { eniId: eni.id, instanceId, deviceIndex });
  }
  const fourth = createNetworkInterface(vpc, { subnetId: subnet.id });
  assert.equal(
    codeOf(() => attachNetworkInterface(vpc, { eniId: fourth.id, instanceId, deviceIndex: 3 })),
    "AttachmentLimitExceeded",
  );
  assert.equal(fourth.attachment, undefined);
});

Deno.test("p4d.24xlarge limits ENIs per network card and rejects a card it does not have", () => {
  const { vpc, subnet, instances } = vpcFixture({ type: "p4d.24xlarge" });
  const instanceId = instances[0]!.id;
  for (let d = 1; d < 15; d++) {
    const eni = createNetworkInterface(vpc, { subnetId: subnet.id });
    attachNetworkInterface(vpc, { eniId: eni.id, instanceId, deviceIndex: d, networkCardIndex: 0 });
  }
  const eni = createNetworkInterface(vpc, { subnetId: subnet.id });
  assert.equal(
    codeOf(() =>
      attachNetworkInterface(vpc, {
        eniId: eni.id,
        instanceId,
        deviceIndex: 15,
        networkCardIndex: 0,
      })
    ),
    "AttachmentLimitExceeded",
  );
  assert.equal(
    codeOf(() =>
      attachNetworkInterface(vpc, {
        eniId: eni.id,
        instanceId,
        deviceIndex: 0,
        networkCardIndex: 4,
      })
    ),
    "InvalidParameterValue",
  );
  // Device index 0 on card 1 is free: indexes are per card. Linux names it eth15 (the lowest
  // free ethN), since eth0..eth14 are card 0's.
  const { effects } = attachNetworkInterface(vpc, {
    eniId: eni.id,
    instanceId,
    deviceIndex: 0,
    networkCardIndex: 1,
  });
  assert.deepEqual(effects[0], {
    kind: "attach",
    nodeKey: "n1",
    deviceIndex: 15,
    mac: eni.mac,
    gateway: "10.10.0.1",
  });
  assert.equal(eni.attachment?.deviceIndex, 0);
});

Deno.test("a device index in use and an ENI already attached are refused", () => {
  const { vpc, subnet, instances } = vpcFixture({ nodes: 2 });
  const a = createNetworkInterface(vpc, { subnetId: subnet.id });
  const b = createNetworkInterface(vpc, { subnetId: subnet.id });
  attachNetworkInterface(vpc, { eniId: a.id, instanceId: instances[0]!.id, deviceIndex: 1 });
  assert.equal(
    codeOf(() =>
      attachNetworkInterface(vpc, { eniId: b.id, instanceId: instances[0]!.id, deviceIndex: 1 })
    ),
    "InvalidParameterValue",
  );
  assert.equal(
    codeOf(() =>
      attachNetworkInterface(vpc, { eniId: a.id, instanceId: instances[1]!.id, deviceIndex: 1 })
    ),
    "InvalidNetworkInterface.InUse",
  );
});

Deno.test("the primary IP counts toward the limit: a t3.medium ENI takes 5 secondaries, not 6", () => {
  const { vpc, instances } = vpcFixture({ type: "t3.medium" });
  const eniId = instances[0]!.primaryEniId;
  assert.equal(
    codeOf(() => assignPrivateIpAddresses(vpc, { eniId, count: 6 })),
    "PrivateIpAddressLimitExceeded",
  );
  assert.equal(assignPrivateIpAddresses(vpc, { eniId, count: 5 }).ips.length, 5);
  assert.equal(
    codeOf(() => assignPrivateIpAddresses(vpc, { eniId, count: 1 })),
    "PrivateIpAddressLimitExceeded",
  );
});

Deno.test("each /28 prefix takes one IPv4 slot of the ENI", () => {
  const { vpc, instances } = vpcFixture({ type: "t3.medium" });
  const eniId = instances[0]!.primaryEniId;
  assignPrivateIpAddresses(vpc, { eniId, count: 2 });
  assert.equal(assignPrivateIpAddresses(vpc, { eniId, prefixCount: 3 }).prefixes.length, 3);
  assert.equal(
    codeOf(() => assignPrivateIpAddresses(vpc, { eniId, prefixCount: 1 })),
    "PrivateIpAddressLimitExceeded",
  );
});

Deno.test("attaching an ENI with more addresses than the instance type allows fails", () => {
  const { vpc, subnet, instances } = vpcFixture({ type: "t3.small" });
  const eni = createNetworkInterface(vpc, { subnetId: subnet.id, secondaryCount: 4 });
  assert.equal(
    codeOf(() =>
      attachNetworkInterface(vpc, { eniId: eni.id, instanceId: instances[0]!.id, deviceIndex: 1 })
    ),
    "PrivateIpAddressLimitExceeded",
  );
});

Deno.test("prefixes are refused on Xen instances and allowed on Nitro", () => {
  const xen = vpcFixture({ type: "t2.medium" });
  assert.equal(
    codeOf(() =>
      assignPrivateIpAddresses(xen.vpc, { eniId: xen.instances[0]!.primaryEniId, prefixCount: 1 })
    ),
    "InvalidParameterValue",
  );
  const eni = createNetworkInterface(xen.vpc, { subnetId: xen.subnet.id, ipv4PrefixCount: 1 });
  assert.equal(
    codeOf(() =>
      attachNetworkInterface(xen.vpc, {
        eniId: eni.id,
        instanceId: xen.instances[0]!.id,
        deviceIndex: 1,
      })
    ),
    "InvalidParameterValue",
  );
  const metal = vpcFixture({ type: "m5.metal" });
  assert.equal(
    assignPrivateIpAddresses(metal.vpc, { eniId: metal.instances[0]!.primaryEniId, prefixCount: 1 })
      .prefixes.length,
    1,
  );
});

Deno.test("a full subnet answers InsufficientFreeAddressesInSubnet and allocates nothing", () => {
  // A /28 has 11 usable addresses; the instance took one.
  const { vpc, subnet, instances } = vpcFixture({ type: "m5.xlarge", subnetCidr: "10.10.0.0/28" });
  const eniId = instances[0]!.primaryEniId;
  assignPrivateIpAddresses(vpc, { eniId, count: 8 });
  assert.equal(subnet.allocator.available, 2);
  assert.equal(
    codeOf(() => assignPrivateIpAddresses(vpc, { eniId, count: 3 })),
    "InsufficientFreeAddressesInSubnet",
  );
  assert.equal(subnet.allocator.available, 2);
  assert.equal(
    codeOf(() => createNetworkInterface(vpc, { subnetId: subnet.id, secondaryCount: 2 })),
    "InsufficientFreeAddressesInSubnet",
  );
  assert.equal(subnet.allocator.available, 2);
});

Deno.test("a fragmented subnet answers InsufficientCidrBlocks for a prefix but still gives IPs", () => {
  const { vpc, subnet, instances } = vpcFixture({ subnetCidr: "10.10.0.0/24" });
  subnet.allocator.fragment();
  const eniId = instances[0]!.primaryEniId;
  assert.equal(
    codeOf(() => assignPrivateIpAddresses(vpc, { eniId, prefixCount: 1 })),
    "InsufficientCidrBlocks",
  );
  assert.equal(
    codeOf(() => createNetworkInterface(vpc, { subnetId: subnet.id, ipv4PrefixCount: 1 })),
    "InsufficientCidrBlocks",
  );
  assert.equal(assignPrivateIpAddresses(vpc, { eniId, count: 2 }).ips.length, 2);
});

Deno.test("specific prefixes must be aligned /28s", () => {
  const { vpc, instances } = vpcFixture();
  const eniId = instances[0]!.primaryEniId;
  assert.equal(
    codeOf(() => assignPrivateIpAddresses(vpc, { eniId, prefixes: ["10.10.1.8/28"] })),
    "InvalidParameterValue",
  );
  assert.equal(
    codeOf(() => assignPrivateIpAddresses(vpc, { eniId, prefixes: ["10.10.1.0/27"] })),
    "InvalidParameterValue",
  );
  assert.deepEqual(assignPrivateIpAddresses(vpc, { eniId, prefixes: ["10.10.1.16/28"] }).prefixes, [
    "10.10.1.16/28",
  ]);
});

Deno.test("unknown and malformed ids answer EC2's NotFound and Malformed codes", () => {
  const { vpc, subnet } = vpcFixture();
  assert.equal(
    codeOf(() => vpc.eni("eni-0123456789abcdef0")),
    "InvalidNetworkInterfaceID.NotFound",
  );
  assert.equal(codeOf(() => vpc.eni("bogus")), "InvalidNetworkInterfaceID.Malformed");
  assert.equal(codeOf(() => vpc.instance("i-0123456789abcdef0")), "InvalidInstanceID.NotFound");
  assert.equal(
    codeOf(() => createNetworkInterface(vpc, { subnetId: "subnet-0123456789abcdef0" })),
    "InvalidSubnetID.NotFound",
  );
  assert.equal(
    codeOf(() =>
      createNetworkInterface(vpc, { subnetId: subnet.id, groupIds: ["sg-0123456789abcdef0"] })
    ),
    "InvalidGroup.NotFound",
  );
  try {
    vpc.eni("eni-0123456789abcdef0");
  } catch (e) {
    // ipamd extracts the missing id from the message with '([a-zA-Z0-9-]+)'.
    assert.equal(/'([a-zA-Z0-9-]+)'/.exec((e as Error).message)?.[1], "eni-0123456789abcdef0");
  }
});

Deno.test("deleting an attached ENI is refused; after detach it is deleted and its addresses freed", () => {
  const { vpc, subnet, instances } = vpcFixture();
  const free = subnet.allocator.available;
  const eni = createNetworkInterface(vpc, { subnetId: subnet.id, secondaryCount: 2 });
  const { attachmentId } = attachNetworkInterface(vpc, {
    eniId: eni.id,
    instanceId: instances[0]!.id,
    deviceIndex: 1,
  });
  assert.equal(codeOf(() => deleteNetworkInterface(vpc, eni.id)), "InvalidNetworkInterface.InUse");
  const effects = detachNetworkInterface(vpc, { attachmentId });
  assert.deepEqual(effects, [{ kind: "detach", nodeKey: "n1", deviceIndex: 1 }]);
  deleteNetworkInterface(vpc, eni.id);
  assert.equal(subnet.allocator.available, free);
  assert.equal(
    codeOf(() => deleteNetworkInterface(vpc, eni.id)),
    "InvalidNetworkInterfaceID.NotFound",
  );
});

Deno.test("the primary ENI cannot be detached", () => {
  const { vpc, instances } = vpcFixture();
  const primary = vpc.eni(instances[0]!.primaryEniId);
  assert.equal(
    codeOf(() => detachNetworkInterface(vpc, { attachmentId: primary.attachment!.id })),
    "OperationNotPermitted",
  );
  assert.equal(
    codeOf(() => detachNetworkInterface(vpc, { attachmentId: "eni-attach-0123456789abcdef0" })),
    "InvalidAttachmentID.NotFound",
  );
});

Deno.test("attach and assign return the lab effects: a device, then routes for every address", () => {
  const { vpc, subnet, instances } = vpcFixture();
  const eni = createNetworkInterface(vpc, { subnetId: subnet.id, secondaryCount: 1 });
  const { effects } = attachNetworkInterface(vpc, {
    eniId: eni.id,
    instanceId: instances[0]!.id,
    deviceIndex: 2,
  });
  assert.deepEqual(effects.map((e) => e.kind), ["attach", "route", "route"]);
  assert.deepEqual(effects[0], {
    kind: "attach",
    nodeKey: "n1",
    deviceIndex: 2,
    mac: eni.mac,
    gateway: "10.10.0.1",
  });
  assert.deepEqual(effects.slice(1).map((e) => e.kind === "route" && e.cidr), [
    `${eni.primaryIp}/32`,
    `${eni.secondaryIps[0]}/32`,
  ]);
  const assigned = assignPrivateIpAddresses(vpc, { eniId: eni.id, prefixCount: 1 });
  assert.deepEqual(assigned.effects, [{
    kind: "route",
    nodeKey: "n1",
    deviceIndex: 2,
    cidr: assigned.prefixes[0],
    eniPrimaryIp: eni.primaryIp,
    mac: eni.mac,
  }]);
  const removed = unassignPrivateIpAddresses(vpc, { eniId: eni.id, prefixes: assigned.prefixes });
  assert.deepEqual(removed, [{
    kind: "unroute",
    nodeKey: "n1",
    deviceIndex: 2,
    cidr: assigned.prefixes[0],
  }]);
});

Deno.test("unassign refuses the primary IP and addresses the ENI does not have", () => {
  const { vpc, instances } = vpcFixture();
  const eni = vpc.eni(instances[0]!.primaryEniId);
  assert.equal(
    codeOf(() => unassignPrivateIpAddresses(vpc, { eniId: eni.id, ips: [eni.primaryIp] })),
    "InvalidParameterValue",
  );
  assert.equal(
    codeOf(() => unassignPrivateIpAddresses(vpc, { eniId: eni.id, ips: ["10.10.9.9"] })),
    "InvalidParameterValue",
  );
  assert.equal(
    codeOf(() => unassignPrivateIpAddresses(vpc, { eniId: eni.id, prefixes: ["10.10.9.0/28"] })),
    "InvalidParameterValue",
  );
});

Deno.test("ModifyNetworkInterfaceAttribute sets DeleteOnTermination and security groups, one at a time", () => {
  const { vpc, subnet, instances } = vpcFixture();
  const sg = vpc.addSecurityGroup({ name: "pods", description: "pods" });
  const eni = createNetworkInterface(vpc, { subnetId: subnet.id });
  const { attachmentId } = attachNetworkInterface(vpc, {
    eniId: eni.id,
    instanceId: instances[0]!.id,
    deviceIndex: 1,
  });
  assert.equal(eni.attachment?.deleteOnTermination, false);
  modifyNetworkInterfaceAttribute(vpc, {
    eniId: eni.id,
    attachment: { attachmentId, deleteOnTermination: true },
  });
  assert.equal(eni.attachment?.deleteOnTermination, true);
  modifyNetworkInterfaceAttribute(vpc, { eniId: eni.id, groupIds: [sg.id] });
  assert.deepEqual(eni.groupIds, [sg.id]);
  assert.equal(
    codeOf(() =>
      modifyNetworkInterfaceAttribute(vpc, { eniId: eni.id, groupIds: [sg.id], description: "x" })
    ),
    "InvalidParameterCombination",
  );
  assert.equal(
    codeOf(() =>
      modifyNetworkInterfaceAttribute(vpc, {
        eniId: eni.id,
        attachment: { attachmentId: "eni-attach-0123456789abcdef0", deleteOnTermination: true },
      })
    ),
    "InvalidAttachmentID.NotFound",
  );
});

Deno.test("CreateTags rejects aws: keys and more than 50 tags; unknown ids are NotFound", () => {
  const { vpc, instances } = vpcFixture();
  const eniId = instances[0]!.primaryEniId;
  vpc.createTags([eniId, instances[0]!.id], [[
    "node.k8s.amazonaws.com/instance_id",
    instances[0]!.id,
  ]]);
  assert.equal(vpc.eni(eniId).tags.get("node.k8s.amazonaws.com/instance_id"), instances[0]!.id);
  assert.equal(codeOf(() => vpc.createTags([eniId], [["aws:x", "1"]])), "InvalidParameterValue");
  const many = Array.from({ length: 50 }, (_, i) => [`k${i}`, "v"] as [string, string]);
  assert.equal(codeOf(() => vpc.createTags([eniId], many)), "TagLimitExceeded");
  assert.equal(
    codeOf(() => vpc.createTags(["eni-0123456789abcdef0"], [["a", "b"]])),
    "InvalidNetworkInterfaceID.NotFound",
  );
});

Deno.test("instanceByAddress() finds the instance of any private IP or prefix address", () => {
  const { vpc, instances } = vpcFixture({ nodes: 2 });
  const eniId = instances[1]!.primaryEniId;
  const { ips } = assignPrivateIpAddresses(vpc, { eniId, count: 1 });
  const { prefixes } = assignPrivateIpAddresses(vpc, { eniId, prefixCount: 1 });
  assert.equal(vpc.instanceByAddress(instances[0]!.privateIp)?.id, instances[0]!.id);
  assert.equal(vpc.instanceByAddress(ips[0]!)?.id, instances[1]!.id);
  const inPrefix = prefixes[0]!.replace(/\.(\d+)\/28$/, (_, last) => `.${Number(last) + 7}`);
  assert.equal(vpc.instanceByAddress(inPrefix)?.id, instances[1]!.id);
  assert.equal(vpc.instanceByAddress("10.10.200.1"), undefined);
});

Deno.test("AllowReassignment moves a secondary IP from another ENI", () => {
  const { vpc, instances } = vpcFixture({ type: "m5.large", nodes: 2 });
  const [a, b] = instances.map((i) => i.primaryEniId);
  const { ips } = assignPrivateIpAddresses(vpc, { eniId: a!, count: 1 });
  assert.equal(
    codeOf(() => assignPrivateIpAddresses(vpc, { eniId: b!, ips })),
    "InvalidIPAddress.InUse",
  );
  const moved = assignPrivateIpAddresses(vpc, { eniId: b!, ips, allowReassignment: true });
  assert.deepEqual(vpc.eni(a!).secondaryIps, []);
  assert.deepEqual(vpc.eni(b!).secondaryIps, ips);
  assert.deepEqual(moved.effects.map((e) => `${e.kind} ${e.nodeKey}`), ["unroute n1", "route n2"]);
});
