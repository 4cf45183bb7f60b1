// deno-lint-ignore-file no-console -- the suite prints its counts and timings
/**
 * EC2 faults (issue 7, item 3): the simulator answers ipamd's EC2 calls with throttling
 * (a token bucket tighter than ipamd's own burst, plus injected RequestLimitExceeded), 5xx
 * (InternalError, Unavailable) and timeouts (held past HTTP_TIMEOUT), at rates well above what
 * a healthy region shows, with realistic latency. Pods arrive as a burst while ipamd starts,
 * and are retried the way kubelet retries a failed sandbox. Then EC2 goes down completely for
 * a while with pods waiting. Checked:
 *   - ipamd never exits and keeps answering;
 *   - EC2 calls (counted by the simulator) stay within ipamd's client rate limit
 *     (EC2_API_QPS / EC2_API_BURST; Describe* get twice both) over every phase;
 *   - during the outage ipamd does not spin: few calls, little CPU, few log lines;
 *   - every pod gets an address in the end, no address twice, datastore and EC2 agree.
 * Pods are driven over ipamd's JSON-RPC socket (the wiring is not what is under test).
 */
import assert from "node:assert/strict";
import { RpcError } from "../../src/rpc/protocol.ts";
import { startIpamd } from "../lab/ipamd.ts";
import { SeededRandom, suiteSeed, waitAgreement } from "../lab/resilience_world.ts";
import { rpcCall, RpcTransportError } from "../lab/rpc_client.ts";
import { testScope } from "../lab/scope.ts";
import { type Sim, startSim } from "../lab/sim.ts";

const SEED = suiteSeed(3_2026);
const QPS = 0.5;
const BURST = 3;
const PODS = 45;
/** Pods beyond the warm pool during the outage: they need EC2 and wait for it. */
const BEYOND_POOL = 4;
const WARM_IP_TARGET = 5;
const OUTAGE_MS = 12_000;
const KUBELET_DEADLINE_MS = 240_000;

const FAULTS = [
  { action: "*", kind: "InternalError", rate: 0.05 },
  { action: "*", kind: "Unavailable", rate: 0.03 },
  { action: "*", kind: "RequestLimitExceeded", rate: 0.05 },
  { action: "*", kind: "timeout", rate: 0.02, holdMs: 11_000 },
];

interface CallCounts {
  mutating: number;
  describe: number;
  throttled: number;
  failed: number;
  timeouts: number;
}

async function calls(sim: Sim): Promise<CallCounts> {
  const snapshot = await sim.control.counters();
  const actions = snapshot.actions as Record<
    string,
    { calls: number; throttled: number; failed: number; timeouts: number }
  >;
  const out = { mutating: 0, describe: 0, throttled: 0, failed: 0, timeouts: 0 };
  for (const [action, c] of Object.entries(actions)) {
    if (action.startsWith("Describe")) out.describe += c.calls;
    else out.mutating += c.calls;
    out.throttled += c.throttled;
    out.failed += c.failed;
    out.timeouts += c.timeouts;
  }
  return out;
}

/** What the client rate limit allows over `ms` (the bucket starts full). */
function allowance(ms: number): { mutating: number; describe: number } {
  return {
    mutating: Math.floor(BURST + QPS * ms / 1000) + 1,
    describe: Math.floor(2 * BURST + 2 * QPS * ms / 1000) + 1,
  };
}

