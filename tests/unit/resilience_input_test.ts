// deno-lint-ignore-file no-console -- the suite prints its counts and timings
/**
 * Bad input, in-process (issue 7, item 3): a seeded corpus of thousands of broken aws-cni
 * invocations (tests/lab/cni_corpus.ts) through the plugin's real entry point `runPlugin`
 * with injected stdin/stdout, and thousands of broken ipamd environments through
 * `loadConfig`. The plugin's ipamd connection and pod wiring are replaced by functions that
 * fail the case if called: a broken invocation must be answered before either is reached,
 * so it cannot change anything on the node. tests/integration/resilience_input_test.ts runs
 * a few hundred of the same cases as real processes in a lab node.
 */
import assert from "node:assert/strict";
import { runPlugin } from "../../src/cni/skel.ts";
import { StdinError } from "../../src/cni/errors.ts";
import { ConfigError, loadConfig, VARIABLES } from "../../src/config.ts";
import { cniErrorProblems, type CorpusCase, generateCorpus } from "../lab/cni_corpus.ts";
import { SeededRandom, suiteSeed } from "../lab/resilience_world.ts";

const SEED = suiteSeed(11_2026);
const CASES = 3_000;
const CASE_TIMEOUT_MS = 5_000;

/** What a case did: exit status, stdout, and whether it reached ipamd or the kernel. */
interface Outcome {
  status: number | "timeout";
  stdout: string;
  reached: string[];
}

async function runCase(c: CorpusCase): Promise<Outcome> {
  let stdout = "";
  const reached: string[] = [];
  const forbid = (what: string) => () => {
    reached.push(what);
    throw new Error(`case reached ${what}`);
  };
  const run = runPlugin({
    io: {
      env: (name) => c.env[name],
      readStdin: (limit) =>
        c.stdin.length > limit
          ? Promise.reject(new StdinError(`stdin larger than ${limit} bytes`))
          : Promise.resolve(c.stdin),
      writeStdout: (text) => stdout += text,
      stderr: () => {},
    },
    deps: {
      connect: forbid("ipamd"),
      wiring: {
        // Read-only: whether CNI_NETNS exists (the corpus names only missing ones).
        netnsExists: (path) => {
          try {
            Deno.statSync(path);
            return true;
          } catch {
            return false;
          }
        },
        removeContainer: forbid("removeContainer"),
        wire: forbid("wire"),
        remove: forbid("remove"),
        teardown: forbid("teardown"),
        teardownBranch: forbid("teardownBranch"),
        inspect: forbid("inspect"),
      },
      hostNetns: "/nonexistent/tres-node",
    },
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) =>
    timer = setTimeout(() => r("timeout"), CASE_TIMEOUT_MS)
  );
  try {
    return { status: await Promise.race([run, timeout]), stdout, reached };
  } finally {
    clearTimeout(timer);
  }
}

Deno.test(`runPlugin() answers each of ${CASES} broken invocations with a CNI error, a sensible code and a non-zero exit, without reaching ipamd or the kernel`, async () => {
  const corpus = generateCorpus({
    seed: SEED,
    count: CASES,
    socket: "/nonexistent/tres/ipamd.sock",
    missingNetns: "/var/run/netns/tres-missing-0",
  });
  const failures: string[] = [];
  const byCode = new Map<number, number>();
  const started = performance.now();
  for (const c of corpus) {
    const outcome = await runCase(c);
    const problems = [
      ...cniErrorProblems(c, outcome.status, outcome.stdout, CASE_TIMEOUT_MS),
      ...outcome.reached.map((r) => `reached ${r}`),
    ];
    if (problems.length > 0) failures.push(`#${c.id} ${c.name}: ${problems.join("; ")}`);
    else {
      const code = JSON.parse(outcome.stdout).code as number;
      byCode.set(code, (byCode.get(code) ?? 0) + 1);
    }
  }
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} of ${CASES} cases failed`);
  const families = new Set(corpus.flatMap((c) => c.name.split("+")));
  assert.ok(families.size >= 20, `only ${families.size} mutation families were generated`);
  console.log(
    `CNI corpus (seed ${SEED}): ${CASES} cases, ${families.size} mutation families, codes ${
      [...byCode].sort(([a], [b]) => a - b).map(([k, n]) => `${k}×${n}`).join(" ")
    }, ${Math.round(performance.now() - started)} ms`,
  );
});

/** A refused value for each variable that can be wrong, by kind (free text cannot be). */
function badValue(name: string, type: string): string | undefined {
  const special: Record<string, string> = {
    CLUSTER_NAME: "no!exclamation",
    AWS_VPC_K8S_CNI_VETHPREFIX: "toolong",
    AWS_VPC_K8S_PLUGIN_LOG_FILE: "stdout",
  };
  if (name in special) return special[name];
  if (type === "bool") return "yes";
  if (type.startsWith("int")) return "12abc";
  if (type.startsWith("number")) return "0";
  if (type.startsWith("CSV")) return "10.0.0.0/33";
  if (type === "URL") return "ftp://ec2.example";
  if (type.startsWith("host:port")) return "localhost";
  if (type === "JSON object") return "{";
  if (type.includes(" | ") && !type.includes("path")) return "not-a-choice";
  return undefined;
}

Deno.test("loadConfig() refuses any mix of bad ipamd variables with one ConfigError that names each exactly once", () => {
  const rng = new SeededRandom(SEED);
  const bad = Object.values(VARIABLES)
    .map((v) => ({ name: v.name, value: badValue(v.name, v.type) }))
    .filter((v): v is { name: string; value: string } => v.value !== undefined);
  // Every variable that has a refusable value is covered, and they are most of the table.
  for (const { name, value } of bad) {
    assert.throws(() => loadConfig({ [name]: value }), ConfigError, `${name}=${value}`);
  }
  assert.ok(bad.length >= 45, `only ${bad.length} variables have a bad value here`);
  const kinds = new Set(
    Object.values(VARIABLES).filter((v) => bad.some((b) => b.name === v.name)).map((v) =>
      v.type.split(" ")[0]
    ),
  );
  const COMBOS = 2_000;
  for (let i = 0; i < COMBOS; i++) {
    const k = 1 + rng.int(10);
    const chosen = new Map<string, string>();
    while (chosen.size < k) {
      const v = rng.pick(bad);
      chosen.set(v.name, v.value);
    }
    const env = { WARM_ENI_TARGET: "2", ...Object.fromEntries(chosen) };
    let error: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof ConfigError, `combo ${i} ${JSON.stringify(env)}: ${error}`);
    const message: string = error.message;
    const named = error.problems.map((p) => p.variable).sort();
    assert.deepEqual(named, [...chosen.keys()].sort(), `combo ${i}: ${message}`);
    for (const name of chosen.keys()) {
      const lines = message.split("\n").filter((l) => l.trimStart().startsWith(`${name}=`));
      assert.equal(lines.length, 1, `${name} in: ${message}`);
    }
  }
  console.log(
    `config corpus (seed ${SEED}): ${bad.length} variables of ${kinds.size} kinds, ` +
      `${COMBOS} combinations of 1-10 bad variables`,
  );
});
