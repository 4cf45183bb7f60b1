import assert from "node:assert/strict";
import {
  CHECKPOINT_VERSION,
  CheckpointError,
  checkpointPersister,
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
  saveCheckpointSync,
} from "../../src/ipam/checkpoint.ts";
import { Datastore, type DatastoreSnapshot } from "../../src/ipam/datastore.ts";

/** The spec's example entry (§3.7), as upstream's Go encoder writes it: one line, newline. */
const UPSTREAM_BYTES = '{"version":"vpc-cni-ipam/1","allocations":[{"networkName":"aws-cni",' +
  '"containerID":"7f2c1d9e4b","ifName":"eth0","ipv4":"192.168.9.106",' +
  '"allocationTimestamp":1723456789012000000,"metadata":{"k8sPodNamespace":"kube-system",' +
  '"k8sPodName":"coredns-57ff979f67-qqbdh","interfacesCount":1}}]}\n';

const SNAPSHOT: DatastoreSnapshot = {
  allocations: [{
    key: { networkName: "aws-cni", containerId: "7f2c1d9e4b", ifName: "eth0" },
    ipv4: "192.168.9.106",
    assignedAt: 1723456789012,
    pod: { podNamespace: "kube-system", podName: "coredns-57ff979f67-qqbdh", interfacesCount: 1 },
  }],
  cooling: [],
};

async function withDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ipamcore-checkpoint-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("encodeCheckpoint() writes upstream's bytes exactly", () => {
  assert.equal(encodeCheckpoint(SNAPSHOT), UPSTREAM_BYTES);
  assert.equal(
    encodeCheckpoint({ allocations: [], cooling: [] }),
    `{"version":"${CHECKPOINT_VERSION}","allocations":[]}\n`,
  );
});

Deno.test("encodeCheckpoint() omits empty metadata fields and escapes like Go", () => {
  const text = encodeCheckpoint({
    allocations: [{
      key: { networkName: "n<&>", containerId: "c", ifName: "eth0" },
      ipv4: "10.0.0.1",
      assignedAt: 0,
    }],
    cooling: [],
  });
  assert.match(text, /"networkName":"n\\u003c\\u0026\\u003e"/);
  assert.match(text, /"allocationTimestamp":0,"metadata":\{\}\}/);
});

Deno.test("encodeCheckpoint() adds coolingAddresses only when an address cools down", () => {
  const text = encodeCheckpoint({
    ...SNAPSHOT,
    cooling: [{ ipv4: "192.168.9.107", unassignedAt: 1723456790000 }],
  });
  assert.ok(text.startsWith(UPSTREAM_BYTES.slice(0, -2)));
  assert.ok(
    text.endsWith(
      ',"coolingAddresses":[{"ipv4":"192.168.9.107","unassignedTimestamp":1723456790000000000}]}\n',
    ),
  );
});

Deno.test("decodeCheckpoint() round-trips what encodeCheckpoint() writes", () => {
  const snapshot = {
    ...SNAPSHOT,
    cooling: [{ ipv4: "192.168.9.107", unassignedAt: 1723456790123 }],
  };
  assert.deepEqual(decodeCheckpoint(encodeCheckpoint(snapshot)), { ...snapshot, ipv6: [] });
});

Deno.test("decodeCheckpoint() reads nanosecond timestamps beyond 2^53 without losing milliseconds", () => {
  const text = UPSTREAM_BYTES.replace("1723456789012000000", "1723456789012999999");
  assert.equal(decodeCheckpoint(text).allocations[0]!.assignedAt, 1723456789012);
});

Deno.test("decodeCheckpoint() tolerates unknown fields, null allocations and IPv6 entries", () => {
  const text = JSON.stringify({
    version: CHECKPOINT_VERSION,
    future: { anything: true },
    allocations: [
      {
        networkName: "aws-cni",
        containerID: "a",
        ifName: "eth0",
        ipv6: "2001:db8::1",
        allocationTimestamp: 1,
        extra: 1,
      },
      { networkName: "aws-cni", containerID: "b", ifName: "eth0", ipv4: "10.0.0.1" },
    ],
  });
  const loaded = decodeCheckpoint(text);
  assert.deepEqual(loaded.allocations.map((a) => [a.ipv4, a.assignedAt, a.pod]), [[
    "10.0.0.1",
    0,
    undefined,
  ]]);
  assert.equal(loaded.ipv6.length, 1);
  assert.deepEqual(
    decodeCheckpoint(`{"version":"${CHECKPOINT_VERSION}","allocations":null}`).allocations,
    [],
  );
});

