/**
 * `ipamd doctor`'s checks of the AWS side: instance metadata over IMDSv2 (token first, so a
 * node with IMDSv2 blocked is told so), and one cheap EC2 Describe call with the credentials
 * ipamd would use, naming the IAM action when EC2 answers UnauthorizedOperation.
 */
import type { Config } from "../../config.ts";
import { ImdsClient, ImdsError } from "../../aws/imds.ts";
import {
  type EniMetadata,
  type InstanceIdentity,
  InstanceMetadata,
} from "../../aws/imds_metadata.ts";
import { Ec2Error, isThrottled, isTransportFailure, isUnauthorized } from "../../aws/ec2_errors.ts";
import { check, type CheckResult } from "./doctor_report.ts";

export interface ImdsFacts {
  identity: InstanceIdentity;
  primary: EniMetadata;
  enis: EniMetadata[];
}

const HOP_LIMIT_HINT = "aws-node needs hostNetwork: true, and nothing may block " +
  "169.254.169.254 (check the metadata options: aws ec2 modify-instance-metadata-options " +
  "--instance-id <id> --http-endpoint enabled --http-tokens required " +
  "--http-put-response-hop-limit 2)";

/** PUT /latest/api/token, then the reads ipamd makes at start-up. */
export async function checkImds(
  endpoint: string,
  options: { timeoutMs?: number } = {},
): Promise<{ result: CheckResult; facts?: ImdsFacts }> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const started = performance.now();
  let status: number;
  try {
    const response = await fetch(new URL("latest/api/token", endpoint), {
      method: "PUT",
      headers: { "X-aws-ec2-metadata-token-ttl-seconds": "60" },
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    status = response.status;
  } catch (error) {
    const why = error instanceof DOMException && error.name === "TimeoutError"
      ? `no answer within ${timeoutMs} ms`
      : "connection failed";
    return {
      result: check("imds", "FAIL", `instance metadata at ${endpoint} is not reachable (${why})`, {
        remedy: HOP_LIMIT_HINT,
      }),
    };
  }
  if (status !== 200) {
    const what = status === 403
      ? "instance metadata is disabled for this instance"
      : `the IMDSv2 token request (PUT /latest/api/token) returned HTTP ${status}`;
    return { result: check("imds", "FAIL", `${what} (${endpoint})`, { remedy: HOP_LIMIT_HINT }) };
  }
  try {
    const imds = new InstanceMetadata(new ImdsClient({ endpoint, timeoutMs, attempts: 2 }));
    const identity = await imds.identity();
    const [primary, enis] = await Promise.all([
      imds.eni(identity.primaryMac, { primaryMac: identity.primaryMac }),
      imds.listEnis(),
    ]);
    const ms = Math.round(performance.now() - started);
    return {
      result: check(
        "imds",
        "PASS",
        `IMDSv2 at ${endpoint}: ${identity.instanceId} (${identity.instanceType}, ` +
          `${identity.availabilityZone}), ${enis.length} ENI${
            enis.length === 1 ? "" : "s"
          } (${ms} ms)`,
      ),
      facts: { identity, primary, enis },
    };
  } catch (error) {
    if (!(error instanceof ImdsError)) throw error;
    return {
      result: check("imds", "FAIL", `IMDSv2 token granted, but a read failed: ${error.message}`, {
        remedy: error.status === undefined
          ? HOP_LIMIT_HINT
          : "check the instance's metadata options",
      }),
    };
  }
}

/** Codes with which EC2 or the SDK refuse the credentials themselves. */
const CREDENTIAL_CODES = new Set([
  "AuthFailure",
  "InvalidClientTokenId",
  "SignatureDoesNotMatch",
  "UnrecognizedClientException",
  "ExpiredToken",
  "RequestExpired",
  "CredentialsProviderError",
  "MissingAuthenticationToken",
]);

const POLICY = "manifests/iam/iam-policy.json (or the AWS managed AmazonEKS_CNI_Policy)";

/** DescribeNetworkInterfaces of the primary ENI: credentials, permission and endpoint at once. */
export async function checkEc2(
  config: Config,
  facts: ImdsFacts | undefined,
  options: {
    timeoutMs?: number;
    /** Static credentials (tests); default: the SDK's chain, as ipamd uses. */
    credentials?: { accessKeyId: string; secretAccessKey: string };
  } = {},
): Promise<CheckResult> {
  if (config.imdsOnlyMode) {
    return check("ec2", "SKIP", "ENABLE_IMDS_ONLY_MODE=true: ipamd makes no EC2 calls");
  }
  if (!facts) return check("ec2", "SKIP", "needs the region and ENI from instance metadata");
  const endpoint = config.ec2Endpoint || `the regional endpoint of ${facts.identity.region}`;
  const { Ec2Client } = await import("../../aws/ec2.ts");
  const ec2 = new Ec2Client({
    region: facts.identity.region,
    ...(config.ec2Endpoint ? { endpoint: config.ec2Endpoint } : {}),
    timeoutMs: options.timeoutMs ?? 5000,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    maxAttempts: 2,
    rateLimit: false,
  });
  const started = performance.now();
  try {
    await ec2.describeNetworkInterfaces({ ids: [facts.primary.eniId] });
    const ms = Math.round(performance.now() - started);
    return check(
      "ec2",
      "PASS",
      `credentials work: ec2:DescribeNetworkInterfaces allowed at ` +
        `${endpoint} (${ms} ms)`,
    );
  } catch (error) {
    if (!(error instanceof Ec2Error)) throw error;
    return ec2Failure(error, endpoint);
  } finally {
    ec2.close();
  }
}

export function ec2Failure(error: Ec2Error, endpoint: string): CheckResult {
  if (isUnauthorized(error)) {
    return check("ec2", "FAIL", `the IAM role lacks ec2:${error.action} (UnauthorizedOperation)`, {
      remedy: `attach ${POLICY} to the role aws-node uses (IRSA, Pod Identity or the node role)`,
    });
  }
  if (CREDENTIAL_CODES.has(error.code)) {
    return check(
      "ec2",
      "FAIL",
      `no usable AWS credentials: ${error.action} failed with ${error.code}`,
      {
        remedy: "give aws-node a role: IRSA or EKS Pod Identity, or the instance profile through " +
          "IMDS (hostNetwork: true)",
      },
    );
  }
  if (isThrottled(error)) {
    return check("ec2", "WARN", `EC2 throttled ${error.action} (${error.code})`, {
      remedy: "the account's EC2 API rate is exhausted; lower EC2_API_QPS on busy clusters",
    });
  }
  if (isTransportFailure(error)) {
    return check("ec2", "FAIL", `EC2 at ${endpoint} does not answer (${error.code})`, {
      remedy: "check the route to EC2 (NAT gateway or an ec2 VPC endpoint) and " +
        "AWS_ENDPOINT_URL_EC2 / AWS_EC2_ENDPOINT",
    });
  }
  return check("ec2", "FAIL", `${error.action} failed with ${error.code}`, {
    remedy: `see the EC2 error code ${error.code}; ipamd cannot grow the pool until it works`,
  });
}
