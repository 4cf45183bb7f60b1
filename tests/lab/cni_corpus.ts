/**
 * A seeded corpus of broken aws-cni invocations: CNI_* environments and network
 * configurations that are wrong in one or more ways, each with the CNI error codes a correct
 * plugin may answer (spec codes: 1 version, 3 unknown container/netns, 4 environment,
 * 5 I/O, 6 decoding, 7 invalid config). Every case is broken by construction, so none may
 * reach ipamd or the kernel: a case that does is a bug (of the plugin or of this generator).
 * Combined cases accept any code of their parts (the plugin reports the first problem it
 * meets). CNI_NETNS always names a namespace that does not exist, so even a case that got
 * through could not wire anything.
 */
import { SUPPORTED_VERSIONS } from "../../src/cni/types.ts";
import { SeededRandom } from "./resilience_world.ts";

export type Command = "ADD" | "DEL" | "CHECK" | "STATUS" | "GC";

export interface CorpusCase {
  id: number;
  /** The mutations applied, e.g. "env-ifname+conf-name". */
  name: string;
  env: Record<string, string>;
  /** Unset these variables (the runtime did not pass them). */
  unset: string[];
  stdin: Uint8Array;
  /** CNI codes a correct plugin may answer. */
  codes: number[];
}

export interface CorpusOptions {
  seed: number;
  count: number;
  /** ipamdSocket of the configurations (never removed by a mutation). */
  socket: string;
  /** A path that is not a network namespace and does not exist. */
  missingNetns: string;
  /** Oversized stdin cases (1 MiB+) are costly: at most this share of the corpus (default 0.01). */
  oversizedShare?: number;
  /** Leave out values a process environment cannot carry (NUL bytes). */
  forSubprocess?: boolean;
}

const encoder = new TextEncoder();
const MIB = 1 << 20;

interface Draft {
  command: Command;
  env: Record<string, string>;
  unset: Set<string>;
  conf: Record<string, unknown>;
  /** Raw stdin replacing the configuration, when a mutation breaks the bytes themselves. */
  raw?: Uint8Array;
  codes: Set<number>;
  names: string[];
}

type Mutation = (d: Draft, rng: SeededRandom, o: CorpusOptions) => void;

function validAttachments(): Array<{ containerID: string; ifname: string }> {
  return [{ containerID: "c0ffee", ifname: "eth0" }];
}

function base(command: Command, rng: SeededRandom, o: CorpusOptions): Draft {
  const version = command === "STATUS" || command === "GC"
    ? "1.1.0"
    : rng.pick(["0.4.0", "1.0.0", "1.1.0"]);
  const conf: Record<string, unknown> = {
    cniVersion: version,
    name: "aws-cni",
    type: "aws-cni",
    vethPrefix: "eni",
    mtu: "9001",
    pluginLogLevel: "debug",
    ipamdSocket: o.socket,
  };
  if (command === "GC") conf["cni.dev/valid-attachments"] = validAttachments();
  return {
    command,
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: `tres${Math.floor(rng.next() * 2 ** 32).toString(16)}`,
      CNI_NETNS: o.missingNetns,
      CNI_IFNAME: "eth0",
      CNI_PATH: "/opt/cni/bin",
      CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=tres;K8S_POD_NAME=fuzz",
    },
    unset: new Set(),
    conf,
    codes: new Set(),
    names: [],
  };
}

const REQUIRED: Record<Command, string[]> = {
  ADD: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
  CHECK: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
  DEL: ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
  GC: ["CNI_PATH"],
  STATUS: [],
};

function garbage(rng: SeededRandom, length: number, printable: boolean): string {
  const alphabet = printable
    ? "abcXYZ019 {}[]\":,.-_/\\'`$;=%\t\u00e9\u4e2d\ud83d\ude00"
    : 'abc{}[]":,\u0000\u0001\u007f\u00e9\ud83d\ude00';
  let out = "";
  for (let i = 0; i < length; i++) out += alphabet[rng.int(alphabet.length)];
  return out;
}

function notJson(text: string): boolean {
  try {
    JSON.parse(text);
    return false;
  } catch {
    return true;
  }
}

