import assert from "node:assert/strict";
import {
  applySnatRules,
  type CommandRunner,
  detectIptablesBackend,
  IptablesError,
} from "../../src/node/iptables.ts";

function versionRunner(text: string): CommandRunner {
  return () => Promise.resolve({ code: 0, stdout: text, stderr: "" });
}

Deno.test("detectIptablesBackend() tells legacy from nf_tables and checks --random-fully", async () => {
  const nft = await detectIptablesBackend({ run: versionRunner("iptables v1.8.9 (nf_tables)\n") });
  assert.deepEqual(nft, {
    kind: "nft",
    command: "iptables",
    version: "1.8.9",
    hasRandomFully: true,
  });
  const legacy = await detectIptablesBackend({
    command: "iptables-legacy",
    run: versionRunner("iptables v1.8.9 (legacy)\n"),
  });
  assert.equal(legacy.kind, "legacy");
  assert.equal(legacy.command, "iptables-legacy");
  const old = await detectIptablesBackend({ run: versionRunner("iptables v1.6.1\n") });
  assert.equal(old.hasRandomFully, false);
  assert.equal(
    (await detectIptablesBackend({ run: versionRunner("iptables v1.6.2") })).hasRandomFully,
    true,
  );
});

Deno.test("detectIptablesBackend() throws IptablesError for a missing program or odd output", async () => {
  const missing = await detectIptablesBackend({ command: "tnod-no-such-iptables" }).catch((e) => e);
  assert.ok(missing instanceof IptablesError);
  assert.equal(missing.exitCode, -1);
  assert.ok(missing.cause instanceof Deno.errors.NotFound);
  await assert.rejects(detectIptablesBackend({ run: versionRunner("what?") }), IptablesError);
});

Deno.test("applySnatRules() gives up after three failed restores with stderr and input", async () => {
  const calls: string[] = [];
  const run: CommandRunner = (program, _args, stdin) => {
    calls.push(program);
    if (program.endsWith("-save")) return Promise.resolve({ code: 0, stdout: "", stderr: "" });
    assert.ok(stdin?.startsWith("*mangle\n"));
    return Promise.resolve({ code: 2, stdout: "", stderr: "iptables-restore: line 5 failed\n" });
  };
  const backend = {
    kind: "nft" as const,
    command: "iptables",
    version: "1.8.9",
    hasRandomFully: true,
  };
  const error = await applySnatRules(
    { vpcCidrs: ["10.0.0.0/16"], primaryIp: "10.0.0.5", primaryInterface: "eth0" },
    { backend, run },
  ).catch((e) => e);
  assert.ok(error instanceof IptablesError);
  assert.equal(error.program, "iptables-restore");
  assert.deepEqual(error.args, ["-w", "10", "--noflush"]);
  assert.equal(error.exitCode, 2);
  assert.equal(error.stderr, "iptables-restore: line 5 failed\n");
  assert.match(error.input ?? "", /AWS-SNAT-CHAIN-0/);
  assert.equal(calls.filter((c) => c === "iptables-restore").length, 3);
});
