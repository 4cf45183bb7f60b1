/**
 * aws-cni's commands through the real skeleton and RPC client against the ipamd stub; the pod
 * wiring is replaced by a recorder (tests/netns/ runs the same commands on the kernel).
 */
import assert from "node:assert/strict";
import type { PodWiring } from "../../src/cni/commands.ts";
import { PodNetworkError } from "../../src/cni/errors.ts";
import type { PodInterfaceSpec, TeardownSpec } from "../../src/cni/pod_network.ts";
import { type PluginIO, runPlugin } from "../../src/cni/skel.ts";
import { RpcError } from "../../src/rpc/protocol.ts";
import { IpamdStub } from "../lab/ipamd_stub.ts";

class Recorder implements PodWiring {
  wired: PodInterfaceSpec[] = [];
  removed: string[] = [];
  removedContainers: string[] = [];
  teardowns: TeardownSpec[] = [];
  branch: Array<{ vlanId: number; ip: string }> = [];
  problems: string[] = [];
  /** Index of the wire() call that fails (0-based); -1 never. */
  failAt = -1;
  #calls = 0;
  wire(spec: PodInterfaceSpec) {
    if (this.#calls++ === this.failAt) {
      throw new PodNetworkError(`create veth ${spec.hostVeth}`, "injected", { errno: "EEXIST" });
    }
    this.wired.push(spec);
    return {
      hostVethMac: "02:00:00:00:00:01",
      hostVethIndex: 9,
      containerMac: "02:00:00:00:00:02",
    };
  }
  remove(spec: { hostVeth: string }) {
    this.removed.push(spec.hostVeth);
  }
  netnsExists(path: string) {
    // The fixture's "namespaces" are plain files: the recorder wires nothing.
    try {
      Deno.statSync(path);
      return true;
    } catch {
      return false;
    }
  }
  removeContainer(spec: { podNetns: string; containerIf: string }) {
    this.removedContainers.push(spec.containerIf);
    return true;
  }
  teardown(spec: TeardownSpec) {
    this.teardowns.push(spec);
    return "removed" as const;
  }
  teardownBranch(spec: { vlanId: number; ip: string }) {
    this.branch.push(spec);
  }
  inspect(_spec: Omit<PodInterfaceSpec, "mtu">) {
    return this.problems;
  }
}

interface Outcome {
  status: number;
  // deno-lint-ignore no-explicit-any
  out: any;
}

async function cni(
  command: string,
  conf: Record<string, unknown>,
  options: { wiring: Recorder; netns?: string; args?: string; ifName?: string },
): Promise<Outcome> {
  const env: Record<string, string> = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: "c0ffee",
    CNI_IFNAME: options.ifName ?? "eth0",
    CNI_PATH: "/opt/cni/bin",
    CNI_ARGS: options.args ??
      "IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-57ff979f67-qqbdh",
  };
  if (options.netns !== undefined) env.CNI_NETNS = options.netns;
  let stdout = "";
  const io: PluginIO = {
    env: (n) => env[n],
    readStdin: () => Promise.resolve(new TextEncoder().encode(JSON.stringify(conf))),
    writeStdout: (t) => stdout += t,
    stderr: () => {},
  };
  const status = await runPlugin({ io, deps: { wiring: options.wiring } });
  return { status, out: stdout === "" ? undefined : JSON.parse(stdout) };
}

async function fixture() {
  const stub = await IpamdStub.start({
    pool: [
      { ip: "10.213.0.5" },
      { ip: "10.213.0.6", deviceNumber: 2, routeTableId: 3 },
      { ip: "10.213.0.7", deviceNumber: 2, routeTableId: 3 },
    ],
  });
  const netns = await Deno.makeTempFile({ prefix: "tcni-netns-" });
  const conf = {
    cniVersion: "0.4.0",
    name: "aws-cni",
    type: "aws-cni",
    ipamdSocket: stub.socketPath,
    addWaitMs: 250,
    mtu: "1500",
  };
  return {
    stub,
    netns,
    conf,
    wiring: new Recorder(),
    async [Symbol.asyncDispose]() {
      await stub[Symbol.asyncDispose]();
      await Deno.remove(netns);
    },
  };
}

