/**
 * IPv4 arithmetic and the per-subnet address allocator: single addresses and aligned /28
 * prefixes, with the five addresses AWS reserves in every subnet (network, VPC router, DNS,
 * future use, broadcast). Picks are random over the free space, like EC2, but drawn from a
 * seeded stream so a run is reproducible.
 */
import type { Rng } from "./rand.ts";

export const PREFIX_LEN = 28;
const PREFIX_SIZE = 16;

export function parseIpv4(ip: string): number {
  const parts = ip.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new RangeError(`"${ip}" is not an IPv4 address (expected a.b.c.d)`);
  }
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

export interface Cidr {
  base: number;
  prefixLen: number;
  size: number;
}

/** Parses "a.b.c.d/n"; the address must be the network address of the block. */
export function parseCidr(cidr: string): Cidr {
  const [ip, len, ...rest] = cidr.split("/");
  const prefixLen = Number(len);
  if (ip === undefined || rest.length || !/^\d{1,2}$/.test(len ?? "") || prefixLen > 32) {
    throw new RangeError(`"${cidr}" is not an IPv4 CIDR block (expected a.b.c.d/n)`);
  }
  const base = parseIpv4(ip);
  const size = 2 ** (32 - prefixLen);
  if (base % size !== 0) {
    throw new RangeError(
      `"${cidr}" is not aligned: use ${formatIpv4(base - (base % size))}/${len}`,
    );
  }
  return { base, prefixLen, size };
}

export function formatCidr(c: Pick<Cidr, "base" | "prefixLen">): string {
  return `${formatIpv4(c.base)}/${c.prefixLen}`;
}

export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return inner.base >= outer.base && inner.base + inner.size <= outer.base + outer.size;
}

export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}

export function ipInCidr(ip: string, cidr: Cidr): boolean {
  const n = parseIpv4(ip);
  return n >= cidr.base && n < cidr.base + cidr.size;
}

const FREE = 0;
const USED = 1;
const AWS_RESERVED = 2;
const HELD = 3; // taken out by the control API (POST /reserve)

export class SubnetAllocator {
  readonly cidr: Cidr;
  #state: Uint8Array;
  #rng: Rng;
  #free: number;

  constructor(cidr: string, rng: Rng) {
    this.cidr = parseCidr(cidr);
    if (this.cidr.prefixLen < 16 || this.cidr.prefixLen > 28) {
      throw new RangeError(`subnet ${cidr}: EC2 subnets are /16 to /28`);
    }
    this.#rng = rng;
    this.#state = new Uint8Array(this.cidr.size);
    for (const offset of [0, 1, 2, 3, this.cidr.size - 1]) this.#state[offset] = AWS_RESERVED;
    this.#free = this.cidr.size - 5;
  }

  /** base + 1, the VPC router's address in the subnet. */
  get gateway(): string {
    return formatIpv4(this.cidr.base + 1);
  }

  /** Free single addresses (DescribeSubnets AvailableIpAddressCount). */
  get available(): number {
    return this.#free;
  }

