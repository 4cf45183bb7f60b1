/**
 * The instance metadata service, IMDSv2 only: PUT /latest/api/token with a TTL header gives a
 * token bound to the calling instance; every other request needs it (401 otherwise). Paths
 * are those ipamd and the AWS SDK read (spec §3.2a), plus the identity document and the
 * instance-profile credentials the SDK's default chain fetches. `//` in paths is collapsed
 * because @aws-sdk/ec2-metadata-service sends `//latest/...`.
 */
import type { Logger } from "../ops/log.ts";
import { silentLogger } from "../ops/log.ts";
import type { ImdsView } from "./imds.ts";

export interface RoleCredentials {
  roleName: string;
  accessKeyId: string;
  secretAccessKey: string;
  token: string;
}

/** One IMDS request as the simulator's request log keeps it (GET /_sim/imds/requests). */
export interface ImdsRequestRecord {
  at: string;
  method: string;
  path: string;
  remote: string;
  instanceId?: string;
  /** The session token header: absent (an IMDSv1 request), valid, or not valid. */
  token: "none" | "valid" | "invalid";
  status: number;
  /** A token this request was given (the simulator's own secret, for leak tests). */
  issuedToken?: string;
  userAgent?: string;
}

export interface ImdsHandlerOptions {
  /** The instance a request comes from (by source address), or undefined. */
  instanceFor: (remoteAddress: string) => string | undefined;
  /** What IMDS currently shows that instance (lag applied). */
  viewOf: (instanceId: string) => ImdsView | undefined;
  credentials: RoleCredentials;
  logger?: Logger;
  now?: () => number;
  /** Called with every request and its answer. */
  onRequest?: (record: ImdsRequestRecord) => void;
  /** An injected status for a token request, or undefined to answer it normally. */
  tokenFault?: () => number | undefined;
  /** Lifetime of the role credentials served (default 6 h). */
  credentialsTtlSeconds?: () => number;
}

const MAX_TTL_SECONDS = 21600;
const TOKEN_HEADER = "x-aws-ec2-metadata-token";
const TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds";

export function imdsHandler(
  options: ImdsHandlerOptions,
): (req: Request, info: { remoteAddr: Deno.Addr }) => Response {
  const tokens = new Map<string, { instanceId: string; expires: number }>();
  const now = options.now ?? Date.now;
  const logger = options.logger ?? silentLogger;
  return (req, info) => {
    const remote = info.remoteAddr.transport === "tcp" ? info.remoteAddr.hostname : "";
    const instanceId = options.instanceFor(remote);
    const path = new URL(req.url).pathname.replace(/\/{2,}/g, "/");
    logger.debug("imds", { method: req.method, path, remote, instanceId });
    const header = req.headers.get(TOKEN_HEADER);
    const held = header === null ? undefined : tokens.get(header);
    const record: ImdsRequestRecord = {
      at: new Date(now()).toISOString(),
      method: req.method,
      path,
      remote,
      ...(instanceId ? { instanceId } : {}),
      token: header === null
        ? "none"
        : held && held.expires > now() && held.instanceId === instanceId
        ? "valid"
        : "invalid",
      status: 0,
      ...(req.headers.get("user-agent") ? { userAgent: req.headers.get("user-agent")! } : {}),
    };
    const response = answer(req, path, instanceId, record);
    record.status = response.status;
    options.onRequest?.(record);
    return response;
  };

  function answer(
    req: Request,
    path: string,
    instanceId: string | undefined,
    record: ImdsRequestRecord,
  ): Response {
    if (!instanceId) return text(`no instance owns source address ${record.remote}\n`, 403);
    if (path === "/latest/api/token") {
      if (req.method !== "PUT") return text("", 405);
      if (req.headers.has("x-forwarded-for")) return text("", 403);
      const ttl = Number(req.headers.get(TTL_HEADER) ?? "NaN");
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) return text("", 400);
      const fault = options.tokenFault?.();
      if (fault !== undefined) return text("", fault);
      for (const [t, v] of tokens) if (v.expires <= now()) tokens.delete(t);
      const token = btoa(
        crypto.getRandomValues(new Uint8Array(42)).reduce((s, b) => s + String.fromCharCode(b), ""),
      );
      tokens.set(token, { instanceId, expires: now() + ttl * 1000 });
      record.issuedToken = token;
      return text(token, 200, { [TTL_HEADER]: String(ttl) });
    }
    if (req.method !== "GET" && req.method !== "HEAD") return text("", 405);
    if (record.token !== "valid") return text("", 401);
    const view = options.viewOf(instanceId);
    if (!view) return text("", 404);
    const ttl = options.credentialsTtlSeconds?.() ?? 6 * 3600;
    const value = lookup(view, { ...options.credentials, ttlSeconds: ttl }, path, now());
    return value === undefined ? notFound() : text(value, 200);
  }
}

function lookup(
  view: ImdsView,
  creds: RoleCredentials & { ttlSeconds: number },
  path: string,
  now: number,
): string | undefined {
  if (path === "/" || path === "") return "latest";
  if (!path.startsWith("/latest")) return undefined;
  const rest = path.slice("/latest".length);
  if (rest === "" || rest === "/") return "dynamic\nmeta-data";
  const tree = metadataTree(view, creds, now);
  const key = rest.slice(1);
  if (key in tree) return tree[key];
  // A directory asked for without its trailing slash answers like the listing.
  if (`${key}/` in tree) return tree[`${key}/`];
  return undefined;
}