const ENV_MUTATIONS: Record<string, Mutation> = {
  "env-missing": (d, rng) => {
    if (REQUIRED[d.command].length === 0) d.command = d.env.CNI_COMMAND = "ADD";
    const name = rng.pick(REQUIRED[d.command]);
    if (rng.next() < 0.5) d.unset.add(name);
    else d.env[name] = "";
  },
  "env-command": (d, rng, o) => {
    const bad = ["", "add", "Add", "ADD ", " DEL", "DELETE", "VERSIONS", "CHECK\n", "gc", "init"];
    const valid = ["ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION"];
    let value = "ADD";
    while (valid.includes(value)) {
      value = rng.next() < 0.7 ? rng.pick(bad) : garbage(rng, 1 + rng.int(12), true);
      if (o.forSubprocess) value = value.replaceAll("\u0000", "");
    }
    if (value === "" && rng.next() < 0.5) d.unset.add("CNI_COMMAND");
    else d.env.CNI_COMMAND = value;
  },
  "env-containerid": (d, rng) => {
    if (!REQUIRED[d.command].includes("CNI_CONTAINERID")) d.command = d.env.CNI_COMMAND = "DEL";
    d.env.CNI_CONTAINERID = rng.pick([
      "-abc",
      ".hidden",
      "_x",
      "a/b",
      "a b",
      "a:b",
      "c0ffee\n",
      "\u00fcn\u00efc\u00f8de",
      "$(reboot)",
      "../../etc",
      "x;y",
    ]);
  },
  "env-ifname": (d, rng) => {
    if (!REQUIRED[d.command].includes("CNI_IFNAME")) d.command = d.env.CNI_COMMAND = "ADD";
    d.env.CNI_IFNAME = rng.pick([
      ".",
      "..",
      "a".repeat(16 + rng.int(40)),
      "eth/0",
      "eth:0",
      "eth 0",
      "eth\t0",
      "\u00e9".repeat(8),
    ]);
  },
  "env-cni-args": (d, rng) => {
    d.env.CNI_ARGS = rng.pick([
      "K8S_POD_NAME",
      "=fuzz",
      "K8S_POD_NAMESPACE=tres;oops",
      ";;=;",
      "IgnoreUnknown=1;K8S_POD_NAME",
    ]);
  },
};

const STDIN_MUTATIONS: Record<string, Mutation> = {
  "stdin-empty": (d, rng) => {
    d.raw = encoder.encode(rng.pick(["", " ", "\n", "\t\r\n  "]));
  },
  "stdin-garbage": (d, rng, o) => {
    let text = "";
    do text = garbage(rng, 1 + rng.int(200), o.forSubprocess ?? false); while (!notJson(text));
    d.raw = encoder.encode(text);
  },
  "stdin-truncated": (d, rng) => {
    const text = JSON.stringify(d.conf);
    let cut = "";
    do cut = text.slice(0, 1 + rng.int(text.length - 1)); while (!notJson(cut));
    d.raw = encoder.encode(cut);
  },
  "stdin-not-object": (d, rng) => {
    d.raw = encoder.encode(
      rng.pick(["[]", "1", '"aws-cni"', "null", "true", `[${JSON.stringify(d.conf)}]`, "-0"]),
    );
  },
  "stdin-bad-utf8": (d, rng) => {
    const text = encoder.encode(JSON.stringify(d.conf));
    const at = rng.int(text.length);
    const bad = rng.pick([[0xff], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0x80]]);
    d.raw = new Uint8Array([...text.subarray(0, at), ...bad, ...text.subarray(at)]);
  },
  "stdin-deep-nesting": (d, rng) => {
    // Valid JSON nested 50 000 deep, next to a bad name: the parser must neither crash nor hang.
    const depth = 20_000 + rng.int(30_000);
    const text = JSON.stringify({ ...d.conf, name: 7 }).replace(
      /}$/,
      `,"runtimeConfig":${"[".repeat(depth)}${"]".repeat(depth)}}`,
    );
    d.raw = encoder.encode(text);
  },
  "stdin-duplicate-keys": (d) => {
    d.raw = encoder.encode(JSON.stringify(d.conf).replace(/}$/, ',"name":""}'));
  },
  "stdin-oversized": (d, rng) => {
    const pad = "x".repeat(MIB + 1 + rng.int(4096));
    d.raw = encoder.encode(JSON.stringify({ ...d.conf, padding: pad }));
  },
};

