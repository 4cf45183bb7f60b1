import assert from "node:assert/strict";
import { Logger, parseLevel, scrubText } from "../../src/ops/log.ts";

function capture(options: ConstructorParameters<typeof Logger>[0] = {}) {
  const lines: Record<string, unknown>[] = [];
  const decoder = new TextDecoder();
  const logger = new Logger(options, (bytes) => {
    const text = decoder.decode(bytes);
    assert.ok(text.endsWith("\n") && !text.slice(0, -1).includes("\n"), "one line per entry");
    lines.push(JSON.parse(text));
  });
  return { logger, lines };
}

Deno.test("Logger writes one JSON object per line with ts, level, msg and fields", () => {
  const { logger, lines } = capture({ level: "debug", fields: { component: "ipamd" } });
  logger.with({ pod: "default/p1" }).info("address assigned", { ip: "10.0.0.5" });
  assert.equal(lines.length, 1);
  const [line] = lines;
  assert.match(String(line!.ts), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual({ ...line, ts: undefined }, {
    ts: undefined,
    level: "info",
    msg: "address assigned",
    component: "ipamd",
    pod: "default/p1",
    ip: "10.0.0.5",
  });
});

Deno.test("Logger drops entries below its level; parseLevel() reads upstream's level names", () => {
  const { logger, lines } = capture({ level: parseLevel("WARN") });
  logger.debug("d");
  logger.info("i");
  logger.warn("w");
  logger.error("e");
  assert.deepEqual(lines.map((l) => l.level), ["warn", "error"]);
  assert.equal(parseLevel("FATAL"), "error");
  assert.equal(parseLevel("Debug"), "debug");
  assert.equal(parseLevel("verbose"), undefined);
});

Deno.test("Logger redacts values under secret-looking keys, at any depth", () => {
  const { logger, lines } = capture();
  logger.info("credentials loaded", {
    AccessKeyId: "ASIAABCDEFGHIJKLMNOP",
    SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    nested: { Token: "FwoGZXIvYXdzEXAMPLE", sessionToken: "x", apiKey: "k", count: 3 },
    authorization: "AWS4-HMAC-SHA256 Credential=...",
  });
  const text = JSON.stringify(lines[0]);
  for (const secret of ["ASIAABCDEFGHIJKLMNOP", "wJalrXUtnFEMI", "FwoGZXIv", "AWS4-HMAC"]) {
    assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
  }
  assert.deepEqual(lines[0]!.nested, {
    Token: "[redacted]",
    sessionToken: "[redacted]",
    apiKey: "[redacted]",
    count: 3,
  });
});

Deno.test("Logger scrubs credentials inside messages, errors and arrays", () => {
  const { logger, lines } = capture();
  const url = "https://ec2.amazonaws.com/?Action=X&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F2026" +
    "&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE&X-Amz-Signature=abc123";
  logger.error(`request to ${url} failed`, {
    error: new Error("signed with AKIAIOSFODNN7EXAMPLE", { cause: "Bearer eyJhbGciOi.x.y" }),
    detail: [
      "Authorization: AWS4-HMAC-SHA256 Credential=ASIAQWERTYUIOPASDFGH/2026/us-west-2, " +
      "SignedHeaders=host, Signature=0123456789abcdef",
    ],
  });
  const text = JSON.stringify(lines[0]);
  for (
    const secret of [
      "AKIAIOSFODNN7EXAMPLE",
      "IQoJb3Jp",
      "abc123",
      "eyJhbGciOi",
      "ASIAQWERTY",
      "0123456789abcdef",
    ]
  ) {
    assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
  }
  assert.match(
    String(lines[0]!.msg),
    /X-Amz-Credential=\[redacted\]&X-Amz-Security-Token=\[redacted\]/,
  );
  assert.equal(
    scrubText("eni-0123 10.0.0.5 i-0abc"),
    "eni-0123 10.0.0.5 i-0abc",
    "no false positive",
  );
});

Deno.test("Logger appends to a file destination, creating its folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcli-log-" });
  try {
    const path = `${dir}/sub/ipamd.log`;
    const logger = new Logger({ destination: path, level: "info" });
    logger.info("one");
    logger.info("two", { n: 2 });
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.msg), ["one", "two"]);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o640);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
