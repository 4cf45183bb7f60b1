import assert from "node:assert/strict";
import { type Handlers, RpcServer, SocketInUseError } from "../../src/rpc/server.ts";
import { callIpamd, RpcClient } from "../../src/rpc/client.ts";
import { ErrorCode, MAX_MESSAGE_BYTES, RpcError } from "../../src/rpc/protocol.ts";
import { PROTOCOL_VERSION } from "../../src/version.ts";
import { LineReader } from "../../src/rpc/framing.ts";

const STATUS = {
  version: "test",
  ready: true,
  terminating: false,
  mode: "secondary-ip" as const,
  totalIPs: 10,
  assignedIPs: 1,
  availableIPs: 9,
  cooldownIPs: 0,
  enis: 1,
  maxENIs: 3,
  canGrow: true,
};
const KEY = { networkName: "aws-cni", containerId: "c1", ifName: "eth0" };

async function withServer(
  handlers: Handlers,
  fn: (server: RpcServer, path: string, dir: string) => Promise<void>,
  options: Parameters<typeof RpcServer.listen>[2] = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tcni-rpc-" });
  const path = `${dir}/run/ipamd.sock`;
  const server = await RpcServer.listen(path, handlers, options);
  try {
    await fn(server, path, dir);
  } finally {
    await server.close({ deadlineMs: 1000 });
    await Deno.remove(dir, { recursive: true });
  }
}

/** Sends raw bytes on a fresh connection and returns the reply lines until the server closes. */
async function raw(path: string, ...chunks: Array<string | Uint8Array>): Promise<unknown[]> {
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    for (const c of chunks) {
      await conn.write(typeof c === "string" ? new TextEncoder().encode(c) : c);
    }
    await conn.closeWrite();
    const reader = new LineReader(conn, 1 << 20);
    const replies: unknown[] = [];
    for (let line = await reader.next(); line; line = await reader.next()) {
      replies.push(JSON.parse(new TextDecoder().decode(line)));
    }
    return replies;
  } finally {
    conn.close();
  }
}

function request(method: string, params: Record<string, unknown>, id: unknown = 1): string {
  return JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n";
}

const VERSIONED = { protocolVersion: PROTOCOL_VERSION };

Deno.test("RpcServer answers a call over a real unix socket with the versioned params", async () => {
  let seen: Record<string, unknown> = {};
  await withServer({
    "ipam.status": (params) => {
      seen = params as unknown as Record<string, unknown>;
      return STATUS;
    },
  }, async (_server, path) => {
    const result = await callIpamd(path, "ipam.status", {});
    assert.deepEqual(result, STATUS);
    assert.equal(seen.protocolVersion, PROTOCOL_VERSION);
    assert.equal(typeof seen.clientVersion, "string");
  });
});

Deno.test("RpcServer serves several requests on one connection in order", async () => {
  await withServer({
    "ipam.get": (p) => ({ allocations: [], podName: p.containerId, podNamespace: "ns" }),
  }, async (_server, path) => {
    const client = await RpcClient.connect(path);
    try {
      const names = await Promise.all(
        ["a", "b", "c"].map((id) => client.call("ipam.get", { ...KEY, containerId: id })),
      );
      assert.deepEqual(names.map((r) => r.podName), ["a", "b", "c"]);
      const again = await client.call("ipam.get", { ...KEY, containerId: "d" });
      assert.equal(again.podName, "d");
    } finally {
      client.close();
      await client.closed();
    }
  });
});

Deno.test("RpcServer answers 50 parallel clients, each with its own result", async () => {
  await withServer({
    "ipam.get": async (p) => {
      await new Promise((r) => setTimeout(r, 5));
      return { allocations: [], podName: p.containerId, podNamespace: "ns" };
    },
  }, async (server, path) => {
    let maxInFlight = 0;
    const probe = setInterval(() => maxInFlight = Math.max(maxInFlight, server.inFlight), 1);
    try {
      const ids = Array.from({ length: 50 }, (_, i) => `c${i}`);
      const results = await Promise.all(
        ids.map((id) => callIpamd(path, "ipam.get", { ...KEY, containerId: id })),
      );
      assert.deepEqual(results.map((r) => r.podName), ids);
      assert.ok(maxInFlight > 1, `requests were handled concurrently (peak ${maxInFlight})`);
    } finally {
      clearInterval(probe);
    }
  });
});

