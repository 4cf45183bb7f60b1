/**
 * ipamd's lifecycle against crashes and changes behind its back, on simulated m5.large nodes:
 * - kill -9 in the middle of churn (concurrent ADDs and DELs through the RPC API): the
 *   restarted ipamd holds every assignment that was acknowledged to a client, gives no address
 *   twice, and invents nothing (only acknowledged or in-flight pods);
 * - ENIs and addresses changed with the AWS SDK behind ipamd's back are reconciled when it is
 *   sent SIGHUP (reconcile now, instead of within the minute): addresses removed (a pod's too),
 *   an ENI attached (adopted, or left alone when tagged no_manage), addresses added, an ENI
 *   detached; afterwards ipamd's datastore agrees with EC2 ENI by ENI;
 * - SIGTERM answers a waiting ADD at once, stops, and exits 0 with its checkpoint intact.
 * The three run side by side in one simulator; each step checks one.
 */
import assert from "node:assert/strict";
import { RpcError } from "../../src/rpc/protocol.ts";
import type { Cleanup } from "../lab/cleanup.ts";
import { startIpamd } from "../lab/ipamd.ts";
import {
  AssignPrivateIpAddressesCommand,
  AttachNetworkInterfaceCommand,
  CreateNetworkInterfaceCommand,
  DetachNetworkInterfaceCommand,
  UnassignPrivateIpAddressesCommand,
} from "@aws-sdk/client-ec2";
import {
  ec2Enis,
  ec2Sdk,
  figure,
  introspect,
  type PodReport,
  Pods,
  waitFor,
  waitSettled,
} from "../lab/pool_lab.ts";
import { testScope } from "../lab/scope.ts";
import { type LabNode, type Sim, startSim } from "../lab/sim.ts";
import type { JsonObject } from "../lab/sim_control.ts";

type Context = { sim: Sim; node: LabNode; cleanup: Cleanup };

async function start(context: Context, env: Record<string, string> = {}) {
  const ipamd = await startIpamd(context.node, { env, cleanup: context.cleanup });
  await ipamd.waitReady({ timeoutMs: 60_000 });
  return ipamd;
}

function at(context: Context) {
  return { sim: context.sim, netns: context.node.netns, instanceId: context.node.info.instanceId };
}

/** Four workers add and delete pods until ipamd is killed under them. */
async function killMidChurn(context: Context) {
  // A short cooldown: with the default 30 s, released addresses pile up and ADDs wait.
  const ipamd = await start(context, { IP_COOLDOWN_PERIOD: "1" });
  const pods = new Pods(ipamd, { hostVeths: true });
  const acked = new Map<string, string>();
  const uncertain = new Set<string>();
  let next = 0;
  let completed = 0;
  let killed = false;
  const worker = async () => {
    while (!killed) {
      const names = [...acked.keys()];
      if (names.length > 12 && Math.random() < 0.5) {
        const name = names[Math.floor(Math.random() * names.length)]!;
        acked.delete(name);
        uncertain.add(name);
        await pods.del(name).then(() => uncertain.delete(name), () => {});
      } else {
        const name = `k${next++}`;
        uncertain.add(name);
        await pods.add(name, { waitMs: 20_000, timeoutMs: 30_000 }).then((a) => {
          uncertain.delete(name);
          acked.set(name, a.ipv4);
        }, () => {});
      }
      completed++;
    }
  };
  const workers = Array.from({ length: 4 }, worker);
  let inFlight: number;
  try {
    await waitFor("churn under way", () => Promise.resolve(completed), (n) => n >= 60, {
      timeoutMs: 60_000,
    });
    inFlight = uncertain.size;
  } finally {
    killed = true; // the workers stop after their current request, whatever happens here
  }
  await ipamd.kill9();
  await Promise.all(workers);
  const opsBeforeKill = completed;
  ipamd.start();
  await ipamd.waitReady({ timeoutMs: 60_000 });
  const after = await introspect<PodReport[]>(context.node.netns, "/v1/pods");
  const enis = await ec2Enis(context.sim, context.node.info.instanceId);
  // A repeated ADD of an acknowledged pod (kubelet retrying) gets the same address.
  const [someName, someIp] = [...acked][0]!;
  const again = await pods.add(someName);
  return { acked, uncertain, after, enis, inFlight, opsBeforeKill, someIp, again };
}

type EnisReport = Record<string, { ENIs: Record<string, { AvailableIPv4Cidrs: JsonObject }> }>;

/** ipamd's datastore, ENI by ENI: the set of CIDRs on each. */
async function datastoreCidrs(context: Context): Promise<Map<string, string[]>> {
  const report = await introspect<EnisReport>(context.node.netns, "/v1/enis");
  return new Map(
    Object.entries(report["0"]?.ENIs ?? {}).map((
      [id, eni],
    ) => [id, Object.keys(eni.AvailableIPv4Cidrs).sort()]),
  );
}

