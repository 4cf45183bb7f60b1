/**
 * Typed errors for everything in ffi/: netlink requests (kernel errno recovered exactly, see
 * socket.ts), libnl's own failures (NLE_* codes) and the few system calls of netns.ts and
 * sysctl.ts. Callers test `isExists` / `isNotFound` or read `errno` / `code`; never the message.
 */

import { libc } from "./libc.ts";
import { nl } from "./libnl.ts";

export class NetlinkError extends Error {
  /** What was attempted, with its values: "addRoute 10.0.0.5/32 table 2". */
  readonly op: string;
  /** Positive errno (17 for EEXIST); 0 when only a libnl code is known. */
  readonly errno: number;
  /** "EEXIST", "ENODEV", ... or libnl's name ("NLE_OBJ_NOTFOUND") when errno is 0. */
  readonly code: string;
  /** libnl's NLE_* code, when the error came through libnl. */
  readonly libnlCode?: number;

  constructor(
    op: string,
    detail: { errno: number; code: string; reason: string; libnlCode?: number },
    options?: ErrorOptions,
  ) {
    super(`${op}: ${detail.reason} (${detail.code})`, options);
    this.name = "NetlinkError";
    this.op = op;
    this.errno = detail.errno;
    this.code = detail.code;
    if (detail.libnlCode !== undefined) this.libnlCode = detail.libnlCode;
  }
}

export const errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EBADF: 9,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  EADDRNOTAVAIL: 99,
} as const;

/** libnl 3.7 error codes (include/netlink/errno.h), index = code. */
const NLE_NAMES = [
  "NLE_SUCCESS",
  "NLE_FAILURE",
  "NLE_INTR",
  "NLE_BAD_SOCK",
  "NLE_AGAIN",
  "NLE_NOMEM",
  "NLE_EXIST",
  "NLE_INVAL",
  "NLE_RANGE",
  "NLE_MSGSIZE",
  "NLE_OPNOTSUPP",
  "NLE_AF_NOSUPPORT",
  "NLE_OBJ_NOTFOUND",
  "NLE_NOATTR",
  "NLE_MISSING_ATTR",
  "NLE_AF_MISMATCH",
  "NLE_SEQ_MISMATCH",
  "NLE_MSG_OVERFLOW",
  "NLE_MSG_TRUNC",
  "NLE_NOADDR",
  "NLE_SRCRT_NOSUPPORT",
  "NLE_MSG_TOOSHORT",
  "NLE_MSGTYPE_NOSUPPORT",
  "NLE_OBJ_MISMATCH",
  "NLE_NOCACHE",
  "NLE_BUSY",
  "NLE_PROTO_MISMATCH",
  "NLE_NOACCESS",
  "NLE_PERM",
  "NLE_PKTLOC_FILE",
  "NLE_PARSE_ERR",
  "NLE_NODEV",
  "NLE_IMMUTABLE",
  "NLE_DUMP_INTR",
  "NLE_ATTRSIZE",
];
const NLE_EXIST = 6;
const NLE_OBJ_NOTFOUND = 12;
const NLE_NOADDR = 19;
const NLE_NODEV = 31;

const NOT_FOUND_ERRNOS: ReadonlySet<number> = new Set([
  errno.ENOENT,
  errno.ESRCH,
  errno.ENODEV,
  errno.EADDRNOTAVAIL,
]);
const NOT_FOUND_NLE: ReadonlySet<number> = new Set([NLE_OBJ_NOTFOUND, NLE_NODEV, NLE_NOADDR]);

/** EEXIST: the route, rule, address, link or namespace is already there. */
export function isExists(e: unknown): boolean {
  if (!(e instanceof NetlinkError)) return false;
  return e.errno === errno.EEXIST || (e.errno === 0 && e.libnlCode === NLE_EXIST);
}

/**
 * The object (or the link it hangs on) does not exist: ENOENT, ESRCH (IPv4 route), ENODEV
 * (link), EADDRNOTAVAIL (address), or libnl's "object not found".
 */
export function isNotFound(e: unknown): boolean {
  if (!(e instanceof NetlinkError)) return false;
  if (NOT_FOUND_ERRNOS.has(e.errno)) return true;
  return e.errno === 0 && e.libnlCode !== undefined && NOT_FOUND_NLE.has(e.libnlCode);
}

/** "EEXIST" for 17; glibc knows every name. */
export function errnoName(n: number): string {
  const name = libc().strerrorname_np(n);
  return name === null ? `E${n}` : Deno.UnsafePointerView.getCString(name);
}

function errnoText(n: number): string {
  const text = libc().strerror(n);
  return text === null ? `errno ${n}` : Deno.UnsafePointerView.getCString(text);
}

/** An error for a failed system call whose errno is `n`. */
export function sysError(op: string, n: number): NetlinkError {
  return new NetlinkError(op, { errno: n, code: errnoName(n), reason: errnoText(n) });
}

/** The calling thread's errno, right after a failed libc call. */
export function lastErrno(): number {
  const at = libc().__errno_location();
  return at === null ? 0 : new Deno.UnsafePointerView(at).getInt32();
}

/** Throws `sysError` for a libc return code below zero. */
export function checkSys(rc: number | bigint, op: string): number {
  if (rc < 0) throw sysError(op, lastErrno());
  return Number(rc);
}

// The kernel's errno of the last NLMSG_ERROR, recorded by socket.ts's error callback: libnl
// folds errnos into fewer NLE_* codes (ENOENT and ESRCH both become NLE_OBJ_NOTFOUND,
// ENETUNREACH becomes NLE_FAILURE), so the original is kept here.
let kernelErrno = 0;

export function noteKernelErrno(n: number): void {
  kernelErrno = n;
}

/**
 * Turns a libnl return code into a NetlinkError (rc < 0) or returns it. Reads and clears the
 * kernel errno noted during the call, so every libnl call that talks to the kernel goes
 * through here.
 */
export function check(rc: number, op: string): number {
  const kernel = kernelErrno;
  kernelErrno = 0;
  if (rc >= 0) return rc;
  const libnlCode = -rc;
  if (kernel > 0) {
    return raise(
      new NetlinkError(op, {
        errno: kernel,
        code: errnoName(kernel),
        reason: errnoText(kernel),
        libnlCode,
      }),
    );
  }
  return raise(
    new NetlinkError(op, {
      errno: 0,
      code: NLE_NAMES[libnlCode] ?? `NLE_${libnlCode}`,
      reason: libnlText(rc),
      libnlCode,
    }),
  );
}

function libnlText(rc: number): string {
  const text = nl().nl_geterror(rc);
  return text === null ? `libnl error ${-rc}` : Deno.UnsafePointerView.getCString(text);
}

function raise(e: NetlinkError): never {
  throw e;
}
