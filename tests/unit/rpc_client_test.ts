import assert from "node:assert/strict";
import { callIpamd, IpamdUnreachableError, RpcClient } from "../../src/rpc/client.ts";
import { RpcServer } from "../../src/rpc/server.ts";
import { RpcError } from "../../src/rpc/protocol.ts";

const KEY = { networkName: "aws-cni", containerId: "c1", ifName: "eth0" };

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "tcni-rpcc-" });
}

Deno.test("callIpamd() reports a missing socket as IpamdUnreachableError 'missing'", async () => {
  const dir = await tempDir();
  try {
    await assert.rejects(
      callIpamd(`${dir}/none.sock`, "ipam.get", KEY),
      (e) =>
        e instanceof IpamdUnreachableError && e.reason === "missing" &&
        e.socketPath === `${dir}/none.sock` && /not running/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("callIpamd() reports a stale socket as IpamdUnreachableError 'refused'", async () => {
  const dir = await tempDir();
  try {
    const l = Deno.listen({ transport: "unix", path: `${dir}/a.sock` });
    await Deno.link(`${dir}/a.sock`, `${dir}/stale.sock`);
    l.close();
    await assert.rejects(
      callIpamd(`${dir}/stale.sock`, "ipam.get", KEY),
      (e) => e instanceof IpamdUnreachableError && e.reason === "refused",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RpcClient.call() times out on a server that never answers", async () => {
  const dir = await tempDir();
  const listener = Deno.listen({ transport: "unix", path: `${dir}/mute.sock` });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of listener) accepted.push(c);
  })();
  try {
    const started = Date.now();
    await assert.rejects(
      callIpamd(`${dir}/mute.sock`, "ipam.get", KEY, { timeoutMs: 150 }),
      (e) =>
        e instanceof IpamdUnreachableError && e.reason === "timeout" && /150 ms/.test(e.message),
    );
    assert.ok(Date.now() - started < 1500);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const c of accepted) c.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RpcClient.call() fails with 'closed' when the server hangs up mid-request", async () => {
  const dir = await tempDir();
  const listener = Deno.listen({ transport: "unix", path: `${dir}/rude.sock` });
  const serving = (async () => {
    const c = await listener.accept();
    await c.read(new Uint8Array(1024));
    c.close();
  })();
  try {
    await assert.rejects(
      callIpamd(`${dir}/rude.sock`, "ipam.get", KEY),
      (e) => e instanceof IpamdUnreachableError && e.reason === "closed",
    );
  } finally {
    await serving;
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RpcClient.call() turns a non-JSON reply into RpcError Internal", async () => {
  const dir = await tempDir();
  const listener = Deno.listen({ transport: "unix", path: `${dir}/bad.sock` });
  const serving = (async () => {
    const c = await listener.accept();
    await c.read(new Uint8Array(1024));
    await c.write(new TextEncoder().encode("<html>oops</html>\n"));
    await c.read(new Uint8Array(16)).catch(() => null);
    c.close();
  })();
  try {
    await assert.rejects(
      callIpamd(`${dir}/bad.sock`, "ipam.get", KEY),
      (e) => e instanceof RpcError && e.kind === "Internal",
    );
  } finally {
    await serving;
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RpcClient keeps working after ipamd returned an error for one call", async () => {
  const dir = await tempDir();
  const server = await RpcServer.listen(`${dir}/ipamd.sock`, {
    "ipam.get": (p) => {
      if (p.containerId === "gone") throw new RpcError("UnknownAttachment", "not held");
      return { allocations: [], podName: "p", podNamespace: "ns" };
    },
  });
  const client = await RpcClient.connect(`${dir}/ipamd.sock`);
  try {
    await assert.rejects(
      client.call("ipam.get", { ...KEY, containerId: "gone" }),
      (e) => e instanceof RpcError && e.kind === "UnknownAttachment",
    );
    assert.equal((await client.call("ipam.get", KEY)).podName, "p");
  } finally {
    client.close();
    await client.closed();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