/** EC2's view of the instance, ENI by ENI, as CIDRs ("10.x.y.z/32", prefixes). */
async function ec2Cidrs(context: Context): Promise<Map<string, string[]>> {
  const enis = await ec2Enis(context.sim, context.node.info.instanceId);
  return new Map(
    enis.map((e) => [e.eniId, [...e.secondaryIps.map((ip) => `${ip}/32`), ...e.prefixes].sort()]),
  );
}

/** Waits until ipamd's datastore equals EC2 on every ENI ipamd manages (all but `unmanaged`). */
async function waitAgree(context: Context, what: string, unmanaged: string[] = []) {
  return await waitFor(
    what,
    async () => {
      const ds = await datastoreCidrs(context);
      const ec2 = await ec2Cidrs(context);
      for (const id of unmanaged) ec2.delete(id);
      return { ds: Object.fromEntries(ds), ec2: Object.fromEntries(ec2) };
    },
    (v) => JSON.stringify(v.ds) === JSON.stringify(v.ec2),
    { timeoutMs: 30_000 },
  );
}

/**
 * Changes with the AWS SDK behind ipamd's back, each followed by SIGHUP. The node has 2 of its
 * 3 ENIs (WARM_ENI_TARGET=1 with a pod), so device index 2 is the free slot.
 */
async function reconcileBehindItsBack(context: Context) {
  const ipamd = await start(context);
  const { instanceId, primaryEniId } = context.node.info;
  const subnetId = context.sim.info.subnets[0]!.subnetId;
  const pods = new Pods(ipamd);
  const podIp = (await pods.add("r0")).ipv4;
  await waitSettled(at(context), { unit: "ip", shape: [9, 9], assigned: 1 });
  const hangup = () => Deno.kill(ipamd.pid!, "SIGHUP");
  const steps: Record<string, unknown> = {};
  const ec2 = ec2Sdk(context.sim);
  try {
    const create = async (tags: Record<string, string>) =>
      (await ec2.send(
        new CreateNetworkInterfaceCommand({
          SubnetId: subnetId,
          SecondaryPrivateIpAddressCount: 2,
          TagSpecifications: Object.keys(tags).length === 0 ? undefined : [{
            ResourceType: "network-interface",
            Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
          }],
        }),
      )).NetworkInterface!.NetworkInterfaceId!;
    const attach = async (eniId: string) =>
      (await ec2.send(
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: eniId,
          InstanceId: instanceId,
          DeviceIndex: 2,
        }),
      )).AttachmentId!;

    // 1. Two addresses taken off the primary ENI (one is the pod's); an ENI attached.
    const primary = (await ec2Enis(context.sim, instanceId))[0]!;
    const spare = primary.secondaryIps.find((ip) => ip !== podIp)!;
    await ec2.send(
      new UnassignPrivateIpAddressesCommand({
        NetworkInterfaceId: primaryEniId,
        PrivateIpAddresses: [spare, podIp],
      }),
    );
    const foreign = await create({});
    const foreignAttachment = await attach(foreign);
    hangup();
    await waitAgree(context, "reconcile after unassign + attach");
    const ds = await datastoreCidrs(context);
    steps.foreignAdopted = ds.get(foreign)?.length;
    steps.spareGone = !ds.get(primaryEniId)!.includes(`${spare}/32`);
    steps.podsAfter = await introspect<PodReport[]>(context.node.netns, "/v1/pods");
    steps.foreignTags = (await ec2Enis(context.sim, instanceId)).find((e) => e.eniId === foreign)
      ?.tags;

    // 2. Three more addresses on the adopted ENI.
    await ec2.send(
      new AssignPrivateIpAddressesCommand({
        NetworkInterfaceId: foreign,
        SecondaryPrivateIpAddressCount: 3,
      }),
    );
    hangup();
    await waitAgree(context, "reconcile after assign");
    steps.foreignAfterAssign = (await datastoreCidrs(context)).get(foreign)?.length;

    // 3. The adopted ENI detached.
    await ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: foreignAttachment }));
    hangup();
    await waitFor(
      "ipamd drops the detached ENI",
      () => datastoreCidrs(context),
      (d) => !d.has(foreign),
    );
    await waitAgree(context, "reconcile after detach");

    // 4. An ENI tagged no_manage attached in the free slot: not ipamd's.
    const noManage = await create({ "node.k8s.amazonaws.com/no_manage": "true" });
    await attach(noManage);
    hangup();
    await waitAgree(context, "reconcile after a no_manage attach", [noManage]);
    steps.noManageLeftAlone = !(await datastoreCidrs(context)).has(noManage);
    steps.ipamdRunning = ipamd.running;
    return { steps, podIp, foreign, noManage };
  } finally {
    ec2.destroy();
  }
}