function metadataTree(
  view: ImdsView,
  creds: RoleCredentials & { ttlSeconds: number },
  now: number,
): Record<string, string> {
  const t: Record<string, string> = {};
  const m = "meta-data/";
  const primary = view.enis.find((e) => e.mac === view.mac);
  t[`${m}ami-id`] = view.imageId;
  t[`${m}ami-launch-index`] = "0";
  t[`${m}hostname`] = view.hostname;
  t[`${m}local-hostname`] = view.hostname;
  t[`${m}instance-id`] = view.instanceId;
  t[`${m}instance-type`] = view.instanceType;
  t[`${m}instance-life-cycle`] = "on-demand";
  t[`${m}local-ipv4`] = view.localIpv4;
  t[`${m}mac`] = view.mac;
  t[`${m}reservation-id`] = view.reservationId;
  t[`${m}security-groups`] = (primary?.securityGroupNames ?? []).join("\n");
  t[`${m}placement/availability-zone`] = view.availabilityZone;
  t[`${m}placement/availability-zone-id`] = view.availabilityZoneId;
  t[`${m}placement/region`] = view.region;
  t[`${m}network/interfaces/macs/`] = view.enis.map((e) => `${e.mac}/`).join("\n");
  for (const e of view.enis) {
    const p = `${m}network/interfaces/macs/${e.mac}/`;
    t[`${p}device-number`] = String(e.deviceNumber);
    t[`${p}interface-id`] = e.eniId;
    t[`${p}local-hostname`] = view.hostname;
    t[`${p}local-ipv4s`] = e.localIpv4s.join("\n");
    t[`${p}mac`] = e.mac;
    t[`${p}network-card`] = String(e.networkCard);
    t[`${p}owner-id`] = e.ownerId;
    t[`${p}security-group-ids`] = e.securityGroupIds.join("\n");
    t[`${p}security-groups`] = e.securityGroupNames.join("\n");
    t[`${p}subnet-id`] = e.subnetId;
    t[`${p}subnet-ipv4-cidr-block`] = e.subnetCidr;
    t[`${p}vpc-id`] = e.vpcId;
    t[`${p}vpc-ipv4-cidr-block`] = e.vpcCidrs[0]!;
    t[`${p}vpc-ipv4-cidr-blocks`] = e.vpcCidrs.join("\n");
    // Like IMDS: the key exists only while the ENI has prefixes (absent means none: 404).
    if (e.ipv4Prefixes.length) t[`${p}ipv4-prefix`] = e.ipv4Prefixes.join("\n");
  }
  const role = creds.roleName;
  const updated = isoSeconds(now);
  t[`${m}iam/info`] = JSON.stringify(
    {
      Code: "Success",
      LastUpdated: updated,
      InstanceProfileArn: `arn:aws:iam::${view.accountId}:instance-profile/${role}`,
      InstanceProfileId: "AIPA" + view.instanceId.slice(2, 18).toUpperCase(),
    },
    null,
    2,
  );
  t[`${m}iam/security-credentials/`] = role;
  t[`${m}iam/security-credentials/${role}`] = JSON.stringify(
    {
      Code: "Success",
      LastUpdated: updated,
      Type: "AWS-HMAC",
      AccessKeyId: creds.accessKeyId,
      SecretAccessKey: creds.secretAccessKey,
      Token: creds.token,
      Expiration: isoSeconds(now + creds.ttlSeconds * 1000),
    },
    null,
    2,
  );
  t["dynamic/instance-identity/document"] = JSON.stringify(
    {
      accountId: view.accountId,
      architecture: "x86_64",
      availabilityZone: view.availabilityZone,
      billingProducts: null,
      devpayProductCodes: null,
      marketplaceProductCodes: null,
      imageId: view.imageId,
      instanceId: view.instanceId,
      instanceType: view.instanceType,
      kernelId: null,
      pendingTime: view.launchTime,
      privateIp: view.localIpv4,
      ramdiskId: null,
      region: view.region,
      version: "2017-09-30",
    },
    null,
    2,
  );
  addListings(t);
  return t;
}

/** Adds "dir/" entries listing their children (sub-directories end with "/"). */
function addListings(t: Record<string, string>): void {
  const listings = new Map<string, Set<string>>();
  for (const key of Object.keys(t)) {
    const parts = key.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/") + "/";
      const isLeaf = i === parts.length - 1;
      const child = isLeaf ? parts[i]! : `${parts[i]}/`;
      if (child === "" || child === "/") continue;
      if (!listings.has(dir)) listings.set(dir, new Set());
      listings.get(dir)!.add(child);
    }
  }
  for (const [dir, children] of listings) if (!(dir in t)) t[dir] = [...children].join("\n");
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
}

function text(body: string, status: number, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain", ...headers } });
}

function notFound(): Response {
  // IMDS's own 404 page.
  return new Response(
    `<?xml version="1.0" encoding="iso-8859-1"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n <head>\n  <title>404 - Not Found</title>\n </head>\n <body>\n  <h1>404 - Not Found</h1>\n </body>\n</html>\n`,
    { status: 404, headers: { "content-type": "text/html" } },
  );
}
