// deno-lint-ignore-file no-console -- command-line output
/**
 * ipamd: the node daemon of vpc-cni-deno, and the commands people run on a node.
 * Subcommand modules are loaded on demand so that `ipamd status` does not pay for the AWS SDK.
 */
import { VERSION } from "./src/version.ts";

interface Command {
  summary: string;
  run: (args: string[]) => Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  run: {
    summary: "run the daemon (the default when no command is given)",
    run: async (args) => (await import("./src/ipam/daemon.ts")).main(args),
  },
  status: {
    summary: "readiness, mode and address pool of the running ipamd (--probe for kubelet)",
    run: async (args) => (await import("./src/ops/cli/status.ts")).main(cli(args)),
  },
  enis: {
    summary: "the ENIs, their addresses and prefixes, and which pod holds which address",
    run: async (args) => (await import("./src/ops/cli/enis.ts")).main(cli(args)),
  },
  pods: {
    summary: "the pods with an address: ENI, device, route table, host veth",
    run: async (args) => (await import("./src/ops/cli/pods.ts")).main(cli(args)),
  },
  config: {
    summary: "every setting's effective value and where it came from; checks the environment",
    run: async (args) => (await import("./src/ops/cli/config.ts")).main(cli(args)),
  },
  doctor: {
    summary: "check this node (IMDS, EC2, socket, plugin, sysctls, routes, rules, iptables)",
    run: async (args) => (await import("./src/ops/cli/doctor.ts")).main(cli(args)),
  },
  init: {
    summary: "the init container's job: install aws-cni, set the node's sysctls",
    run: async (args) => (await import("./src/ops/cli/init.ts")).main(cli(args)),
  },
  sim: {
    summary: "run the local VPC simulator: EC2 and IMDS endpoints plus a lab of node namespaces",
    run: async (args) => (await import("./src/sim/main.ts")).main(args),
  },
};

/** The node CLI commands take their arguments and the environment (read here, once). */
function cli(args: string[]) {
  return { args, env: Deno.env.toObject() };
}

const USAGE = `ipamd ${VERSION}: the node daemon of vpc-cni-deno (AWS VPC CNI for Kubernetes)

Usage: ipamd [command] [options]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)}${c.summary}`).join("\n")}
  version   print the version
  help      print this help, or the help of a command: ipamd help <command>

Configuration comes from the environment, with the upstream aws-node variable names
(WARM_ENI_TARGET, WARM_IP_TARGET, ...); see README.md. Run 'ipamd <command> --help' for
a command's options. Node commands share --json, --socket PATH, --introspection ADDR and
-h/--help, and exit 0 on success, 1 on failure, 2 on a usage error.`;

async function main(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  if (first === undefined || first.startsWith("-") && !isGlobalFlag(first)) {
    return await COMMANDS.run!.run(args);
  }
  if (first === "version" || first === "--version" || first === "-v") {
    console.log(`ipamd ${VERSION}`);
    return 0;
  }
  if (first === "help" || first === "--help" || first === "-h") {
    const topic = rest[0];
    if (topic && COMMANDS[topic]) return await COMMANDS[topic].run(["--help"]);
    console.log(USAGE);
    return 0;
  }
  const command = COMMANDS[first];
  if (!command) {
    console.error(`ipamd: unknown command "${first}". Run 'ipamd help' for the list of commands.`);
    return 2;
  }
  return await command.run(rest);
}

function isGlobalFlag(arg: string): boolean {
  return ["--version", "-v", "--help", "-h"].includes(arg);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
