/** Contract cases: the ENI lifecycle (create, attach, attributes, tags, detach, delete). */

import assert from "node:assert/strict";
import { isAttachmentLimitExceeded, isNotFound } from "../../src/aws/ec2_errors.ts";
import { CASE_TAG, type Ec2Case, inCidr, waitForStatus } from "./ec2_suite.ts";

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

export const eniCases: Ec2Case[] = [
  {
    name: "createNetworkInterface() sets description, groups and tags at creation",
    async run(ctx) {
      const { fx } = ctx;
      const createdAt = new Date().toISOString().replace(/\.\d+Z$/, "Z");
      const tags = {
        "node.k8s.amazonaws.com/instance_id": fx.instanceId,
        "node.k8s.amazonaws.com/createdAt": createdAt,
      };
      const eni = await ctx.createEni({
        description: `aws-K8S-${fx.instanceId}`,
        groupIds: [fx.groupId],
        tags,
      });
      assert.match(eni.eniId, /^eni-[0-9a-f]+$/);
      assert.match(eni.mac, MAC);
      assert.equal(eni.status, "available");
      assert.equal(eni.subnetId, fx.subnetId);
      assert.equal(eni.vpcId, fx.vpcId);
      assert.equal(eni.availabilityZone, fx.availabilityZone);
      assert.equal(eni.description, `aws-K8S-${fx.instanceId}`);
      assert.equal(eni.interfaceType, "interface");
      assert.ok(inCidr(eni.primaryIp, fx.subnetCidr), eni.primaryIp);
      assert.deepEqual(eni.privateIps, [{ address: eni.primaryIp, primary: true }]);
      assert.deepEqual(eni.groups.map((g) => g.groupId), [fx.groupId]);
      assert.deepEqual(eni.tags, { ...tags, [CASE_TAG]: ctx.caseId });
      assert.equal(eni.attachment, undefined);
      const [again] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.deepEqual(again?.tags, eni.tags);
      assert.equal(again?.mac, eni.mac);
    },
  },
  {
    name: "createNetworkInterface() with secondaryIpCount allocates the primary plus N addresses",
    async run(ctx) {
      const eni = await ctx.createEni({ secondaryIpCount: 3 });
      assert.equal(eni.privateIps.length, 4);
      assert.equal(eni.privateIps[0]?.address, eni.primaryIp);
      assert.deepEqual(eni.privateIps.map((p) => p.primary), [true, false, false, false]);
      const addresses = eni.privateIps.map((p) => p.address);
      assert.equal(new Set(addresses).size, 4);
      assert.ok(addresses.every((a) => inCidr(a, ctx.fx.subnetCidr)), addresses.join(","));
    },
  },
  {
    name: "attachNetworkInterface() attaches at the device index and the instance lists it",
    async run(ctx) {
      const eni = await ctx.createEni();
      const attachmentId = await ctx.attach(eni, 1);
      assert.match(attachmentId, /^eni-attach-[0-9a-f]+$/);
      const [seen] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.equal(seen?.status, "in-use");
      assert.equal(seen?.attachment?.attachmentId, attachmentId);
      assert.equal(seen?.attachment?.instanceId, ctx.fx.instanceId);
      assert.equal(seen?.attachment?.deviceIndex, 1);
      assert.equal(seen?.attachment?.networkCardIndex, 0);
      assert.ok(["attaching", "attached"].includes(seen?.attachment?.status ?? ""));
      const instance = await ctx.ec2.describeInstance(ctx.fx.instanceId);
      assert.deepEqual(
        instance?.networkInterfaces.map((n) => [n.eniId, n.deviceIndex]),
        [[ctx.fx.primaryEniId, 0], [eni.eniId, 1]],
      );
    },
  },
  {
    name: "setDeleteOnTermination() is reflected in the ENI's attachment",
    async run(ctx) {
      const eni = await ctx.createEni();
      const attachmentId = await ctx.attach(eni, 1);
      await ctx.ec2.setDeleteOnTermination(eni.eniId, attachmentId, true);
      const [on] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.equal(on?.attachment?.deleteOnTermination, true);
      await ctx.ec2.setDeleteOnTermination(eni.eniId, attachmentId, false);
      const [off] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.equal(off?.attachment?.deleteOnTermination, false);
    },
  },
  {
    name:
      "attachNetworkInterface() beyond the type's ENI limit fails with isAttachmentLimitExceeded",
    async run(ctx) {
      // t3.medium: 3 ENIs, the primary included.
      await ctx.attach(await ctx.createEni(), 1);
      await ctx.attach(await ctx.createEni(), 2);
      const fourth = await ctx.createEni();
      const error = await ctx.attach(fourth, 3).catch((e) => e);
      assert.ok(isAttachmentLimitExceeded(error), String(error));
      assert.equal(error.status, 400);
      assert.equal(error.attempts, 1);
      const [seen] = await ctx.ec2.describeNetworkInterfaces({ ids: [fourth.eniId] });
      assert.equal(seen?.status, "available");
    },
  },
  {
    name:
      "attachNetworkInterface() of an ENI that is already attached fails and keeps the attachment",
    async run(ctx) {
      const eni = await ctx.createEni();
      const attachmentId = await ctx.attach(eni, 1);
      const error = await ctx.attach(eni, 2).catch((e) => e);
      assert.equal(error.name, "Ec2Error");
      assert.equal(error.status, 400);
      assert.equal(error.retryable, false);
      const [seen] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.equal(seen?.attachment?.attachmentId, attachmentId);
      assert.equal(seen?.attachment?.deviceIndex, 1);
    },
  },
  {
    name: "attachNetworkInterface() at a device index already in use fails",
    async run(ctx) {
      await ctx.attach(await ctx.createEni(), 1);
      const second = await ctx.createEni();
      const error = await ctx.attach(second, 1).catch((e) => e);
      assert.equal(error.name, "Ec2Error");
      assert.equal(error.status, 400);
      const [seen] = await ctx.ec2.describeNetworkInterfaces({ ids: [second.eniId] });
      assert.equal(seen?.attachment, undefined);
    },
  },
  {
    name: "modifyNetworkInterfaceGroups() replaces the ENI's security groups",
    async run(ctx) {
      const eni = await ctx.createEni({ groupIds: [ctx.fx.groupId] });
      await ctx.ec2.modifyNetworkInterfaceGroups(eni.eniId, [ctx.fx.altGroupId]);
      const [seen] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.deepEqual(seen?.groups.map((g) => g.groupId), [ctx.fx.altGroupId]);
    },
  },
  {
    name: "createTags() adds and overwrites tags that tag filters then find",
    async run(ctx) {
      const eni = await ctx.createEni();
      await ctx.ec2.createTags([eni.eniId], {
        "taws-role": "pool",
        "cluster.k8s.amazonaws.com/name": "taws",
      });
      await ctx.ec2.createTags([eni.eniId], { "taws-role": "warm" });
      const [seen] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.equal(seen?.tags["taws-role"], "warm");
      assert.equal(seen?.tags["cluster.k8s.amazonaws.com/name"], "taws");
      const byValue = await ctx.ec2.describeNetworkInterfaces({
        filters: { "tag:taws-role": ["warm"] },
      });
      assert.deepEqual(byValue.map((e) => e.eniId), [eni.eniId]);
      const oldValue = await ctx.ec2.describeNetworkInterfaces({
        filters: { "tag:taws-role": ["pool"] },
      });
      assert.deepEqual(oldValue, []);
      const byKey = await ctx.ec2.describeNetworkInterfaces({
        filters: { "tag-key": ["taws-role"] },
      });
      assert.deepEqual(byKey.map((e) => e.eniId), [eni.eniId]);
    },
  },
  {
    name: "detachNetworkInterface() frees the ENI and deleteNetworkInterface() removes it",
    async run(ctx) {
      const eni = await ctx.createEni();
      const attachmentId = await ctx.attach(eni, 1);
      await ctx.ec2.detachNetworkInterface(attachmentId);
      const free = await waitForStatus(ctx.ec2, eni.eniId, "available");
      assert.equal(free.attachment, undefined);
      const instance = await ctx.ec2.describeInstance(ctx.fx.instanceId);
      assert.deepEqual(instance?.networkInterfaces.map((n) => n.eniId), [ctx.fx.primaryEniId]);
      await ctx.ec2.deleteNetworkInterface(eni.eniId);
      const gone = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] }).catch((e) => e);
      assert.ok(isNotFound(gone), String(gone));
      const again = await ctx.ec2.deleteNetworkInterface(eni.eniId).catch((e) => e);
      assert.ok(isNotFound(again), "deleting twice is NotFound, which FreeENI treats as success");
      const detachAgain = await ctx.ec2.detachNetworkInterface(attachmentId).catch((e) => e);
      assert.ok(isNotFound(detachAgain), String(detachAgain));
    },
  },
  {
    name: "deleteNetworkInterface() of an attached ENI fails with InvalidNetworkInterface.InUse",
    async run(ctx) {
      const eni = await ctx.createEni();
      await ctx.attach(eni, 1);
      const error = await ctx.ec2.deleteNetworkInterface(eni.eniId).catch((e) => e);
      assert.equal(error.code, "InvalidNetworkInterface.InUse");
      assert.equal(error.status, 400);
      const [seen] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.equal(seen?.status, "in-use");
    },
  },
];
