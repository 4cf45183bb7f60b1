/**
 * The EC2 contract suite against moto_server. moto is an independent emulator, so passing here
 * shows the client speaks real EC2 Query API, not a private dialect of our simulator. What moto
 * cannot model is declared below, each with what moto does instead where that can be asserted.
 */

import assert from "node:assert/strict";
import { EC2_CASES } from "./ec2_cases.ts";
import { type CaseContext, type Gap, registerEc2Suite } from "./ec2_suite.ts";
import { MotoBackend } from "./moto_backend.ts";

const moto = (ctx: CaseContext) => ctx.backend as MotoBackend;

export const MOTO_GAPS: Record<string, Gap> = {
  "createNetworkInterface() with ipv4PrefixCount delegates aligned /28 prefixes": {
    reason: "no prefix delegation: Ipv4PrefixCount is accepted and ignored",
    async instead(ctx) {
      const eni = await ctx.createEni({ ipv4PrefixCount: 2 });
      assert.deepEqual(eni.prefixes, []);
    },
  },
  "assignPrefixes() delegates new /28s and unassignPrefixes() releases them": {
    reason: "no prefix delegation: AssignPrivateIpAddresses with Ipv4PrefixCount assigns nothing",
    async instead(ctx) {
      const eni = await ctx.createEni();
      await ctx.attach(eni, 1);
      assert.deepEqual(await ctx.ec2.assignPrefixes(eni.eniId, 1), []);
      const [seen] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.deepEqual(seen?.prefixes, []);
    },
  },
  "assignPrefixes() without a free aligned /28 fails with isInsufficientCidrBlocks": {
    reason: "no prefix delegation, so no InsufficientCidrBlocks",
  },
  "setDeleteOnTermination() is reflected in the ENI's attachment": {
    reason: "ModifyNetworkInterfaceAttribute(Attachment.DeleteOnTermination) is not reflected",
    async instead(ctx) {
      const eni = await ctx.createEni();
      const attachmentId = await ctx.attach(eni, 1);
      await ctx.ec2.setDeleteOnTermination(eni.eniId, attachmentId, true);
      const [seen] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.equal(seen?.attachment?.deleteOnTermination, false);
    },
  },
  "attachNetworkInterface() beyond the type's ENI limit fails with isAttachmentLimitExceeded": {
    reason: "no instance-type limits: a t3.medium (3 ENIs) accepts a 4th",
    async instead(ctx) {
      for (const device of [1, 2, 3]) await ctx.attach(await ctx.createEni(), device);
      const instance = await ctx.ec2.describeInstance(ctx.fx.instanceId);
      assert.equal(instance?.networkInterfaces.length, 4);
    },
  },
  "attachNetworkInterface() of an ENI that is already attached fails and keeps the attachment": {
    reason: "re-attaching an attached ENI is accepted and moves it",
    async instead(ctx) {
      const eni = await ctx.createEni();
      const first = await ctx.attach(eni, 1);
      const second = await ctx.attach(eni, 2);
      assert.notEqual(second, first);
      const [seen] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.equal(seen?.attachment?.deviceIndex, 2);
    },
  },
  "attachNetworkInterface() at a device index already in use fails": {
    reason: "device indexes are not checked: two ENIs can sit at device 1",
    async instead(ctx) {
      const first = await ctx.createEni();
      const second = await ctx.createEni();
      await ctx.attach(first, 1);
      await ctx.attach(second, 1);
      const seen = await ctx.ec2.describeNetworkInterfaces({ ids: [first.eniId, second.eniId] });
      assert.deepEqual(seen.map((e) => e.attachment?.deviceIndex), [1, 1]);
    },
  },
  "assignPrivateIpAddresses() returns only the new addresses": {
    reason:
      "the AssignPrivateIpAddresses response lists every address of the ENI, primary included",
    async instead(ctx) {
      const eni = await ctx.createEni({ secondaryIpCount: 1 });
      const returned = await ctx.ec2.assignPrivateIpAddresses(eni.eniId, 2);
      assert.equal(returned.length, 4);
      assert.ok(returned.includes(eni.primaryIp));
    },
  },
  "assignPrivateIpAddresses() past the per-ENI limit fails with isIpLimitExceeded": {
    reason: "no per-ENI address limit: a t3.medium ENI (6 addresses) takes a 7th",
    async instead(ctx) {
      const eni = await ctx.createEni();
      await ctx.attach(eni, 1);
      await ctx.ec2.assignPrivateIpAddresses(eni.eniId, 6);
      const [seen] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.equal(seen?.privateIps.length, 7);
    },
  },
  "deleteNetworkInterface() of an attached ENI fails with InvalidNetworkInterface.InUse": {
    reason: "an attached ENI can be deleted",
    async instead(ctx) {
      const eni = await ctx.createEni();
      await ctx.attach(eni, 1);
      await ctx.ec2.deleteNetworkInterface(eni.eniId);
      const { missing } = await ctx.ec2.describeNetworkInterfacesById([eni.eniId]);
      assert.deepEqual(missing, [eni.eniId]);
    },
  },
  "describeNetworkInterfaces() follows NextToken across pages": {
    reason: "MaxResults is ignored: everything comes back in one page",
    async instead(ctx) {
      for (let i = 0; i < 7; i++) await ctx.createEni();
      ctx.events.length = 0;
      const found = await ctx.ec2.describeNetworkInterfaces({
        filters: { "tag:taws-case": [ctx.caseId] },
        pageSize: 5,
      });
      assert.equal(found.length, 7);
      assert.equal(ctx.events.length, 1);
    },
  },
  "createNetworkInterface() in a full subnet fails with isSubnetFull": {
    reason: "subnet capacity is not enforced: a /28 (11 usable) takes 12 addresses",
    async instead(ctx) {
      const { subnetId, free } = await moto(ctx).createSubnet(ctx.fx, "172.31.250.0/28");
      assert.equal(free, 11);
      await ctx.createEni({ subnetId, secondaryIpCount: 10 });
      await ctx.createEni({ subnetId });
      const [subnet] = await ctx.ec2.describeSubnets({ ids: [subnetId] });
      assert.equal(subnet?.availableIpCount, -1);
    },
  },
  "throttled calls are retried with backoff until they succeed": {
    reason: "no throttling and no fault injection",
    async instead(ctx) {
      const burst = await Promise.all(
        Array.from({ length: 30 }, () => ctx.ec2.describeSubnets({ ids: [ctx.fx.subnetId] })),
      );
      assert.equal(burst.length, 30);
      assert.ok(
        ctx.events.every((e) => e.ok && e.attempt === 1),
        "30 concurrent calls, none throttled",
      );
    },
  },
  "throttling beyond maxAttempts surfaces isThrottled with the attempt count": {
    reason: "no throttling and no fault injection",
  },
  "the client-side rate limit keeps a burst under EC2's throttling bucket": {
    reason: "no throttling, so nothing to stay under",
  },
  "5xx responses are retried until they succeed": {
    reason: "no fault injection",
  },
};

registerEc2Suite({
  backend: "moto",
  cases: EC2_CASES,
  gaps: MOTO_GAPS,
  start: () => MotoBackend.start(),
});
