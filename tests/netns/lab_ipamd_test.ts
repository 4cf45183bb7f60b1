/**
 * tests/lab/ipamd.ts lifecycle (start in a node, waitReady, SIGTERM, SIGKILL, restart, logs),
 * exercised with a stand-in daemon (fixtures/stand_in_ipamd.ts) until ipamd itself exists.
 */
import assert from "node:assert/strict";
import { IpamdError, startIpamd } from "../lab/ipamd.ts";
import { REPO_ROOT } from "../lab/paths.ts";
import { testScope } from "../lab/scope.ts";

const STAND_IN = [
  Deno.execPath(),
  "run",
  "-A",
  "--cached-only",
  `${REPO_ROOT}/tests/netns/fixtures/stand_in_ipamd.ts`,
];

Deno.test("startIpamd() runs in the node namespace, waitReady() polls ipam.status, stop() sends SIGTERM", async () => {
  await using scope = testScope("thar");
  const dir = await scope.tempDir("ipamd");
  const netns = await scope.netns("node");
  const node = { netns, info: { env: { IPAMD_SOCKET_PATH: `${dir}/ipamd.sock` } } };
  const ipamd = await startIpamd(node, { command: STAND_IN, cleanup: scope.cleanup });

  const status = await ipamd.waitReady({ timeoutMs: 30_000 });

  assert.equal(status.ready, true);
  const nodeInode = (await Deno.stat(netns.path)).ino;
  const log = await Deno.readTextFile(ipamd.logFile);
  assert.match(log, new RegExp(`netns net:\\[${nodeInode}\\]`));
  const stopped = await ipamd.stop();
  assert.equal(stopped.killed, false);
  assert.equal(stopped.status.code, 0);
  assert.match(await ipamd.logTail(), /SIGTERM, shutting down/);
  assert.equal(ipamd.running, false);
});

Deno.test("kill9() ends ipamd at once and restart() brings it back ready", async () => {
  await using scope = testScope("thar");
  const dir = await scope.tempDir("ipamd");
  const node = {
    netns: await scope.netns("node"),
    info: { env: { IPAMD_SOCKET_PATH: `${dir}/ipamd.sock` } },
  };
  const ipamd = await startIpamd(node, { command: STAND_IN, cleanup: scope.cleanup });
  await ipamd.waitReady({ timeoutMs: 30_000 });
  const firstPid = ipamd.pid;

  const killed = await ipamd.kill9();
  assert.equal(killed.signal, "SIGKILL");
  await ipamd.restart();
  const status = await ipamd.waitReady({ timeoutMs: 30_000 });

  assert.equal(status.ready, true);
  assert.notEqual(ipamd.pid, firstPid);
  assert.equal(ipamd.running, true);
});

Deno.test("waitReady() reports an ipamd that exits at start, quoting its log", async () => {
  await using scope = testScope("thar");
  const dir = await scope.tempDir("ipamd");
  const node = {
    netns: await scope.netns("node"),
    info: { env: { IPAMD_SOCKET_PATH: `${dir}/ipamd.sock`, STAND_IN_EXIT: "3" } },
  };
  const ipamd = await startIpamd(node, { command: STAND_IN, cleanup: scope.cleanup });

  const error = await ipamd.waitReady({ timeoutMs: 30_000 }).catch((e) => e);

  assert.ok(error instanceof IpamdError, String(error));
  assert.equal(error.exitStatus?.code, 3);
  assert.match(error.message, /failing at start as asked/);
});

Deno.test("startIpamd() refuses a node without IPAMD_SOCKET_PATH", async () => {
  await using scope = testScope("thar");
  const node = { netns: await scope.netns("node"), info: { env: {} } };
  await assert.rejects(startIpamd(node, { command: STAND_IN }), TypeError);
});