const CONF_MUTATIONS: Record<string, Mutation> = {
  "conf-name": (d, rng) => {
    const value = rng.pick([
      undefined,
      "",
      5,
      null,
      ["aws-cni"],
      "aws cni",
      "-aws",
      "a/b",
      "\u00e9",
    ]);
    if (value === undefined) delete d.conf.name;
    else d.conf.name = value;
  },
  "conf-version-type": (d, rng) => {
    d.conf.cniVersion = rng.pick([1, 1.1, true, [], {}, ["1.0.0"]]);
  },
  "conf-version-unsupported": (d, rng) => {
    d.conf.cniVersion = rng.pick([
      "0.5.0",
      "2.0.0",
      "1.0",
      "1",
      "v1.0.0",
      "1.0.0 ",
      "abc",
      "9.9.9",
    ]);
  },
  "conf-version-command": (d, rng) => {
    if (rng.next() < 0.5) {
      d.command = d.env.CNI_COMMAND = "CHECK";
      d.conf.cniVersion = rng.pick(["0.1.0", "0.2.0", "0.3.0", "0.3.1"]);
    } else {
      d.command = d.env.CNI_COMMAND = rng.pick(["STATUS", "GC"] as const);
      d.conf.cniVersion = rng.pick(["0.3.1", "0.4.0", "1.0.0"]);
      d.conf["cni.dev/valid-attachments"] = validAttachments();
    }
  },
  "conf-field": (d, rng) => {
    const [field, value] = rng.pick<[string, unknown]>([
      ["vethPrefix", "abcde"],
      ["vethPrefix", "a b"],
      ["vethPrefix", "\u00e9"],
      ["podSGEnforcingMode", "loose"],
      ["podSGEnforcingMode", "STRICT"],
      ["ipamdSocket", "relative/ipamd.sock"],
      ["addWaitMs", -1],
      ["addWaitMs", 1.5],
      ["addWaitMs", "10"],
      ["addWaitMs", 600_001],
      ["addWaitMs", null],
    ]);
    d.conf[field] = value;
  },
  "conf-attachments": (d, rng) => {
    d.conf["cni.dev/valid-attachments"] = rng.pick<unknown>([
      "c0ffee",
      [1],
      [{ containerID: 1, ifname: "eth0" }],
      [{ containerID: "c0ffee" }],
      {},
    ]);
  },
};

/** Problems found only once a command runs (still before any ipamd call or wiring). */
const COMMAND_MUTATIONS: Record<string, Mutation> = {
  "gc-without-attachments": (d) => {
    d.command = d.env.CNI_COMMAND = "GC";
    d.conf.cniVersion = "1.1.0";
    delete d.conf["cni.dev/valid-attachments"];
  },
  "check-without-prevresult": (d, rng) => {
    d.command = d.env.CNI_COMMAND = "CHECK";
    d.conf.cniVersion = rng.pick(["0.4.0", "1.0.0", "1.1.0"]);
    delete d.conf.prevResult;
  },
  "check-bad-prevresult": (d, rng) => {
    d.command = d.env.CNI_COMMAND = "CHECK";
    d.conf.cniVersion = rng.pick(["0.4.0", "1.0.0", "1.1.0"]);
    d.conf.prevResult = rng.pick<unknown>([{}, "result", [], { ips: "x" }, { interfaces: [{}] }]);
  },
  "add-missing-netns": (d) => {
    d.command = d.env.CNI_COMMAND = "ADD";
  },
};

/** Codes of each mutation family; the first problem the plugin meets decides. */
const CODES: Record<string, number> = {
  "env-missing": 4,
  "env-command": 4,
  "env-containerid": 4,
  "env-ifname": 4,
  "env-cni-args": 4,
  "stdin-empty": 6,
  "stdin-garbage": 6,
  "stdin-truncated": 6,
  "stdin-not-object": 6,
  "stdin-bad-utf8": 6,
  "stdin-oversized": 5,
  "stdin-deep-nesting": 7,
  "stdin-duplicate-keys": 7,
  "conf-name": 7,
  "conf-version-type": 6,
  "conf-version-unsupported": 1,
  "conf-version-command": 1,
  "conf-field": 7,
  "conf-attachments": 6,
  "gc-without-attachments": 7,
  "check-without-prevresult": 7,
  "check-bad-prevresult": 6,
  "add-missing-netns": 3,
};