/** SIGTERM while an ADD waits for a cooling address (MAX_ENI=1 full pool). */
async function sigterm(context: Context) {
  const ipamd = await start(context, { MAX_ENI: "1", IP_COOLDOWN_PERIOD: "60" });
  const pods = new Pods(ipamd);
  await pods.addMany("s", 9);
  await pods.del("s0");
  const waiting = pods.add("s9", { waitMs: 60_000, timeoutMs: 70_000 }).then(
    () => undefined,
    (e) => e,
  );
  await waitFor(
    "the ADD waits",
    () => ipamd.status(),
    (s) => (s.waitingAdds ?? 0) === 1,
  );
  const sent = Date.now();
  const stopped = await ipamd.stop({ graceMs: 20_000 });
  const answer = await waiting;
  const checkpoint = JSON.parse(await Deno.readTextFile(ipamd.env.AWS_VPC_K8S_CNI_BACKING_STORE!));
  return { stopped, answer, answeredAfterMs: Date.now() - sent, checkpoint };
}

Deno.test({
  name: "ipamd survives kill -9, reconciles changes behind its back, stops on SIGTERM",
  ignore: Deno.uid() !== 0,
  async fn(t) {
    await using scope = testScope("tipd");
    const sim = await startSim({
      nodes: 3,
      instanceType: "m5.large",
      args: ["--prefix", "tipd"],
      cleanup: scope.cleanup,
    });
    const context = (i: number): Context => ({ sim, node: sim.nodes[i]!, cleanup: scope.cleanup });
    const crash = killMidChurn(context(0));
    const reconcile = reconcileBehindItsBack(context(1));
    const term = sigterm(context(2));
    [crash, reconcile, term].forEach((p) => p.catch(() => {}));

    await t.step("kill -9 mid-churn loses no acknowledged assignment", async () => {
      const { acked, uncertain, after, enis, inFlight, opsBeforeKill, someIp, again } = await crash;
      const byName = new Map(after.map((p) => [p.podName, p.ipv4]));
      for (const [name, ip] of acked) {
        assert.equal(byName.get(name), ip, `acknowledged pod ${name} (${ip}) after restart`);
      }
      const ips = after.map((p) => p.ipv4);
      assert.equal(new Set(ips).size, ips.length, `an address assigned twice: ${ips}`);
      for (const p of after) {
        assert.ok(acked.has(p.podName) || uncertain.has(p.podName), `unknown pod ${p.podName}`);
      }
      const onEc2 = new Set(enis.flatMap((e) => e.secondaryIps));
      for (const ip of ips) assert.ok(onEc2.has(ip), `${ip} is not on the instance in EC2`);
      assert.equal(again.ipv4, someIp, "a repeated ADD gets the same address");
      figure(
        `kill -9 mid-churn: ${opsBeforeKill} ops, ${acked.size} acknowledged pods restored, ` +
          `${inFlight} in flight at the kill, ${after.length} pods after restart`,
      );
    });

    await t.step("changes behind ipamd's back are reconciled on SIGHUP", async () => {
      const { steps, podIp } = await reconcile;
      assert.equal(steps.foreignAdopted, 2, "the attached ENI is adopted with its 2 addresses");
      assert.equal(steps.noManageLeftAlone, true, "an ENI tagged no_manage is not adopted");
      assert.equal(steps.spareGone, true, "the unassigned address left the datastore");
      const podsAfter = steps.podsAfter as PodReport[];
      assert.ok(!podsAfter.some((p) => p.ipv4 === podIp), "the pod lost its vanished address");
      assert.equal(steps.foreignAfterAssign, 5, "3 addresses assigned by hand are adopted");
      assert.equal(steps.ipamdRunning, true);
      const tags = steps.foreignTags as Record<string, string>;
      assert.equal(
        tags["node.k8s.amazonaws.com/instance_id"],
        sim.nodes[1]!.info.instanceId,
        "the adopted ENI is tagged as this node's (spec §3.8 step 3)",
      );
    });

    await t.step("SIGTERM answers a waiting ADD, stops and exits 0", async () => {
      const { stopped, answer, answeredAfterMs, checkpoint } = await term;
      assert.equal(stopped.killed, false, "stopped within the grace period");
      assert.equal(stopped.status.code, 0);
      assert.ok(answer instanceof RpcError, String(answer));
      assert.equal(answer.kind, "NoAvailableAddress");
      assert.match(answer.message, /shutting down/);
      assert.equal(checkpoint.allocations.length, 8, "the checkpoint keeps the 8 pods");
      figure(`SIGTERM: waiting ADD answered and ipamd exited 0 in ${answeredAfterMs} ms`);
    });
  },
});
