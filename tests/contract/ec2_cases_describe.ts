/** Contract cases: the read-only calls (limits, instance, subnets, groups, ENI queries). */

import assert from "node:assert/strict";
import { isNotFound } from "../../src/aws/ec2_errors.ts";
import { CASE_TAG, type Ec2Case, inCidr } from "./ec2_suite.ts";

export const describeCases: Ec2Case[] = [
  {
    name: "describeInstanceType() reports the ENI and IPv4 limits of t3.medium and m5.large",
    async run({ ec2 }) {
      // Spec §8 sample rows: t3.medium 3 ENIs × 6 IPv4, m5.large 3 × 10, both Nitro.
      const t3 = await ec2.describeInstanceType("t3.medium");
      assert.ok(t3);
      assert.deepEqual(
        [t3.instanceType, t3.maxEnis, t3.ipv4PerEni, t3.hypervisor, t3.bareMetal],
        ["t3.medium", 3, 6, "nitro", false],
      );
      assert.deepEqual(t3.networkCards, [{ index: 0, maxEnis: 3 }]);
      assert.equal(t3.defaultNetworkCardIndex, 0);
      const m5 = await ec2.describeInstanceType("m5.large");
      assert.deepEqual([m5?.maxEnis, m5?.ipv4PerEni], [3, 10]);
    },
  },
  {
    name: "describeInstanceType() of an unknown type fails with InvalidInstanceType, not retried",
    async run({ ec2, events }) {
      const error = await ec2.describeInstanceType("t9.imaginary").catch((e) => e);
      assert.equal(error.code, "InvalidInstanceType");
      assert.equal(error.status, 400);
      assert.equal(error.attempts, 1);
      assert.equal(events.length, 1);
    },
  },
  {
    name: "describeInstance() lists the primary ENI at device 0 on card 0",
    async run({ ec2, fx }) {
      const instance = await ec2.describeInstance(fx.instanceId);
      assert.ok(instance);
      assert.equal(instance.instanceId, fx.instanceId);
      assert.equal(instance.instanceType, fx.instanceType);
      assert.equal(instance.subnetId, fx.subnetId);
      assert.equal(instance.vpcId, fx.vpcId);
      assert.ok(inCidr(instance.privateIp, fx.subnetCidr), instance.privateIp);
      assert.deepEqual(
        instance.networkInterfaces.map((n) => [n.eniId, n.deviceIndex, n.networkCardIndex]),
        [[fx.primaryEniId, 0, 0]],
      );
    },
  },
  {
    name: "describeInstance() of an unknown instance fails with isNotFound",
    async run({ ec2 }) {
      const error = await ec2.describeInstance("i-0123456789abcdef0").catch((e) => e);
      assert.ok(isNotFound(error), String(error));
      assert.equal(error.code, "InvalidInstanceID.NotFound");
    },
  },
  {
    name: "describeSubnets() filters by VPC and availability zone (subnet discovery)",
    async run({ ec2, fx }) {
      const subnets = await ec2.describeSubnets({
        filters: { "vpc-id": [fx.vpcId], "availability-zone": [fx.availabilityZone] },
      });
      const mine = subnets.find((s) => s.subnetId === fx.subnetId);
      assert.ok(mine, `subnet ${fx.subnetId} is listed`);
      assert.equal(mine.cidr, fx.subnetCidr);
      assert.equal(mine.availabilityZone, fx.availabilityZone);
      assert.ok(mine.availableIpCount > 0);
      assert.ok(subnets.every((s) => s.vpcId === fx.vpcId));
      assert.ok(subnets.every((s) => s.availabilityZone === fx.availabilityZone));
      const byId = await ec2.describeSubnets({ ids: [fx.subnetId] });
      assert.deepEqual(byId.map((s) => s.subnetId), [fx.subnetId]);
    },
  },
  {
    name: "describeSubnets() of an unknown subnet id fails with isNotFound",
    async run({ ec2 }) {
      const error = await ec2.describeSubnets({ ids: ["subnet-0123456789abcdef0"] }).catch((e) =>
        e
      );
      assert.ok(isNotFound(error), String(error));
      assert.equal(error.code, "InvalidSubnetID.NotFound");
    },
  },
  {
    name: "describeSecurityGroups() finds groups by id and by vpc-id filter",
    async run({ ec2, fx }) {
      const [group] = await ec2.describeSecurityGroups({ ids: [fx.groupId] });
      assert.equal(group?.groupId, fx.groupId);
      assert.equal(group?.vpcId, fx.vpcId);
      assert.ok(group?.groupName);
      const inVpc = await ec2.describeSecurityGroups({ filters: { "vpc-id": [fx.vpcId] } });
      const ids = inVpc.map((g) => g.groupId);
      assert.ok(ids.includes(fx.groupId) && ids.includes(fx.altGroupId), ids.join(","));
    },
  },
  {
    name: "describeNetworkInterfaces() filters by attachment.instance-id",
    async run(ctx) {
      const eni = await ctx.createEni();
      await ctx.attach(eni, 1);
      const other = await ctx.createEni();
      const found = await ctx.ec2.describeNetworkInterfaces({
        filters: { "attachment.instance-id": [ctx.fx.instanceId] },
      });
      const ids = found.map((e) => e.eniId).sort();
      assert.deepEqual(ids, [ctx.fx.primaryEniId, eni.eniId].sort());
      assert.ok(!ids.includes(other.eniId));
    },
  },
  {
    name: "describeNetworkInterfaces() finds detached CNI ENIs with the leaked-ENI filters",
    async run(ctx) {
      const tags = { "node.k8s.amazonaws.com/instance_id": ctx.fx.instanceId };
      const leaked = await ctx.createEni({ description: `aws-K8S-${ctx.fx.instanceId}`, tags });
      const inUse = await ctx.createEni({ tags });
      await ctx.attach(inUse, 1);
      const untagged = await ctx.ec2.createNetworkInterface({ subnetId: ctx.fx.subnetId });
      try {
        const found = await ctx.ec2.describeNetworkInterfaces({
          filters: {
            "tag-key": ["node.k8s.amazonaws.com/instance_id"],
            "status": ["available"],
            "vpc-id": [ctx.fx.vpcId],
          },
        });
        const ids = found.map((e) => e.eniId);
        assert.ok(ids.includes(leaked.eniId), "the detached tagged ENI is found");
        assert.ok(!ids.includes(inUse.eniId), "an attached ENI is not");
        assert.ok(!ids.includes(untagged.eniId), "an untagged ENI is not");
        const hit = found.find((e) => e.eniId === leaked.eniId);
        assert.equal(hit?.description, `aws-K8S-${ctx.fx.instanceId}`);
      } finally {
        await ctx.ec2.deleteNetworkInterface(untagged.eniId);
      }
    },
  },
  {
    name: "describeNetworkInterfaces() follows NextToken across pages",
    async run(ctx) {
      const mine = [];
      for (let i = 0; i < 7; i++) mine.push((await ctx.createEni()).eniId);
      ctx.events.length = 0;
      const found = await ctx.ec2.describeNetworkInterfaces({
        filters: { [`tag:${CASE_TAG}`]: [ctx.caseId] },
        pageSize: 5,
      });
      assert.deepEqual(found.map((e) => e.eniId).sort(), mine.sort());
      assert.equal(ctx.events.filter((e) => e.action === "DescribeNetworkInterfaces").length, 2);
    },
  },
  {
    name: "describeNetworkInterfacesById() reports ids that no longer exist",
    async run(ctx) {
      const keep = [];
      for (let i = 0; i < 3; i++) keep.push((await ctx.createEni()).eniId);
      const gone = await ctx.createEni();
      await ctx.ec2.deleteNetworkInterface(gone.eniId);
      const ids = [keep[0]!, gone.eniId, keep[1]!, keep[2]!];
      ctx.events.length = 0;
      const result = await ctx.ec2.describeNetworkInterfacesById(ids);
      assert.deepEqual(result.found.map((e) => e.eniId).sort(), keep.sort());
      assert.deepEqual(result.missing, [gone.eniId]);
      // All 4 (NotFound), then [k0, gone] (NotFound), [k0], [gone] (NotFound), [k1, k2].
      assert.equal(ctx.events.length, 5);
    },
  },
];
