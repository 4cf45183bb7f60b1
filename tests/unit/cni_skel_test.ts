import assert from "node:assert/strict";
import { MAX_STDIN_BYTES, type PluginIO, readAll, runPlugin } from "../../src/cni/skel.ts";
import { StdinError } from "../../src/cni/errors.ts";
import { SUPPORTED_VERSIONS } from "../../src/cni/types.ts";

interface Run {
  status: number;
  stdout: string;
  logs: string[];
}

const ADD_ENV = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "abc123",
  CNI_NETNS: "/var/run/netns/none",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin",
};
const CONF = { cniVersion: "1.0.0", name: "aws-cni", type: "aws-cni" };

/** Runs the skeleton in-process. No command may get far enough to reach ipamd or netlink. */
async function run(env: Record<string, string>, stdin: string | Uint8Array = ""): Promise<Run> {
  let stdout = "";
  const logs: string[] = [];
  const io: PluginIO = {
    env: (name) => env[name],
    readStdin: (limit) => {
      const bytes = typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin;
      if (bytes.length > limit) return Promise.reject(new StdinError("too large"));
      return Promise.resolve(bytes);
    },
    writeStdout: (text) => stdout += text,
    stderr: (line) => logs.push(new TextDecoder().decode(line)),
  };
  const unreachable = () => {
    throw new Error("the skeleton must answer this without running a command");
  };
  const status = await runPlugin({
    io,
    deps: {
      connect: unreachable,
      wiring: {
        wire: unreachable,
        remove: unreachable,
        teardown: unreachable,
        teardownBranch: unreachable,
        inspect: unreachable,
        removeContainer: unreachable,
        // ADD_ENV's namespace does not exist: ADD stops there, before ipamd and the wiring.
        netnsExists: () => false,
      },
    },
  });
  return { status, stdout, logs };
}

/** The one line on stdout must be a CNI error object and nothing else. */
function cniError(r: Run): { cniVersion: string; code: number; msg: string; details?: string } {
  assert.equal(r.status, 1);
  assert.ok(r.stdout.endsWith("\n") && r.stdout.indexOf("\n") === r.stdout.length - 1, r.stdout);
  const error = JSON.parse(r.stdout);
  assert.deepEqual(
    Object.keys(error).filter((k) => k !== "details"),
    ["cniVersion", "code", "msg"],
  );
  assert.equal(typeof error.msg, "string");
  assert.ok(error.msg.length > 0);
  return error;
}

Deno.test("runPlugin() answers VERSION with every supported version, without reading stdin", async () => {
  let read = false;
  let stdout = "";
  const status = await runPlugin({
    io: {
      env: (n) => ({ CNI_COMMAND: "VERSION" } as Record<string, string>)[n],
      readStdin: () => {
        read = true;
        return Promise.resolve(new Uint8Array());
      },
      writeStdout: (t) => stdout += t,
    },
  });
  assert.equal(status, 0);
  assert.equal(read, false);
  assert.deepEqual(JSON.parse(stdout), {
    cniVersion: "1.1.0",
    supportedVersions: ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
  });
  assert.deepEqual(SUPPORTED_VERSIONS, JSON.parse(stdout).supportedVersions);
});

Deno.test("runPlugin() reports missing or unknown CNI_COMMAND as code 4", async () => {
  const missing = cniError(await run({}, JSON.stringify(CONF)));
  assert.equal(missing.code, 4);
  assert.match(missing.msg, /CNI_COMMAND/);
  const unknown = cniError(await run({ CNI_COMMAND: "FROB" }, JSON.stringify(CONF)));
  assert.equal(unknown.code, 4);
  assert.match(unknown.msg, /"FROB"/);
});

