import assert from "node:assert/strict";
import { ImdsClient, type ImdsClientOptions, ImdsError } from "../../src/aws/imds.ts";
import { InstanceMetadata } from "../../src/aws/imds_metadata.ts";
import { Logger } from "../../src/ops/log.ts";
import { FakeImds, sampleInstance } from "./imds_fake.ts";

/** A fake IMDS plus a client whose sleeps are recorded instead of waited. */
async function withImds(
  fn: (ctx: { fake: FakeImds; client: ImdsClient; sleeps: number[] }) => Promise<void>,
  options: Partial<ImdsClientOptions> = {},
) {
  const fake = new FakeImds({ paths: sampleInstance() });
  const sleeps: number[] = [];
  const client = new ImdsClient({
    endpoint: fake.endpoint,
    random: () => 0,
    sleep: (ms) => (sleeps.push(ms), Promise.resolve()),
    ...options,
  });
  try {
    await fn({ fake, client, sleeps });
  } finally {
    await fake.close();
  }
}

Deno.test("ImdsClient gets one token with the TTL header and reuses it", async () => {
  await withImds(async ({ fake, client }) => {
    assert.equal(await client.get("instance-id"), "i-0123456789abcdef0");
    assert.equal(await client.get("mac"), "02:00:00:00:00:01");
    assert.equal(await client.get("local-ipv4"), "10.0.0.11");
    assert.equal(fake.counts.put, 1);
    assert.deepEqual(fake.ttlHeaders, ["21600"]);
    assert.equal(new Set(fake.seenTokens).size, 1);
  });
});

Deno.test("ImdsClient shares one token request between concurrent reads", async () => {
  await withImds(async ({ fake, client }) => {
    const values = await Promise.all(
      ["instance-id", "instance-type", "mac", "local-ipv4"].map((p) => client.get(p)),
    );
    assert.equal(values[1], "t3.medium");
    assert.equal(fake.counts.put, 1);
  });
});

Deno.test("ImdsClient refreshes the token before it expires", async () => {
  let now = 0;
  await withImds(async ({ fake, client }) => {
    await client.get("instance-id");
    now += 100 * 1000; // 100 s of a 120 s token: past the refresh point (expiry − 60 s).
    await client.get("instance-id");
    assert.equal(fake.counts.put, 2);
    assert.equal(fake.counts.unauthorized, 0);
  }, { tokenTtlSeconds: 120, now: () => now });
});

Deno.test("ImdsClient fetches a new token once on a 401 and the read succeeds", async () => {
  await withImds(async ({ fake, client }) => {
    await client.get("instance-id");
    fake.revokeTokens();
    assert.equal(await client.get("instance-type"), "t3.medium");
    assert.equal(fake.counts.put, 2);
    assert.equal(fake.counts.unauthorized, 1);
  });
});

Deno.test("ImdsClient fails with ImdsError 401 when a fresh token is rejected too", async () => {
  await withImds(async ({ fake, client }) => {
    await client.get("instance-id");
    // Tokens are revoked right after every PUT: the server never accepts a token.
    const original = fake.tokens.add.bind(fake.tokens);
    fake.tokens.add = (t: string) => (original(t), fake.tokens.clear(), fake.tokens);
    fake.revokeTokens();
    const error = await client.get("mac").catch((e) => e);
    assert.ok(error instanceof ImdsError);
    assert.equal(error.status, 401);
    assert.equal(error.path, "meta-data/mac");
    assert.equal(fake.counts.put, 2);
  });
});

Deno.test("ImdsClient never falls back to IMDSv1 when the token request is refused", async () => {
  await withImds(async ({ fake, client }) => {
    fake.tokenStatus = 403;
    const error = await client.get("instance-id").catch((e) => e);
    assert.ok(error instanceof ImdsError);
    assert.equal(error.status, 403);
    assert.equal(fake.counts.get, 0, "no unauthenticated GET may be sent");
  });
});

Deno.test("ImdsClient returns undefined for a 404 on an optional path", async () => {
  await withImds(async ({ client }) => {
    assert.equal(await client.getOptional("ipv6"), undefined);
    assert.deepEqual(await client.getOptionalList("network/interfaces/macs/x/ipv4-prefix"), []);
  });
});

