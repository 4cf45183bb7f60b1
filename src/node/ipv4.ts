/**
 * IPv4 address and CIDR arithmetic for node setup (iptables rules, ENI gateways, subnet
 * routes). Addresses are unsigned 32-bit numbers internally; everything printed is in the
 * form iproute2 and iptables-save print.
 */

export interface Ipv4Cidr {
  /** Network address, e.g. "10.0.0.0" for "10.0.3.7/16". */
  network: string;
  prefixLength: number;
  /** Network form, "10.0.0.0/16": what iptables-save prints for `-d 10.0.3.7/16`. */
  cidr: string;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Parses a dotted-quad IPv4 address; undefined for anything else (IPv6, "10.1", "01.2.3.4"). */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!OCTET.test(part)) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

/** Parses "a.b.c.d/n" (0 ≤ n ≤ 32) into network form; undefined when it is not one. */
export function parseIpv4Cidr(text: string): Ipv4Cidr | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const address = parseIpv4(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (address === undefined || !/^(3[0-2]|[12]?\d)$/.test(lengthText)) return undefined;
  const prefixLength = Number(lengthText);
  const network = formatIpv4((address & maskOf(prefixLength)) >>> 0);
  return { network, prefixLength, cidr: `${network}/${prefixLength}` };
}

/** The netmask of a prefix length as an unsigned number (0 for /0). */
export function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** The VPC subnet gateway: the subnet's base address + 1 (10.10.0.0/16 → 10.10.0.1). */
export function subnetGateway(subnetCidr: string): string {
  const parsed = parseIpv4Cidr(subnetCidr);
  if (!parsed) throw new TypeError(`Invalid IPv4 subnet CIDR "${subnetCidr}": expected a.b.c.d/n`);
  return formatIpv4(((parseIpv4(parsed.network) ?? 0) + 1) >>> 0);
}
