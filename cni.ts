// deno-lint-ignore-file no-console -- command-line output
/**
 * aws-cni: the CNI plugin of vpc-cni-deno, run by the container runtime for every pod.
 * Keep this import graph small: every module loaded here costs start-up time on each ADD.
 */
import { VERSION } from "./src/version.ts";

const ABOUT = `aws-cni ${VERSION}: CNI plugin of vpc-cni-deno (AWS VPC CNI for Kubernetes)
This program is run by a container runtime with CNI_COMMAND and the network configuration
on stdin; see README.md ("Pointing a runtime at aws-cni").`;

async function main(): Promise<number> {
  const arg = Deno.args[0];
  if (arg === "--version" || arg === "-v" || arg === "version") {
    console.log(`aws-cni ${VERSION}`);
    return 0;
  }
  if (arg === "--help" || arg === "-h" || arg === "help") {
    console.log(ABOUT);
    return 0;
  }
  if (arg !== undefined) {
    console.error(`aws-cni: unknown argument "${arg}"; the plugin takes no arguments. ${ABOUT}`);
    return 2;
  }
  const { runPlugin } = await import("./src/cni/skel.ts");
  return await runPlugin();
}

if (import.meta.main) {
  Deno.exit(await main());
}