Deno.test("ADD asks ipamd, wires the pod and returns upstream's result encoding", async () => {
  await using f = await fixture();
  const r = await cni("ADD", f.conf, { wiring: f.wiring, netns: f.netns });
  assert.equal(r.status, 0, JSON.stringify(r.out));
  assert.deepEqual(r.out, {
    cniVersion: "0.4.0",
    interfaces: [
      { name: "enib5faff8a083" },
      { name: "eth0", mac: "254", sandbox: f.netns },
      { name: "dummyb5faff8a083", mac: "0", sandbox: "0" },
    ],
    ips: [{ version: "4", interface: 1, address: "10.213.0.5/32" }],
    dns: {},
  });
  assert.deepEqual(f.wiring.wired, [{
    podNetns: f.netns,
    hostNetns: undefined,
    hostVeth: "enib5faff8a083",
    containerIf: "eth0",
    ip: "10.213.0.5",
    index: 0,
    routeTableId: 254,
    mtu: 1500,
  }]);
  const [add] = f.stub.callsOf("ipam.add");
  assert.equal(add!.podName, "coredns-57ff979f67-qqbdh");
  assert.equal(add!.podNamespace, "kube-system");
  assert.equal(add!.netns, f.netns);
  assert.equal(add!.waitMs, 250);
  assert.equal(add!.requiresMultiNICAttachment, false);
  assert.equal(add!.networkName, "aws-cni");
});

Deno.test("ADD rolls back every wired interface and releases the address on failure", async () => {
  await using f = await fixture();
  const stub2 = await IpamdStub.start({
    pool: [{ ip: "10.213.0.5" }, { ip: "10.213.0.6", deviceNumber: 1, routeTableId: 10101 }],
    perPod: 2,
  });
  try {
    f.wiring.failAt = 1; // the second interface fails after the first was wired
    const conf = { ...f.conf, ipamdSocket: stub2.socketPath };
    const r = await cni("ADD", conf, { wiring: f.wiring, netns: f.netns });
    assert.equal(r.status, 1);
    assert.equal(r.out.code, 11);
    assert.match(r.out.details, /rolled back/);
    assert.deepEqual(f.wiring.removed, ["enib5faff8a083"]);
    const [release] = stub2.callsOf("ipam.del");
    assert.equal(release!.reason, "SetupNSFailed");
    assert.equal(stub2.held.size, 0, "no address leaked");
  } finally {
    await stub2[Symbol.asyncDispose]();
  }
});

Deno.test("ADD of a multi-NIC pod returns host/container pairs and the dummy last", async () => {
  await using f = await fixture();
  const stub2 = await IpamdStub.start({
    pool: [{ ip: "10.213.0.5" }, { ip: "10.213.0.6", deviceNumber: 1, routeTableId: 10101 }],
    perPod: 2,
  });
  try {
    const conf = {
      ...f.conf,
      cniVersion: "1.0.0",
      ipamdSocket: stub2.socketPath,
      runtimeConfig: {
        "io.kubernetes.cri.pod-annotations": {
          "k8s.amazonaws.com/nicConfig": "multi-nic-attachment",
        },
      },
    };
    const r = await cni("ADD", conf, { wiring: f.wiring, netns: f.netns });
    assert.equal(r.status, 0);
    assert.deepEqual(r.out.interfaces.map((i: { name: string }) => i.name), [
      "enib5faff8a083",
      "eth0",
      "eniceb4ba3e890", // sha1("kube-system.coredns-57ff979f67-qqbdh.1")
      "mNicIf1",
      "dummyb5faff8a083",
    ]);
    assert.equal(r.out.interfaces[3].mac, "10101");
    assert.deepEqual(r.out.ips, [
      { interface: 1, address: "10.213.0.5/32" },
      { interface: 3, address: "10.213.0.6/32" },
    ]);
    assert.equal(stub2.callsOf("ipam.add")[0]!.requiresMultiNICAttachment, true);
    assert.deepEqual(f.wiring.wired.map((w) => [w.index, w.routeTableId]), [[0, 254], [1, 10101]]);
  } finally {
    await stub2[Symbol.asyncDispose]();
  }
});

