/**
 * `make demo` (tests/lab/demo.ts) run as a subprocess, as a user runs it: it must go through
 * its six steps within two minutes, prove what it claims, and leave nothing behind; when a step
 * fails or it is interrupted it must say so, point at its logs and still clean up.
 */
import assert from "node:assert/strict";
import { hostNetworkState } from "../lab/netns_state.ts";
import { OWNER_ROOT } from "../lab/owner.ts";
import { REPO_ROOT } from "../lab/paths.ts";

const DEMO = `${REPO_ROOT}/tests/lab/demo.ts`;
const PREFIX = "tdemo";
/** The demo's promise to users. */
const BUDGET_MS = 120_000;

interface DemoExit {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs the demo; `onLine(line, child)` sees each stdout line as it comes (to send a signal).
 * Killed after the budget plus a margin for clean-up.
 */
async function runDemo(
  args: string[] = [],
  onLine?: (line: string, child: Deno.ChildProcess) => void,
): Promise<DemoExit> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--cached-only", DEMO, "--prefix", PREFIX, ...args],
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), BUDGET_MS + 60_000);
  const stderr = new Response(child.stderr).text();
  let stdout = "";
  let pending = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    stdout += chunk;
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) onLine?.(line, child);
  }
  const status = await child.status;
  clearTimeout(timer);
  return { code: status.code, stdout, stderr: await stderr, ms: performance.now() - started };
}

function list(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    return [];
  }
}

/** The run id and lab id the demo printed, and its log dir. */
function idsOf(out: DemoExit): { runId: string; labId?: string; logDir: string } {
  const run = /^run ([a-z0-9]{6}); .* go to (build\/demo-logs\/\S+)\/$/m.exec(out.stdout);
  assert.ok(run, `no "run <id>" line in:\n${out.stdout}`);
  const lab = /^ {2}lab ([a-z0-9]+) ready in /m.exec(out.stdout);
  return { runId: run[1]!, labId: lab?.[1], logDir: `${REPO_ROOT}/${run[2]}` };
}

/** Nothing of the run is left: namespaces, state and temp dirs, its owner record. */
function assertNothingLeft(out: DemoExit): void {
  const { runId, labId } = idsOf(out);
  const namespaces = list("/var/run/netns").filter((n) =>
    n.includes(`-${runId}-`) || (labId !== undefined && n.startsWith(`${PREFIX}-${labId}-`))
  );
  assert.deepEqual(namespaces, [], "namespaces left");
  if (labId) assert.ok(!list("/run/vpcsim").includes(labId), `/run/vpcsim/${labId} left`);
  assert.deepEqual(list("/tmp").filter((n) => n.includes(`-${runId}-`)), [], "temp dirs left");
  assert.ok(!list(OWNER_ROOT).includes(runId), `${OWNER_ROOT}/${runId} left`);
}

async function removeLogs(out: DemoExit): Promise<void> {
  await Deno.remove(idsOf(out).logDir, { recursive: true }).catch(() => {});
}

Deno.test("the demo runs its six steps in under two minutes, proves traffic and SNAT, leaves nothing behind", async () => {
  const hostBefore = await hostNetworkState();

  const out = await runDemo();

  assert.equal(out.code, 0, `exit ${out.code}\n${out.stdout}\n${out.stderr}`);
  assert.ok(out.ms < BUDGET_MS, `took ${out.ms} ms`);
  for (let step = 1; step <= 6; step++) {
    assert.match(out.stdout, new RegExp(`^\\[${step}/6\\] \\S`, "m"), `step ${step} heading`);
  }
  // The nodes' primary IPs, from the node table of step 1.
  const primary = Object.fromEntries(
    [...out.stdout.matchAll(/^ {2}(n\d) +i-\S+ +\S+ +(\d+\.\d+\.\d+\.\d+) /gm)].map((m) => [
      m[1],
      m[2],
    ]),
  );
  assert.deepEqual(Object.keys(primary), ["n1", "n2"]);
  assert.equal(
    (out.stdout.match(/^ {2}default\/\S+ +n[12] +\d+\.\d+\.\d+\.\d+ +eni-/gm) ?? []).length,
    5,
  );
  assert.match(out.stdout, /^ {4}3\/3 replies, average round trip [\d.]+ ms$/m);
  const web1 = /^ {2}default\/web-1 +n1 +(\S+) /m.exec(out.stdout)?.[1];
  assert.match(out.stdout, new RegExp(`→ api-1 \\(inside the VPC\\): seen as ${web1}$`, "m"));
  for (const [pod, node] of [["web-1", "n1"], ["api-1", "n2"]]) {
    const seen = new RegExp(
      `${pod} \\(\\S+\\) → 198\\.51\\.100\\.100 \\(the internet\\): seen as (\\S+),`,
    )
      .exec(out.stdout)?.[1];
    assert.equal(seen, primary[node!], `SNAT of ${pod}`);
  }
  assert.match(out.stdout, /^ {4}awscni_assigned_ip_addresses +3$/m);
  assert.match(out.stdout, /^ {4}ipamd on n1: SIGTERM, exit 0 in /m);
  assert.match(out.stdout, /^ {4}checked: no namespace, state dir, temp dir or process/m);
  assert.match(out.stdout, /^Done in [\d.]+ m?s\.$/m);
  assert.doesNotMatch(out.stdout, /^\s*[{[]"/m, "no raw JSON in the narrative");
  assertNothingLeft(out);
  assert.deepEqual(await hostNetworkState(), hostBefore);
  await removeLogs(out);
});

Deno.test("a failing step is named with its logs, and everything is still removed", async () => {
  const out = await runDemo(["--ipamd-env", "WARM_IP_TARGET=not-a-number"]);

  assert.equal(out.code, 1, `exit ${out.code}\n${out.stdout}\n${out.stderr}`);
  assert.match(out.stderr, /^FAILED at step 2\/6: Start ipamd on each node$/m);
  assert.match(out.stderr, /WARM_IP_TARGET/);
  assert.match(out.stderr, /^cleaned up: no namespace, state dir, process or host change/m);
  const { logDir } = idsOf(out);
  assert.match(out.stderr, new RegExp(`^logs: ${logDir.slice(REPO_ROOT.length + 1)}/`, "m"));
  assert.match(await Deno.readTextFile(`${logDir}/n1-ipamd.stdout.log`), /WARM_IP_TARGET/);
  assert.doesNotMatch(out.stdout, /^\[3\/6\]/m);
  assertNothingLeft(out);
  await removeLogs(out);
});

Deno.test("SIGINT in the middle of the pods step cleans up and exits 130", async () => {
  let sent = false;
  const out = await runDemo([], (line, child) => {
    if (!sent && /^ {2}default\/web-1 /.test(line)) {
      sent = true;
      child.kill("SIGINT");
    }
  });

  assert.ok(sent, `the pods table never appeared:\n${out.stdout}\n${out.stderr}`);
  assert.equal(out.code, 130, `exit ${out.code}\n${out.stdout}\n${out.stderr}`);
  assert.match(out.stderr, /^SIGINT during "step 3\/6: /m);
  assert.match(out.stderr, /^cleaned up: no namespace, state dir, process or host change/m);
  assertNothingLeft(out);
  await removeLogs(out);
});
