// deno-lint-ignore-file no-console -- command-line output
/**
 * Removes what killed test runs left (namespaces, temp dirs, children): `deno run -A
 * tests/lab/sweep.ts`. Runs whose owner is still alive are left alone. Tests also sweep once per
 * run, before their first namespace.
 */
import { sweepStale } from "./stale_sweep.ts";

if (import.meta.main) {
  const report = await sweepStale();
  console.log(JSON.stringify(report));
}
