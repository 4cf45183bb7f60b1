/**
 * The introspection HTTP API (INTROSPECTION_BIND_ADDRESS, default 127.0.0.1:61679): upstream's
 * endpoints with upstream's JSON shapes (spec §6.1), plus the pods and the pool state.
 * Container ids and interface names are scrubbed from /v1/enis as upstream does.
 */
import type { Logger } from "./log.ts";

export interface IntrospectionSource {
  /** Upstream `/v1/enis` shape, keyed by network card. */
  enis(): unknown;
  /** The ENIConfig this node would use; undefined when the node cannot be read. */
  eniConfigName(): Promise<string | undefined>;
  networkutilsEnv(): unknown;
  ipamdEnv(): unknown;
  /** Ours: every assignment with its pod. */
  pods(): unknown;
  /** Ours: pool totals, targets, last plan and EC2 state. */
  pool(): unknown;
}

const UPSTREAM_PATHS = [
  "/v1/enis",
  "/v1/eni-configs",
  "/v1/networkutils-env-settings",
  "/v1/ipamd-env-settings",
];
const OUR_PATHS = ["/v1/pods", "/v1/pool"];

export function introspectionHandler(
  source: IntrospectionSource,
  logger: Logger,
): (request: Request) => Promise<Response> {
  return async (request) => {
    const path = new URL(request.url).pathname;
    logger.debug("introspection request", { method: request.method, path });
    switch (path) {
      case "/v1/enis":
        return json(source.enis());
      case "/v1/eni-configs": {
        const name = await source.eniConfigName();
        return name === undefined
          ? new Response("node not readable\n", { status: 404 })
          : json(name);
      }
      case "/v1/networkutils-env-settings":
        return json(source.networkutilsEnv());
      case "/v1/ipamd-env-settings":
        return json(source.ipamdEnv());
      case "/v1/pods":
        return json(source.pods());
      case "/v1/pool":
        return json(source.pool());
      default:
        return json({ AvailableCommands: [...UPSTREAM_PATHS, ...OUR_PATHS] });
    }
  };
}

function json(body: unknown): Response {
  try {
    return new Response(JSON.stringify(body) + "\n", {
      headers: { "content-type": "application/json" },
    });
  } catch {
    return new Response("cannot encode response\n", { status: 500 });
  }
}
