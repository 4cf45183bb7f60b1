/**
 * moto_server (moto 5.2.1, a third-party EC2 emulator) as a contract-suite backend: started on
 * a free loopback port by the test, reset between cases through `POST /moto-api/reset`.
 */

import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  DescribeSubnetsCommand,
  EC2Client,
  RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import type { Ec2Backend, Fixture } from "./ec2_suite.ts";

const REGION = "us-west-2";
const AZ = "us-west-2a";

export class MotoBackend implements Ec2Backend {
  readonly name = "moto";
  readonly region = REGION;
  readonly resetsBetweenCases = true;
  readonly endpoint: string;
  /** moto also serves an IMDS stub with instance-profile credentials. */
  readonly imdsEndpoint: string;
  readonly sdk: EC2Client;
  #child: Deno.ChildProcess;

  private constructor(port: number, child: Deno.ChildProcess) {
    this.endpoint = `http://127.0.0.1:${port}`;
    this.imdsEndpoint = `${this.endpoint}/`;
    this.#child = child;
    this.sdk = new EC2Client({
      region: REGION,
      endpoint: this.endpoint,
      credentials: { accessKeyId: "taws", secretAccessKey: "taws-secret" },
    });
  }

  static async start(): Promise<MotoBackend> {
    const port = freePort();
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command("moto_server", {
        args: ["-H", "127.0.0.1", "-p", String(port)],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
    } catch (cause) {
      throw new Error("cannot start moto_server: is moto installed and on PATH?", { cause });
    }
    const backend = new MotoBackend(port, child);
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        const r = await fetch(`${backend.endpoint}/moto-api/`);
        await r.body?.cancel();
        if (r.ok) return backend;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) {
        await backend.stop();
        throw new Error(`moto_server did not answer on port ${port} within 20 s`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async fixture(): Promise<Fixture> {
    const reset = await fetch(`${this.endpoint}/moto-api/reset`, { method: "POST" });
    await reset.body?.cancel();
    if (!reset.ok) throw new Error(`moto reset failed: HTTP ${reset.status}`);
    const subnets = await this.sdk.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: "availability-zone", Values: [AZ] }] }),
    );
    const subnet = subnets.Subnets?.[0];
    if (!subnet?.SubnetId || !subnet.VpcId || !subnet.CidrBlock) {
      throw new Error("moto has no default subnet in us-west-2a");
    }
    const run = await this.sdk.send(
      new RunInstancesCommand({
        // moto does not check the AMI; listing its 1 175 images would cost 1.4 s per case.
        ImageId: "ami-12c6146b",
        InstanceType: "t3.medium",
        SubnetId: subnet.SubnetId,
        MinCount: 1,
        MaxCount: 1,
      }),
    );
    const instance = run.Instances?.[0];
    const primary = instance?.NetworkInterfaces?.[0];
    const groupId = primary?.Groups?.[0]?.GroupId;
    if (!instance?.InstanceId || !primary?.NetworkInterfaceId || !groupId) {
      throw new Error("moto RunInstances returned no instance with a primary ENI");
    }
    const alt = await this.sdk.send(
      new CreateSecurityGroupCommand({
        GroupName: "taws-alt",
        Description: "taws contract alternative group",
        VpcId: subnet.VpcId,
      }),
    );
    return {
      instanceId: instance.InstanceId,
      instanceType: "t3.medium",
      primaryEniId: primary.NetworkInterfaceId,
      vpcId: subnet.VpcId,
      subnetId: subnet.SubnetId,
      subnetCidr: subnet.CidrBlock,
      availabilityZone: AZ,
      groupId,
      altGroupId: alt.GroupId ?? "",
    };
  }

  /** A new subnet in the fixture's VPC (moto has no capacity checks, so it is never full). */
  async createSubnet(fx: Fixture, cidr: string): Promise<{ subnetId: string; free: number }> {
    const out = await this.sdk.send(
      new CreateSubnetCommand({ VpcId: fx.vpcId, CidrBlock: cidr, AvailabilityZone: AZ }),
    );
    return { subnetId: out.Subnet?.SubnetId ?? "", free: out.Subnet?.AvailableIpAddressCount ?? 0 };
  }

  async stop(): Promise<void> {
    this.sdk.destroy();
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await this.#child.status;
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
