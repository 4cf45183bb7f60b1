// deno-lint-ignore-file no-console -- prints its result for the test that runs it
/**
 * Run inside a node namespace with only the node's env (from the sim's ready line): the AWS
 * SDK must find EC2 through AWS_ENDPOINT_URL_EC2 and credentials through IMDS, as ipamd does.
 * Prints {"reservations":N,"accessKeyPrefix":"ASIA"}.
 */
import { DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";

const ec2 = new EC2Client({ region: Deno.args[0] ?? "us-west-2", maxAttempts: 1 });
try {
  const out = await ec2.send(new DescribeInstancesCommand({}));
  const creds = await ec2.config.credentials();
  console.log(
    JSON.stringify({
      reservations: out.Reservations?.length ?? 0,
      accessKeyPrefix: creds.accessKeyId.slice(0, 4),
    }),
  );
} finally {
  ec2.destroy();
}
