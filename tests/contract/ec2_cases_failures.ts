/** Contract cases: error shapes, capacity errors, retries, and the default credential chain. */

import assert from "node:assert/strict";
import { Ec2Client } from "../../src/aws/ec2.ts";
import {
  isInsufficientCidrBlocks,
  isNotFound,
  isSubnetFull,
  isThrottled,
} from "../../src/aws/ec2_errors.ts";
import type { Ec2Case } from "./ec2_suite.ts";

export const failureCases: Ec2Case[] = [
  {
    name: "errors carry the AWS code, HTTP status and request id, and a 4xx is not retried",
    async run({ ec2, events }) {
      const error = await ec2.assignPrivateIpAddresses("eni-0123456789abcdef0", 1).catch((e) => e);
      assert.ok(isNotFound(error), String(error));
      assert.equal(error.code, "InvalidNetworkInterfaceID.NotFound");
      assert.equal(error.action, "AssignPrivateIpAddresses");
      assert.equal(error.status, 400);
      assert.equal(typeof error.requestId, "string");
      assert.ok(error.requestId.length > 0);
      assert.equal(error.attempts, 1);
      assert.deepEqual(
        events.map((e) => [e.action, e.ok, e.code, e.attempt]),
        [["AssignPrivateIpAddresses", false, "InvalidNetworkInterfaceID.NotFound", 1]],
      );
    },
  },
  {
    name: "createNetworkInterface() in a full subnet fails with isSubnetFull",
    async run({ backend, fx, ec2 }) {
      assert.ok(backend.fullSubnet, "a backend without fullSubnet() must declare this a gap");
      const subnetId = await backend.fullSubnet(fx);
      const error = await ec2.createNetworkInterface({ subnetId }).catch((e) => e);
      assert.ok(isSubnetFull(error), String(error));
      assert.equal(error.attempts, 1, "capacity errors are not retried by the client");
    },
  },
  {
    name: "assignPrefixes() without a free aligned /28 fails with isInsufficientCidrBlocks",
    async run(ctx) {
      const { backend, fx, ec2 } = ctx;
      assert.ok(
        backend.fragmentedSubnet,
        "a backend without fragmentedSubnet() must declare a gap",
      );
      const subnetId = await backend.fragmentedSubnet(fx);
      const eni = await ctx.createEni({ subnetId });
      const error = await ec2.assignPrefixes(eni.eniId, 1).catch((e) => e);
      assert.ok(isInsufficientCidrBlocks(error), String(error));
      // Secondary /32s still work: the fallback upstream lacks (peers-and-pain §2 item 2).
      assert.equal((await ec2.assignPrivateIpAddresses(eni.eniId, 1)).length, 1);
    },
  },
  {
    name: "throttled calls are retried with backoff until they succeed",
    async run({ backend, fx, ec2, events }) {
      assert.ok(backend.injectErrors, "a backend without injectErrors() must declare a gap");
      await backend.injectErrors("DescribeSubnets", "RequestLimitExceeded", 2);
      const subnets = await ec2.describeSubnets({ ids: [fx.subnetId] });
      assert.equal(subnets[0]?.subnetId, fx.subnetId);
      assert.deepEqual(
        events.map((e) => [e.attempt, e.ok, e.code]),
        [[1, false, "RequestLimitExceeded"], [2, false, "RequestLimitExceeded"], [
          3,
          true,
          undefined,
        ]],
      );
    },
  },
  {
    name: "throttling beyond maxAttempts surfaces isThrottled with the attempt count",
    async run({ backend, fx, client }) {
      assert.ok(backend.injectErrors, "a backend without injectErrors() must declare a gap");
      await backend.injectErrors("DescribeInstances", "RequestLimitExceeded", 3);
      const ec2 = client({ maxAttempts: 3 });
      const error = await ec2.describeInstance(fx.instanceId).catch((e) => e);
      assert.ok(isThrottled(error), String(error));
      assert.equal(error.attempts, 3);
      // The fault is used up, so the next call goes through.
      assert.equal((await ec2.describeInstance(fx.instanceId))?.instanceId, fx.instanceId);
    },
  },
  {
    name: "5xx responses are retried until they succeed",
    async run({ backend, fx, ec2, events }) {
      assert.ok(backend.injectErrors, "a backend without injectErrors() must declare a gap");
      await backend.injectErrors("DescribeNetworkInterfaces", "InternalError", 1);
      const [eni] = await ec2.describeNetworkInterfaces({ ids: [fx.primaryEniId] });
      assert.equal(eni?.eniId, fx.primaryEniId);
      assert.deepEqual(events.map((e) => [e.ok, e.status]), [[false, 500], [true, undefined]]);
    },
  },
  {
    name: "the client-side rate limit keeps a burst under EC2's throttling bucket",
    async run({ backend, fx, client }) {
      assert.ok(backend.throttleDescribe, "a backend without throttling must declare a gap");
      // EC2's bucket: 3 calls back to back, then 10 per second.
      await backend.throttleDescribe({ capacity: 3, refillPerSecond: 10 });
      const burst = (ec2: ReturnType<typeof client>) =>
        Promise.all(Array.from({ length: 12 }, () => ec2.describeSubnets({ ids: [fx.subnetId] })));
      // Without a client-side limit, a burst of 12 is throttled by EC2 (and retried).
      const unlimited: string[] = [];
      await burst(client({ onCall: (e) => unlimited.push(e.code ?? "ok"), maxAttempts: 10 }));
      assert.ok(unlimited.includes("RequestLimitExceeded"), unlimited.join(","));
      await new Promise((r) => setTimeout(r, 400)); // let EC2's bucket refill
      // With a limit just under EC2's (burst 3, 8/s), the node queues itself instead.
      const limited: { code?: string; local: boolean }[] = [];
      await burst(client({
        rateLimit: {
          describe: { ratePerSecond: 8, burst: 3 },
          mutating: { ratePerSecond: 1, burst: 1 },
        },
        onCall: (e) => limited.push({ code: e.code, local: e.throttledLocally }),
      }));
      assert.equal(limited.length, 12, "every call succeeded at its first attempt");
      assert.ok(limited.every((e) => e.code === undefined), JSON.stringify(limited));
      assert.equal(limited.filter((e) => e.local).length, 9, "all but the burst waited locally");
    },
  },
  {
    name: "the default credential chain gets instance-profile credentials from IMDS",
    async run({ backend, fx }) {
      assert.ok(backend.imdsEndpoint, "a backend without an IMDS must declare a gap");
      // Negative control first: with IMDS unreachable the chain finds nothing, so the success
      // below can only come from the IMDS credentials.
      const dead = await withImdsOnlyCredentials("http://127.0.0.1:9/", async () => {
        const ec2 = new Ec2Client({
          region: backend.region,
          endpoint: backend.endpoint,
          rateLimit: false,
        });
        try {
          return await ec2.describeSubnets({ ids: [fx.subnetId] }).catch((e) => e);
        } finally {
          ec2.close();
        }
      });
      assert.equal(dead.name, "Ec2Error");
      assert.equal(dead.retryable, false, String(dead));
      const subnets = await withImdsOnlyCredentials(backend.imdsEndpoint, async () => {
        const ec2 = new Ec2Client({
          region: backend.region,
          endpoint: backend.endpoint,
          rateLimit: false,
        });
        try {
          return await ec2.describeSubnets({ ids: [fx.subnetId] });
        } finally {
          ec2.close();
        }
      });
      assert.equal(subnets[0]?.subnetId, fx.subnetId);
    },
  },
];

const CREDENTIAL_ENV = [
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_PROFILE",
  "AWS_SHARED_CREDENTIALS_FILE",
  "AWS_CONFIG_FILE",
  "AWS_EC2_METADATA_SERVICE_ENDPOINT",
  "AWS_EC2_METADATA_DISABLED",
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
  "AWS_CONTAINER_CREDENTIALS_FULL_URI",
  "AWS_WEB_IDENTITY_TOKEN_FILE",
];

/** Runs `fn` with IMDS as the only credential source the SDK chain can find. */
async function withImdsOnlyCredentials<T>(imds: string, fn: () => Promise<T>): Promise<T> {
  const saved = new Map(CREDENTIAL_ENV.map((k) => [k, Deno.env.get(k)]));
  try {
    for (const k of CREDENTIAL_ENV) Deno.env.delete(k);
    Deno.env.set("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/taws-credentials");
    Deno.env.set("AWS_CONFIG_FILE", "/nonexistent/taws-config");
    Deno.env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds);
    return await fn();
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
}
