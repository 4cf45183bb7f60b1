// deno-lint-ignore-file no-console -- prints one JSON line for aws_clients_bench.ts
/**
 * Run in a fresh process by aws_clients_bench.ts: how long importing the EC2 client (and with
 * it the AWS SDK) takes, and the first call after that. Argument: EC2 endpoint.
 */
const t0 = performance.now();
const { Ec2Client } = await import("../../src/aws/ec2.ts");
const t1 = performance.now();
const ec2 = new Ec2Client({
  region: "us-west-2",
  endpoint: Deno.args[0],
  credentials: { accessKeyId: "taws", secretAccessKey: "taws-secret" },
});
await ec2.describeSubnets();
const t2 = performance.now();
await ec2.describeSubnets();
const t3 = performance.now();
ec2.close();
console.log(JSON.stringify({ importMs: t1 - t0, firstCallMs: t2 - t1, secondCallMs: t3 - t2 }));