Deno.test("RpcServer answers garbage with JSON-RPC errors and keeps serving", async () => {
  const handlers: Handlers = {
    "ipam.status": () => STATUS,
    "ipam.get": () => ({ allocations: [], podName: "", podNamespace: "" }),
  };
  await withServer(handlers, async (_server, path) => {
    const replies = await raw(
      path,
      "this is not json\n",
      new Uint8Array([0xff, 0xfe, 0x0a]), // invalid UTF-8
      "[1,2]\n",
      '{"id":1,"method":"ipam.status","params":{}}\n',
      '{"jsonrpc":"2.0","method":"ipam.status","params":{}}\n',
      '{"jsonrpc":"2.0","id":2,"method":"ipam.nope","params":{}}\n',
      '{"jsonrpc":"2.0","id":3,"method":"ipam.status","params":[]}\n',
      '{"jsonrpc":"2.0","id":4,"method":"ipam.status","params":{}}\n',
      request("ipam.get", { ...VERSIONED, networkName: "", containerId: "c", ifName: "eth0" }, 5),
      request("ipam.status", VERSIONED, 6),
    ) as Array<{ id: unknown; error?: { code: number; message: string }; result?: unknown }>;
    assert.deepEqual(replies.map((r) => [r.id, r.error?.code]), [
      [null, ErrorCode.ParseError],
      [null, ErrorCode.ParseError],
      [null, ErrorCode.InvalidRequest],
      [1, ErrorCode.InvalidRequest],
      [null, ErrorCode.InvalidRequest],
      [2, ErrorCode.MethodNotFound],
      [3, ErrorCode.InvalidParams],
      [4, ErrorCode.InvalidParams],
      [5, ErrorCode.InvalidParams],
      [6, undefined],
    ]);
    assert.match(replies[8]!.error!.message, /networkName/);
    assert.deepEqual(replies[9]!.result, STATUS);
  });
});

Deno.test("RpcServer closes the connection on an oversized request, and keeps serving", async () => {
  await withServer({ "ipam.status": () => STATUS }, async (_server, path) => {
    const big = "x".repeat(MAX_MESSAGE_BYTES + 10);
    const replies = await raw(path, big) as Array<{ error: { code: number; data: unknown } }>;
    assert.equal(replies.length, 1);
    assert.equal(replies[0]!.error.code, ErrorCode.Overloaded);
    assert.deepEqual(replies[0]!.error.data, {
      reason: "size",
      limit: MAX_MESSAGE_BYTES,
      kind: "Overloaded",
    });
    // A complete line just over the limit is refused the same way.
    const line = request("ipam.status", { ...VERSIONED, pad: "y".repeat(MAX_MESSAGE_BYTES) });
    const again = await raw(path, line) as Array<{ error: { code: number } }>;
    assert.equal(again[0]!.error.code, ErrorCode.Overloaded);
    assert.deepEqual(await callIpamd(path, "ipam.status", {}), STATUS);
  });
});

Deno.test("RpcServer drops a slow client without holding others up", async () => {
  await withServer({ "ipam.status": () => STATUS }, async (server, path) => {
    const slow = await Deno.connect({ transport: "unix", path });
    try {
      await slow.write(new TextEncoder().encode('{"jsonrpc":"2.0","id":1,'));
      assert.deepEqual(await callIpamd(path, "ipam.status", {}), STATUS);
      const started = Date.now();
      const n = await slow.read(new Uint8Array(10));
      assert.equal(n, null, "the server closed the stalled connection");
      assert.ok(Date.now() - started < 2000);
      assert.equal(server.connections, 0);
    } finally {
      slow.close();
    }
  }, { idleTimeoutMs: 200 });
});