Deno.test("ImdsClient fails with ImdsError {path, 404} for a required path", async () => {
  await withImds(async ({ client }) => {
    const error = await client.get("placement/region").catch((e) => e);
    assert.ok(error instanceof ImdsError);
    assert.equal(error.path, "meta-data/placement/region");
    assert.equal(error.status, 404);
    assert.match(
      error.message,
      /failed to retrieve meta-data\/placement\/region from instance metadata/,
    );
  });
});

Deno.test("ImdsClient retries a 500 with backoff and then succeeds", async () => {
  await withImds(async ({ fake, client, sleeps }) => {
    fake.script("meta-data/instance-id", { failTimes: 2, status: 500 });
    assert.equal(await client.get("instance-id"), "i-0123456789abcdef0");
    assert.deepEqual(sleeps, [100, 200]);
  }, { backoff: { baseMs: 100, maxMs: 1000, jitter: 0 } });
});

Deno.test("ImdsClient gives up after its attempts with the last 5xx status", async () => {
  await withImds(async ({ fake, client, sleeps }) => {
    fake.script("meta-data/instance-id", { failTimes: 10, status: 503 });
    const error = await client.get("instance-id").catch((e) => e);
    assert.equal(error.status, 503);
    assert.equal(sleeps.length, 2);
    assert.equal(fake.scripted("meta-data/instance-id")?.failTimes, 7, "exactly 3 attempts");
  }, { attempts: 3 });
});

Deno.test("ImdsClient retries a timeout, then fails with an ImdsError without status", async () => {
  await withImds(async ({ fake, client, sleeps }) => {
    fake.script("meta-data/mac", { delayMs: 10_000 });
    const error = await client.get("mac").catch((e) => e);
    assert.ok(error instanceof ImdsError);
    assert.equal(error.status, undefined);
    assert.equal(sleeps.length, 1);
    assert.match(error.message, /no response/);
  }, { timeoutMs: 50, attempts: 2 });
});

Deno.test("ImdsClient retries a connection error", async () => {
  const sleeps: number[] = [];
  // Nothing listens on port 9 of loopback: connection refused.
  const client = new ImdsClient({
    endpoint: "http://127.0.0.1:9",
    attempts: 3,
    sleep: (ms) => (sleeps.push(ms), Promise.resolve()),
  });
  const error = await client.get("instance-id").catch((e) => e);
  assert.ok(error instanceof ImdsError);
  assert.equal(error.status, undefined);
  assert.equal(sleeps.length, 2);
});

Deno.test("ImdsClient never writes the token into logs or errors", async () => {
  const lines: string[] = [];
  const logger = new Logger({ level: "debug" }, (l) => lines.push(new TextDecoder().decode(l)));
  await withImds(async ({ fake, client }) => {
    await client.get("instance-id");
    fake.revokeTokens();
    await client.get("mac");
    const error = await client.get("nope").catch((e) => e);
    const tokens = fake.seenTokens.filter((t) => t !== null) as string[];
    assert.ok(tokens.length > 0);
    assert.ok(lines.length > 0, "debug logging is on, so something was logged");
    for (const t of tokens) {
      assert.ok(!lines.join("").includes(t));
      assert.ok(!String(error).includes(t) && !JSON.stringify(error).includes(t));
      assert.ok(!Deno.inspect(client).includes(t));
    }
  }, { logger });
});

Deno.test("ImdsClient accepts an endpoint without a trailing slash", async () => {
  await withImds(async ({ fake }) => {
    const client = new ImdsClient({ endpoint: fake.endpoint.replace(/\/$/, "") });
    assert.equal(await client.get("instance-type"), "t3.medium");
  });
  assert.throws(() => new ImdsClient({ endpoint: "169.254.169.254" }), TypeError);
});

Deno.test("InstanceMetadata.identity() reads the start-up facts", async () => {
  await withImds(async ({ client }) => {
    assert.deepEqual(await new InstanceMetadata(client).identity(), {
      region: "us-west-2",
      availabilityZone: "us-west-2a",
      instanceId: "i-0123456789abcdef0",
      instanceType: "t3.medium",
      localIpv4: "10.0.0.11",
      primaryMac: "02:00:00:00:00:01",
    });
  });
});

