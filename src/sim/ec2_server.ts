/**
 * The EC2 Query API over HTTP: parses the request, applies throttling, latency and injected
 * faults, runs the action against the model, applies its lab effects and answers with EC2's
 * XML (or its XML error envelope and HTTP status). Requests under /_sim go to the control API.
 */
import { type Logger, silentLogger } from "../ops/log.ts";
import type { Counters } from "./counters.ts";
import { actionCategory, ACTIONS } from "./ec2_actions.ts";
import { Ec2ApiError } from "./ec2_error.ts";
import { QueryParams } from "./ec2_query.ts";
import type { Faults } from "./faults.ts";
import { applyEffects, type LabPlumbing } from "./plumbing.ts";
import type { Vpc } from "./vpc.ts";
import { errorDocument, responseDocument } from "./xml.ts";

export interface Ec2HandlerOptions {
  vpc: Vpc;
  faults: Faults;
  counters: Counters;
  plumbing: LabPlumbing;
  /** Serves /_sim/... (the control API). */
  control?: (req: Request, path: string) => Promise<Response>;
  logger?: Logger;
  /** Aborted when the simulator stops: held and delayed requests end at once. */
  signal?: AbortSignal;
}

const INJECTED: Record<string, { status: number; message: string }> = {
  InternalError: { status: 500, message: "An internal error has occurred." },
  Unavailable: { status: 503, message: "The server is overloaded and can't handle the request." },
  RequestLimitExceeded: { status: 503, message: "Request limit exceeded." },
  // What EC2 answers when the caller's IAM policy lacks the action (ipamd's MissingIAMPermissions).
  UnauthorizedOperation: {
    status: 403,
    message: "You are not authorized to perform this operation.",
  },
};

export function ec2Handler(options: Ec2HandlerOptions): (req: Request) => Promise<Response> {
  const logger = options.logger ?? silentLogger;
  return async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/_sim" || url.pathname.startsWith("/_sim/")) {
      if (!options.control) return new Response("no control API here\n", { status: 404 });
      return await options.control(req, url.pathname.slice("/_sim".length) || "/");
    }
    const requestId = crypto.randomUUID();
    let params: QueryParams;
    try {
      const body = req.method === "POST" ? await req.text() : "";
      params = QueryParams.parse(url.searchParams, new URLSearchParams(body));
    } catch (e) {
      return errorResponse(
        new Ec2ApiError("MalformedQueryString", `The query string is malformed: ${e}`),
        requestId,
      );
    }
    const action = params.string("Action");
    if (!action) {
      return errorResponse(
        new Ec2ApiError("MissingAction", "The request must contain the parameter Action"),
        requestId,
      );
    }
    const run = ACTIONS[action];
    const counters = options.counters;
    counters.call(action);
    if (!run) {
      counters.failed(action, "InvalidAction", false);
      return errorResponse(
        new Ec2ApiError("InvalidAction", `The action ${action} is not valid for this web service.`),
        requestId,
      );
    }
    const authError = checkSignature(req, params, options.vpc.region);
    if (authError) {
      counters.failed(action, authError.code, false);
      return errorResponse(authError, requestId);
    }
    const decision = options.faults.decide(action, actionCategory(action), Date.now());
    if (decision.throttled) {
      counters.throttled(action);
      logger.debug("ec2 throttled", { action, requestId });
      return errorResponse(
        new Ec2ApiError("RequestLimitExceeded", INJECTED.RequestLimitExceeded!.message, {
          status: 503,
        }),
        requestId,
      );
    }
    if (decision.holdMs !== undefined) {
      counters.timeout(action);
      logger.info("ec2 timeout injected: holding the request", {
        action,
        requestId,
        holdMs: decision.holdMs,
      });
      if (!await sleep(decision.holdMs, options.signal)) return shuttingDown(requestId);
    }
    if (decision.delayMs > 0 && !await sleep(decision.delayMs, options.signal)) {
      return shuttingDown(requestId);
    }
    if (decision.error) {
      const { status, message } = INJECTED[decision.error]!;
      counters.failed(action, decision.error, true);
      logger.debug("ec2 fault injected", { action, requestId, code: decision.error });
      return errorResponse(new Ec2ApiError(decision.error, message, { status }), requestId);
    }
    try {
      if (params.bool("DryRun")) {
        throw new Ec2ApiError(
          "DryRunOperation",
          "Request would have succeeded, but DryRun flag is set.",
          {
            status: 412,
          },
        );
      }
      const result = run(options.vpc, params);
      const labError = result.effects?.length
        ? applyEffects(options.plumbing, result.effects, logger)
        : undefined;
      if (labError) {
        throw new Ec2ApiError(
          "InternalError",
          `The simulator could not change the lab: ${labError.message}`,
          {
            status: 500,
            cause: labError,
          },
        );
      }
      counters.ok(action);
      logger.debug("ec2 call", { action, requestId });
      return new Response(responseDocument(action, requestId, result.body), {
        headers: { "content-type": "text/xml;charset=UTF-8", "x-amzn-requestid": requestId },
      });
    } catch (e) {
      const error = e instanceof Ec2ApiError
        ? e
        : new Ec2ApiError("InternalError", "An internal error has occurred.", {
          status: 500,
          cause: e,
        });
      if (!(e instanceof Ec2ApiError)) {
        logger.error("ec2 action crashed", { action, requestId, error: e });
      }
      counters.failed(action, error.code, false);
      logger.debug("ec2 error", { action, requestId, code: error.code, message: error.message });
      return errorResponse(error, requestId);
    }
  };
}

/**
 * EC2 only takes SigV4-signed requests scoped to its own region and service. Signatures are
 * not verified (any credentials work), but an unsigned request or one signed for another
 * region fails as on AWS, so a client that lost its credentials or region is caught here.
 */
export function checkSignature(
  req: Request,
  params: QueryParams,
  region: string,
): Ec2ApiError | undefined {
  const auth = req.headers.get("authorization");
  const credential = auth?.startsWith("AWS4-HMAC-SHA256 ")
    ? /Credential=([^,\s]+)/.exec(auth)?.[1]
    : params.string("X-Amz-Credential");
  if (!credential) {
    return new Ec2ApiError(
      "MissingAuthenticationToken",
      "Request is missing Authentication Token",
      {
        status: 401,
      },
    );
  }
  const [, , scopeRegion, service] = credential.split("/");
  if (scopeRegion !== region) {
    return new Ec2ApiError(
      "AuthFailure",
      `Credential should be scoped to a valid region, not '${scopeRegion}'. This endpoint serves ${region}.`,
      { status: 401 },
    );
  }
  if (service !== "ec2") {
    return new Ec2ApiError(
      "AuthFailure",
      `Credential should be scoped to correct service: 'ec2', not '${service}'.`,
      {
        status: 401,
      },
    );
  }
  return undefined;
}

export function errorResponse(error: Ec2ApiError, requestId: string): Response {
  return new Response(errorDocument(error.code, error.message, requestId), {
    status: error.status,
    headers: { "content-type": "text/xml;charset=UTF-8", "x-amzn-requestid": requestId },
  });
}

function shuttingDown(requestId: string): Response {
  return errorResponse(
    new Ec2ApiError("Unavailable", "The simulator is shutting down.", { status: 503 }),
    requestId,
  );
}

/** Resolves true after ms, or false as soon as the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
