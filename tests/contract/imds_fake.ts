/**
 * A small scriptable IMDSv2 server on loopback for the IMDS client tests: token PUT with the
 * TTL header, 401 without a valid token, per-path failures and delays, request counters.
 */

export interface FakeImdsOptions {
  /** Paths under `/latest/` (e.g. `meta-data/mac`) and their bodies. */
  paths: Record<string, string>;
}

export interface Script {
  /** Respond with this status N times before serving normally. */
  failTimes?: number;
  status?: number;
  /** Hold the response this long (ms), or until the client gives up. */
  delayMs?: number;
}

export class FakeImds {
  readonly paths: Record<string, string>;
  readonly tokens = new Set<string>();
  readonly counts = { put: 0, get: 0, unauthorized: 0, getsByPath: new Map<string, number>() };
  /** Status returned for the token PUT instead of a token (simulates IMDSv2 disabled). */
  tokenStatus = 200;
  /** TTL header values received on PUTs. */
  readonly ttlHeaders: (string | null)[] = [];
  /** Every token header value received on GETs. */
  readonly seenTokens: (string | null)[] = [];
  /** Called before each authorized GET is answered (tests mutate `paths` from here). */
  onGet?: (path: string) => void;
  inFlight = 0;
  maxInFlight = 0;
  #scripts = new Map<string, Script>();
  #server: Deno.HttpServer<Deno.NetAddr>;
  #pending = new Set<() => void>();

  constructor(options: FakeImdsOptions) {
    this.paths = { ...options.paths };
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => this.#handle(req),
    );
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.#server.addr.port}/`;
  }

  script(path: string, script: Script): void {
    this.#scripts.set(path, { ...script });
  }

  /** The script of `path`, with its remaining `failTimes`. */
  scripted(path: string): Script | undefined {
    return this.#scripts.get(path);
  }

  /** Forget every issued token, as an IMDS restart would. */
  revokeTokens(): void {
    this.tokens.clear();
  }

  async close(): Promise<void> {
    for (const release of this.#pending) release();
    await this.#server.shutdown();
  }

  async #handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname.replace(/^\/+latest\//, "");
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      const script = this.#scripts.get(path);
      if (script?.delayMs) await this.#hold(script.delayMs);
      if (script?.failTimes && script.failTimes > 0) {
        script.failTimes--;
        return new Response("scripted failure", { status: script.status ?? 500 });
      }
      if (path === "api/token") return this.#token(req);
      if (req.method !== "GET") return new Response("", { status: 405 });
      this.counts.get++;
      this.counts.getsByPath.set(path, (this.counts.getsByPath.get(path) ?? 0) + 1);
      const token = req.headers.get("x-aws-ec2-metadata-token");
      this.seenTokens.push(token);
      if (!token || !this.tokens.has(token)) {
        this.counts.unauthorized++;
        return new Response("", { status: 401 });
      }
      this.onGet?.(path);
      const body = this.#lookup(path);
      return body === undefined
        ? new Response("Not Found", { status: 404 })
        : new Response(body, { headers: { "content-type": "text/plain" } });
    } finally {
      this.inFlight--;
    }
  }

  #token(req: Request): Response {
    this.counts.put++;
    if (req.method !== "PUT") return new Response("", { status: 405 });
    const ttl = req.headers.get("x-aws-ec2-metadata-token-ttl-seconds");
    this.ttlHeaders.push(ttl);
    if (this.tokenStatus !== 200) return new Response("", { status: this.tokenStatus });
    if (!ttl) return new Response("", { status: 400 });
    const token = `taws-token-${crypto.randomUUID()}`;
    this.tokens.add(token);
    return new Response(token, { headers: { "x-aws-ec2-metadata-token-ttl-seconds": ttl } });
  }

  /** Exact paths, plus folder listings (`.../macs/`) computed from deeper paths. */
  #lookup(path: string): string | undefined {
    if (path in this.paths) return this.paths[path];
    if (!path.endsWith("/")) return undefined;
    const children = new Set<string>();
    for (const p of Object.keys(this.paths)) {
      if (!p.startsWith(path)) continue;
      const rest = p.slice(path.length);
      const slash = rest.indexOf("/");
      children.add(slash === -1 ? rest : rest.slice(0, slash + 1));
    }
    return children.size > 0 ? [...children].join("\n") : undefined;
  }

  /** Holds a response; `close()` releases every held one so the server can shut down. */
  #hold(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#pending.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#pending.add(done);
    });
  }
}

/** Metadata of an instance with a primary ENI and one secondary ENI on device 2. */
export function sampleInstance(): Record<string, string> {
  const md = "meta-data/";
  const mac0 = "02:00:00:00:00:01";
  const mac1 = "02:00:00:00:00:02";
  const eni = (mac: string, fields: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(fields).map(([k, v]) => [`${md}network/interfaces/macs/${mac}/${k}`, v]),
    );
  return {
    "dynamic/instance-identity/document": JSON.stringify({
      region: "us-west-2",
      availabilityZone: "us-west-2a",
      instanceId: "i-0123456789abcdef0",
    }),
    [`${md}placement/availability-zone`]: "us-west-2a",
    [`${md}local-ipv4`]: "10.0.0.11",
    [`${md}instance-id`]: "i-0123456789abcdef0",
    [`${md}instance-type`]: "t3.medium",
    [`${md}mac`]: mac0,
    ...eni(mac0, {
      "interface-id": "eni-0000000000000000a",
      // Real IMDS can report a non-zero device number for the primary ENI (spec §3.2a).
      "device-number": "3",
      "subnet-id": "subnet-0a",
      "vpc-id": "vpc-0a",
      "subnet-ipv4-cidr-block": "10.0.0.0/20",
      "local-ipv4s": "10.0.0.11\n10.0.0.12\n10.0.0.13",
      "security-group-ids": "sg-1\nsg-2",
      "vpc-ipv4-cidr-blocks": "10.0.0.0/16\n100.64.0.0/16",
    }),
    ...eni(mac1, {
      "interface-id": "eni-0000000000000000b",
      "device-number": "2",
      "network-card": "0",
      "subnet-id": "subnet-0b",
      "vpc-id": "vpc-0a",
      "subnet-ipv4-cidr-block": "10.0.16.0/20",
      "local-ipv4s": "10.0.16.5",
      "ipv4-prefix": "10.0.16.32/28\n10.0.16.48/28",
      "security-group-ids": "sg-3",
      "vpc-ipv4-cidr-blocks": "10.0.0.0/16",
    }),
  };
}