Deno.test("ADD fails with code 3 before asking ipamd when the netns does not exist", async () => {
  await using f = await fixture();
  const r = await cni("ADD", f.conf, { wiring: f.wiring, netns: `${f.netns}.gone` });
  assert.equal(r.out.code, 3);
  assert.equal(f.stub.calls.length, 0);
});

Deno.test("ADD reports an empty pool and an unreachable ipamd as try-again (11)", async () => {
  await using f = await fixture();
  f.stub.failNext.set("ipam.add", new RpcError("NoAvailableAddress", "pool empty"));
  const empty = await cni("ADD", f.conf, { wiring: f.wiring, netns: f.netns });
  assert.equal(empty.out.code, 11);
  assert.match(empty.out.details, /NoAvailableAddress/);
  const down = await cni("ADD", { ...f.conf, ipamdSocket: `${f.netns}.sock` }, {
    wiring: f.wiring,
    netns: f.netns,
  });
  assert.equal(down.out.code, 11);
  assert.match(down.out.msg, /does not exist/);
  assert.equal(f.wiring.wired.length, 0);
});

Deno.test("DEL releases through ipamd and removes the node's routes and rules", async () => {
  await using f = await fixture();
  const add = await cni("ADD", f.conf, { wiring: f.wiring, netns: f.netns });
  const del = await cni("DEL", { ...f.conf, prevResult: add.out }, {
    wiring: f.wiring,
    netns: f.netns,
  });
  assert.equal(del.status, 0);
  assert.equal(del.out, undefined, "DEL prints nothing");
  assert.deepEqual(f.wiring.teardowns, [{
    ip: "10.213.0.5",
    routeTableId: 254,
    hostNetns: undefined,
  }]);
  assert.equal(f.stub.callsOf("ipam.del")[0]!.reason, "PodDeleted");
  assert.deepEqual(f.wiring.removedContainers, ["eth0"], "the pod's interface is deleted");
  // Repeated DEL: ipamd holds nothing any more; success and nothing else is touched.
  const again = await cni("DEL", { ...f.conf, prevResult: add.out }, {
    wiring: f.wiring,
    netns: "",
  });
  assert.equal(again.status, 0);
  assert.equal(f.wiring.teardowns.length, 1);
  assert.deepEqual(f.wiring.removedContainers, ["eth0"], "no namespace: nothing to delete");
});

Deno.test("DEL with ipamd down tears down from prevResult, guarded by the host veth", async () => {
  await using f = await fixture();
  const down = { ...f.conf, ipamdSocket: `${f.netns}.sock` };
  // A prevResult as upstream's plugin wrote it: pod on device 2, table 3 in the mac field.
  const prevResult = {
    cniVersion: "0.4.0",
    interfaces: [
      { name: "enib5faff8a083" },
      { name: "eth0", mac: "3", sandbox: "/proc/42/ns/net" },
      { name: "dummyb5faff8a083", mac: "0", sandbox: "2" },
    ],
    ips: [{ version: "4", interface: 1, address: "10.213.0.9/32" }],
    dns: {},
  };
  const r = await cni("DEL", { ...down, prevResult }, { wiring: f.wiring, netns: "" });
  assert.equal(r.status, 0);
  assert.deepEqual(f.wiring.teardowns, [{
    ip: "10.213.0.9",
    routeTableId: 3,
    hostNetns: undefined,
    onlyIfHostVeth: "enib5faff8a083",
  }]);
  // Without a usable prevResult there is nothing to tear down, and DEL still succeeds.
  const bare = await cni("DEL", down, { wiring: f.wiring, netns: "" });
  assert.equal(bare.status, 0);
  assert.equal(f.wiring.teardowns.length, 1);
});

