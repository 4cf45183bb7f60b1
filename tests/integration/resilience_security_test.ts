// deno-lint-ignore-file no-console -- the suite prints what it checked
/**
 * Security (issue 7, item 3; spec peers-and-pain §4.1, §4.3), against a real ipamd in the lab:
 *   - the RPC socket is root's with mode 0660 in a 0755 directory ipamd made, a non-root user
 *     cannot connect, and the checkpoint is 0600;
 *   - introspection (:61679) listens on loopback only: from another node, whose route to this
 *     node exists, a connection is refused, while metrics (:61678) answer as designed;
 *   - the role credentials IMDS serves and every IMDS session token ipamd was given appear
 *     nowhere in ipamd's logs, metrics, introspection output or state files, even with EC2
 *     errors being logged;
 *   - IMDSv2 only: the simulator's IMDS refuses token-less reads, and ipamd never makes one
 *     (the simulator's IMDS request log), also when token requests fail while the AWS SDK
 *     refreshes its credentials.
 */
import assert from "node:assert/strict";
import { startIpamd } from "../lab/ipamd.ts";
import { nsExec } from "../lab/namespaces.ts";
import { run } from "../lab/command.ts";
import { introspect, suiteSeed } from "../lab/resilience_world.ts";
import { rpcCall } from "../lab/rpc_client.ts";
import { RpcError } from "../../src/rpc/protocol.ts";
import { testScope } from "../lab/scope.ts";
import { startSim } from "../lab/sim.ts";

const SEED = suiteSeed(9_2026);
const INTROSPECTION_PATHS = [
  "/",
  "/v1/enis",
  "/v1/pods",
  "/v1/pool",
  "/v1/eni-configs",
  "/v1/networkutils-env-settings",
  "/v1/ipamd-env-settings",
];

/** ADDs over the socket, retried like kubelet retries a sandbox while the pool is empty. */
async function addPods(socket: string, prefix: string, count: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (let i = 0; i < count; i++) {
    for (;;) {
      try {
        await rpcCall(socket, "ipam.add", {
          networkName: "aws-cni",
          containerId: `${prefix}-${i}`,
          ifName: "eth0",
          podName: "",
          podNamespace: "",
          netns: "/var/run/netns/none",
          waitMs: 20_000,
        }, { timeoutMs: 30_000 });
        break;
      } catch (e) {
        if (!(e instanceof RpcError && e.kind === "NoAvailableAddress") || Date.now() > deadline) {
          throw e;
        }
      }
    }
  }
}

