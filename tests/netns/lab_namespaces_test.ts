/** tests/lab namespace helpers against the real kernel: guard, cleanup paths, stale sweep. */
import assert from "node:assert/strict";
import { run } from "../lab/command.ts";
import {
  adoptNetns,
  assertLabNetns,
  createNetns,
  forgetNetns,
  NETNS_DIR,
  netnsExists,
  NetnsGuardError,
  nsExec,
} from "../lab/namespaces.ts";
import { processStartTime, RUN_ID } from "../lab/owner.ts";
import { REPO_ROOT } from "../lab/paths.ts";
import { testScope } from "../lab/scope.ts";
import { sweepStale } from "../lab/stale_sweep.ts";

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

interface Held {
  netns: string;
  dir: string;
  childPid: number;
}

/** Starts fixtures/hold_lab.ts and returns what it made. */
async function startHolder(): Promise<{ process: Deno.ChildProcess; held: Held }> {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--cached-only", `${REPO_ROOT}/tests/netns/fixtures/hold_lab.ts`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  if (!text.includes("\n")) {
    const err = await new Response(process.stderr).text();
    throw new Error(`hold_lab.ts did not start: ${err}`);
  }
  return { process, held: JSON.parse(text) as Held };
}

async function finish(process: Deno.ChildProcess): Promise<Deno.CommandStatus> {
  const [status] = await Promise.all([
    process.status,
    process.stdout.cancel().catch(() => {}),
    process.stderr.cancel().catch(() => {}),
  ]);
  return status;
}

Deno.test("nsExec() refuses a namespace this process did not create", async () => {
  await using scope = testScope("thar");
  const stranger = `thar-${RUN_ID}-stranger`;
  scope.defer(
    "remove stranger",
    () => run(["ip", "netns", "del", stranger], { allowFailure: true }),
  );
  await run(["ip", "netns", "add", stranger]);
  await assert.rejects(
    nsExec({ name: stranger, path: `${NETNS_DIR}/${stranger}` }, ["true"]),
    NetnsGuardError,
  );
  assert.throws(() => assertLabNetns({ name: "host", path: "/proc/self/ns/net" }), NetnsGuardError);
});

Deno.test("adoptNetns() refuses a name that is bound to the host's namespace", async () => {
  await using scope = testScope("thar");
  const alias = `${NETNS_DIR}/thar-${RUN_ID}-alias`;
  scope.defer("remove host alias", async () => {
    await run(["umount", alias], { allowFailure: true });
    await Deno.remove(alias).catch(() => {});
  });
  await Deno.writeTextFile(alias, "");
  await run(["mount", "--bind", `/proc/${Deno.pid}/ns/net`, alias]);
  assert.throws(() => adoptNetns(`thar-${RUN_ID}-alias`), NetnsGuardError);
  forgetNetns({ name: `thar-${RUN_ID}-alias`, path: alias });
});

Deno.test("createNetns() makes <prefix>-<runId>-<role> with lo up, and its scope removes it when the test throws", async () => {
  let name = "";
  await assert.rejects(async () => {
    await using scope = testScope("thar");
    const ns = await scope.netns("cleanup");
    name = ns.name;
    assert.match(ns.name, new RegExp(`^thar-${RUN_ID}-cleanup(-\\d+)?$`));
    const lo = await nsExec(ns, ["ip", "-o", "link", "show", "lo"]);
    assert.match(lo.stdout, /state UNKNOWN|UP/);
    throw new RangeError("the test failed here");
  }, RangeError);
  assert.equal(exists(`${NETNS_DIR}/${name}`), false);
});

Deno.test("a test process stopped with SIGTERM removes its namespaces and temp dirs", async () => {
  const { process, held } = await startHolder();
  try {
    assert.equal(exists(`${NETNS_DIR}/${held.netns}`), true);
    process.kill("SIGTERM");
    const status = await process.status;
    assert.equal(status.code, 143);
    assert.equal(exists(`${NETNS_DIR}/${held.netns}`), false);
    assert.equal(exists(held.dir), false);
    assert.equal(processStartTime(held.childPid), undefined);
  } finally {
    try {
      process.kill("SIGKILL"); // only when an assertion failed before it exited
    } catch {
      // exited
    }
    await finish(process);
  }
});

Deno.test("sweepStale() removes what a SIGKILLed test run left: namespaces, temp dirs, children", async () => {
  const { process, held } = await startHolder();
  process.kill("SIGKILL");
  await finish(process);
  assert.equal(exists(`${NETNS_DIR}/${held.netns}`), true, "SIGKILL leaves the namespace");
  assert.notEqual(processStartTime(held.childPid), undefined, "and the child");

  const report = await sweepStale();

  assert.ok(report.netns.includes(held.netns), JSON.stringify(report));
  assert.ok(report.tempDirs.includes(held.dir));
  assert.ok(report.stoppedPids.includes(held.childPid));
  assert.equal(exists(`${NETNS_DIR}/${held.netns}`), false);
  assert.equal(exists(held.dir), false);
  for (let i = 0; i < 50 && processStartTime(held.childPid) !== undefined; i++) {
    await new Promise((r) => setTimeout(r, 100)); // reaped by init after the SIGTERM
  }
  assert.equal(processStartTime(held.childPid), undefined);
});

Deno.test("removing a created namespace twice is harmless", async () => {
  await using scope = testScope("thar");
  const ns = await createNetns("thar", "twice", { cleanup: scope.cleanup });
  await run(["ip", "netns", "del", ns.name]);
  assert.equal(netnsExists(ns), false);
});
