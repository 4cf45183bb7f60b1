/**
 * Captures a long-running child's output (simulator, ipamd, containerd) in a log file that
 * outlives the test, so a failure message can quote its tail and point at the whole file.
 */
import { RUN_ID } from "./owner.ts";
import { REPO_ROOT } from "./paths.ts";

/** Logs of a run stay in build/test-logs/<runId>/ after it (`make clean` removes them). */
export const LOG_DIR = `${REPO_ROOT}/build/test-logs/${RUN_ID}`;

export interface ProcessLog {
  readonly path: string;
  /** Appends a stream to the file; resolves when the stream ends. */
  capture(stream: ReadableStream<Uint8Array>): Promise<void>;
  /** The last lines of the file (default 20), for error messages. */
  tail(lines?: number): Promise<string>;
}

/** A log at `path`, or at LOG_DIR/<label>-XXXX.log. */
export async function startProcessLog(
  path: string | undefined,
  label: string,
): Promise<ProcessLog> {
  if (!path) await Deno.mkdir(LOG_DIR, { recursive: true });
  const file = path ??
    await Deno.makeTempFile({ dir: LOG_DIR, prefix: `${label}-`, suffix: ".log" });
  return {
    path: file,
    async capture(stream) {
      // Chunk by chunk: pipeTo() into a file's writable holds data back until the stream ends.
      using out = await Deno.open(file, { write: true, create: true, append: true });
      try {
        for await (const chunk of stream) {
          for (let done = 0; done < chunk.length;) done += await out.write(chunk.subarray(done));
        }
      } catch {
        // the process went away mid-read; what arrived is in the file
      }
    },
    tail: (lines = 20) => tailOf(file, lines),
  };
}

export async function tailOf(path: string, lines = 20): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return `(no log at ${path})`;
  }
}
