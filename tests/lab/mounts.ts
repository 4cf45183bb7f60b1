/** Unmounts everything mounted at or below a directory (deepest first), e.g. a containerd root. */
import { run } from "./command.ts";

export async function unmountUnder(dir: string): Promise<string[]> {
  const mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
  const points = mountinfo.split("\n").map((line) => line.split(" ")[4] ?? "")
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of points) {
    await run(["umount", "-l", point], { allowFailure: true, timeoutMs: 10_000 });
  }
  return points;
}