const ALL: Record<string, Mutation> = {
  ...ENV_MUTATIONS,
  ...STDIN_MUTATIONS,
  ...CONF_MUTATIONS,
  ...COMMAND_MUTATIONS,
};

export function generateCorpus(options: CorpusOptions): CorpusCase[] {
  const rng = new SeededRandom(options.seed);
  const oversizedShare = options.oversizedShare ?? 0.01;
  const names = Object.keys(ALL);
  const cases: CorpusCase[] = [];
  let oversized = 0;
  for (let id = 0; cases.length < options.count; id++) {
    const d = base(rng.pick(["ADD", "DEL", "CHECK", "STATUS", "GC"] as const), rng, options);
    // Mostly one problem; sometimes two or three. Command-level problems only alone: any other
    // problem is met first.
    const wanted = rng.next() < 0.7 ? 1 : 2 + rng.int(2);
    const picked: string[] = [];
    while (picked.length < wanted) {
      const name = rng.pick(names);
      if (picked.includes(name)) continue;
      if (name in COMMAND_MUTATIONS && (wanted > 1 || picked.length > 0)) continue;
      if (name === "stdin-oversized" && oversized >= oversizedShare * options.count) continue;
      picked.push(name);
    }
    // Configuration mutations first, then stdin ones (they may serialise the configuration),
    // then the environment.
    const order = (n: string) => n.startsWith("stdin-") ? 1 : n.startsWith("env-") ? 2 : 0;
    picked.sort((a, b) => order(a) - order(b));
    for (const name of picked) {
      ALL[name]!(d, rng, options);
      d.codes.add(CODES[name]!);
      d.names.push(name);
      if (name === "stdin-oversized") oversized++;
    }
    cases.push({
      id,
      name: d.names.join("+"),
      env: Object.fromEntries(Object.entries(d.env).filter(([k]) => !d.unset.has(k))),
      unset: [...d.unset],
      stdin: d.raw ?? encoder.encode(JSON.stringify(d.conf)),
      codes: [...d.codes],
    });
  }
  return cases;
}

/** The CNI error on stdout (spec: one JSON object with cniVersion, code, msg, details?). */
export function cniErrorProblems(
  c: CorpusCase,
  status: number | "timeout",
  stdout: string,
  timeoutMs: number,
): string[] {
  const problems: string[] = [];
  if (status === "timeout") return [`no answer within ${timeoutMs} ms`];
  if (status === 0) problems.push("exit status 0");
  const lines = stdout.split("\n");
  if (lines.length !== 2 || lines[1] !== "") problems.push(`stdout is not one line: ${stdout}`);
  let error: Record<string, unknown>;
  try {
    error = JSON.parse(lines[0] ?? "");
  } catch {
    return [...problems, `stdout is not JSON: ${stdout.slice(0, 200)}`];
  }
  const keys = Object.keys(error).sort().join(",");
  if (keys !== "cniVersion,code,msg" && keys !== "cniVersion,code,details,msg") {
    problems.push(`error fields ${keys}`);
  }
  if (!(SUPPORTED_VERSIONS as readonly unknown[]).includes(error.cniVersion)) {
    problems.push(`cniVersion ${JSON.stringify(error.cniVersion)}`);
  }
  if (typeof error.code !== "number" || !c.codes.includes(error.code)) {
    problems.push(`code ${error.code}, expected one of ${c.codes}: ${error.msg}`);
  }
  if (typeof error.msg !== "string" || error.msg.length < 10 || error.msg.length > 2_000) {
    problems.push(`msg ${JSON.stringify(error.msg)?.slice(0, 100)}`);
  }
  if (error.details !== undefined && typeof error.details !== "string") problems.push("details");
  return problems;
}
