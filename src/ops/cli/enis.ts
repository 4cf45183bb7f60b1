/**
 * `ipamd enis`: a table of the node's ENIs, their addresses and prefixes, and which pod holds
 * which address, from the introspection API of the running ipamd.
 */
import { renderHelp } from "./args.ts";
import {
  type CommandContext,
  EXIT,
  HELP_OPTION,
  INTROSPECTION_OPTION,
  JSON_OPTION,
  print,
  printError,
  printJson,
  runCommand,
} from "./command.ts";
import { buildEnisView, renderEnis } from "./enis_view.ts";
import { fetchIntrospection, resolveEndpoints } from "./ipamd_api.ts";
import type { PodEntry, PoolInfo, UpstreamEnis } from "./introspection_types.ts";

const OPTIONS = { ...JSON_OPTION, ...INTROSPECTION_OPTION, ...HELP_OPTION } as const;

export function help(): string {
  return renderHelp({
    usage: "ipamd enis [--json] [--introspection ADDR]",
    summary: "Lists the ENIs ipamd manages (device, route table, subnet, address counts), then " +
      "every\naddress: secondary IPs one per line, /28 prefixes with their used addresses; " +
      "for each\nassigned address the pod (namespace/name), and cooling addresses marked with " +
      "the time left.",
    options: OPTIONS,
    sections: [{
      title: "Exit codes",
      body: "  0 ok, 1 ipamd cannot be reached or is not ready yet, 2 usage error.",
    }],
  });
}

export async function main(context: CommandContext): Promise<number> {
  return await runCommand("enis", context, { options: OPTIONS, help }, async ({ options }) => {
    const endpoints = resolveEndpoints("enis", options, context.env);
    const [enis, pods, pool] = await Promise.all([
      fetchIntrospection<UpstreamEnis>(endpoints, "/v1/enis"),
      fetchIntrospection<PodEntry[]>(endpoints, "/v1/pods"),
      fetchIntrospection<PoolInfo>(endpoints, "/v1/pool"),
    ]);
    const view = buildEnisView(enis, pods, pool);
    if (options.json) printJson(view);
    else if (view.ready) print(renderEnis(view));
    if (!view.ready) {
      printError(
        "ipamd enis: ipamd is not ready yet (it is initialising the node); try again " +
          "in a few seconds, or see 'ipamd status'",
      );
      return EXIT.failure;
    }
    return EXIT.ok;
  });
}