Deno.test("RpcServer replaces a stale socket file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcni-rpc-" });
  const path = `${dir}/ipamd.sock`;
  try {
    // A socket file nobody listens on, as a crashed ipamd leaves behind.
    const old = Deno.listen({ transport: "unix", path: `${dir}/old.sock` });
    await Deno.link(`${dir}/old.sock`, path);
    old.close();
    assert.ok((await Deno.lstat(path)).isSocket);
    const server = await RpcServer.listen(path, { "ipam.status": () => STATUS });
    try {
      assert.deepEqual(await callIpamd(path, "ipam.status", {}), STATUS);
    } finally {
      await server.close();
    }
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound, "close() removes the socket");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RpcServer refuses to start when a live server answers on the socket", async () => {
  await withServer({ "ipam.status": () => STATUS }, async (_server, path, dir) => {
    await assert.rejects(
      RpcServer.listen(path, {}),
      (e) =>
        e instanceof SocketInUseError && e.occupant === "server" && /second ipamd/.test(e.message),
    );
    // The first server is untouched and still answers.
    assert.deepEqual(await callIpamd(path, "ipam.status", {}), STATUS);
    await Deno.writeTextFile(`${dir}/file`, "x");
    await assert.rejects(
      RpcServer.listen(`${dir}/file`, {}),
      (e) => e instanceof SocketInUseError && e.occupant === "file",
    );
    assert.equal(await Deno.readTextFile(`${dir}/file`), "x");
  });
});

Deno.test("RpcServer creates the socket 0660 in a 0755 folder", async () => {
  await withServer({}, async (_server, path, dir) => {
    const socket = await Deno.lstat(path);
    assert.ok(socket.isSocket);
    assert.equal(socket.mode! & 0o777, 0o660);
    assert.equal((await Deno.stat(`${dir}/run`)).mode! & 0o777, 0o755);
    const leftovers = [];
    for await (const e of Deno.readDir(`${dir}/run`)) leftovers.push(e.name);
    assert.deepEqual(leftovers, ["ipamd.sock"], "no temporary bind folder is left behind");
  });
});

Deno.test("RpcServer refuses another protocol version with VersionMismatch", async () => {
  await withServer({ "ipam.status": () => STATUS }, async (_server, path) => {
    const [reply] = await raw(
      path,
      request("ipam.status", { protocolVersion: PROTOCOL_VERSION + 1, clientVersion: "9.9.9" }),
    ) as Array<{ error: { code: number; message: string; data: Record<string, unknown> } }>;
    assert.equal(reply!.error.code, ErrorCode.VersionMismatch);
    assert.equal(reply!.error.data.kind, "VersionMismatch");
    assert.equal(reply!.error.data.clientProtocolVersion, PROTOCOL_VERSION + 1);
    assert.match(reply!.error.message, /same release/);
    const [missing] = await raw(path, request("ipam.status", {})) as Array<
      { error: { code: number } }
    >;
    assert.equal(missing!.error.code, ErrorCode.InvalidParams);
  });
});

class PoolEmpty extends Error {}

