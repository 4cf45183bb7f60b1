/**
 * Address allocations in one subnet for one EC2 action, undone together when the action fails
 * half way (EC2 actions are all-or-nothing), with EC2's errors for each way a take can fail.
 */
import { ipInCidr, parseCidr, PREFIX_LEN } from "./addresses.ts";
import { Ec2ApiError, invalidValue } from "./ec2_error.ts";
import { insufficientAddresses, insufficientCidrBlocks, type Subnet } from "./vpc.ts";

/** Allocations in one subnet that are undone together when an action fails half way. */
export class AddressTx {
  #subnet: Subnet;
  #taken: string[] = [];

  constructor(subnet: Subnet) {
    this.#subnet = subnet;
  }

  claimIp(ip: string): void {
    if (!subnetContains(this.#subnet, ip)) {
      throw invalidValue(
        `Address ${ip} does not fall within the subnet's address range (${this.#subnet.cidr}).`,
      );
    }
    if (!this.#subnet.allocator.claimIp(ip)) {
      throw new Ec2ApiError("InvalidIPAddress.InUse", `Address ${ip} is in use.`);
    }
    this.#taken.push(ip);
  }

  claimPrefix(prefix: string): void {
    let c;
    try {
      c = parseCidr(prefix);
    } catch (e) {
      throw invalidValue(`Invalid IPv4 prefix '${prefix}': ${(e as Error).message}`);
    }
    if (c.prefixLen !== PREFIX_LEN) {
      throw invalidValue(`Invalid IPv4 prefix '${prefix}': only /28 prefixes can be assigned.`);
    }
    if (!this.#subnet.allocator.claimPrefix(prefix)) throw insufficientCidrBlocks();
    this.#taken.push(prefix);
  }

  allocateIps(n: number): string[] {
    if (n === 0) return [];
    const ips = this.#subnet.allocator.allocateIps(n);
    if (!ips) throw insufficientAddresses();
    this.#taken.push(...ips);
    return ips;
  }

  allocatePrefixes(n: number): string[] {
    if (n === 0) return [];
    const prefixes = this.#subnet.allocator.allocatePrefixes(n);
    if (!prefixes) throw insufficientCidrBlocks();
    this.#taken.push(...prefixes);
    return prefixes;
  }

  rollback(): void {
    for (const a of this.#taken) this.#subnet.allocator.release(a);
    this.#taken = [];
  }
}

/** Whether an address string lies in the subnet (false for anything that is not an address). */
export function subnetContains(subnet: Subnet, ip: string): boolean {
  try {
    return ipInCidr(ip, subnet.allocator.cidr);
  } catch {
    return false;
  }
}
