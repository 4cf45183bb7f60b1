// deno-lint-ignore-file no-console -- the suite prints its counts and timings
/**
 * Bad input against the real executables in a lab node (issue 7, item 3); the in-process
 * corpora are in tests/unit/resilience_input_test.ts.
 *   - aws-cni: a few hundred broken invocations (tests/lab/cni_corpus.ts) as real launcher
 *     processes in the node namespace: each ends in CNI error JSON on stdout with a sensible
 *     code and a non-zero exit within a time limit;
 *   - ipamd's socket: garbage, truncated, pipelined, oversized and slow-loris messages, and
 *     more idle connections than ipamd serves at once, while a client keeps sending correct
 *     requests that must all succeed;
 *   - afterwards the node is as before: routes, rules, links, iptables, the datastore and the
 *     checkpoint;
 *   - invalid ipamd settings (each kind of variable, and all at once): ipamd exits non-zero
 *     at start with one error naming each bad variable, and creates nothing: no socket (nor
 *     its directory), no checkpoint, no log, no change in the node's namespace.
 */
import assert from "node:assert/strict";
import { ErrorCode } from "../../src/rpc/protocol.ts";
import { cniErrorProblems, type CorpusCase, generateCorpus } from "../lab/cni_corpus.ts";
import { type Ipamd, startIpamd } from "../lab/ipamd.ts";
import { type Netns, nsArgv, nsExec } from "../lab/namespaces.ts";
import { netnsState } from "../lab/netns_state.ts";
import { AWS_CNI_BIN, IPAMD_BIN, SYSTEM_PATH } from "../lab/paths.ts";
import { datastoreView, suiteSeed, waitAgreement } from "../lab/resilience_world.ts";
import { generateRpcCorpus } from "../lab/rpc_corpus.ts";
import { rpcCall } from "../lab/rpc_client.ts";
import { testScope } from "../lab/scope.ts";
import { startSim } from "../lab/sim.ts";

const SEED = suiteSeed(5_2026);
/** RESILIENCE_CNI_PROCESSES changes how many aws-cni processes run (each costs ~0.2 s of CPU). */
const CNI_PROCESSES = Number(Deno.env.get("RESILIENCE_CNI_PROCESSES") ?? 300);
const CNI_TIMEOUT_MS = 20_000;
const RPC_CASES = 400;
const REPLY_TIMEOUT_MS = 5_000;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

