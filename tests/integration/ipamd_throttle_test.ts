/**
 * EC2 throttling is absorbed: with the simulator's token buckets made tiny (EC2 answers
 * RequestLimitExceeded most of the time), a burst of pods that needs two new ENIs on an
 * m5.large still gets served, ipamd answers status requests all along, never exits, and makes
 * no more EC2 calls than its own client-side rate limit allows (EC2_API_QPS=1 and
 * EC2_API_BURST=10 for mutating calls, twice both for Describe*; every attempt, retries
 * included, takes a token), so it cannot spin. The pool reaches its target in the end.
 */
import assert from "node:assert/strict";
import { startIpamd } from "../lab/ipamd.ts";
import { ec2Calls, figure, Pods, waitSettled } from "../lab/pool_lab.ts";
import { testScope } from "../lab/scope.ts";
import { startSim } from "../lab/sim.ts";

/** The client limiter's defaults (src/config/variables.ts EC2_API_QPS / EC2_API_BURST). */
const MUTATING = { burst: 10, perSecond: 1 };
const DESCRIBE = { burst: 20, perSecond: 2 };

Deno.test({
  name: "ipamd absorbs EC2 throttling: keeps serving, bounded calls, pool reaches target",
  ignore: Deno.uid() !== 0,
  async fn() {
    await using scope = testScope("tipd");
    const sim = await startSim({
      nodes: 1,
      instanceType: "m5.large",
      args: ["--prefix", "tipd"],
      cleanup: scope.cleanup,
    });
    const node = sim.nodes[0]!;
    const at = { sim, netns: node.netns, instanceId: node.info.instanceId };
    const ipamd = await startIpamd(node, { cleanup: scope.cleanup });
    await ipamd.waitReady({ timeoutMs: 60_000 });
    await waitSettled(at, { unit: "ip", shape: [9], assigned: 0 });

    // EC2 now refills 0.3 mutating and 0.5 describe calls per second, bursts of 1 and 2.
    await sim.control.faults({
      throttle: {
        enabled: true,
        mutating: { capacity: 1, refillPerSecond: 0.3 },
        describe: { capacity: 2, refillPerSecond: 0.5 },
      },
    });
    await sim.control.resetCounters();
    const started = performance.now();
    const pods = new Pods(ipamd);
    // 12 pods on a WARM_ENI_TARGET=1 pool of 9: two more ENIs (m4.4xlarge example's rule).
    const adds = Promise.all(
      Array.from(
        { length: 12 },
        (_, i) => pods.add(`t${i}`, { waitMs: 90_000, timeoutMs: 100_000 }),
      ),
    );
    let statusAnswers = 0;
    let settledYet = false;
    const watch = (async () => {
      while (!settledYet) {
        const status = await ipamd.status(5_000); // throws if ipamd stops answering
        assert.equal(status.ready, true);
        statusAnswers++;
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    try {
      const served = await adds;
      assert.equal(new Set(served.map((a) => a.ipv4)).size, 12);
      const settled = await waitSettled(at, { unit: "ip", shape: [9, 9, 9], assigned: 12 }, {
        timeoutMs: 90_000,
      });
      const windowS = (performance.now() - started) / 1000;
      settledYet = true;
      await watch;

      const counters = await sim.control.counters() as {
        total: { calls: number; throttled: number };
        actions: Record<string, { calls: number }>;
      };
      const calls = await ec2Calls(sim);
      const describes = Object.entries(calls.byAction).filter(([a]) => a.startsWith("Describe"))
        .reduce((sum, [, n]) => sum + n, 0);
      const mutating = calls.total - describes;
      const mutatingBound = MUTATING.burst + MUTATING.perSecond * windowS;
      const describeBound = DESCRIBE.burst + DESCRIBE.perSecond * windowS;
      figure(
        `throttled EC2: 12 pods served and pool at target in ${windowS.toFixed(1)} s ` +
          `(settle wait ${settled.ms} ms); EC2 calls ${calls.total} (${counters.total.throttled} ` +
          `throttled): mutating ${mutating} ≤ ${mutatingBound.toFixed(0)}, describe ` +
          `${describes} ≤ ${describeBound.toFixed(0)}; ${statusAnswers} status answers; ` +
          JSON.stringify(calls.byAction),
      );
      assert.ok(
        counters.total.throttled > 0,
        "EC2 really throttled ipamd (else this proves nothing)",
      );
      assert.ok(mutating <= mutatingBound, `${mutating} mutating calls in ${windowS} s`);
      assert.ok(describes <= describeBound, `${describes} describe calls in ${windowS} s`);
      assert.ok(statusAnswers >= 1);
      assert.equal(ipamd.running, true, "ipamd is still running");
      // Retried creates and attaches left no ENI behind.
      const state = await sim.control.state() as {
        networkInterfaces: Array<
          { networkInterfaceId: string; description: string; status: string }
        >;
      };
      const ours = state.networkInterfaces.filter((e) =>
        e.description === `aws-K8S-${node.info.instanceId}`
      );
      assert.deepEqual(ours.filter((e) => e.status !== "in-use"), [], "detached ENIs left over");
      assert.equal(ours.length, 2);
    } finally {
      settledYet = true;
      await watch.catch(() => {});
    }
  },
});

Deno.test({
  name: "ipamd starts, becomes ready and fills its pool while EC2 throttles it",
  ignore: Deno.uid() !== 0,
  async fn() {
    await using scope = testScope("tipd");
    // Throttled from the first call: 0.2 mutating and 0.5 describe calls per second.
    const sim = await startSim({
      nodes: 1,
      instanceType: "m5.large",
      args: ["--prefix", "tipd", "--throttle", "on,mutating=1/0.2,describe=2/0.5"],
      cleanup: scope.cleanup,
    });
    const node = sim.nodes[0]!;
    const started = performance.now();
    const ipamd = await startIpamd(node, { cleanup: scope.cleanup });
    await ipamd.waitReady({ timeoutMs: 60_000 });
    const readyMs = Math.round(performance.now() - started);
    const settled = await waitSettled(
      { sim, netns: node.netns, instanceId: node.info.instanceId },
      { unit: "ip", shape: [9], assigned: 0 },
      { timeoutMs: 60_000 },
    );
    const counters = await sim.control.counters() as {
      total: { calls: number; throttled: number };
    };
    figure(
      `ipamd start under throttling: ready in ${readyMs} ms, pool at target ${settled.ms} ms ` +
        `later; EC2 calls ${counters.total.calls} (${counters.total.throttled} throttled)`,
    );
    assert.equal(ipamd.running, true);
  },
});
