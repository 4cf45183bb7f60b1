// Process-level properties of the Kubernetes integration, checked in child processes: the SDK
// is not loaded when no API server is configured (and what it costs when it is), and a server
// GOAWAY after a cancelled request does not abort the process (HTTP/2 is off).
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
const MOD = new URL("src/k8s/mod.ts", ROOT).href;
const STUB = new URL("tests/lab/k8s_stub.ts", ROOT).href;

async function runScript(code: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "tk8s-run-" });
  try {
    await Deno.writeTextFile(`${dir}/main.ts`, code);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--no-prompt",
        "--quiet",
        "--config",
        new URL("deno.json", ROOT).pathname,
        `${dir}/main.ts`,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface Cost {
  ms: number;
  rssMb: number;
  client: boolean;
}

const measure = (env: string) => `
import { connectApiServer } from "${MOD}";
import { K8sStub } from "${STUB}";
const dir = await Deno.makeTempDir();
const stub = ${env === "none" ? "undefined" : "await K8sStub.start({ tls: true })"};
const env = stub ? { KUBECONFIG: await stub.writeKubeconfig(dir) } : {};
const rss0 = Deno.memoryUsage().rss;
const t0 = performance.now();
const { client } = await connectApiServer(env, { required: false, optionalWaitMs: 0 });
const ms = performance.now() - t0;
const rssMb = (Deno.memoryUsage().rss - rss0) / 1e6;
await client?.close();
await stub?.close();
console.log(JSON.stringify({ ms, rssMb, client: client !== undefined }));
`;

Deno.test("without an API server configured, ipamd does not load the Kubernetes SDK", async () => {
  const none = await runScript(measure("none"));
  assert.equal(none.code, 0, none.stderr);
  const withServer = await runScript(measure("stub"));
  assert.equal(withServer.code, 0, withServer.stderr);
  const a: Cost = JSON.parse(none.stdout);
  const b: Cost = JSON.parse(withServer.stdout);
  // deno-lint-ignore no-console -- the measured cost belongs in the test output
  console.log(
    `connectApiServer(): no API server ${a.ms.toFixed(1)} ms, +${a.rssMb.toFixed(1)} MB RSS; ` +
      `with one (loads @kubernetes/client-node, connects) ${b.ms.toFixed(0)} ms, +${
        b.rssMb.toFixed(0)
      } MB RSS`,
  );
  assert.equal(a.client, false);
  assert.equal(b.client, true);
  assert.ok(a.rssMb < 20, `no SDK: RSS grew ${a.rssMb} MB`);
  assert.ok(b.rssMb > a.rssMb + 30, "the measurement sees the SDK when it is loaded");
  assert.ok(a.ms < 50, `no SDK: took ${a.ms} ms`);
});

Deno.test("src/k8s/mod.ts imports @kubernetes/client-node only dynamically", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "info",
      "--json",
      "--config",
      new URL("deno.json", ROOT).pathname,
      new URL("src/k8s/mod.ts", ROOT).pathname,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: {
      specifier: string;
      dependencies?: { specifier: string; isDynamic?: boolean; code?: unknown }[];
    }[];
  };
  const edges = graph.modules.flatMap((m) =>
    (m.dependencies ?? []).filter((d) => d.specifier === "@kubernetes/client-node" && d.code)
      .map((d) => ({ from: m.specifier, dynamic: d.isDynamic === true }))
  );
  assert.ok(edges.length >= 1, "the client imports the SDK somewhere");
  assert.deepEqual(edges.filter((e) => !e.dynamic), [], "no static import of the SDK");
});

Deno.test("a server GOAWAY after a cancelled request does not abort the process", async () => {
  const result = await runScript(`
import { createK8sClient } from "${MOD}";
import { K8sStub } from "${STUB}";
const dir = await Deno.makeTempDir();
for (let round = 0; round < 10; round++) {
  const stub = await K8sStub.start({ tls: true });
  const client = await createK8sClient({ source: "kubeconfig", kubeconfigPath: await stub.writeKubeconfig(dir) });
  await client.version();
  stub.intercept = async () => { await new Promise((r) => setTimeout(r, 300)); return undefined; };
  await client.version({ timeoutMs: 50 }).catch(() => {});
  await client.version({ timeoutMs: 50 }).catch(() => {});
  stub.intercept = undefined;
  await stub.close();
  await client.version({ timeoutMs: 500 }).catch(() => {});
  await client.close();
}
console.log("survived");
`);
  assert.equal(result.code, 0, result.stderr.slice(-500));
  assert.match(result.stdout, /survived/);
});

Deno.test("the client negotiates HTTP/1.1 with a server that offers HTTP/2 first", async () => {
  const { createK8sClient } = await import("../../src/k8s/client.ts");
  const { K8sStub } = await import("../lab/k8s_stub.ts");
  const fixtures = new URL("tests/lab/fixtures/", ROOT);
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(new URL("k8s_stub_server.pem", fixtures)),
    key: await Deno.readTextFile(new URL("k8s_stub_server_key.pem", fixtures)),
    alpnProtocols: ["h2", "http/1.1"],
  });
  const dir = await Deno.makeTempDir({ prefix: "tk8s-" });
  const template = await K8sStub.start({ tls: true });
  const url = `https://127.0.0.1:${listener.addr.port}`;
  await Deno.writeTextFile(`${dir}/kubeconfig`, template.kubeconfig().replace(template.url, url));
  await template.close();
  const served = (async () => {
    const conn = await listener.accept();
    const { alpnProtocol } = await conn.handshake();
    const body = '{"major":"1","minor":"32","gitVersion":"v1.32.0-raw"}';
    await conn.read(new Uint8Array(4096));
    await conn.write(new TextEncoder().encode(
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
    ));
    conn.close();
    return alpnProtocol;
  })();
  try {
    await using client = await createK8sClient({
      source: "kubeconfig",
      kubeconfigPath: `${dir}/kubeconfig`,
    });
    const version = await client.version({ timeoutMs: 5000 });
    assert.equal(version.gitVersion, "v1.32.0-raw");
    assert.equal(await served, "http/1.1");
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