/** utime + stime of a process, in ms (Linux /proc; clock ticks are 100 Hz here). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

Deno.test({
  name: "under EC2 throttling, 5xx and timeouts ipamd stays up, honours its EC2 rate limit, " +
    "does not spin during an outage, and every pod gets an address",
  async fn() {
    await using scope = testScope("tres");
    const rng = new SeededRandom(SEED);
    const sim = await startSim({
      nodes: 1,
      instanceType: "c5.xlarge",
      args: ["--prefix", "tres", "--seed", String(SEED), "--latency", "realistic"],
      cleanup: scope.cleanup,
    });
    const node = sim.nodes[0]!;
    await sim.control.faults({
      throttle: {
        enabled: true,
        mutating: { capacity: 2, refillPerSecond: 0.4 },
        describe: { capacity: 10, refillPerSecond: 5 },
      },
      faults: FAULTS,
    });
    await sim.control.resetCounters();
    const logDir = await scope.tempDir("ec2");
    const started = performance.now();
    const ipamd = await startIpamd(node, {
      env: {
        EC2_API_QPS: String(QPS),
        EC2_API_BURST: String(BURST),
        POD_IP_WAIT_SECONDS: "30",
        WARM_IP_TARGET: String(WARM_IP_TARGET),
        AWS_VPC_K8S_CNI_LOG_FILE: `${logDir}/ipamd.log`,
      },
      cleanup: scope.cleanup,
    });
    let exited = false;
    ipamd.exited.then(() => exited = true);
    const socket = ipamd.socketPath;

    const assigned = new Map<string, string>();
    let retries = 0;
    const reasons = new Map<string, number>();
    /** kubelet: RunPodSandbox fails, the pod worker retries a little later, until it works. */
    async function kubeletAdd(key: string, deadline: number): Promise<void> {
      while (performance.now() < deadline) {
        try {
          const r = await rpcCall(socket, "ipam.add", {
            networkName: "aws-cni",
            containerId: key,
            ifName: "eth0",
            podName: key,
            podNamespace: "tres",
            netns: "/var/run/netns/none",
            waitMs: 30_000,
          }, { timeoutMs: 45_000 });
          assigned.set(key, r.allocations[0]!.ipv4);
          return;
        } catch (e) {
          const retryable = e instanceof RpcTransportError ||
            (e instanceof RpcError && (e.kind === "NoAvailableAddress" || e.kind === "NotReady"));
          if (!retryable) throw e;
          retries++;
          const why = e instanceof RpcError ? e.kind : "socket not there yet";
          reasons.set(why, (reasons.get(why) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 1_000 + rng.int(1_000)));
        }
      }
      throw new Error(`pod ${key} got no address within ${KUBELET_DEADLINE_MS} ms`);
    }

    // ---- phase 1: a burst of pods while ipamd starts, under faults --------------------------
    const deadline = performance.now() + KUBELET_DEADLINE_MS;
    await Promise.all(
      Array.from({ length: PODS }, (_, i) => kubeletAdd(`tres-burst-${i}`, deadline)),
    );
    const burstMs = performance.now() - started;
    const burst = await calls(sim);
    assert.equal(exited, false, "ipamd exited during the burst");
    const burstAllowed = allowance(burstMs);
    assert.ok(
      burst.mutating <= burstAllowed.mutating && burst.describe <= burstAllowed.describe,
      `EC2 calls over ${Math.round(burstMs)} ms: ${JSON.stringify(burst)}, the rate limit ` +
        `allows ${JSON.stringify(burstAllowed)}`,
    );
    assert.ok(burst.throttled + burst.failed + burst.timeouts > 0, "no fault was injected at all");

    // ---- phase 2: EC2 down, pods waiting ---------------------------------------------------
    // Once the warm pool is back at its target, ask for more pods than it has.
    let available = 0;
    for (const until = performance.now() + 60_000; performance.now() < until;) {
      available = (await ipamd.status()).availableIPs;
      if (available >= WARM_IP_TARGET) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const outagePods = available + BEYOND_POOL;
    await sim.control.faults({ faults: [{ action: "*", kind: "Unavailable", rate: 1 }] });
    await sim.control.resetCounters();
    const pid = ipamd.pid!;
    const cpuBefore = await cpuMs(pid);
    const logBefore = (await Deno.readTextFile(`${logDir}/ipamd.log`)).split("\n").length;
    const outageStart = performance.now();
    const waiting = Array.from(
      { length: outagePods },
      (_, i) => kubeletAdd(`tres-outage-${i}`, performance.now() + KUBELET_DEADLINE_MS),
    );
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    const outageMs = performance.now() - outageStart;
    const outage = await calls(sim);
    const cpu = await cpuMs(pid) - cpuBefore;
    const logLines = (await Deno.readTextFile(`${logDir}/ipamd.log`)).split("\n").length -
      logBefore;
    assert.equal(exited, false, "ipamd exited during the outage");
    const outageAllowed = allowance(outageMs);
    assert.ok(
      outage.mutating <= outageAllowed.mutating && outage.describe <= outageAllowed.describe,
      `EC2 calls during the outage: ${JSON.stringify(outage)}; allowed ${
        JSON.stringify(outageAllowed)
      }`,
    );
    // Spinning would show as CPU and log volume; backing off shows as neither.
    assert.ok(cpu < 0.25 * outageMs, `ipamd used ${cpu} ms of CPU in ${Math.round(outageMs)} ms`);
    assert.ok(logLines < 200, `ipamd wrote ${logLines} log lines during the outage`);
    const status = await ipamd.status();
    assert.equal(status.ready, true);

    // ---- phase 3: EC2 back (with the faults): the waiting pods get addresses ---------------
    await sim.control.faults({ faults: FAULTS });
    await Promise.all(waiting);
    assert.equal(exited, false, "ipamd exited after the outage");
    assert.equal(assigned.size, PODS + outagePods);
    assert.equal(new Set(assigned.values()).size, assigned.size, "an address was given twice");
    await sim.control.faults({ throttle: { enabled: false }, faults: [] });
    const { ds } = await waitAgreement({
      sim,
      netns: node.netns,
      instanceId: node.info.instanceId,
    }, { timeoutMs: 60_000 });
    assert.deepEqual(
      new Map(ds.pods.map((p) => [p.containerId, p.ipv4])),
      assigned,
      "the datastore holds exactly the pods' addresses",
    );
    console.log(
      `EC2 faults suite (seed ${SEED}): ${PODS} pods in ${Math.round(burstMs / 1000)} s with ` +
        `${burst.mutating} mutating / ${burst.describe} describe calls (allowed ` +
        `${burstAllowed.mutating} / ${burstAllowed.describe}), ${burst.throttled} throttled, ` +
        `${burst.failed} failed, ${burst.timeouts} timed out; ${retries} kubelet retries ` +
        `(${[...reasons].map(([k, n]) => `${k} ${n}`).join(", ")}); ` +
        `${Math.round(outageMs / 1000)} s outage with ${BEYOND_POOL} pods waiting: ` +
        `${outage.mutating + outage.describe} calls, ` +
        `${cpu} ms CPU, ${logLines} log lines`,
    );
  },
});
