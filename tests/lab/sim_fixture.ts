/** A small VPC model for simulator unit tests: one subnet, n instances, a fake clock. */
import { instanceType } from "../../src/sim/instance_types.ts";
import { simRandom } from "../../src/sim/rand.ts";
import { type Instance, type Subnet, Vpc } from "../../src/sim/vpc.ts";

export interface Fixture {
  vpc: Vpc;
  subnet: Subnet;
  instances: Instance[];
  clock: { now: number };
}

export function vpcFixture(
  options: { seed?: number; type?: string; nodes?: number; subnetCidr?: string } = {},
): Fixture {
  const clock = { now: 1_000_000 };
  const vpc = new Vpc({
    cidr: "10.10.0.0/16",
    region: "us-west-2",
    az: "us-west-2a",
    random: simRandom(options.seed ?? 1),
    now: () => clock.now,
  });
  const subnet = vpc.addSubnet({ cidr: options.subnetCidr ?? "10.10.0.0/20" });
  const type = instanceType(options.type ?? "t3.medium");
  if (!type) throw new Error(`unknown type ${options.type}`);
  const instances = [];
  for (let k = 1; k <= (options.nodes ?? 1); k++) {
    instances.push(vpc.addInstance({ type, subnetId: subnet.id, nodeKey: `n${k}` }));
  }
  return { vpc, subnet, instances, clock };
}

/** Runs fn and returns the EC2 error code it threw (fails when it does not throw). */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    throw e;
  }
  throw new Error("expected an EC2 error, but the call succeeded");
}
