/**
 * A private containerd for tests (temp root/state/socket, CRI plugin off) and `ctr run --cni`
 * inside a lab node, so that the CNI plugins ctr runs put their host side in the node.
 *
 * ctr reads the first conflist in /etc/cni/net.d, looks for plugins in /opt/cni/bin then
 * /usr/lib/cni and caches results in /var/lib/cni. Each ctr call runs in the private mount
 * namespace that `ip netns exec` gives it, with the test's own dirs bind-mounted over those three
 * paths: the host's CNI config is never read or written. Only the empty mount points are made on
 * the host when missing, and removed again by stop().
 *
 * ctr never runs CNI DEL for containers started with -d (`ctr task rm` does not), and a failed
 * ADD leaves a CREATED task: tests DEL through delNetwork() (the libcni driver), and
 * runWithCni() cleans up after a failed ADD itself.
 */
import type { Cleanup } from "./cleanup.ts";
import { CniDriver } from "./cnitool.ts";
import { run, type RunOptions, type RunResult } from "./command.ts";
import { unmountUnder } from "./mounts.ts";
import { type Netns, nsExec } from "./namespaces.ts";
import { recordMadeDir, RUN_ID, trackChild, untrackChild } from "./owner.ts";
import { BUSYBOX_IMAGE_TAR, REFERENCE_PLUGIN_DIR, REPO_ROOT, SYSTEM_PATH } from "./paths.ts";
import { type ProcessLog, startProcessLog } from "./process_log.ts";
import { terminate } from "./terminate.ts";

/** The image tests/lab/busybox_image.sh builds. */
export const BUSYBOX_IMAGE = "docker.io/library/lab-busybox:latest";

const CNI_PATHS = ["/etc/cni/net.d", "/opt/cni/bin", "/var/lib/cni"] as const;

/** Builds build/busybox-oci.tar with tests/lab/busybox_image.sh unless it is there already. */
export async function ensureBusyboxImage(): Promise<string> {
  try {
    await Deno.stat(BUSYBOX_IMAGE_TAR);
  } catch {
    await run([`${REPO_ROOT}/tests/lab/busybox_image.sh`, BUSYBOX_IMAGE_TAR, BUSYBOX_IMAGE]);
  }
  return BUSYBOX_IMAGE_TAR;
}

/**
 * A plugin dir for ctr (CniContainerSpec.pluginDir): `<dir>/<name>` links to each program, e.g.
 * { "aws-cni": AWS_CNI_BIN }. Reference plugins need none: ctr falls back to /usr/lib/cni.
 */
export async function makePluginDir(dir: string, plugins: Record<string, string>): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, program] of Object.entries(plugins)) {
    await Deno.symlink(program, `${dir}/${name}`);
  }
  return dir;
}

export interface StartContainerdOptions {
  /** Work dir for root, state, socket and CNI dirs (use a scope.tempDir: it is swept by run id). */
  dir: string;
  /** containerd namespace, also the cgroup parent of its containers (default lab-<runId>). */
  namespace?: string;
  snapshotter?: "overlayfs" | "native";
  cleanup?: Cleanup;
  startTimeoutMs?: number;
}

export interface CniContainerSpec {
  id: string;
  /** The lab node that ctr, and so the CNI plugins, run in. */
  node: Netns;
  conflistFile: string;
  command: string[];
  image?: string;
  /** Mounted over /opt/cni/bin for ctr (e.g. a dir with aws-cni); /usr/lib/cni comes after it. */
  pluginDir?: string;
}

export interface CniContainer {
  id: string;
  /** The CNI container id ctr uses: `<namespace>-<id>`. */
  cniContainerId: string;
  pid: number;
  netnsPath: string;
  spec: CniContainerSpec;
}

export class Containerd {
  readonly dir: string;
  readonly socket: string;
  readonly namespace: string;
  readonly snapshotter: string;
  /** Bound over /var/lib/cni for ctr; the libcni driver uses it for DEL. */
  readonly cniCacheDir: string;
  readonly log: ProcessLog;
  #child: Deno.ChildProcess;
  #logging: Promise<unknown>;
  #madeMountPoints: string[];
  #stopped = false;

