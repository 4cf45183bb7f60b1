/**
 * A test's resources in one place: namespaces, temp dirs and anything else to undo, all removed
 * when the scope is disposed (`await using scope = testScope("thar")`), whatever way the test
 * ends, or when the process is interrupted.
 */
import { Cleanup } from "./cleanup.ts";
import { createNetns, type CreateNetnsOptions, type Netns } from "./namespaces.ts";
import { recordOwner, RUN_ID } from "./owner.ts";

/** Set LAB_KEEP_TEMP=1 to keep temp dirs (logs, configs) of a run for diagnosis. */
const KEEP_TEMP = Deno.env.get("LAB_KEEP_TEMP") === "1";

export class TestScope implements AsyncDisposable {
  readonly prefix: string;
  readonly cleanup: Cleanup;

  constructor(prefix: string) {
    this.prefix = prefix;
    this.cleanup = new Cleanup(`test scope ${prefix}-${RUN_ID}`);
  }

  /** A namespace `<prefix>-<runId>-<role>` with lo up, removed with the scope. */
  netns(role: string, options: Omit<CreateNetnsOptions, "cleanup"> = {}): Promise<Netns> {
    return createNetns(this.prefix, role, { ...options, cleanup: this.cleanup });
  }

  /** A temp dir `/tmp/<prefix>-<runId>-<role>-XXXX`, removed with the scope. */
  async tempDir(role = "tmp"): Promise<string> {
    recordOwner();
    const dir = await Deno.makeTempDir({ prefix: `${this.prefix}-${RUN_ID}-${role}-` });
    if (!KEEP_TEMP) {
      this.cleanup.defer(`remove ${dir}`, () => Deno.remove(dir, { recursive: true }));
    }
    return dir;
  }

  /** Registers another cleanup step (run in reverse order of registration). */
  defer(label: string, fn: () => unknown): void {
    this.cleanup.defer(label, fn);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.cleanup.run();
  }
}

export function testScope(prefix: string): TestScope {
  return new TestScope(prefix);
}
