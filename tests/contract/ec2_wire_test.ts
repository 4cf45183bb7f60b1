/**
 * Ec2Client on the wire against a scripted EC2 stub on loopback: what it sends (user agent,
 * idempotency token, no secrets in logs) and how it survives silent servers, refused
 * connections and proxy errors. Neither moto nor the sim can script these per request.
 */

import assert from "node:assert/strict";
import { Ec2Client, type Ec2ClientOptions } from "../../src/aws/ec2.ts";
import { CLIENT_TIMEOUT, Ec2Error } from "../../src/aws/ec2_errors.ts";
import { Logger } from "../../src/ops/log.ts";
import { VERSION } from "../../src/version.ts";

const NS = 'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"';
const SUBNETS_XML = `<DescribeSubnetsResponse ${NS}><requestId>r-1</requestId><subnetSet><item>` +
  "<subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId><cidrBlock>10.0.0.0/24</cidrBlock>" +
  "<availableIpAddressCount>250</availableIpAddressCount><availabilityZone>us-west-2a" +
  "</availabilityZone></item></subnetSet></DescribeSubnetsResponse>";
const CREATE_XML = `<CreateNetworkInterfaceResponse ${NS}><requestId>r-2</requestId>` +
  "<networkInterface><networkInterfaceId>eni-1</networkInterfaceId><subnetId>subnet-1</subnetId>" +
  "<vpcId>vpc-1</vpcId><macAddress>02:00:00:00:00:09</macAddress><privateIpAddress>10.0.0.5" +
  "</privateIpAddress><status>pending</status></networkInterface></CreateNetworkInterfaceResponse>";
const errorXml = (code: string) =>
  `<Response><Errors><Error><Code>${code}</Code><Message>scripted</Message></Error></Errors>` +
  "<RequestID>r-err</RequestID></Response>";

type Reply = { status: number; body: string; type?: string } | "hang";

/** Answers requests from a script, one reply per request; the last reply repeats. */
class Ec2Stub {
  readonly requests: { headers: Headers; params: URLSearchParams }[] = [];
  #replies: Reply[];
  #server: Deno.HttpServer<Deno.NetAddr>;
  #held = new Set<() => void>();

  constructor(replies: Reply[]) {
    this.#replies = replies;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => this.#handle(req),
    );
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  async #handle(req: Request): Promise<Response> {
    this.requests.push({ headers: req.headers, params: new URLSearchParams(await req.text()) });
    const reply = this.#replies.length > 1 ? this.#replies.shift()! : this.#replies[0]!;
    if (reply === "hang") {
      // Held until close(): the client's own deadline must end the attempt.
      await new Promise<void>((resolve) => this.#held.add(resolve));
      return new Response("", { status: 500 });
    }
    return new Response(reply.body, {
      status: reply.status,
      headers: { "content-type": reply.type ?? "text/xml" },
    });
  }

