/**
 * Network namespaces: switch the calling thread in and out (`withNetns`), identify them
 * (`netnsId`), and create/remove named ones like `ip netns add/del` (a bind mount of the
 * namespace file under /var/run/netns). Namespace files are opened through libc `open`
 * because Deno refuses /proc/self/ns and /proc/thread-self/ns without --allow-all.
 *
 * `setns` and `unshare` change only the calling thread, which is always the JS main thread
 * (synchronous FFI); every switch is undone before control returns to the caller.
 */

import { checkSys, errno, lastErrno, NetlinkError, sysError } from "./errors.ts";
import { libc } from "./libc.ts";
import { cstr } from "./socket.ts";

export const NETNS_RUN_DIR = "/var/run/netns";
const THREAD_NS = "/proc/thread-self/ns/net";
const CLONE_NEWNET = 0x40000000;
const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const S_IFREG = 0o100000;
const MS_BIND = 4096;
const MS_REC = 16384;
const MS_SHARED = 1 << 20;
const MNT_DETACH = 2;

/** Opens a namespace file (O_CLOEXEC, so children never inherit it); the caller closes it. */
export function openNetns(path: string, op: string): number {
  const fd = libc().open(cstr(path), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw sysError(`${op}: open ${path}`, lastErrno());
  return fd;
}

export function closeFd(fd: number): void {
  libc().close(fd);
}

const NS_GET_NSTYPE = 0xb703n; // _IO(0xb7, 0x3)

// The inode number of the namespace file is the namespace's identity (what readlink on
// /proc/<pid>/ns/net prints); struct stat has st_ino at offset 8 on x86_64 and arm64.
function identify(fd: number, path: string): string {
  const c = libc();
  if (c.ioctl(fd, NS_GET_NSTYPE) !== CLONE_NEWNET) {
    throw new NetlinkError(`netnsId ${path}`, {
      errno: errno.EINVAL,
      code: "EINVAL",
      reason: "not a network namespace file (expected /var/run/netns/<name> or /proc/<pid>/ns/net)",
    });
  }
  const st = new BigUint64Array(18);
  checkSys(c.fstat(fd, new Uint8Array(st.buffer)), `netnsId ${path}: fstat`);
  return `net:[${st[1]}]`;
}

/**
 * Identity of a namespace, "net:[4026531840]": of the calling thread's current namespace, or
 * of the namespace file at `netnsPath` (a /var/run/netns bind mount or /proc/<pid>/ns/net).
 */
export function netnsId(netnsPath?: string): string {
  primeStart();
  return idOf(netnsPath ?? THREAD_NS);
}

function idOf(path: string): string {
  const fd = openNetns(path, "netnsId");
  try {
    return identify(fd, path);
  } finally {
    closeFd(fd);
  }
}

let startId: string | undefined;

function primeStart(): void {
  if (startId === undefined && depth === 0) startId = idOf(THREAD_NS);
}

/**
 * Identity of the namespace the process started in (the main thread's namespace the first
 * time ffi/ looked, which is before any switch). Guards use it to refuse the host namespace.
 */
export function startNetnsId(): string {
  primeStart();
  return startId!;
}

let depth = 0;

/**
 * Runs `fn` with the calling thread switched into the namespace at `netnsPath` and always
 * switches back, also when `fn` throws. `fn` must be synchronous: a returned Promise is a
 * TypeError (its continuation would run in the wrong namespace, or in the right one by luck).
 */
export function withNetns<T>(netnsPath: string, fn: () => T): T {
  if (fn.constructor.name === "AsyncFunction") {
    throw new TypeError(`withNetns ${netnsPath}: the callback must be synchronous, not async`);
  }
  primeStart();
  const c = libc();
  const home = openNetns(THREAD_NS, `withNetns ${netnsPath}`);
  try {
    const target = openNetns(netnsPath, `withNetns ${netnsPath}`);
    try {
      checkSys(c.setns(target, CLONE_NEWNET), `withNetns ${netnsPath}: setns`);
    } finally {
      closeFd(target);
    }
    let result: T;
    depth++;
    try {
      result = fn();
    } finally {
      depth--;
      switchBack(home, netnsPath);
    }
    if (typeof (result as { then?: unknown } | null)?.then === "function") {
      Promise.resolve(result).catch(() => {}); // the TypeError below is the error to report
      throw new TypeError(
        `withNetns ${netnsPath}: the callback returned a Promise; it must be synchronous`,
      );
    }
    return result;
  } finally {
    closeFd(home);
  }
}

function switchBack(home: number, from: string): void {
  if (libc().setns(home, CLONE_NEWNET) !== 0) {
    // The thread would stay in a foreign namespace: nothing after this can be trusted.
    throw sysError(`withNetns ${from}: setns back to the original namespace`, lastErrno());
  }
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}$/;

export function netnsPath(name: string): string {
  if (!NAME.test(name)) {
    throw new TypeError(
      `namespace name "${name}" is invalid: use letters, digits, "_", "-", "." (no "/")`,
    );
  }
  return `${NETNS_RUN_DIR}/${name}`;
}

let runDirReady = false;

// Like `ip netns add`: /var/run/netns is a shared mount, so that unmounting a namespace file
// also unmounts it in mount namespaces made later (containers), and the namespace can go.
function ensureRunDir(): void {
  if (runDirReady) return;
  const c = libc();
  const dir = cstr(NETNS_RUN_DIR);
  if (c.mkdir(dir, 0o755) !== 0 && lastErrno() !== errno.EEXIST) {
    throw sysError(`createNetns: mkdir ${NETNS_RUN_DIR}`, lastErrno());
  }
  const none = cstr("none");
  if (c.mount(cstr(""), dir, none, BigInt(MS_SHARED | MS_REC), null) !== 0) {
    if (lastErrno() !== errno.EINVAL) {
      throw sysError(`createNetns: make ${NETNS_RUN_DIR} shared`, lastErrno());
    }
    checkSys(
      c.mount(dir, dir, none, BigInt(MS_BIND | MS_REC), null),
      `createNetns: bind ${NETNS_RUN_DIR} onto itself`,
    );
    checkSys(
      c.mount(cstr(""), dir, none, BigInt(MS_SHARED | MS_REC), null),
      `createNetns: make ${NETNS_RUN_DIR} shared`,
    );
  }
  runDirReady = true;
}

/**
 * Creates a named network namespace (like `ip netns add <name>`) and returns its path.
 * EEXIST (isExists) when the name is taken. The new namespace has only `lo`, down.
 */
export function createNetns(name: string): string {
  const path = netnsPath(name);
  const op = `createNetns ${name}`;
  primeStart();
  ensureRunDir();
  const c = libc();
  checkSys(c.mknod(cstr(path), S_IFREG, 0n), `${op}: create ${path}`);
  const home = openNetns(THREAD_NS, op);
  try {
    // unshare moves this thread into a fresh namespace; the bind mount keeps it alive after
    // the thread switches back.
    checkSys(c.unshare(CLONE_NEWNET), `${op}: unshare`);
    try {
      checkSys(
        c.mount(cstr(THREAD_NS), cstr(path), cstr("none"), BigInt(MS_BIND), null),
        `${op}: bind mount`,
      );
    } finally {
      switchBack(home, path);
    }
  } catch (e) {
    c.umount2(cstr(path), MNT_DETACH);
    c.unlink(cstr(path));
    throw e;
  } finally {
    closeFd(home);
  }
  return path;
}

/** Removes a named namespace (like `ip netns del`); nothing happens when it is not there. */
export function deleteNetns(name: string): void {
  const path = netnsPath(name);
  const c = libc();
  const file = cstr(path);
  // Unmount until nothing is mounted there (a bind mount may be stacked on another).
  for (let mounts = 0; mounts < 8; mounts++) {
    if (c.umount2(file, MNT_DETACH) === 0) continue;
    const e = lastErrno();
    if (e !== errno.EINVAL && e !== errno.ENOENT) throw sysError(`deleteNetns ${name}: umount`, e);
    break;
  }
  if (c.unlink(file) !== 0) {
    const e = lastErrno();
    if (e !== errno.ENOENT) throw sysError(`deleteNetns ${name}: unlink ${path}`, e);
  }
}
