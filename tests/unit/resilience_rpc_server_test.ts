/**
 * The RPC server at its connection limit (found by tests/integration/resilience_input_test.ts:
 * 64 idle connections locked aws-cni out for the 30 s idle timeout).
 */
import assert from "node:assert/strict";
import { RpcServer } from "../../src/rpc/server.ts";
import { callIpamd } from "../../src/rpc/client.ts";

const STATUS = {
  version: "test",
  ready: true,
  terminating: false,
  mode: "secondary-ip" as const,
  totalIPs: 1,
  assignedIPs: 0,
  availableIPs: 1,
  cooldownIPs: 0,
  enis: 1,
  maxENIs: 1,
  canGrow: false,
};

Deno.test("RpcServer at its connection limit closes the connection idle the longest and serves the new one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tres-rpc-" });
  const path = `${dir}/ipamd.sock`;
  const server = await RpcServer.listen(path, { "ipam.status": () => STATUS }, {
    maxConnections: 3,
  });
  const idle: Deno.UnixConn[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      idle.push(await Deno.connect({ transport: "unix", path }));
      while (server.connections < i + 1) await new Promise((r) => setTimeout(r, 5));
    }
    // A slow client: half a request, never finished.
    await idle[1]!.write(new TextEncoder().encode('{"jsonrpc":"2.0","id":1,"meth'));

    assert.deepEqual(await callIpamd(path, "ipam.status", {}), STATUS);
    assert.deepEqual(await callIpamd(path, "ipam.status", {}), STATUS);

    // The two oldest idle connections were closed to make room, the newest is still open.
    const buf = new Uint8Array(16);
    assert.equal(await idle[0]!.read(buf), null);
    assert.equal(await idle[1]!.read(buf), null);
    // The callers' connections end when the server reads their EOF.
    for (let i = 0; i < 100 && server.connections > 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(server.connections, 1);
  } finally {
    for (const c of idle) {
      try {
        c.close();
      } catch {
        // closed by the server
      }
    }
    await server.close({ deadlineMs: 1_000 });
    await Deno.remove(dir, { recursive: true });
  }
});