Deno.test("decodeCheckpoint() refuses damaged files with a CheckpointError that says what to do", () => {
  const cases: Array<[string, string]> = [
    ['{"version":"vpc-cni-ipam/1","allocations":[', "corrupt"],
    ["[]", "corrupt"],
    ['{"version":"vpc-cni-ipam/2","allocations":[]}', "version"],
    ['{"allocations":[]}', "version"],
    ['{"version":"vpc-cni-ipam/1","allocations":{}}', "corrupt"],
    [
      '{"version":"vpc-cni-ipam/1","allocations":[{"networkName":"n","ifName":"eth0","ipv4":"10.0.0.1"}]}',
      "corrupt",
    ],
    [
      '{"version":"vpc-cni-ipam/1","allocations":[{"networkName":"n","containerID":"c","ifName":"e","ipv4":"10.0.0"}]}',
      "corrupt",
    ],
    [
      '{"version":"vpc-cni-ipam/1","allocations":[{"networkName":"n","containerID":"c","ifName":"e"}]}',
      "corrupt",
    ],
    [
      '{"version":"vpc-cni-ipam/1","allocations":[],"coolingAddresses":[{"ipv4":"10.0.0.1"}]}',
      "corrupt",
    ],
  ];
  for (const [text, problem] of cases) {
    assert.throws(
      () => decodeCheckpoint(text, "/var/run/aws-node/ipam.json"),
      (e) =>
        e instanceof CheckpointError && e.problem === problem &&
        e.path === "/var/run/aws-node/ipam.json",
      text,
    );
  }
  assert.throws(
    () => decodeCheckpoint('{"version":"vpc-cni-ipam/9"}', "/x/ipam.json"),
    (e) =>
      e instanceof Error &&
      /\/x\/ipam\.json.*vpc-cni-ipam\/9.*move the file aside/s.test(e.message),
  );
});

Deno.test("saveCheckpointSync() writes atomically and leaves no temp file", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/ipam.json`;
    saveCheckpointSync(path, SNAPSHOT);
    saveCheckpointSync(path, { allocations: [], cooling: [] });
    assert.equal(
      await Deno.readTextFile(path),
      `{"version":"${CHECKPOINT_VERSION}","allocations":[]}\n`,
    );
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["ipam.json"]);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  });
});

Deno.test("saveCheckpointSync() creates the directory and removes its temp file when it fails", async () => {
  await withDir(async (dir) => {
    saveCheckpointSync(`${dir}/new/ipam.json`, SNAPSHOT);
    assert.equal(await Deno.readTextFile(`${dir}/new/ipam.json`), UPSTREAM_BYTES);
    await Deno.mkdir(`${dir}/busy/ipam.json`, { recursive: true });
    await Deno.writeTextFile(`${dir}/busy/ipam.json/keep`, "x"); // rename onto it fails
    assert.throws(() => saveCheckpointSync(`${dir}/busy/ipam.json`, SNAPSHOT));
    const names = [];
    for await (const entry of Deno.readDir(`${dir}/busy`)) names.push(entry.name);
    assert.deepEqual(names, ["ipam.json"]);
  });
});

Deno.test("saveCheckpoint() (async) writes the same bytes", async () => {
  await withDir(async (dir) => {
    await saveCheckpoint(`${dir}/ipam.json`, SNAPSHOT);
    assert.equal(await Deno.readTextFile(`${dir}/ipam.json`), UPSTREAM_BYTES);
  });
});

Deno.test("loadCheckpoint() treats a missing file as a fresh node and removes leftover temp files", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/ipam.json.tmp1234`, "{half");
    await Deno.writeTextFile(`${dir}/other.json`, "keep");
    assert.equal(await loadCheckpoint(`${dir}/ipam.json`), undefined);
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["other.json"]);
    assert.equal(await loadCheckpoint(`${dir}/missing-dir/ipam.json`), undefined);
  });
});

Deno.test("loadCheckpoint() reports an unreadable or corrupted file as a CheckpointError", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/ipam.json`);
    await assert.rejects(
      loadCheckpoint(`${dir}/ipam.json`),
      (e) => e instanceof CheckpointError && e.problem === "unreadable",
    );
    await Deno.writeTextFile(`${dir}/bad.json`, "\u0000\u0001garbage");
    await assert.rejects(
      loadCheckpoint(`${dir}/bad.json`),
      (e) => e instanceof CheckpointError && e.problem === "corrupt",
    );
  });
});

Deno.test("checkpointPersister() keeps assignments and cooldowns across a restart", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/ipam.json`;
    const clock = { now: 1_700_000_000_000 };
    const make = () => {
      const ds = new Datastore({
        mode: "secondary-ip",
        cooldownMs: 30_000,
        now: () => clock.now,
        persist: checkpointPersister(path),
      });
      ds.addEni({ id: "eni-0", deviceNumber: 0 });
      for (const ip of ["10.0.0.5", "10.0.0.6", "10.0.0.7"]) ds.addCidr("eni-0", ip);
      return ds;
    };
    const before = make();
    const pod = { podNamespace: "default", podName: "web-0", interfacesCount: 1 };
    before.assign({ networkName: "aws-cni", containerId: "a", ifName: "eth0" }, pod);
    before.assign({ networkName: "aws-cni", containerId: "b", ifName: "eth0" });
    before.release({ networkName: "aws-cni", containerId: "b", ifName: "eth0" });
    clock.now += 5_000;
    const after = make(); // restart
    const loaded = (await loadCheckpoint(path))!;
    after.restore(loaded.allocations, loaded.cooling);
    assert.deepEqual(after.assignments(), before.assignments());
    assert.equal(after.stats().cooling, 1); // upstream forgets the cooldown on restart (#1127)
    assert.equal(
      after.assign({ networkName: "aws-cni", containerId: "c", ifName: "eth0" }).ipv4,
      "10.0.0.7",
    );
  });
});