async function runAwsCni(netns: Netns, c: CorpusCase) {
  const [program, ...args] = nsArgv(netns, [AWS_CNI_BIN]);
  const child = new Deno.Command(program!, {
    args,
    clearEnv: true,
    env: { PATH: SYSTEM_PATH, ...c.env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, CNI_TIMEOUT_MS);
  try {
    const writer = child.stdin.getWriter();
    await writer.write(c.stdin).catch(() => {});
    await writer.close().catch(() => {});
    const out = await child.output();
    return {
      status: timedOut ? "timeout" as const : out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** A connection whose replies are read line by line (several may arrive in one read). */
class Lines {
  readonly conn: Deno.Conn;
  #text = "";
  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }
  /** The next line without its newline, or null at end of stream or after `ms`. */
  async next(ms = REPLY_TIMEOUT_MS): Promise<string | null> {
    const buf = new Uint8Array(64 * 1024);
    const timer = setTimeout(() => close(this.conn), ms);
    try {
      while (!this.#text.includes("\n")) {
        const n = await this.conn.read(buf).catch(() => null);
        if (n === null) return null;
        this.#text += decoder.decode(buf.subarray(0, n), { stream: true });
      }
      const at = this.#text.indexOf("\n");
      const line = this.#text.slice(0, at);
      this.#text = this.#text.slice(at + 1);
      return line;
    } finally {
      clearTimeout(timer);
    }
  }
}

function connect(socket: string): Promise<Deno.UnixConn> {
  return Deno.connect({ transport: "unix", path: socket });
}

function close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // closed by the peer or a timer
  }
}

/** A JSON-RPC error reply; returns what is wrong with it. */
function errorReplyProblems(line: string | null, codes: number[]): string | undefined {
  if (line === null) return "no reply";
  let reply: { jsonrpc?: unknown; error?: { code?: unknown; message?: unknown }; result?: unknown };
  try {
    reply = JSON.parse(line);
  } catch {
    return `reply is not JSON: ${line.slice(0, 100)}`;
  }
  if (reply.jsonrpc !== "2.0" || !reply.error || "result" in reply) {
    return `not an error reply: ${line.slice(0, 200)}`;
  }
  if (!codes.includes(reply.error.code as number)) {
    return `code ${reply.error.code}, expected ${codes}: ${reply.error.message}`;
  }
  if (typeof reply.error.message !== "string" || reply.error.message === "") return "no message";
  return undefined;
}

/** Correct requests in a loop (status; every 5th turn ADD, GET, DEL) until stopped. */
function correctClient(socket: string) {
  let stop = false;
  const failures: string[] = [];
  let ok = 0;
  let slowest = 0;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      const started = performance.now();
      try {
        const status = await rpcCall(socket, "ipam.status", {}, { timeoutMs: 3_000 });
        if (!status.ready) failures.push(`status ${i}: not ready`);
        if (i % 5 === 0) {
          const key = {
            networkName: "aws-cni",
            containerId: `tres-ok-${i}`,
            ifName: "eth0",
          };
          const added = await rpcCall(socket, "ipam.add", {
            ...key,
            podName: "",
            podNamespace: "",
            netns: "/var/run/netns/none",
            waitMs: 0,
          }, { timeoutMs: 3_000 });
          const got = await rpcCall(socket, "ipam.get", key, { timeoutMs: 3_000 });
          if (got.allocations[0]?.ipv4 !== added.allocations[0]?.ipv4) {
            failures.push(`get ${i}: ${JSON.stringify(got)} after ${JSON.stringify(added)}`);
          }
          await rpcCall(socket, "ipam.del", { ...key, reason: "PodDeleted" }, { timeoutMs: 3_000 });
        }
        ok++;
      } catch (e) {
        failures.push(`request ${i}: ${e}`);
      }
      slowest = Math.max(slowest, performance.now() - started);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    async stop() {
      stop = true;
      await done;
      return { ok, failures, slowestMs: Math.round(slowest) };
    },
  };
}

Deno.test({
  name: "broken aws-cni invocations, garbage on ipamd's socket and invalid ipamd settings all " +
    "end in a clear error, without hanging and without changing the node",
  async fn(t) {
    await using scope = testScope("tres");
    const sim = await startSim({
      nodes: 2,
      instanceType: "t3.medium",
      args: ["--prefix", "tres", "--seed", String(SEED)],
      cleanup: scope.cleanup,
    });
    const [node, spare] = sim.nodes as [(typeof sim.nodes)[0], (typeof sim.nodes)[0]];
    // A pool that one pod at a time neither grows nor shrinks (5 addresses, 2 kept free), so
    // the correct requests sent meanwhile leave the node as it was.
    const ipamd: Ipamd = await startIpamd(node, {
      env: { IP_COOLDOWN_PERIOD: "0", WARM_IP_TARGET: "2", MINIMUM_IP_TARGET: "5" },
      cleanup: scope.cleanup,
    });
    await ipamd.waitReady({ timeoutMs: 60_000 });
    const socket = ipamd.socketPath;
    const checkpoint = ipamd.env.AWS_VPC_K8S_CNI_BACKING_STORE!;
    await waitAgreement({ sim, netns: node.netns, instanceId: node.info.instanceId });
    const snapshot = async () => {
      const ds = await datastoreView(node.netns);
      return {
        netns: await netnsState(node.netns),
        pods: ds.pods,
        cidrs: Object.fromEntries([...ds.enis].map(([id, e]) => [id, [...e.cidrs].sort()])),
        // No file yet counts as no allocation.
        checkpoint: JSON.parse(await Deno.readTextFile(checkpoint).catch(() => "{}")).allocations ??
          [],
      };
    };
    const before = await snapshot();
    const pid = ipamd.pid;

    await t.step(
      `aws-cni answers ${CNI_PROCESSES} broken invocations (real processes) with CNI error JSON`,
      async () => {
        const corpus = generateCorpus({
          seed: SEED,
          count: CNI_PROCESSES,
          socket,
          missingNetns: `/var/run/netns/tres-missing-${SEED}`,
          forSubprocess: true,
        });
        const failures: string[] = [];
        let slowest = 0;
        const started = performance.now();
        await pool(corpus, 3, async (c) => {
          const t0 = performance.now();
          const r = await runAwsCni(node.netns, c);
          slowest = Math.max(slowest, performance.now() - t0);
          const problems = cniErrorProblems(c, r.status, r.stdout, CNI_TIMEOUT_MS);
          if (/Uncaught|panicked|Stack backtrace/.test(r.stderr)) {
            problems.push(`stderr: ${r.stderr.slice(0, 300)}`);
          }
          if (problems.length > 0) failures.push(`#${c.id} ${c.name}: ${problems.join("; ")}`);
        });
        assert.deepEqual(failures.slice(0, 20), [], `${failures.length} cases failed`);
        console.log(
          `aws-cni processes: ${CNI_PROCESSES} broken invocations in ` +
            `${Math.round((performance.now() - started) / 1000)} s, slowest ${
              Math.round(slowest)
            } ms`,
        );
      },
    );

    await t.step(
      "ipamd answers garbage on its socket with JSON-RPC errors and keeps serving",
      async () => {
        const client = correctClient(socket);
        const failures: string[] = [];
        // Each bad message on its own connection, eight at a time.
        const corpus = generateRpcCorpus(SEED, RPC_CASES);
        await pool(corpus, 8, async (c) => {
          const conn = await connect(socket);
          try {
            await conn.write(new Uint8Array([...c.bytes, 0x0a]));
            const problem = errorReplyProblems(await new Lines(conn).next(), c.codes);
            if (problem) failures.push(`${c.name}: ${problem}`);
          } finally {
            close(conn);
          }
        });
        // Pipelined on one connection: garbage and correct requests, answered in order.
        {
          const conn = await connect(socket);
          const replies = new Lines(conn);
          const expected: Array<{ id: number; codes?: number[] }> = [];
          let batch = new Uint8Array();
          for (const [i, c] of generateRpcCorpus(SEED + 1, 40).entries()) {
            const ok = encoder.encode(JSON.stringify({
              jsonrpc: "2.0",
              id: 1000 + i,
              method: "ipam.status",
              params: { protocolVersion: 1 },
            }));
            batch = new Uint8Array([...batch, ...c.bytes, 0x0a, ...ok, 0x0a]);
            expected.push({ id: -1, codes: c.codes }, { id: 1000 + i });
          }
          await conn.write(batch);
          for (const e of expected) {
            const line = await replies.next();
            if (e.codes) {
              const problem = errorReplyProblems(line, e.codes);
              if (problem) failures.push(`pipelined: ${problem}`);
            } else {
              const reply = line === null ? undefined : JSON.parse(line);
              if (reply?.id !== e.id || !reply?.result?.ready) {
                failures.push(`pipelined status ${e.id}: ${line}`);
              }
            }
          }
          close(conn);
        }
        // Oversized: a 100 KiB line, and 2 MiB without any newline.
        for (
          const [name, bytes] of [
            [
              "100 KiB line",
              new Uint8Array(100 * 1024).fill(0x61).map((b, i, a) => i === a.length - 1 ? 0x0a : b),
            ],
            ["2 MiB, no newline", new Uint8Array(2 << 20).fill(0x7b)],
          ] as const
        ) {
          const conn = await connect(socket);
          const replies = new Lines(conn);
          const writing = conn.write(bytes).catch(() => 0); // the server may close mid-write
          const problem = errorReplyProblems(await replies.next(), [ErrorCode.Overloaded]);
          if (problem) failures.push(`${name}: ${problem}`);
          const after = await replies.next(2_000);
          if (after !== null) failures.push(`${name}: the connection stayed open (${after})`);
          await writing;
          close(conn);
        }
        // Truncated requests: half a message, then the client goes away.
        await pool(Array.from({ length: 20 }, (_, i) => i), 10, async (i) => {
          const conn = await connect(socket);
          await conn.write(
            encoder.encode('{"jsonrpc":"2.0","id":1,"method":"ipam.st'.slice(0, 5 + i)),
          );
          close(conn);
        });
        // Slow loris: 20 connections dribbling a request a byte at a time, 20 saying nothing.
        const loris: Deno.Conn[] = [];
        for (let i = 0; i < 40; i++) loris.push(await connect(socket));
        const request = encoder.encode(
          '{"jsonrpc":"2.0","id":9,"method":"ipam.status","params":{"protocolVersion":1}}',
        );
        for (let step = 0; step < 30; step++) {
          await Promise.all(
            loris.slice(0, 20).map((c) => c.write(request.subarray(step, step + 1)).catch(() => 0)),
          );
          await new Promise((r) => setTimeout(r, 100));
        }
        loris.forEach(close);
        // More idle connections than ipamd serves at once (64): correct requests still go through.
        const flood: Deno.Conn[] = [];
        for (let i = 0; i < 100; i++) flood.push(await connect(socket));
        const during = correctClient(socket);
        await new Promise((r) => setTimeout(r, 2_000));
        const flooded = await during.stop();
        flood.forEach(close);
        failures.push(
          ...flooded.failures.slice(0, 5).map((f) => `with 100 idle connections: ${f}`),
        );
        const served = await client.stop();
        assert.deepEqual(failures.slice(0, 20), [], `${failures.length} bad replies`);
        assert.deepEqual(served.failures.slice(0, 10), [], "correct requests failed meanwhile");
        assert.ok(served.ok > 20, `only ${served.ok} correct requests went through`);
        assert.equal(ipamd.running, true, "ipamd exited");
        assert.equal(ipamd.pid, pid, "ipamd restarted");
        console.log(
          `ipamd socket: ${RPC_CASES} bad messages + 40 pipelined + oversized, truncated and ` +
            `40 slow-loris connections, then 100 idle ones (ipamd serves 64 at once); ` +
            `${served.ok} correct requests served meanwhile, ` +
            `slowest ${served.slowestMs} ms`,
        );
      },
    );

    await t.step("the node is as before: namespace, datastore, checkpoint", async () => {
      const after = await snapshot();
      assert.deepEqual(after, before);
    });

    await t.step(
      "ipamd refuses invalid settings of every kind at start and changes nothing",
      async () => {
        const CLASSES: Array<[string, Record<string, string>, string[]]> = [
          ["bool", { AWS_VPC_K8S_CNI_EXTERNALSNAT: "yes" }, ["AWS_VPC_K8S_CNI_EXTERNALSNAT"]],
          ["int ≥ 0", { WARM_IP_TARGET: "-1" }, ["WARM_IP_TARGET"]],
          ["int range", { POD_IP_WAIT_SECONDS: "121" }, ["POD_IP_WAIT_SECONDS"]],
          ["number > 0", { EC2_API_QPS: "0" }, ["EC2_API_QPS"]],
          ["enum", { WARM_POOL_MODE: "fast" }, ["WARM_POOL_MODE"]],
          ["checked text", { CLUSTER_NAME: "bad!name" }, ["CLUSTER_NAME"]],
          ["CIDR list", {
            AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: "10.0.0.0/8,10.1.0.0/33",
          }, ["AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS"]],
          ["URL", { AWS_EC2_METADATA_SERVICE_ENDPOINT: "ftp://169.254.169.254" }, [
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
          ]],
          ["bind address", { INTROSPECTION_BIND_ADDRESS: "0.0.0.0" }, [
            "INTROSPECTION_BIND_ADDRESS",
          ]],
          ["Go base-0 int", { AWS_VPC_K8S_CNI_CONNMARK: "0x1ffffffff" }, [
            "AWS_VPC_K8S_CNI_CONNMARK",
          ]],
          ["log level", { AWS_VPC_K8S_CNI_LOGLEVEL: "verbose" }, ["AWS_VPC_K8S_CNI_LOGLEVEL"]],
          ["JSON object", { ADDITIONAL_ENI_TAGS: '{"team":' }, ["ADDITIONAL_ENI_TAGS"]],
          ["int or unset", { MAX_ENI: "three", MAX_PODS: "0" }, ["MAX_ENI", "MAX_PODS"]],
          ["unsupported", { ENABLE_IPv6: "true", ENABLE_POD_ENI: "true" }, [
            "ENABLE_IPv6",
            "ENABLE_POD_ENI",
          ]],
          ["IPv4 off", { ENABLE_IPv4: "false" }, ["ENABLE_IPv4"]],
          ["combination", { ENABLE_PREFIX_DELEGATION: "true", WARM_PREFIX_TARGET: "0" }, [
            "WARM_PREFIX_TARGET",
          ]],
          ["endpoints disagree", { AWS_EC2_ENDPOINT: "http://198.51.100.10:81" }, [
            "AWS_EC2_ENDPOINT",
          ]],
        ];
        const all = CLASSES.filter(([name]) =>
          name !== "combination" && name !== "endpoints disagree"
        );
        CLASSES.push([
          "all at once",
          Object.assign({}, ...all.map(([, env]) => env)),
          all.flatMap(([, , names]) => names),
        ]);
        const nodeBefore = await netnsState(spare.netns);
        const dir = await scope.tempDir("settings");
        for (const [i, [name, bad, names]] of CLASSES.entries()) {
          const root = `${dir}/case-${i}`;
          const env = {
            ...spare.info.env,
            IPAMD_SOCKET_PATH: `${root}/run/aws-node/ipamd.sock`,
            AWS_VPC_K8S_CNI_BACKING_STORE: `${root}/ipam.json`,
            AWS_VPC_K8S_CNI_LOG_FILE: `${root}/ipamd.log`,
            HOST_CNI_BIN_PATH: `${root}/bin`,
            HOST_CNI_CONFDIR_PATH: `${root}/net.d`,
            PATH: SYSTEM_PATH,
            ...bad,
          };
          const r = await nsExec(spare.netns, [IPAMD_BIN, "run"], {
            clearEnv: true,
            env,
            timeoutMs: 30_000,
            allowFailure: true,
          });
          const where = `${name} (${JSON.stringify(bad)})`;
          assert.notEqual(r.code, 0, `${where}: ipamd started`);
          const lines = r.stderr.split("\n");
          assert.equal(
            lines.filter((l) => l.includes("invalid configuration (")).length,
            1,
            `${where}: not one error:\n${r.stderr}`,
          );
          assert.match(
            r.stderr,
            new RegExp(`invalid configuration \\(${names.length} problems?\\)`),
          );
          for (const variable of names) {
            assert.equal(
              lines.filter((l) => l.startsWith(`  ${variable}=`)).length,
              1,
              `${where}: ${variable} is not named once:\n${r.stderr}`,
            );
          }
          assert.equal(r.stdout, "", `${where}: stdout`);
          const made = await Deno.stat(root).then(() => true, () => false);
          assert.equal(made, false, `${where}: ipamd created ${root}`);
        }
        assert.deepEqual(await netnsState(spare.netns), nodeBefore, "the node's namespace changed");
        console.log(`ipamd settings: ${CLASSES.length} invalid configurations refused at start`);
      },
    );
  },
});