Deno.test("RpcServer maps typed handler errors and hides unexpected ones as Internal", async () => {
  await withServer({
    "ipam.add": () => {
      throw new RpcError("NoAvailableAddress", "no free address", { data: { enis: 3 } });
    },
    "ipam.get": () => {
      throw new PoolEmpty("pool empty");
    },
    "ipam.del": () => {
      throw new TypeError("secret internals at /src/ipam/manager.ts:42");
    },
  }, async (_server, path) => {
    const add = {
      ...KEY,
      podName: "p",
      podNamespace: "ns",
      netns: "/var/run/netns/x",
    };
    await assert.rejects(
      callIpamd(path, "ipam.add", add),
      (e) =>
        e instanceof RpcError && e.kind === "NoAvailableAddress" && e.data.enis === 3 &&
        e.message === "no free address",
    );
    await assert.rejects(
      callIpamd(path, "ipam.get", KEY),
      (e) => e instanceof RpcError && e.kind === "NotReady",
    );
    const [reply] = await raw(
      path,
      request("ipam.del", { ...VERSIONED, ...KEY, reason: "PodDeleted" }),
    ) as Array<{ error: { code: number; message: string; data: unknown } }>;
    assert.equal(reply!.error.code, ErrorCode.Internal);
    assert.doesNotMatch(JSON.stringify(reply), /secret|manager\.ts|at /);
  }, {
    mapError: (e) => e instanceof PoolEmpty ? new RpcError("NotReady", e.message) : undefined,
  });
});

Deno.test("RpcServer answers Overloaded when a request runs over its time limit", async () => {
  let aborted = false;
  await withServer({
    "ipam.status": async (_p, ctx) => {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 400);
        ctx.signal.addEventListener("abort", () => {
          aborted = true;
          clearTimeout(t);
          resolve();
        });
      });
      return STATUS;
    },
  }, async (_server, path) => {
    await assert.rejects(
      callIpamd(path, "ipam.status", {}),
      (e) => e instanceof RpcError && e.kind === "Overloaded" && e.data.reason === "timeout",
    );
    assert.ok(aborted, "the handler's signal was aborted");
  }, { requestTimeoutMs: 100 });
});

Deno.test("RpcServer turns away connections over the limit with Overloaded", async () => {
  const gate = Promise.withResolvers<void>();
  await withServer({
    "ipam.status": async () => {
      await gate.promise;
      return STATUS;
    },
  }, async (server, path) => {
    const first = callIpamd(path, "ipam.status", {});
    const second = callIpamd(path, "ipam.status", {});
    while (server.connections < 2) await new Promise((r) => setTimeout(r, 5));
    await assert.rejects(
      callIpamd(path, "ipam.status", {}),
      (e) => e instanceof RpcError && e.kind === "Overloaded" && e.data.reason === "connections",
    );
    gate.resolve();
    assert.deepEqual(await Promise.all([first, second]), [STATUS, STATUS]);
  }, { maxConnections: 2 });
});

Deno.test("RpcServer.close() finishes requests in flight and stops accepting", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcni-rpc-" });
  const path = `${dir}/ipamd.sock`;
  try {
    const started = Promise.withResolvers<void>();
    const server = await RpcServer.listen(path, {
      "ipam.status": async () => {
        started.resolve();
        await new Promise((r) => setTimeout(r, 150));
        return STATUS;
      },
    });
    const idle = await RpcClient.connect(path);
    const inFlight = callIpamd(path, "ipam.status", {});
    await started.promise;
    const closing = server.close({ deadlineMs: 2000 });
    assert.deepEqual(await inFlight, STATUS, "the request in flight got its answer");
    await closing;
    await idle.closed(); // the idle connection was closed by the server
    await assert.rejects(callIpamd(path, "ipam.status", {}), { name: "IpamdUnreachableError" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RpcServer.close() gives up on a stuck request at the deadline", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcni-rpc-" });
  const path = `${dir}/ipamd.sock`;
  const release = Promise.withResolvers<void>();
  try {
    const server = await RpcServer.listen(path, {
      "ipam.status": async () => {
        await release.promise;
        return STATUS;
      },
    });
    const stuck = callIpamd(path, "ipam.status", {});
    while (server.inFlight === 0) await new Promise((r) => setTimeout(r, 5));
    const started = Date.now();
    await server.close({ deadlineMs: 100 });
    assert.ok(Date.now() - started < 1000);
    await assert.rejects(stuck, (e) => (e as Error).name === "IpamdUnreachableError");
  } finally {
    release.resolve();
    await Deno.remove(dir, { recursive: true });
  }
});
