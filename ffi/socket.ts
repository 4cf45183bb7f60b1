/**
 * One libnl NETLINK_ROUTE socket, bound for life to the network namespace of the thread that
 * connected it. Every socket gets the same error callback, which records the kernel's errno
 * before libnl folds it into an NLE_* code (see errors.ts `check`).
 */

import type { Pointer } from "./addr.ts";
import { check, noteKernelErrno } from "./errors.ts";
import { loadRouteLibrary, nl } from "./libnl.ts";

const NETLINK_ROUTE = 0;
const NL_CB_CUSTOM = 3;
const NL_STOP = 2;

const errDefinition = { parameters: ["pointer", "pointer", "pointer"], result: "i32" } as const;
let errCallback: Deno.UnsafeCallback<typeof errDefinition> | undefined;

// Created once and never closed: every socket of the process shares it. It only ever runs
// synchronously inside our own FFI calls, on the main thread.
function errorCallback(): Pointer {
  errCallback ??= new Deno.UnsafeCallback(errDefinition, (_who, nlerr) => {
    // struct nlmsgerr starts with `int error` (a negative errno).
    noteKernelErrno(nlerr === null ? 0 : -new Deno.UnsafePointerView(nlerr).getInt32(0));
    return NL_STOP;
  });
  return errCallback.pointer as Pointer;
}

/** Allocates and connects a socket in the calling thread's current namespace. */
export function openSocket(): Pointer {
  const n = nl();
  const sock = n.nl_socket_alloc();
  if (sock === null) throw new RangeError("Netlink.open: out of memory allocating a socket");
  try {
    const cb = n.nl_socket_get_cb(sock);
    if (cb === null) throw new RangeError("Netlink.open: socket has no callback set");
    try {
      check(n.nl_cb_err(cb, NL_CB_CUSTOM, errorCallback(), null), "Netlink.open nl_cb_err");
    } finally {
      n.nl_cb_put(cb);
    }
    check(n.nl_connect(sock, NETLINK_ROUTE), "Netlink.open nl_connect");
    return sock;
  } catch (e) {
    n.nl_socket_free(sock);
    throw e;
  }
}

export function freeSocket(sock: Pointer): void {
  nl().nl_socket_free(sock);
}

const NL_CB_VALID = 0;
const NL_OK = 0;
const NLM_F_DUMP = 0x300;
const NLE_DUMP_INTR = 33;

/** Dump requests and the size of the header each one carries (family in the first byte). */
export const DUMP = {
  links: { type: 18, header: 16 }, // RTM_GETLINK, struct ifinfomsg
  addresses: { type: 22, header: 8 }, // RTM_GETADDR, struct ifaddrmsg
  routes: { type: 26, header: 12 }, // RTM_GETROUTE, struct rtmsg
  neighbours: { type: 30, header: 12 }, // RTM_GETNEIGH, struct ndmsg
  rules: { type: 34, header: 12 }, // RTM_GETRULE, struct fib_rule_hdr
} as const;

const validDefinition = { parameters: ["pointer", "pointer"], result: "i32" } as const;
const objectDefinition = { parameters: ["pointer", "pointer"], result: "void" } as const;
let validCallback: Deno.UnsafeCallback<typeof validDefinition> | undefined;
let objectCallback: Deno.UnsafeCallback<typeof objectDefinition> | undefined;
let visitor: ((obj: Pointer) => void) | undefined;

// Each message of a dump is parsed by libnl's own parser for its type (nl_msg_parse) and
// handed to the current visitor while libnl still owns the object. Unlike libnl's caches,
// nothing is deduplicated: two IPv6 routes that differ only in their device both show.
function callbacks(): { valid: Pointer; object: Pointer } {
  objectCallback ??= new Deno.UnsafeCallback(objectDefinition, (obj) => {
    if (obj !== null) visitor?.(obj);
  });
  validCallback ??= new Deno.UnsafeCallback(validDefinition, (msg) => {
    if (msg !== null) nl().nl_msg_parse(msg, objectCallback!.pointer, null);
    return NL_OK;
  });
  return { valid: validCallback.pointer as Pointer, object: objectCallback.pointer as Pointer };
}

/**
 * Sends one dump request and returns `convert(obj)` for every object of the answer (undefined
 * results are skipped). `convert` runs while libnl owns the object: it must only read it. A
 * dump the kernel marks as interrupted (the table changed meanwhile) is restarted, up to 5
 * times.
 */
export function dump<T>(
  sock: Pointer,
  kind: keyof typeof DUMP,
  family: number,
  convert: (obj: Pointer) => T | undefined,
): T[] {
  const n = nl();
  loadRouteLibrary();
  const { type, header } = DUMP[kind];
  const request = new Uint8Array(header);
  request[0] = family;
  const { valid } = callbacks();
  for (let attempt = 1;; attempt++) {
    const base = n.nl_socket_get_cb(sock);
    const cb = base === null ? null : n.nl_cb_clone(base);
    if (base !== null) n.nl_cb_put(base);
    if (cb === null) throw new RangeError(`${kind}: out of memory cloning callbacks`);
    try {
      check(n.nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, valid, null), kind);
      check(n.nl_send_simple(sock, type, NLM_F_DUMP, request, BigInt(header)), kind);
      const items: T[] = [];
      let failure: { error: unknown } | undefined;
      const previous = visitor;
      // An exception must not cross the C frames of libnl: keep it and rethrow afterwards.
      visitor = (obj) => {
        if (failure) return;
        try {
          const item = convert(obj);
          if (item !== undefined) items.push(item);
        } catch (error) {
          failure = { error };
        }
      };
      let rc: number;
      try {
        rc = n.nl_recvmsgs(sock, cb);
      } finally {
        visitor = previous;
      }
      if (failure) throw failure.error;
      if (rc === -NLE_DUMP_INTR && attempt < 5) {
        check(0, kind); // clears the noted errno
        continue;
      }
      check(rc, kind);
      return items;
    } finally {
      n.nl_cb_put(cb);
    }
  }
}

export const cstr = (s: string): Uint8Array => new TextEncoder().encode(s + "\0");

export function cString(ptr: Deno.PointerValue): string | undefined {
  return ptr === null ? undefined : Deno.UnsafePointerView.getCString(ptr);
}

/** Netlink message flags (linux/netlink.h). */
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
