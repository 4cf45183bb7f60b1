/**
 * The EC2 contract suite runner: one list of cases (ec2_cases_*.ts) run against any backend
 * that speaks the EC2 Query API (moto, the project's VPC simulator). A backend declares the
 * cases it cannot model in a gap list; each gap is printed, and runs the backend's own
 * "what it does instead" assertion when that is meaningful, or is reported as ignored.
 */

// deno-lint-ignore-file no-console -- the suite prints its gap list for the reader of the run
import assert from "node:assert/strict";
import { type Ec2CallEvent, Ec2Client, type Ec2ClientOptions } from "../../src/aws/ec2.ts";
import { isNotFound } from "../../src/aws/ec2_errors.ts";
import type { CreateEniOptions } from "../../src/aws/ec2.ts";
import type { Eni } from "../../src/aws/ec2_types.ts";

/** What every case starts from: one running instance of a known type in a VPC. */
export interface Fixture {
  instanceId: string;
  instanceType: string;
  primaryEniId: string;
  vpcId: string;
  subnetId: string;
  subnetCidr: string;
  availabilityZone: string;
  /** The primary ENI's security group. */
  groupId: string;
  /** Another security group of the same VPC. */
  altGroupId: string;
}

export interface Ec2Backend {
  readonly name: string;
  readonly endpoint: string;
  readonly region: string;
  /** True when `fixture()` starts from a clean account, so cases need not clean up. */
  readonly resetsBetweenCases: boolean;
  /** Fresh state for one case. */
  fixture(): Promise<Fixture>;
  /** A subnet of the fixture's VPC and AZ with no free address left. */
  fullSubnet?(fx: Fixture): Promise<string>;
  /** A subnet of the fixture's VPC and AZ with free addresses but no free aligned /28. */
  fragmentedSubnet?(fx: Fixture): Promise<string>;
  /** Make EC2 answer the next `times` calls of `action` with `code` (throttling or 5xx). */
  injectErrors?(
    action: string,
    code: "RequestLimitExceeded" | "InternalError",
    times: number,
  ): Promise<void>;
  /** Turn on EC2-style throttling of Describe* calls with this token bucket. */
  throttleDescribe?(bucket: { capacity: number; refillPerSecond: number }): Promise<void>;
  /** An IMDS endpoint that serves instance-profile credentials for the default chain. */
  imdsEndpoint?: string;
  stop(): Promise<void>;
}

export interface CaseContext {
  backend: Ec2Backend;
  fx: Fixture;
  /** Client for the case: no client-side rate limit, short backoff, events recorded. */
  ec2: Ec2Client;
  events: Ec2CallEvent[];
  /** Value of the `taws-case` tag on everything this case creates. */
  caseId: string;
  /** A further client with other options (closed after the case). */
  client(options?: Partial<Ec2ClientOptions>): Ec2Client;
  /** Creates an ENI tagged for this case and remembered for clean-up. */
  createEni(options?: Partial<CreateEniOptions>): Promise<Eni>;
  /** Attaches at `deviceIndex` and returns the attachment id. */
  attach(eni: Eni, deviceIndex: number): Promise<string>;
}

export interface Ec2Case {
  name: string;
  run(ctx: CaseContext): Promise<void>;
}

export interface Gap {
  /** What the backend cannot model. */
  reason: string;
  /** Asserts what the backend does instead; omitted when nothing meaningful can be said. */
  instead?: (ctx: CaseContext) => Promise<void>;
}

export const CASE_TAG = "taws-case";

/** Registers one Deno test per backend with one step per case. */
export function registerEc2Suite(options: {
  backend: string;
  cases: Ec2Case[];
  gaps: Record<string, Gap>;
  start: () => Promise<Ec2Backend>;
  ignore?: string | false;
}): void {
  const { cases, gaps } = options;
  Deno.test({
    name: `EC2 contract suite against ${options.backend}`,
    ignore: options.ignore !== undefined && options.ignore !== false,
    async fn(t) {
      const names = new Set(cases.map((c) => c.name));
      const stale = Object.keys(gaps).filter((g) => !names.has(g));
      assert.deepEqual(stale, [], `gap list of ${options.backend} names unknown cases`);
      printGaps(options.backend, cases, gaps);
      const backend = await options.start();
      try {
        for (const c of cases) {
          const gap = gaps[c.name];
          const name = gap
            ? `${c.name} [GAP on ${backend.name}: ${gap.reason}${
              gap.instead ? "; asserts what it does instead" : ""
            }]`
            : c.name;
          await t.step({
            name,
            ignore: gap !== undefined && gap.instead === undefined,
            fn: () => runCase(backend, gap?.instead ?? c.run),
          });
        }
      } finally {
        await backend.stop();
      }
    },
  });
}