Deno.test("DEL of a branch-ENI pod (VLAN id in the dummy's mac) skips ipamd", async () => {
  await using f = await fixture();
  const prevResult = {
    cniVersion: "0.4.0",
    interfaces: [
      { name: "vlanb5faff8a083" },
      { name: "eth0", sandbox: "/proc/42/ns/net" },
      { name: "dummyb5faff8a083", mac: "7" },
    ],
    ips: [{ version: "4", interface: 1, address: "10.213.0.9/32", gateway: "10.213.0.1" }],
  };
  const r = await cni("DEL", { ...f.conf, prevResult }, { wiring: f.wiring, netns: f.netns });
  assert.equal(r.status, 0);
  assert.deepEqual(f.wiring.branch, [{ vlanId: 7, ip: "10.213.0.9", hostNetns: undefined }]);
  assert.equal(f.stub.calls.length, 0);
  const gone = await cni("DEL", { ...f.conf, prevResult }, { wiring: f.wiring, netns: "" });
  assert.equal(gone.status, 0);
  assert.equal(f.wiring.branch.length, 1, "no netns: nothing to do");
});

Deno.test("CHECK passes for a wired pod and reports ipamd and wiring problems as code 100", async () => {
  await using f = await fixture();
  const add = await cni("ADD", f.conf, { wiring: f.wiring, netns: f.netns });
  const conf = { ...f.conf, prevResult: add.out };
  assert.equal((await cni("CHECK", conf, { wiring: f.wiring, netns: f.netns })).status, 0);
  f.wiring.problems = ["pod: no permanent neighbour entry for 169.254.1.1"];
  const bad = await cni("CHECK", conf, { wiring: f.wiring, netns: f.netns });
  assert.equal(bad.out.code, 100);
  assert.match(bad.out.msg, /neighbour/);
  f.wiring.problems = [];
  f.stub.held.clear();
  const lost = await cni("CHECK", conf, { wiring: f.wiring, netns: f.netns });
  assert.equal(lost.out.code, 100);
  assert.match(lost.out.msg, /ipamd: holds no address/);
  const noPrev = await cni("CHECK", f.conf, { wiring: f.wiring, netns: f.netns });
  assert.equal(noPrev.out.code, 7);
});

Deno.test("STATUS is ok when ipamd can serve pods, else 50 or 51", async () => {
  await using f = await fixture();
  const conf = { ...f.conf, cniVersion: "1.1.0" };
  const status = (extra = {}) => cni("STATUS", { ...conf, ...extra }, { wiring: f.wiring });
  assert.equal((await status()).status, 0);
  f.stub.status = { ...f.stub.status, availableIPs: 0, canGrow: true };
  assert.equal((await status()).status, 0, "empty but can grow");
  f.stub.status = { ...f.stub.status, canGrow: false };
  assert.equal((await status()).out.code, 50);
  f.stub.status = { ...f.stub.status, availableIPs: 3, ready: false };
  assert.equal((await status()).out.code, 51);
  f.stub.status = { ...f.stub.status, ready: true, terminating: true };
  assert.equal((await status()).out.code, 50);
  const down = await status({ ipamdSocket: `${f.netns}.sock` });
  assert.equal(down.out.code, 50);
  assert.match(down.out.msg, /ipamd cannot serve pods/);
});

Deno.test("GC releases attachments the runtime no longer lists and cleans their node state", async () => {
  await using f = await fixture();
  const conf = { ...f.conf, cniVersion: "1.1.0" };
  await cni("ADD", conf, { wiring: f.wiring, netns: f.netns });
  await cni("ADD", conf, { wiring: f.wiring, netns: f.netns, ifName: "eth1" });
  const r = await cni("GC", {
    ...conf,
    "cni.dev/valid-attachments": [{ containerID: "c0ffee", ifname: "eth0" }],
  }, { wiring: f.wiring });
  assert.equal(r.status, 0);
  assert.deepEqual(f.wiring.teardowns, [{
    ip: "10.213.0.6",
    routeTableId: 3,
    hostNetns: undefined,
  }]);
  assert.deepEqual([...f.stub.held.keys()], ["aws-cni/c0ffee/eth0"]);
  const missing = await cni("GC", conf, { wiring: f.wiring });
  assert.equal(missing.out.code, 7, "no list: refuse rather than release everything");
});