Deno.test("runPlugin() names every missing variable of each command (code 4)", async () => {
  const cases: Array<[string, string[]]> = [
    ["ADD", ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"]],
    ["CHECK", ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"]],
    ["DEL", ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"]],
    ["GC", ["CNI_PATH"]],
  ];
  for (const [command, names] of cases) {
    const e = cniError(await run({ CNI_COMMAND: command }, JSON.stringify(CONF)));
    assert.equal(e.code, 4, command);
    for (const n of names) assert.match(e.msg, new RegExp(n), `${command} names ${n}`);
    assert.doesNotMatch(e.msg, command === "DEL" ? /CNI_NETNS/ : /^$/);
  }
  // One missing among the others is named alone.
  const { CNI_NETNS: _, ...noNetns } = ADD_ENV;
  const e = cniError(await run(noNetns, JSON.stringify(CONF)));
  assert.equal(e.msg, "ADD needs the environment variables CNI_NETNS");
});

Deno.test("runPlugin() validates CNI_CONTAINERID and CNI_IFNAME per the spec (code 4)", async () => {
  const badIds = ["-abc", ".x", "a b", "a/b", "a:b", "é"];
  for (const id of badIds) {
    const e = cniError(await run({ ...ADD_ENV, CNI_CONTAINERID: id }, JSON.stringify(CONF)));
    assert.equal(e.code, 4, id);
    assert.match(e.msg, /CNI_CONTAINERID/);
  }
  const badNames = [".", "..", "a/b", "a:b", "a b", "tab\there", "sixteen-chars-xx", "ééééééééé"];
  for (const name of badNames) {
    const e = cniError(await run({ ...ADD_ENV, CNI_IFNAME: name }, JSON.stringify(CONF)));
    assert.equal(e.code, 4, name);
    assert.match(e.msg, /CNI_IFNAME/);
  }
});

Deno.test("runPlugin() maps stdin and configuration errors to codes 1, 5, 6 and 7", async () => {
  const cases: Array<[string | Uint8Array, number, RegExp]> = [
    ["x".repeat(MAX_STDIN_BYTES + 1), 5, /./],
    ["{not json", 6, /not JSON/],
    [new Uint8Array([0x7b, 0xff, 0x7d]), 6, /UTF-8/],
    ["[]", 6, /object/],
    ['{"cniVersion":"1.0.0"}', 7, /name/],
    ['{"cniVersion":"1.0.0","name":"a b"}', 7, /invalid characters/],
    ['{"cniVersion":"3.0.0","name":"n"}', 1, /3\.0\.0/],
    ['{"cniVersion":"1.0.0","name":"n","vethPrefix":"abcde"}', 7, /vethPrefix/],
    ['{"cniVersion":"1.0.0","name":"n","podSGEnforcingMode":"x"}', 7, /podSGEnforcingMode/],
  ];
  for (const [stdin, code, msg] of cases) {
    const e = cniError(await run(ADD_ENV, stdin));
    assert.equal(e.code, code, String(stdin).slice(0, 40));
    assert.match(e.msg, msg);
  }
});

Deno.test("runPlugin() refuses commands the configuration's version does not have (code 1)", async () => {
  const check = cniError(
    await run(
      { ...ADD_ENV, CNI_COMMAND: "CHECK" },
      JSON.stringify({ ...CONF, cniVersion: "0.3.1" }),
    ),
  );
  assert.equal(check.code, 1);
  assert.equal(check.cniVersion, "0.3.1", "errors carry the configuration's version");
  assert.match(check.msg, /CHECK.*0\.4\.0/);
  for (const command of ["STATUS", "GC"]) {
    const e = cniError(await run({ CNI_COMMAND: command, CNI_PATH: "/x" }, JSON.stringify(CONF)));
    assert.equal(e.code, 1, command);
    assert.match(e.msg, /1\.1\.0/);
  }
});

Deno.test("runPlugin() reports a malformed CNI_ARGS as code 4", async () => {
  const e = cniError(
    await run({ ...ADD_ENV, CNI_ARGS: "K8S_POD_NAME=a;garbage" }, JSON.stringify(CONF)),
  );
  assert.equal(e.code, 4);
  assert.match(e.msg, /CNI_ARGS.*garbage/);
});

Deno.test("runPlugin() logs to stderr (not stdout) when no log file is configured", async () => {
  const r = await run(ADD_ENV, JSON.stringify({ ...CONF, vethPrefix: "abcde" }));
  cniError(r);
  assert.equal(r.logs.length, 0, "config errors come before the logger exists");
  const logged = await run(ADD_ENV, JSON.stringify({ ...CONF, mtu: "70000" }));
  // The netns does not exist: the command stops before ipamd, after logging the MTU problem.
  assert.equal(cniError(logged).code, 3);
  assert.ok(logged.logs.some((l) => /mtu "70000".*using 9001/.test(JSON.parse(l).msg)));
  assert.ok(logged.logs.every((l) => JSON.parse(l).component === "aws-cni"));
});

Deno.test("runPlugin() writes logs to pluginLogFile", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcni-skel-" });
  try {
    const file = `${dir}/logs/plugin.log`;
    const r = await run(
      ADD_ENV,
      JSON.stringify({ ...CONF, pluginLogFile: file, pluginLogLevel: "DEBUG" }),
    );
    assert.equal(cniError(r).code, 3);
    assert.equal(r.logs.length, 0);
    const lines = (await Deno.readTextFile(file)).trim().split("\n").map((l) => JSON.parse(l));
    assert.ok(lines.some((l) => l.level === "error" && l.containerId === "abc123"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readAll() refuses more than the limit", async () => {
  const chunks = [new Uint8Array(600), new Uint8Array(600)];
  const reader = {
    read: (p: Uint8Array) => {
      const c = chunks.shift();
      if (!c) return Promise.resolve(null);
      p.set(c);
      return Promise.resolve(c.length);
    },
  };
  await assert.rejects(readAll(reader, 1000), StdinError);
  const failing = { read: () => Promise.reject(new Error("EIO")) };
  await assert.rejects(readAll(failing, 1000), StdinError);
});

Deno.test("aws-cni (cni.ts) prints one CNI error line on stdout and exits 1", async () => {
  const cni = new URL("../../cni.ts", import.meta.url).pathname;
  const perms = ["--allow-read", "--allow-write", "--allow-net", "--allow-env", "--allow-ffi"];
  const spawn = async (env: Record<string, string>, stdin: string) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--no-prompt", ...perms, cni],
      env,
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
    const out = await child.output();
    return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
  };
  const denoDir = Deno.env.get("DENO_DIR");
  const base: Record<string, string> = denoDir ? { DENO_DIR: denoDir } : {};
  const bad = await spawn({ ...base, ...ADD_ENV, CNI_IFNAME: "a/b" }, JSON.stringify(CONF));
  assert.equal(bad.code, 1);
  assert.deepEqual(bad.stdout.split("\n"), [bad.stdout.trim(), ""]);
  assert.equal(JSON.parse(bad.stdout).code, 4);
  const version = await spawn({ ...base, CNI_COMMAND: "VERSION" }, "");
  assert.equal(version.code, 0);
  assert.equal(JSON.parse(version.stdout).cniVersion, "1.1.0");
});