  async close(): Promise<void> {
    for (const release of this.#held) release();
    await this.#server.shutdown();
  }
}

async function withStub(
  replies: Reply[],
  fn: (stub: Ec2Stub, client: (o?: Partial<Ec2ClientOptions>) => Ec2Client) => Promise<void>,
) {
  const stub = new Ec2Stub(replies);
  const clients: Ec2Client[] = [];
  try {
    await fn(stub, (options = {}) => {
      const c = new Ec2Client({
        region: "us-west-2",
        endpoint: stub.endpoint,
        credentials: { accessKeyId: "AKIATAWSEXAMPLE", secretAccessKey: "taws-very-secret-key" },
        rateLimit: false,
        sleep: () => Promise.resolve(),
        ...options,
      });
      clients.push(c);
      return c;
    });
  } finally {
    for (const c of clients) c.close();
    await stub.close();
  }
}

Deno.test("Ec2Client sends vpc-cni-deno/<VERSION> and amazon-vpc-cni-k8s/<v> as user agent", async () => {
  await withStub([{ status: 200, body: SUBNETS_XML }], async (stub, client) => {
    const subnets = await client({ vpcCniVersion: "v1.23.1" }).describeSubnets();
    assert.equal(subnets[0]?.availableIpCount, 250);
    const request = stub.requests[0]!;
    const agents = `${request.headers.get("user-agent")} ${
      request.headers.get("x-amz-user-agent")
    }`;
    assert.ok(agents.includes(`vpc-cni-deno/${VERSION}`), agents);
    assert.ok(agents.includes("amazon-vpc-cni-k8s/v1.23.1"), agents);
    assert.equal(request.params.get("Action"), "DescribeSubnets");
    assert.equal(request.params.get("Version"), "2016-11-15");
  });
});

Deno.test("Ec2Client omits the upstream user agent when no VPC_CNI_VERSION is given", async () => {
  await withStub([{ status: 200, body: SUBNETS_XML }], async (stub, client) => {
    await client().describeSubnets();
    assert.ok(!stub.requests[0]!.headers.get("user-agent")?.includes("amazon-vpc-cni-k8s"));
  });
});

Deno.test("Ec2Client ends a silent attempt at its timeout and retries it", async () => {
  await withStub(["hang"], async (stub, client) => {
    const error = await client({ timeoutMs: 100, maxAttempts: 2 }).describeSubnets().catch((e) =>
      e
    );
    assert.ok(error instanceof Ec2Error);
    assert.equal(error.code, CLIENT_TIMEOUT);
    assert.equal(error.attempts, 2);
    assert.equal(error.status, undefined);
    assert.equal(stub.requests.length, 2);
  });
});

Deno.test("Ec2Client retries a refused connection and reports ECONNREFUSED", async () => {
  const calls: string[] = [];
  const ec2 = new Ec2Client({
    region: "us-west-2",
    endpoint: "http://127.0.0.1:9",
    credentials: { accessKeyId: "a", secretAccessKey: "b" },
    rateLimit: false,
    maxAttempts: 3,
    sleep: () => Promise.resolve(),
    onCall: (e) => calls.push(e.code ?? "ok"),
  });
  try {
    const error = await ec2.describeSubnets().catch((e) => e);
    assert.equal(error.code, "ECONNREFUSED");
    assert.equal(error.attempts, 3);
    assert.deepEqual(calls, ["ECONNREFUSED", "ECONNREFUSED", "ECONNREFUSED"]);
  } finally {
    ec2.close();
  }
});

Deno.test("Ec2Client retries an HTML 502 from a proxy, then succeeds", async () => {
  const replies: Reply[] = [
    { status: 502, body: "<html>Bad Gateway</html>", type: "text/html" },
    { status: 200, body: SUBNETS_XML },
  ];
  await withStub(replies, async (stub, client) => {
    const codes: (string | undefined)[] = [];
    const subnets = await client({ onCall: (e) => codes.push(e.code) }).describeSubnets();
    assert.equal(subnets.length, 1);
    assert.equal(stub.requests.length, 2);
    assert.equal(codes.length, 2);
    assert.equal(codes[1], undefined);
  });
});

Deno.test("createNetworkInterface() sends the same ClientToken on every retry", async () => {
  const replies: Reply[] = [
    { status: 503, body: errorXml("Unavailable") },
    { status: 503, body: errorXml("RequestLimitExceeded") },
    { status: 200, body: CREATE_XML },
  ];
  await withStub(replies, async (stub, client) => {
    const eni = await client().createNetworkInterface({ subnetId: "subnet-1" });
    assert.equal(eni.eniId, "eni-1");
    const tokens = stub.requests.map((r) => r.params.get("ClientToken"));
    assert.equal(tokens.length, 3);
    assert.ok(tokens[0]);
    assert.deepEqual(new Set(tokens).size, 1);
    // A second logical call gets a new token.
    await client().createNetworkInterface({ subnetId: "subnet-1" });
    assert.notEqual(stub.requests[3]?.params.get("ClientToken"), tokens[0]);
  });
});

Deno.test("Ec2Client never writes credentials into logs or errors", async () => {
  const lines: string[] = [];
  const logger = new Logger({ level: "debug" }, (l) => lines.push(new TextDecoder().decode(l)));
  const replies: Reply[] = [{ status: 503, body: errorXml("RequestLimitExceeded") }];
  await withStub(replies, async (stub, client) => {
    const error = await client({ logger, maxAttempts: 3 }).describeSubnets().catch((e) => e);
    assert.equal(error.code, "RequestLimitExceeded");
    assert.ok(lines.length >= 2, "the retries were logged");
    assert.ok(stub.requests[0]?.headers.get("authorization")?.includes("AKIATAWSEXAMPLE"));
    const everything = lines.join("") + String(error) + JSON.stringify(error) +
      Deno.inspect(error, { depth: 6 });
    assert.ok(!everything.includes("taws-very-secret-key"));
    assert.ok(!everything.includes("AKIATAWSEXAMPLE"));
  });
});

Deno.test("close() ends a call that is waiting to retry", async () => {
  await withStub([{ status: 503, body: errorXml("Unavailable") }], async (_stub, client) => {
    const ec2 = client({ sleep: undefined, backoff: { baseMs: 60_000, maxMs: 60_000, jitter: 0 } });
    const pending = ec2.describeSubnets().catch((e) => e);
    await new Promise((r) => setTimeout(r, 100));
    ec2.close();
    const error = await pending;
    assert.equal(error.code, "ClientClosed");
  });
});

Deno.test("Ec2Client rejects an endpoint that is not a full http(s) URL, naming it", () => {
  for (const endpoint of ["ec2.us-west-2.amazonaws.com", "ftp://x", ""]) {
    assert.throws(
      () => new Ec2Client({ region: "us-west-2", endpoint }),
      (e: Error) => e instanceof TypeError && e.message.includes(`"${endpoint}"`),
    );
  }
  assert.throws(() => new Ec2Client({ region: "" }), TypeError);
});