async function waitFor(what: string, ms: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!await probe()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

Deno.test({
  name: "ipamd's socket, introspection, logs, metrics and IMDS use hold the security properties",
  async fn(t) {
    await using scope = testScope("tres");
    const sim = await startSim({
      nodes: 2,
      instanceType: "m5.large",
      args: ["--prefix", "tres", "--seed", String(SEED)],
      cleanup: scope.cleanup,
    });
    const [node, other] = sim.nodes as [(typeof sim.nodes)[0], (typeof sim.nodes)[0]];
    // Role credentials that the AWS SDK treats as expiring: it fetches them again (token PUT,
    // role, credentials) for every EC2 call, so IMDS use is exercised all the time. Some EC2
    // calls fail, so error paths get logged too.
    await sim.control.faults({
      imdsCredentialsTtlSeconds: 300,
      // As many failures in a row as the EC2 client makes attempts: the first pool step fails
      // and is logged with its error (the retries take ~20 s; the other checks run meanwhile).
      faults: [{ action: "AssignPrivateIpAddresses", kind: "InternalError", count: 10 }],
    });
    const base = await scope.tempDir("sec");
    await Deno.chmod(base, 0o755); // only the socket's own mode may keep other users out
    const socketDir = `${base}/run/aws-node`;
    const logDir = await scope.tempDir("seclog");
    const ipamd = await startIpamd(node, {
      env: {
        IPAMD_SOCKET_PATH: `${socketDir}/ipamd.sock`,
        AWS_VPC_K8S_CNI_LOG_FILE: `${logDir}/ipamd.log`,
        AWS_VPC_K8S_CNI_LOGLEVEL: "DEBUG",
      },
      cleanup: scope.cleanup,
    });
    await ipamd.waitReady({ timeoutMs: 60_000 });
    const socket = ipamd.socketPath;
    const nodeIp = node.info.primaryIp;
    // ipamd's IMDS requests: from the node's namespace (the test's own go to host loopback).
    const byIpamd = (r: { instanceId?: string; remote: string }) =>
      r.instanceId === node.info.instanceId && r.remote !== "127.0.0.1";

    await t.step(
      "the socket is root's, mode 0660, in a 0755 directory; other users cannot connect",
      async () => {
        const info = await Deno.lstat(socket);
        assert.equal(info.isSocket, true);
        assert.equal(info.uid, 0);
        assert.equal(info.gid, 0);
        assert.equal((info.mode ?? 0) & 0o7777, 0o660, `socket mode ${info.mode?.toString(8)}`);
        const dir = await Deno.stat(socketDir);
        assert.equal(dir.uid, 0);
        assert.equal((dir.mode ?? 0) & 0o7777, 0o755, `directory mode ${dir.mode?.toString(8)}`);
        const entries = [];
        for await (const e of Deno.readDir(socketDir)) entries.push(e.name);
        assert.deepEqual(entries, ["ipamd.sock"], "nothing left over from binding");
        const denied = await run([
          "setpriv",
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          "curl",
          "-sS",
          "--max-time",
          "3",
          "--unix-socket",
          socket,
          "http://ipamd/",
        ], { allowFailure: true, timeoutMs: 10_000 });
        assert.equal(denied.code, 7, `nobody could connect: ${denied.stderr}`);
        // The same attempt as root connects (and gets a JSON-RPC parse error, not HTTP).
        const allowed = await run(
          ["curl", "-sS", "--max-time", "3", "--unix-socket", socket, "http://ipamd/"],
          { allowFailure: true, timeoutMs: 10_000 },
        );
        assert.notEqual(allowed.code, 7, `root could not connect: ${allowed.stderr}`);
      },
    );

    await t.step("introspection listens on loopback only; metrics on every address", async () => {
      const route = await nsExec(other.netns, ["ip", "route", "get", nodeIp]);
      assert.match(route.stdout, new RegExp(`^${nodeIp.replaceAll(".", "\\.")} dev \\S+`));
      const curl = (port: number, path: string) =>
        nsExec(other.netns, [
          "curl",
          "-sS",
          "--max-time",
          "3",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          `http://${nodeIp}:${port}${path}`,
        ], { allowFailure: true, timeoutMs: 10_000 });
      const introspection = await curl(61679, "/v1/enis");
      // 7: the connection failed (refused at once: 28 would be a timeout).
      assert.equal(introspection.code, 7, `introspection: ${introspection.stderr}`);
      const metrics = await curl(61678, "/metrics");
      assert.equal(metrics.code, 0, metrics.stderr);
      assert.equal(metrics.stdout, "200");
      const listening = (await nsExec(node.netns, ["ss", "-Hltn"])).stdout;
      assert.match(listening, /\s127\.0\.0\.1:61679\s/);
      assert.match(listening, /\s(\*|0\.0\.0\.0|\[::\]):61678\s/);
      assert.ok((await introspect(node.netns, "/v1/pods")) !== undefined);
    });

    // The role credentials, as an instance sees them (host loopback IMDS of the node).
    const imds = node.info.imdsEndpoint;
    const token = await (await fetch(`${imds}/latest/api/token`, {
      method: "PUT",
      headers: { "x-aws-ec2-metadata-token-ttl-seconds": "60" },
    })).text();
    const get = async (path: string) =>
      await (await fetch(`${imds}${path}`, { headers: { "x-aws-ec2-metadata-token": token } }))
        .text();
    const role = (await get("/latest/meta-data/iam/security-credentials/")).trim();
    const creds = JSON.parse(await get(`/latest/meta-data/iam/security-credentials/${role}`));

    await t.step(
      "IMDSv2 only: token-less reads are refused, and ipamd never makes one",
      async () => {
        const v1 = await fetch(`${imds}/latest/meta-data/instance-id`);
        await v1.body?.cancel();
        assert.equal(v1.status, 401);
        // A token request fails while the SDK refreshes credentials: it must not fall back to v1.
        // (One: after a failed refresh the SDK keeps the old credentials for several minutes.)
        const failures = 1;
        await sim.control.faults({ imdsTokenFailures: failures, imdsTokenFailureStatus: 503 });
        const before = (await sim.control.imdsRequests()).length;
        // EC2 calls (each refreshes the credentials) meet the failure: the pool manager's, and
        // those of pods beyond the warm pool.
        const adding = addPods(socket, "tres-v2", 12);
        const deadline = Date.now() + 60_000;
        let failed = 0;
        while (Date.now() < deadline) {
          failed = (await sim.control.imdsRequests()).slice(before).filter((r) =>
            byIpamd(r) && r.path === "/latest/api/token" && r.status === 503
          ).length;
          if (failed >= failures) {
            break;
          }
          await new Promise((r) =>
            setTimeout(r, 250)
          );
        }
        if (failed < failures) {
          const recent = (await sim.control.imdsRequests()).slice(before).map((r) =>
            `${r.at} ${r.remote} ${r.method} ${r.path} ${r.token} ${r.status}`
          );
          assert.fail(
            `ipamd asked for no IMDS token while they failed; its IMDS requests since:\n` +
              recent.slice(-30).join("\n") + `\n${await ipamd.logTail(20)}`,
          );
        }
        await adding;
        await new Promise((r) => setTimeout(r, 1_000));
        const log = await sim.control.imdsRequests();
        const tokenless = log.filter((r) => byIpamd(r) && r.method !== "PUT" && r.token === "none");
        assert.deepEqual(
          tokenless.map((r) => `${r.at} ${r.method} ${r.path} (${r.userAgent ?? "no user agent"})`),
          [],
          "ipamd read IMDS without a session token (IMDSv1)",
        );
        assert.equal(ipamd.running, true, "ipamd exited");
        const fromNode = log.filter(byIpamd);
        console.log(
          `IMDSv2: ${fromNode.length} IMDS requests from the node, none without a token; ` +
            `${failed} token requests failed on purpose`,
        );
      },
    );
    await t.step(
      "no credentials or IMDS tokens in ipamd's logs, metrics, introspection or files",
      async () => {
        const ipamdLog = `${logDir}/ipamd.log`;
        await waitFor(
          "the failed pool step logged",
          90_000,
          async () => (await Deno.readTextFile(ipamdLog)).includes("pool step failed"),
        );
        await addPods(socket, "tres-sec", 10); // beyond the warm pool: a new ENI, more EC2 calls
        const checkpoint = await Deno.stat(ipamd.env.AWS_VPC_K8S_CNI_BACKING_STORE!);
        assert.equal((checkpoint.mode ?? 0) & 0o777, 0o600, "checkpoint mode");
        const log = await sim.control.imdsRequests();
        const fromNode = log.filter(byIpamd);
        const fetchedCreds = fromNode.filter((r) =>
          r.path === `/latest/meta-data/iam/security-credentials/${role}` && r.status === 200
        );
        assert.ok(fetchedCreds.length > 0, "ipamd never read the role credentials from IMDS");
        const secrets: Record<string, string> = {
          AccessKeyId: creds.AccessKeyId,
          SecretAccessKey: creds.SecretAccessKey,
          Token: creds.Token,
        };
        const issued = fromNode.map((r) => r.issuedToken).filter((x): x is string => !!x);
        assert.ok(issued.length > 0, "ipamd was given no IMDS session token");
        issued.forEach((tok, i) => secrets[`IMDS session token #${i + 1}`] = tok);

        const texts: Record<string, string> = {
          "ipamd log": await Deno.readTextFile(`${logDir}/ipamd.log`),
          "ipamd stdout/stderr": await Deno.readTextFile(ipamd.logFile),
          metrics: (await nsExec(node.netns, [
            "curl",
            "-sS",
            "--max-time",
            "5",
            "http://127.0.0.1:61678/metrics",
          ])).stdout,
        };
        for (const path of INTROSPECTION_PATHS) {
          // Without an API server /v1/eni-configs answers 404 (as upstream); its body counts too.
          texts[`introspection ${path}`] = (await nsExec(node.netns, [
            "curl",
            "-sS",
            "--max-time",
            "5",
            `http://127.0.0.1:61679${path}`,
          ])).stdout;
        }
        for await (const e of Deno.readDir(node.info.stateDir)) {
          const path = `${node.info.stateDir}/${e.name}`;
          if (e.isFile) texts[path] = await Deno.readTextFile(path);
        }
        const leaks: string[] = [];
        for (const [where, text] of Object.entries(texts)) {
          for (const [what, secret] of Object.entries(secrets)) {
            if (secret && text.includes(secret)) leaks.push(`${what} in ${where}`);
          }
          if (/x-aws-ec2-metadata-token"?\s*[:=]\s*"?[A-Za-z0-9+/=]{20}/i.test(text)) {
            leaks.push(`a token header in ${where}`);
          }
        }
        assert.deepEqual(leaks, []);
        console.log(
          `security: ${Object.keys(secrets).length} secrets checked in ${
            Object.keys(texts).length
          } outputs (${Math.round(Object.values(texts).join("").length / 1024)} KiB)`,
        );
      },
    );
  },
});
