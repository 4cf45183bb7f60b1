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
  sim: {
    summary: "run the local VPC simulator: EC2 and IMDS endpoints plus a lab of node namespaces",
    run: async (args) => (await import("./src/sim/main.ts")).main(args),
  },
};

const USAGE = `ipamd ${VERSION}: the node daemon of vpc-cni-deno (AWS VPC CNI for Kubernetes)

Usage: ipamd [command] [options]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)}${c.summary}`).join("\n")}
  version   print the version
  help      print this help, or the help of a command: ipamd help <command>

Configuration comes from the environment, with the upstream aws-node variable names
(WARM_ENI_TARGET, WARM_IP_TARGET, ...); see README.md. Run 'ipamd <command> --help' for
a command's options.`;

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
