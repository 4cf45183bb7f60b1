import assert from "node:assert/strict";
import { parseArgs, parseDuration, renderHelp, UsageError } from "../../src/ops/cli/args.ts";
import { resolveEndpoints } from "../../src/ops/cli/ipamd_api.ts";

const SPECS = {
  json: { type: "boolean", help: "json" },
  namespace: { type: "string", short: "n", value: "NS", help: "namespace" },
  socket: { type: "string", value: "PATH", help: "socket" },
  help: { type: "boolean", short: "h", help: "help" },
} as const;

Deno.test("parseArgs() reads booleans, --name value, --name=value and short options", () => {
  const parsed = parseArgs("pods", ["--json", "-n", "kube-system", "--socket=/run/x.sock"], SPECS);
  assert.deepEqual(parsed.options, { json: true, namespace: "kube-system", socket: "/run/x.sock" });
  assert.deepEqual(parseArgs("pods", ["-nkube-system"], SPECS).options, {
    namespace: "kube-system",
  });
  assert.deepEqual(parseArgs("pods", ["--json=false"], SPECS).options, { json: false });
});

Deno.test("parseArgs() refuses an unknown option and suggests the close one", () => {
  assert.throws(
    () => parseArgs("pods", ["--jsn"], SPECS),
    (e: unknown) =>
      e instanceof UsageError && /unknown option --jsn \(did you mean --json\?\)/.test(e.message) &&
      /Run 'ipamd pods --help'/.test(e.message),
  );
  assert.throws(() => parseArgs("pods", ["-x"], SPECS), /unknown option -x/);
});

Deno.test("parseArgs() refuses a missing value, a value on a boolean and extra arguments", () => {
  assert.throws(
    () => parseArgs("pods", ["--namespace"], SPECS),
    /--namespace needs a value \(NS\)/,
  );
  assert.throws(() => parseArgs("pods", ["-n", "--json"], SPECS), /needs a value/);
  assert.throws(() => parseArgs("pods", ["--json=yes"], SPECS), /--json takes no value/);
  assert.throws(() => parseArgs("pods", ["extra"], SPECS), /unexpected argument "extra"/);
  assert.deepEqual(
    parseArgs("x", ["a", "--", "--json"], SPECS, { maxPositionals: 2 }).positionals,
    ["a", "--json"],
  );
});

Deno.test("parseDuration() takes Go durations and plain seconds", () => {
  assert.equal(parseDuration("status", "rpc-timeout", "5s"), 5000);
  assert.equal(parseDuration("status", "rpc-timeout", "500ms"), 500);
  assert.equal(parseDuration("status", "rpc-timeout", "1m30s"), 90_000);
  assert.equal(parseDuration("status", "rpc-timeout", "2"), 2000);
  assert.equal(parseDuration("status", "rpc-timeout", "0.25"), 250);
  for (const bad of ["", "0", "5x", "-1s", "s"]) {
    assert.throws(
      () => parseDuration("status", "rpc-timeout", bad),
      /--rpc-timeout .* is not a duration; use e\.g\. 5s/,
      bad,
    );
  }
});

Deno.test("renderHelp() lists every option with its value placeholder", () => {
  const text = renderHelp({ usage: "ipamd pods", summary: "Lists pods.", options: SPECS });
  assert.match(text, /^Usage: ipamd pods\n\nLists pods\.\n\nOptions:\n/);
  assert.match(text, /-n, --namespace NS\s+namespace/);
  assert.match(text, / {4}--socket PATH\s+socket/);
  assert.match(text, /-h, --help\s+help/);
});

Deno.test("resolveEndpoints() prefers flags, then the environment, then the defaults", () => {
  assert.deepEqual(resolveEndpoints("status", {}, {}), {
    socket: "/var/run/aws-node/ipamd.sock",
    introspection: "127.0.0.1:61679",
    introspectionDisabled: false,
  });
  const env = {
    IPAMD_SOCKET_PATH: "/run/env.sock",
    INTROSPECTION_BIND_ADDRESS: "unix:/run/i.sock",
    DISABLE_INTROSPECTION: "true",
  };
  assert.deepEqual(resolveEndpoints("status", {}, env), {
    socket: "/run/env.sock",
    introspection: "unix:/run/i.sock",
    introspectionDisabled: true,
  });
  assert.deepEqual(
    resolveEndpoints("status", { socket: "/run/f.sock", introspection: ":7000" }, env),
    { socket: "/run/f.sock", introspection: ":7000", introspectionDisabled: false },
  );
  assert.throws(
    () => resolveEndpoints("enis", { introspection: "localhost" }, {}),
    (e: unknown) => e instanceof UsageError && /use host:port/.test(e.message),
  );
});
