/**
 * IPv4 addresses and CIDRs as unsigned 32-bit numbers: parsing (strict dotted quad, no leading
 * zeros, as Go's net.ParseIP), formatting, containment, and the textual forms iproute2 and
 * iptables-save print. Shared by the datastore, the node setup and the CLI. No I/O.
 */

export interface Cidr {
  /** Network address (host bits cleared), unsigned. */
  readonly network: number;
  readonly prefixLength: number;
}

const OCTET = /^(0|[1-9][0-9]{0,2})$/;

/** Parses "10.0.0.5"; undefined for anything else (leading zeros, spaces, IPv6...). */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!OCTET.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

/** Mask of a prefix length as an unsigned number (/0 → 0, /32 → 0xffffffff). */
export function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/**
 * Parses "10.0.0.7/24" and normalises it to its network ("10.0.0.0/24"), as Go's
 * net.ParseCIDR does. Undefined when the text is not an IPv4 CIDR.
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const address = parseIpv4(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (address === undefined || !/^(0|[1-9][0-9]?)$/.test(lengthText)) return undefined;
  const prefixLength = Number(lengthText);
  if (prefixLength > 32) return undefined;
  return { network: (address & maskOf(prefixLength)) >>> 0, prefixLength };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefixLength}`;
}

export function cidrSize(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefixLength);
}

export function cidrContains(cidr: Cidr, address: number): boolean {
  return ((address & maskOf(cidr.prefixLength)) >>> 0) === cidr.network;
}

/** A CIDR in network form, as text: what iptables-save prints for `-d 10.0.3.7/16`. */
export interface Ipv4Cidr {
  /** Network address, e.g. "10.0.0.0" for "10.0.3.7/16". */
  network: string;
  prefixLength: number;
  /** "10.0.0.0/16". */
  cidr: string;
}

/** Parses "a.b.c.d/n" (0 ≤ n ≤ 32) into network form as text; undefined when it is not one. */
export function parseIpv4Cidr(text: string): Ipv4Cidr | undefined {
  const parsed = parseCidr(text);
  if (!parsed) return undefined;
  const network = formatIpv4(parsed.network);
  return { network, prefixLength: parsed.prefixLength, cidr: `${network}/${parsed.prefixLength}` };
}

/** The VPC subnet gateway: the subnet's base address + 1 (10.10.0.0/16 → 10.10.0.1). */
export function subnetGateway(subnetCidr: string): string {
  const parsed = parseCidr(subnetCidr);
  if (!parsed) throw new TypeError(`Invalid IPv4 subnet CIDR "${subnetCidr}": expected a.b.c.d/n`);
  return formatIpv4((parsed.network + 1) >>> 0);
}