  /** Aligned /28 blocks whose 16 addresses are all free. */
  get freePrefixes(): number {
    let count = 0;
    for (let b = 0; b < this.cidr.size; b += PREFIX_SIZE) if (this.#blockFree(b)) count++;
    return count;
  }

  contains(ip: string): boolean {
    return ipInCidr(ip, this.cidr);
  }

  isFree(ip: string): boolean {
    return this.#state[this.#offset(ip)] === FREE;
  }

  /** n random free addresses, or undefined (nothing taken) when fewer are free. */
  allocateIps(n: number): string[] | undefined {
    if (n > this.#free) return undefined;
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const start = this.#rng.int(this.cidr.size);
      for (let k = 0; k < this.cidr.size; k++) {
        const offset = (start + k) % this.cidr.size;
        if (this.#state[offset] === FREE) {
          this.#take(offset, USED);
          out.push(formatIpv4(this.cidr.base + offset));
          break;
        }
      }
    }
    return out;
  }

  /** n random free aligned /28 prefixes, or undefined (nothing taken) when fewer exist. */
  allocatePrefixes(n: number): string[] | undefined {
    const blocks = this.cidr.size / PREFIX_SIZE;
    const free: number[] = [];
    for (let b = 0; b < blocks; b++) if (this.#blockFree(b * PREFIX_SIZE)) free.push(b);
    if (free.length < n) return undefined;
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const [block] = free.splice(this.#rng.int(free.length), 1);
      const start = block! * PREFIX_SIZE;
      for (let k = 0; k < PREFIX_SIZE; k++) this.#take(start + k, USED);
      out.push(formatCidr({ base: this.cidr.base + start, prefixLen: PREFIX_LEN }));
    }
    return out;
  }

  /** Takes a given address; false when it is not free. */
  claimIp(ip: string): boolean {
    const offset = this.#offset(ip);
    if (this.#state[offset] !== FREE) return false;
    this.#take(offset, USED);
    return true;
  }

  /** Takes a given /28; false when it is misaligned or any of its addresses is not free. */
  claimPrefix(prefix: string): boolean {
    const c = parseCidr(prefix);
    if (c.prefixLen !== PREFIX_LEN || !cidrContains(this.cidr, c)) return false;
    const start = c.base - this.cidr.base;
    if (!this.#blockFree(start)) return false;
    for (let k = 0; k < PREFIX_SIZE; k++) this.#take(start + k, USED);
    return true;
  }

  /** Gives back an address or a /28 taken by allocate*, claim* or hold*. */
  release(ipOrCidr: string): void {
    const c = ipOrCidr.includes("/") ? parseCidr(ipOrCidr) : parseCidr(`${ipOrCidr}/32`);
    for (let n = c.base; n < c.base + c.size; n++) {
      const offset = n - this.cidr.base;
      const s = this.#state[offset];
      if (s === USED || s === HELD) {
        this.#state[offset] = FREE;
        this.#free++;
      }
    }
  }

  /** Frees the held addresses in a CIDR (or one address); addresses in use stay in use. */
  unhold(ipOrCidr: string): number {
    const c = ipOrCidr.includes("/") ? parseCidr(ipOrCidr) : parseCidr(`${ipOrCidr}/32`);
    if (!cidrContains(this.cidr, c)) {
      throw new RangeError(`${ipOrCidr} is not inside subnet ${formatCidr(this.cidr)}`);
    }
    let freed = 0;
    for (
      let offset = c.base - this.cidr.base;
      offset < c.base - this.cidr.base + c.size;
      offset++
    ) {
      if (this.#state[offset] === HELD) {
        this.#state[offset] = FREE;
        this.#free++;
        freed++;
      }
    }
    return freed;
  }

  /** Holds free addresses in a CIDR (or one address) so nothing can allocate them. */
  hold(ipOrCidr: string): number {
    const c = ipOrCidr.includes("/") ? parseCidr(ipOrCidr) : parseCidr(`${ipOrCidr}/32`);
    if (!cidrContains(this.cidr, c)) {
      throw new RangeError(`${ipOrCidr} is not inside subnet ${formatCidr(this.cidr)}`);
    }
    let held = 0;
    for (
      let offset = c.base - this.cidr.base;
      offset < c.base - this.cidr.base + c.size;
      offset++
    ) {
      if (this.#state[offset] === FREE) {
        this.#take(offset, HELD);
        held++;
      }
    }
    return held;
  }

  /** Holds n random free addresses. */
  holdRandom(n: number): number {
    const ips = this.allocateIps(Math.min(n, this.#free)) ?? [];
    for (const ip of ips) this.#state[this.#offset(ip)] = HELD;
    return ips.length;
  }

  /** Holds one address in the middle of every free /28, so single IPs remain but no prefix. */
  fragment(): number {
    let held = 0;
    for (let b = 0; b < this.cidr.size; b += PREFIX_SIZE) {
      if (this.#blockFree(b)) {
        this.#take(b + PREFIX_SIZE / 2, HELD);
        held++;
      }
    }
    return held;
  }

  #blockFree(start: number): boolean {
    if (start + PREFIX_SIZE > this.cidr.size) return false;
    for (let k = 0; k < PREFIX_SIZE; k++) if (this.#state[start + k] !== FREE) return false;
    return true;
  }

  #take(offset: number, state: number): void {
    this.#state[offset] = state;
    this.#free--;
  }

  #offset(ip: string): number {
    const n = parseIpv4(ip);
    if (!ipInCidr(ip, this.cidr)) {
      throw new RangeError(`${ip} is not inside subnet ${formatCidr(this.cidr)}`);
    }
    return n - this.cidr.base;
  }
}