  constructor(
    options: Required<Pick<StartContainerdOptions, "dir" | "namespace" | "snapshotter">>,
    child: Deno.ChildProcess,
    log: ProcessLog,
    madeMountPoints: string[],
  ) {
    this.dir = options.dir;
    this.socket = `${options.dir}/containerd.sock`;
    this.namespace = options.namespace;
    this.snapshotter = options.snapshotter;
    this.cniCacheDir = `${options.dir}/cni-cache`;
    this.log = log;
    this.#child = child;
    this.#logging = Promise.all([log.capture(child.stdout), log.capture(child.stderr)]);
    this.#madeMountPoints = madeMountPoints;
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** ctr against this containerd and namespace, from the host (no CNI involved). */
  ctr(args: string[], options: RunOptions = {}): Promise<RunResult> {
    return run(["ctr", "-a", this.socket, "-n", this.namespace, ...args], {
      timeoutMs: 60_000,
      ...options,
    });
  }

  async importImage(tarPath?: string): Promise<void> {
    const tar = tarPath ?? await ensureBusyboxImage();
    await this.ctr(["images", "import", "--snapshotter", this.snapshotter, tar]);
  }

  /** `ctr run -d --cni` inside spec.node; after a failed ADD it removes the task and DELs. */
  async runWithCni(spec: CniContainerSpec): Promise<CniContainer> {
    const out = await this.#ctrInNode(spec, ["run", "-d", "--cni"], { allowFailure: true });
    if (out.success) return await this.#container(spec);
    const pid = await this.taskPid(spec.id);
    if (pid) await this.delNetwork(this.#describe(spec, pid)).catch(() => {});
    await this.remove(spec.id);
    throw new Error(
      `ctr run --cni ${spec.id} in ${spec.node.name} failed (code ${out.code}): ${out.stderr.trim()}`,
    );
  }

  /** `ctr run --rm --cni` inside spec.node (ctr runs CNI DEL itself after the task exits). */
  async runOnceWithCni(spec: CniContainerSpec): Promise<RunResult> {
    const out = await this.#ctrInNode(spec, ["run", "--rm", "--cni"], { allowFailure: true });
    if (!out.success) {
      const pid = await this.taskPid(spec.id);
      if (pid) await this.delNetwork(this.#describe(spec, pid)).catch(() => {});
      await this.remove(spec.id);
      throw new Error(
        `ctr run --rm --cni ${spec.id} failed (code ${out.code}): ${out.stderr.trim()}`,
      );
    }
    return out;
  }

  /** Runs a command in a running container (`ctr task exec`). */
  exec(id: string, argv: string[], options: RunOptions = {}): Promise<RunResult> {
    const execId = `exec-${crypto.randomUUID().slice(0, 8)}`;
    return this.ctr(["task", "exec", "--exec-id", execId, id, ...argv], options);
  }

  /** The task's pid, or undefined when it has no task. */
  async taskPid(id: string): Promise<number | undefined> {
    const out = await this.ctr(["task", "ls"]);
    const row = out.stdout.split("\n").map((l) => l.trim().split(/\s+/)).find((f) => f[0] === id);
    const pid = Number(row?.[1]);
    return pid > 0 ? pid : undefined;
  }

  /** CNI DEL of a container through the libcni driver, with ctr's config and cache. */
  async delNetwork(container: CniContainer): Promise<void> {
    await this.cniDriver(container.spec).del(container.netnsPath, container.cniContainerId);
  }

  /** A libcni driver set up like ctr's CNI calls for this spec (same config, cache, plugins). */
  cniDriver(spec: CniContainerSpec): CniDriver {
    return new CniDriver(spec.node, {
      conflistFile: spec.conflistFile,
      cacheDir: this.cniCacheDir,
      pluginDirs: [...spec.pluginDir ? [spec.pluginDir] : [], REFERENCE_PLUGIN_DIR],
    });
  }

  /** Kills the task and deletes it and the container (no CNI DEL: call delNetwork first). */
  async remove(id: string): Promise<void> {
    await this.ctr(["task", "kill", "-s", "SIGKILL", id], { allowFailure: true });
    for (let i = 0; i < 50; i++) {
      const out = await this.ctr(["task", "ls"]);
      const row = out.stdout.split("\n").find((l) => l.trim().split(/\s+/)[0] === id);
      if (!row || !/RUNNING|PAUSED|PAUSING/.test(row)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.ctr(["task", "rm", "-f", id], { allowFailure: true });
    await this.ctr(["container", "rm", id], { allowFailure: true });
  }

  /** Removes every container, stops containerd, unmounts and removes what start made. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const errors: string[] = [];
    try {
      const ids = (await this.ctr(["container", "ls", "-q"])).stdout.split("\n").filter((l) =>
        l.trim()
      );
      for (const id of ids) await this.remove(id.trim());
    } catch (e) {
      errors.push(`removing containers: ${(e as Error).message}`);
    }
    const { killed } = await terminate(this.#child, { graceMs: 15_000 });
    await this.#logging;
    untrackChild(this.#child.pid);
    if (killed) errors.push("containerd ignored SIGTERM for 15 s and was killed");
    await removeCgroups(this.namespace);
    await unmountUnder(this.dir);
    for (const dir of this.#madeMountPoints.toReversed()) {
      await Deno.remove(dir).catch(() => {}); // only while empty: never someone else's files
    }
    if (errors.length > 0) {
      throw new Error(`containerd ${this.dir}: ${errors.join("; ")} (log ${this.log.path})`);
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #ctrInNode(
    spec: CniContainerSpec,
    runArgs: string[],
    options: RunOptions,
  ): Promise<RunResult> {
    const confDir = `${this.dir}/cni-conf/${spec.id}`;
    const binDir = spec.pluginDir ?? `${this.dir}/cni-bin-empty`;
    await Deno.mkdir(confDir, { recursive: true });
    await Deno.mkdir(binDir, { recursive: true });
    await Deno.mkdir(this.cniCacheDir, { recursive: true });
    await Deno.copyFile(spec.conflistFile, `${confDir}/10-lab.conflist`);
    const script = 'mount --bind "$1" /etc/cni/net.d && mount --bind "$2" /opt/cni/bin && ' +
      'mount --bind "$3" /var/lib/cni && shift 3 && exec "$@"';
    const ctr = [
      ...[
        "ctr",
        "-a",
        this.socket,
        "-n",
        this.namespace,
        ...runArgs,
        "--snapshotter",
        this.snapshotter,
      ],
      ...[spec.image ?? BUSYBOX_IMAGE, spec.id, ...spec.command],
    ];
    return await nsExec(spec.node, [
      "sh",
      "-c",
      script,
      "sh",
      confDir,
      binDir,
      this.cniCacheDir,
      ...ctr,
    ], {
      env: { PATH: SYSTEM_PATH },
      timeoutMs: 120_000,
      ...options,
    });
  }

  async #container(spec: CniContainerSpec): Promise<CniContainer> {
    const pid = await this.taskPid(spec.id);
    if (!pid) throw new Error(`ctr run --cni ${spec.id} succeeded but the task has no pid`);
    return this.#describe(spec, pid);
  }

  #describe(spec: CniContainerSpec, pid: number): CniContainer {
    return {
      id: spec.id,
      cniContainerId: `${this.namespace}-${spec.id}`,
      pid,
      netnsPath: `/proc/${pid}/ns/net`,
      spec,
    };
  }
}

/** Makes the three CNI mount points where missing; returns what it made, outermost first. */
async function makeMountPoints(): Promise<string[]> {
  const made: string[] = [];
  for (const path of CNI_PATHS) {
    let prefix = "";
    for (const part of path.split("/").filter((p) => p)) {
      prefix += `/${part}`;
      try {
        await Deno.mkdir(prefix);
        made.push(prefix);
        recordMadeDir(prefix);
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
    }
  }
  return made;
}

/** runc leaves the namespace's parent cgroup (`/<namespace>`) in every hierarchy. */
async function removeCgroups(namespace: string): Promise<void> {
  const roots = ["/sys/fs/cgroup"];
  for await (const entry of Deno.readDir("/sys/fs/cgroup")) {
    roots.push(`/sys/fs/cgroup/${entry.name}`);
  }
  for (const root of roots) await Deno.remove(`${root}/${namespace}`).catch(() => {});
}

/** Starts containerd; stop() (registered on cleanup) removes everything it made. */
export async function startContainerd(options: StartContainerdOptions): Promise<Containerd> {
  const namespace = options.namespace ?? `lab-${RUN_ID}`;
  if (!namespace.includes(RUN_ID)) {
    throw new TypeError(
      `containerd namespace "${namespace}" must contain the run id ${RUN_ID} (stale sweep)`,
    );
  }
  const dir = options.dir;
  await Deno.writeTextFile(
    `${dir}/config.toml`,
    [
      "version = 2",
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      "[grpc]",
      `  address = "${dir}/containerd.sock"`,
      // containerd's default is /opt/containerd on the host
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${dir}/opt"`,
    ].join("\n") + "\n",
  );
  const madeMountPoints = await makeMountPoints();
  const log = await startProcessLog(undefined, "containerd");
  const child = new Deno.Command("containerd", {
    args: ["--config", `${dir}/config.toml`],
    clearEnv: true,
    env: { PATH: SYSTEM_PATH },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  trackChild(child.pid);
  const containerd = new Containerd(
    { dir, namespace, snapshotter: options.snapshotter ?? "overlayfs" },
    child,
    log,
    madeMountPoints,
  );
  options.cleanup?.defer(`stop containerd ${dir}`, () => containerd.stop());
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  for (;;) {
    const out = await run(["ctr", "-a", containerd.socket, "version"], {
      allowFailure: true,
      timeoutMs: 5_000,
    });
    if (out.success) return containerd;
    if (Date.now() > deadline) {
      await containerd.stop().catch(() => {});
      throw new Error(
        `containerd did not answer within ${options.startTimeoutMs ?? 30_000} ms: ${await log
          .tail()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
