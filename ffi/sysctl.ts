/**
 * sysctls of the calling thread's current network namespace: /proc/sys/net resolves against
 * the namespace of the thread that opens the file, so switch in first
 * (`withNetns(ns, () => writeSysctl(...))`). Files are opened through libc for that reason
 * and to need no Deno read/write permission on /proc.
 */

import { lastErrno, sysError } from "./errors.ts";
import { libc } from "./libc.ts";
import { cstr } from "./socket.ts";

const O_RDONLY = 0;
const O_WRONLY = 1;
const O_CLOEXEC = 0o2000000;

/** "net.ipv4.ip_forward" or "net/ipv4/conf/eth0.100/rp_filter" (slashes keep dots in names). */
export function sysctlPath(key: string): string {
  const rel = key.includes("/") ? key : key.replaceAll(".", "/");
  if (rel === "" || rel.startsWith("/") || rel.split("/").some((p) => p === "" || p === "..")) {
    throw new TypeError(`sysctl key "${key}" is invalid (like "net.ipv4.ip_forward")`);
  }
  return `/proc/sys/${rel}`;
}

export function readSysctl(key: string): string {
  const path = sysctlPath(key);
  const c = libc();
  const fd = c.open(cstr(path), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw sysError(`readSysctl ${key}`, lastErrno());
  try {
    const buf = new Uint8Array(4096);
    const n = Number(c.read(fd, buf, BigInt(buf.length)));
    if (n < 0) throw sysError(`readSysctl ${key}`, lastErrno());
    return new TextDecoder().decode(buf.subarray(0, n)).replace(/\n$/, "");
  } finally {
    c.close(fd);
  }
}

export function writeSysctl(key: string, value: string): void {
  const path = sysctlPath(key);
  const c = libc();
  const fd = c.open(cstr(path), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw sysError(`writeSysctl ${key}=${value}`, lastErrno());
  try {
    const data = new TextEncoder().encode(value);
    if (Number(c.write(fd, data, BigInt(data.length))) < 0) {
      throw sysError(`writeSysctl ${key}=${value}`, lastErrno());
    }
  } finally {
    c.close(fd);
  }
}
