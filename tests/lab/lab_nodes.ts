/**
 * The lab of src/sim/lab.ts without the simulator: a VPC router namespace and N node namespaces
 * wired like EC2 instances (eth0 to the router, default route via the subnet gateway), for tests
 * that need real nodes but no EC2. Destroyed with the test's Cleanup; a lab whose test process
 * was killed is removed by the stale sweep (Lab.sweepStale of the recorded prefix).
 */
import { Lab, type LabNode as LabNodeInfo } from "../../src/sim/lab.ts";
import type { Cleanup } from "./cleanup.ts";
import { adoptNetns, forgetNetns, type Netns } from "./namespaces.ts";
import { recordLabPrefix, RUN_ID } from "./owner.ts";

export interface LabNodes {
  lab: Lab;
  router: Netns;
  nodes: Array<{ netns: Netns; info: LabNodeInfo }>;
  destroy(): void;
}

export interface CreateLabOptions {
  /** The team's test prefix (namespaces are `<prefix>-<runId>l<n>-r`, `...-n<k>`). */
  prefix: string;
  nodes?: number;
  /** The nodes' subnet, a /24 or larger (default 10.10.0.0/20): gateway .1, nodes from .11. */
  subnet?: string;
  cleanup?: Cleanup;
}

let labs = 0;

function ipv4(text: string): number {
  return text.split(".").reduce((n, part) => n * 256 + Number(part), 0);
}

function dotted(n: number): string {
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join(".");
}

export function createLab(options: CreateLabOptions): LabNodes {
  const [base, len] = (options.subnet ?? "10.10.0.0/20").split("/");
  const prefixLen = Number(len);
  if (!base || !(prefixLen >= 8 && prefixLen <= 24)) {
    throw new TypeError(`createLab: subnet ${options.subnet} must be a /8 to /24`);
  }
  recordLabPrefix(options.prefix);
  // Not `<prefix>-<runId>-...`: a lab removes every `<prefix>-<id>-*`, and those names are the
  // test's own namespaces.
  const lab = Lab.create({ prefix: options.prefix, id: `${RUN_ID}l${++labs}` });
  const adopted: Netns[] = [];
  const destroy = () => {
    adopted.forEach(forgetNetns);
    lab.destroy();
    try {
      Deno.removeSync(`/run/${options.prefix}`); // the labs' parent, while no other lab uses it
    } catch {
      // not empty, or gone
    }
  };
  options.cleanup?.defer(`destroy lab ${options.prefix}-${lab.id}`, destroy);
  try {
    const gateway = dotted(ipv4(base) + 1);
    const router = adoptNetns(lab.addRouter().netns);
    adopted.push(router);
    const nodes = [];
    for (let k = 1; k <= (options.nodes ?? 1); k++) {
      const info = lab.addNode({
        name: `node${k}`,
        primaryIp: dotted(ipv4(base) + 10 + k),
        prefixLen,
        gateway,
        mac: `02:00:00:00:${labs.toString(16).padStart(2, "0")}:${k.toString(16).padStart(2, "0")}`,
      });
      const netns = adoptNetns(info.netns);
      adopted.push(netns);
      nodes.push({ netns, info });
    }
    return { lab, router, nodes, destroy };
  } catch (e) {
    if (!options.cleanup) destroy();
    throw e;
  }
}
