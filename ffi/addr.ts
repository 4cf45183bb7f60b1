/**
 * Conversions between strings and libnl's `struct nl_addr` (IP addresses, CIDRs, MACs).
 * Every nl_addr made here is owned by the caller: pass it to `withAddr` so it is released
 * even when the setter fails (libnl setters take their own reference).
 */

import { nl } from "./libnl.ts";

export type Family = 4 | 6;
export type Pointer = NonNullable<Deno.PointerValue>;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
const AF_LLC = 26;

export function afOf(family: Family): number {
  return family === 6 ? AF_INET6 : AF_INET;
}

export function familyOfAf(af: number): Family | undefined {
  return af === AF_INET ? 4 : af === AF_INET6 ? 6 : undefined;
}

/** Family of an address or CIDR by its spelling; undefined for "default". */
export function familyOf(text: string): Family | undefined {
  if (text === "default") return undefined;
  return text.includes(":") ? 6 : 4;
}

const cstr = (s: string) => new TextEncoder().encode(s + "\0");

/**
 * An nl_addr for "10.0.0.5", "10.0.0.0/16", "fd00::1/128" or "default" (0/0 of `family`).
 * Without a prefix length the address is a host address (/32, /128).
 */
export function parseIp(text: string, family: Family, what: string): Pointer {
  const n = nl();
  if (text === "default") {
    const len = family === 6 ? 16 : 4;
    const a = n.nl_addr_build(afOf(family), new Uint8Array(len), BigInt(len));
    if (a === null) throw new RangeError(`${what}: out of memory building "default"`);
    n.nl_addr_set_prefixlen(a, 0);
    return a;
  }
  const slash = text.indexOf("/");
  const prefix = slash < 0 ? undefined : text.slice(slash + 1);
  if (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && +prefix <= (family === 6 ? 128 : 32))) {
    throw new TypeError(`${what}: "${text}" has an invalid prefix length`);
  }
  const out = new BigUint64Array(1);
  const rc = n.nl_addr_parse(cstr(text), afOf(family), new Uint8Array(out.buffer));
  const a = Deno.UnsafePointer.create(out[0]!);
  if (rc < 0 || a === null || familyOf(text) !== family) {
    if (a !== null) n.nl_addr_put(a);
    throw new TypeError(
      `${what}: "${text}" is not an IPv${family} address or CIDR (like ${
        family === 6 ? "fd00::1/128" : "10.0.0.5/32"
      })`,
    );
  }
  return a;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** An nl_addr for a MAC address "02:ab:cd:ef:01:23". */
export function parseMac(text: string, what: string): Pointer {
  if (!MAC.test(text)) {
    throw new TypeError(`${what}: "${text}" is not a MAC address (like 02:ab:cd:ef:01:23)`);
  }
  const bytes = new Uint8Array(text.split(":").map((h) => parseInt(h, 16)));
  const a = nl().nl_addr_build(AF_LLC, bytes, 6n);
  if (a === null) throw new RangeError(`${what}: out of memory building a MAC address`);
  return a;
}

/** Runs `fn` with `addr` and releases the caller's reference afterwards. */
export function withAddr<T>(addr: Pointer, fn: (addr: Pointer) => T): T {
  try {
    return fn(addr);
  } finally {
    nl().nl_addr_put(addr);
  }
}

function bytesOf(addr: Pointer): Uint8Array {
  const n = nl();
  const len = n.nl_addr_get_len(addr);
  const data = n.nl_addr_get_binary_addr(addr);
  if (len === 0 || data === null) return new Uint8Array(0);
  return new Uint8Array(new Deno.UnsafePointerView(data).getArrayBuffer(len).slice(0));
}

/** "02:ab:..." in lower case; "" when the link has no address. */
export function macString(addr: Deno.PointerValue): string {
  if (addr === null) return "";
  return Array.from(bytesOf(addr), (b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * "10.0.0.5" or, with `withPrefix`, "10.0.0.5/32"; "default" for a zero-length prefix when
 * `withPrefix` is "route". Undefined when libnl has no address.
 */
export function ipString(
  addr: Deno.PointerValue,
  withPrefix: boolean | "route" = false,
): string | undefined {
  if (addr === null) return undefined;
  const n = nl();
  const prefix = n.nl_addr_get_prefixlen(addr);
  if (withPrefix === "route" && prefix === 0) return "default";
  const bytes = bytesOf(addr);
  let ip: string;
  if (bytes.length === 4) ip = bytes.join(".");
  else if (bytes.length === 16) ip = formatIPv6(bytes);
  else return undefined;
  return withPrefix ? `${ip}/${prefix}` : ip;
}

/** RFC 5952 text: lower case, longest run (>= 2) of zero groups compressed to "::". */
export function formatIPv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(groups);
  if (best === 0 && bestLen === 5 && groups[5] === 0xffff) {
    return `::ffff:${bytes.subarray(12).join(".")}`;
  }
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}
