/**
 * Process facts from /proc, read through libc: Deno refuses /proc/<pid>/* without
 * --allow-all, and the executables run without it.
 */

import { errno, lastErrno, sysError } from "./errors.ts";
import { libc } from "./libc.ts";
import { cstr } from "./socket.ts";

const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;

/**
 * Start time of a process (field 22 of /proc/<pid>/stat, clock ticks since boot): with the
 * pid it identifies a process even after the pid is reused. Undefined when there is no such
 * process.
 */
export function processStartTime(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) throw new TypeError(`pid ${pid} is invalid`);
  const c = libc();
  const fd = c.open(cstr(`/proc/${pid}/stat`), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (lastErrno() === errno.ENOENT) return undefined;
    throw sysError(`processStartTime ${pid}`, lastErrno());
  }
  try {
    const buf = new Uint8Array(4096);
    const n = Number(c.read(fd, buf, BigInt(buf.length)));
    if (n < 0) {
      if (lastErrno() === errno.ESRCH) return undefined; // exited between open and read
      throw sysError(`processStartTime ${pid}`, lastErrno());
    }
    const stat = new TextDecoder().decode(buf.subarray(0, n));
    // The command name (field 2) may hold spaces and parentheses: split after its last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } finally {
    c.close(fd);
  }
}