function printGaps(backend: string, cases: Ec2Case[], gaps: Record<string, Gap>): void {
  const list = Object.entries(gaps);
  console.log(
    `\nEC2 contract: ${cases.length} cases; ${list.length} declared gaps for ${backend}:`,
  );
  for (const [name, gap] of list) {
    console.log(
      `  - ${name}\n      ${gap.reason}${
        gap.instead ? " (asserts what it does instead)" : " (not run)"
      }`,
    );
  }
}

async function runCase(backend: Ec2Backend, run: (ctx: CaseContext) => Promise<void>) {
  const fx = await backend.fixture();
  const events: Ec2CallEvent[] = [];
  const clients: Ec2Client[] = [];
  const caseId = `taws-${crypto.randomUUID().slice(0, 8)}`;
  const created: string[] = [];
  const client = (options: Partial<Ec2ClientOptions> = {}) => {
    const c = new Ec2Client({
      region: backend.region,
      endpoint: backend.endpoint,
      credentials: { accessKeyId: "taws", secretAccessKey: "taws-secret" },
      rateLimit: false,
      maxAttempts: 4,
      backoff: { baseMs: 10, maxMs: 100, jitter: 0.5 },
      throttleBackoff: { baseMs: 20, maxMs: 200, jitter: 0.5 },
      ...options,
    });
    clients.push(c);
    return c;
  };
  const ec2 = client({ onCall: (e) => events.push(e) });
  const ctx: CaseContext = {
    backend,
    fx,
    ec2,
    events,
    caseId,
    client,
    async createEni(options = {}) {
      const eni = await ec2.createNetworkInterface({
        subnetId: fx.subnetId,
        ...options,
        tags: { [CASE_TAG]: caseId, ...options.tags },
      });
      created.push(eni.eniId);
      return eni;
    },
    async attach(eni, deviceIndex) {
      const { attachmentId } = await ec2.attachNetworkInterface(eni.eniId, {
        instanceId: fx.instanceId,
        deviceIndex,
        networkCardIndex: 0,
      });
      return attachmentId;
    },
  };
  try {
    await run(ctx);
  } finally {
    try {
      if (!backend.resetsBetweenCases) await cleanUp(client(), created);
    } finally {
      for (const c of clients) c.close();
    }
  }
}

/** Detaches and deletes what a case created, on backends that keep state between cases. */
async function cleanUp(ec2: Ec2Client, eniIds: string[]): Promise<void> {
  const { found } = await ec2.describeNetworkInterfacesById(eniIds);
  for (const eni of found) {
    if (eni.attachment) {
      await ec2.detachNetworkInterface(eni.attachment.attachmentId, { force: true }).catch((e) => {
        if (!isNotFound(e)) throw e;
      });
      await waitForStatus(ec2, eni.eniId, "available");
    }
    await ec2.deleteNetworkInterface(eni.eniId).catch((e) => {
      if (!isNotFound(e)) throw e;
    });
  }
}

/** Polls until the ENI has `status` (EC2 detaches asynchronously); bounded to ~5 s. */
export async function waitForStatus(ec2: Ec2Client, eniId: string, status: string): Promise<Eni> {
  let last: Eni | undefined;
  for (let i = 0; i < 100; i++) {
    [last] = await ec2.describeNetworkInterfaces({ ids: [eniId] });
    if (last?.status === status) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`ENI ${eniId} did not reach status ${status} (last: ${last?.status})`);
}

/** Whether dotted-quad `ip` (or the base of a prefix) lies inside `cidr`. */
export function inCidr(ip: string, cidr: string): boolean {
  const [base, len] = cidr.split("/");
  const toInt = (a: string) => a.split(".").reduce((n, o) => n * 256 + Number(o), 0);
  const mask = Number(len) === 0 ? 0 : (0xffffffff << (32 - Number(len))) >>> 0;
  return ((toInt(ip.split("/")[0] ?? "") & mask) >>> 0) === ((toInt(base ?? "") & mask) >>> 0);
}