Deno.test("InstanceMetadata.region() fails with ImdsError on a malformed identity document", async () => {
  await withImds(async ({ fake, client }) => {
    fake.paths["dynamic/instance-identity/document"] = "<html>";
    const error = await new InstanceMetadata(client).region().catch((e) => e);
    assert.ok(error instanceof ImdsError);
    assert.equal(error.path, "dynamic/instance-identity/document");
  });
});

Deno.test("InstanceMetadata.listEnis() reads every ENI, primary forced to device 0", async () => {
  await withImds(async ({ client }) => {
    const enis = await new InstanceMetadata(client).listEnis();
    assert.deepEqual(enis, [
      {
        eniId: "eni-0000000000000000a",
        mac: "02:00:00:00:00:01",
        deviceNumber: 0,
        networkCard: 0,
        subnetId: "subnet-0a",
        vpcId: "vpc-0a",
        subnetCidr: "10.0.0.0/20",
        ipv4s: ["10.0.0.11", "10.0.0.12", "10.0.0.13"],
        ipv4Prefixes: [],
        securityGroupIds: ["sg-1", "sg-2"],
        vpcCidrs: ["10.0.0.0/16", "100.64.0.0/16"],
      },
      {
        eniId: "eni-0000000000000000b",
        mac: "02:00:00:00:00:02",
        deviceNumber: 2,
        networkCard: 0,
        subnetId: "subnet-0b",
        vpcId: "vpc-0a",
        subnetCidr: "10.0.16.0/20",
        ipv4s: ["10.0.16.5"],
        ipv4Prefixes: ["10.0.16.32/28", "10.0.16.48/28"],
        securityGroupIds: ["sg-3"],
        vpcCidrs: ["10.0.0.0/16"],
      },
    ]);
  });
});

Deno.test("InstanceMetadata.listEnis() keeps at most `concurrency` reads in flight", async () => {
  await withImds(async ({ fake, client }) => {
    for (const f of ["interface-id", "subnet-id", "vpc-id", "local-ipv4s"]) {
      fake.script(`meta-data/network/interfaces/macs/02:00:00:00:00:02/${f}`, { delayMs: 20 });
    }
    const enis = await new InstanceMetadata(client, { concurrency: 3 }).listEnis();
    assert.equal(enis.length, 2);
    assert.ok(fake.maxInFlight <= 3, `max in flight ${fake.maxInFlight}`);
    assert.ok(fake.maxInFlight >= 2, "reads do run in parallel");
  });
});

Deno.test("InstanceMetadata.listEnis() leaves out an ENI detached while it is read", async () => {
  await withImds(async ({ fake, client }) => {
    const prefix = "meta-data/network/interfaces/macs/02:00:00:00:00:02/";
    // The ENI is detached right after the MAC list was read.
    fake.onGet = (path) => {
      if (path !== `${prefix}interface-id`) return;
      for (const key of Object.keys(fake.paths)) if (key.startsWith(prefix)) delete fake.paths[key];
    };
    const enis = await new InstanceMetadata(client).listEnis();
    assert.deepEqual(enis.map((e) => e.eniId), ["eni-0000000000000000a"]);
  });
});

Deno.test("InstanceMetadata.listEnis() fails when a listed ENI lacks a required field", async () => {
  await withImds(async ({ fake, client }) => {
    delete fake.paths["meta-data/network/interfaces/macs/02:00:00:00:00:02/subnet-id"];
    const error = await new InstanceMetadata(client).listEnis().catch((e) => e);
    assert.ok(error instanceof ImdsError);
    assert.equal(error.status, 404);
    assert.equal(error.path, "meta-data/network/interfaces/macs/02:00:00:00:00:02/subnet-id");
  });
});

Deno.test("InstanceMetadata.eni() reads network-card when present and 0 when absent", async () => {
  await withImds(async ({ fake, client }) => {
    fake.paths["meta-data/network/interfaces/macs/02:00:00:00:00:02/network-card"] = "1";
    const md = new InstanceMetadata(client);
    assert.equal((await md.eni("02:00:00:00:00:02")).networkCard, 1);
    assert.equal((await md.eni("02:00:00:00:00:01")).networkCard, 0);
  });
});
