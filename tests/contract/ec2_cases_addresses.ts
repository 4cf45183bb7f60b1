/** Contract cases: secondary IPs and /28 prefixes on an ENI. */

import assert from "node:assert/strict";
import { isIpLimitExceeded } from "../../src/aws/ec2_errors.ts";
import { type Ec2Case, inCidr } from "./ec2_suite.ts";

/** Whether `prefix` is an aligned /28. */
function isAligned28(prefix: string): boolean {
  const [ip, len] = prefix.split("/");
  const last = Number(ip?.split(".")[3]);
  return len === "28" && last % 16 === 0;
}

export const addressCases: Ec2Case[] = [
  {
    name: "assignPrivateIpAddresses() returns only the new addresses",
    async run(ctx) {
      const eni = await ctx.createEni({ secondaryIpCount: 1 });
      await ctx.attach(eni, 1);
      const before = eni.privateIps.map((p) => p.address);
      const added = await ctx.ec2.assignPrivateIpAddresses(eni.eniId, 2);
      assert.equal(added.length, 2);
      assert.ok(added.every((a) => !before.includes(a)), `${added} overlaps ${before}`);
      assert.ok(added.every((a) => inCidr(a, ctx.fx.subnetCidr)));
      const [seen] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.deepEqual(
        seen?.privateIps.map((p) => p.address).sort(),
        [...before, ...added].sort(),
      );
      assert.equal(seen?.privateIps[0]?.address, eni.primaryIp);
    },
  },
  {
    name: "assignPrivateIpAddresses() with a count below 1 makes no call",
    async run(ctx) {
      const eni = await ctx.createEni();
      ctx.events.length = 0;
      assert.deepEqual(await ctx.ec2.assignPrivateIpAddresses(eni.eniId, 0), []);
      await ctx.ec2.unassignPrivateIpAddresses(eni.eniId, []);
      assert.equal(ctx.events.length, 0);
    },
  },
  {
    name: "assignPrivateIpAddresses() past the per-ENI limit fails with isIpLimitExceeded",
    async run(ctx) {
      // t3.medium: 6 IPv4 addresses per ENI, the primary included.
      const eni = await ctx.createEni();
      await ctx.attach(eni, 1);
      assert.equal((await ctx.ec2.assignPrivateIpAddresses(eni.eniId, 5)).length, 5);
      const error = await ctx.ec2.assignPrivateIpAddresses(eni.eniId, 1).catch((e) => e);
      assert.ok(isIpLimitExceeded(error), String(error));
      assert.equal(error.attempts, 1);
      const [seen] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.equal(seen?.privateIps.length, 6);
    },
  },
  {
    name: "unassignPrivateIpAddresses() releases exactly the given addresses",
    async run(ctx) {
      const eni = await ctx.createEni({ secondaryIpCount: 3 });
      const secondaries = eni.privateIps.filter((p) => !p.primary).map((p) => p.address);
      await ctx.ec2.unassignPrivateIpAddresses(eni.eniId, secondaries.slice(0, 2));
      const [seen] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.deepEqual(seen?.privateIps.map((p) => p.address), [eni.primaryIp, secondaries[2]]);
    },
  },
  {
    name: "createNetworkInterface() with ipv4PrefixCount delegates aligned /28 prefixes",
    async run(ctx) {
      const eni = await ctx.createEni({ ipv4PrefixCount: 2 });
      assert.equal(eni.prefixes.length, 2);
      assert.ok(eni.prefixes.every(isAligned28), eni.prefixes.join(","));
      assert.ok(eni.prefixes.every((p) => inCidr(p, ctx.fx.subnetCidr)));
      assert.equal(new Set(eni.prefixes).size, 2);
    },
  },
  {
    name: "assignPrefixes() delegates new /28s and unassignPrefixes() releases them",
    async run(ctx) {
      const eni = await ctx.createEni();
      await ctx.attach(eni, 1);
      const first = await ctx.ec2.assignPrefixes(eni.eniId, 1);
      const more = await ctx.ec2.assignPrefixes(eni.eniId, 2);
      assert.equal(first.length, 1);
      assert.equal(more.length, 2, "only the new prefixes are returned");
      const all = [...first, ...more];
      assert.equal(new Set(all).size, 3);
      assert.ok(all.every(isAligned28) && all.every((p) => inCidr(p, ctx.fx.subnetCidr)));
      const [seen] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.deepEqual(seen?.prefixes.slice().sort(), all.slice().sort());
      await ctx.ec2.unassignPrefixes(eni.eniId, [more[0]!]);
      const [after] = await ctx.ec2.describeNetworkInterfaces({ ids: [eni.eniId] });
      assert.deepEqual(after?.prefixes.slice().sort(), [first[0], more[1]].sort());
      assert.deepEqual(after?.privateIps.map((p) => p.address), [eni.primaryIp]);
    },
  },
];
