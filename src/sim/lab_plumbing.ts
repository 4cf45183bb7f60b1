/** The lab behind the simulator (network namespaces). Wired once src/sim/lab.ts lands (branch ffi). */
import type { InRouter, LabFactory } from "./sim.ts";

export function labFactory(
  _options: { prefix: string; stateRoot: string },
): { create: LabFactory; inRouter: InRouter } {
  throw new Error("the lab (src/sim/lab.ts) is not merged yet; use --no-lab");
}
