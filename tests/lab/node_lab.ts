/**
 * Scratch network namespaces for the node-network tests: unique names, `ip` commands run
 * inside them, and removal on every exit path. Nothing here touches the host namespace.
 */

const decoder = new TextDecoder();

/** Runs argv to completion (30 s limit); throws with stderr on a non-zero exit. */
export async function sh(argv: readonly string[], stdin?: string): Promise<string> {
  const [program, ...args] = argv;
  if (!program) throw new TypeError("sh() needs a program");
  const child = new Deno.Command(program, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  if (out.code !== 0) {
    throw new Error(`${argv.join(" ")} exited ${out.code}: ${decoder.decode(out.stderr).trim()}`);
  }
  return decoder.decode(out.stdout);
}

/** A namespace name no one else uses: prefix + pid + random suffix. */
export function uniqueNetnsName(prefix: string): string {
  return `${prefix}-${Deno.pid}-${crypto.randomUUID().slice(0, 6)}`;
}

export class ScratchNetns implements AsyncDisposable {
  readonly name: string;
  readonly path: string;

  private constructor(name: string) {
    this.name = name;
    this.path = `/var/run/netns/${name}`;
  }

  /** Creates a namespace with lo up. */
  static async create(prefix: string): Promise<ScratchNetns> {
    const ns = new ScratchNetns(uniqueNetnsName(prefix));
    await sh(["ip", "netns", "add", ns.name]);
    try {
      await ns.ip("link", "set", "lo", "up");
    } catch (e) {
      await ns.remove();
      throw e;
    }
    return ns;
  }

  /** `ip -n <ns> ...` */
  ip(...args: string[]): Promise<string> {
    return sh(["ip", "-n", this.name, ...args]);
  }

  /** `ip -j -n <ns> ...` parsed. */
  async ipJson<T = Record<string, unknown>[]>(...args: string[]): Promise<T> {
    const text = await sh(["ip", "-j", "-n", this.name, ...args]);
    return JSON.parse(text.trim() === "" ? "[]" : text) as T;
  }

  /** Runs a program inside the namespace. */
  exec(argv: readonly string[], stdin?: string): Promise<string> {
    return sh(["ip", "netns", "exec", this.name, ...argv], stdin);
  }

  /** The argv prefix that runs a program inside the namespace. */
  get execPrefix(): string[] {
    return ["ip", "netns", "exec", this.name];
  }

  async remove(): Promise<void> {
    await sh(["ip", "netns", "del", this.name]).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.remove();
  }
}
