/**
 * Links: list, targeted lookups (one RTM_GETLINK, no dump), veth pairs (peer optionally in
 * another namespace), flags/MTU/MAC/name changes, moves and deletes.
 */

import { macString, parseMac, type Pointer, withAddr } from "./addr.ts";
import { check, errno, isNotFound, NetlinkError } from "./errors.ts";
import { rtnl } from "./libnl.ts";
import { closeFd, openNetns, withNetns } from "./netns.ts";
import { cstr, cString, dump, freeSocket, NLM_F_CREATE, NLM_F_EXCL, openSocket } from "./socket.ts";

export interface Link {
  index: number;
  name: string;
  /** "02:ab:..." lower case, "" when none. */
  mac: string;
  mtu: number;
  /** IFF_UP (administrative state). */
  up: boolean;
  /** "veth", "bridge", ...; undefined for plain devices like lo. */
  kind?: string;
  masterIndex?: number;
}

export type LinkRef = string | number;

export interface VethOptions {
  name: string;
  peerName: string;
  mtu?: number;
  mac?: string;
  peerMac?: string;
  /** Path of the namespace for the peer end (default: the socket's namespace). */
  peerNetns?: string;
  /** Bring this end up (the peer stays down unless `peerUp`). */
  up?: boolean;
  peerUp?: boolean;
}

const IFF_UP = 0x1;
const IFF_MULTICAST = 0x1000;
const IFNAMSIZ = 16;
const AF_UNSPEC = 0;

/** Interface names: 1-15 bytes, no "/", ":" or whitespace, not "." or "..". */
export function checkLinkName(name: string, what: string): string {
  if (
    name.length === 0 || new TextEncoder().encode(name).length >= IFNAMSIZ ||
    /[\s/:]/.test(name) || name === "." || name === ".."
  ) {
    throw new TypeError(
      `${what}: "${name}" is not a valid interface name (1-15 characters, no "/", ":" or spaces)`,
    );
  }
  return name;
}

export function describeLink(link: LinkRef): string {
  return typeof link === "number" ? `ifindex ${link}` : link;
}

function toLink(obj: Pointer): Link {
  const r = rtnl();
  const link: Link = {
    index: r.rtnl_link_get_ifindex(obj),
    name: cString(r.rtnl_link_get_name(obj)) ?? "",
    mac: macString(r.rtnl_link_get_addr(obj)),
    mtu: r.rtnl_link_get_mtu(obj),
    up: (r.rtnl_link_get_flags(obj) & IFF_UP) !== 0,
  };
  const kind = cString(r.rtnl_link_get_type(obj));
  if (kind) link.kind = kind;
  const master = r.rtnl_link_get_master(obj);
  if (master > 0) link.masterIndex = master;
  return link;
}

export function listLinks(sock: Pointer): Link[] {
  return dump(sock, "links", AF_UNSPEC, toLink);
}

/** One RTM_GETLINK by name or index; undefined when there is no such link. */
export function getLink(sock: Pointer, ref: LinkRef): Link | undefined {
  const r = rtnl();
  const out = new BigUint64Array(1);
  const name = typeof ref === "string" ? cstr(checkLinkName(ref, "link")) : null;
  const index = typeof ref === "number" ? checkIndex(ref) : 0;
  try {
    check(r.rtnl_link_get_kernel(sock, index, name, new Uint8Array(out.buffer)), `link ${ref}`);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
  const obj = Deno.UnsafePointer.create(out[0]!);
  if (obj === null) return undefined;
  try {
    return toLink(obj);
  } finally {
    r.rtnl_link_put(obj);
  }
}

function checkIndex(index: number): number {
  if (!Number.isInteger(index) || index <= 0) {
    throw new TypeError(`ifindex ${index} is invalid (a positive integer)`);
  }
  return index;
}

/** The ifindex of a link given by name or index (an index is taken as is). ENODEV if absent. */
export function linkIndex(sock: Pointer, ref: LinkRef, op: string): number {
  if (typeof ref === "number") return checkIndex(ref);
  const link = getLink(sock, ref);
  if (!link) {
    throw new NetlinkError(op, {
      errno: errno.ENODEV,
      code: "ENODEV",
      reason: `no link named "${ref}" in this namespace`,
    });
  }
  return link.index;
}

export function linkByMac(sock: Pointer, mac: string): Link | undefined {
  const want = mac.toLowerCase();
  return listLinks(sock).find((l) => l.mac === want);
}

function withLinkObject<T>(alloc: () => Deno.PointerValue, fn: (obj: Pointer) => T): T {
  const obj = alloc();
  if (obj === null) throw new RangeError("libnl: out of memory allocating a link");
  try {
    return fn(obj);
  } finally {
    rtnl().rtnl_link_put(obj);
  }
}

function setMac(obj: Pointer, mac: string, what: string): void {
  withAddr(parseMac(mac, what), (a) => rtnl().rtnl_link_set_addr(obj, a));
}

function checkMtu(mtu: number, what: string): number {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new TypeError(`${what}: MTU ${mtu} is invalid (68-65535)`);
  }
  return mtu;
}

export function createVeth(sock: Pointer, o: VethOptions): void {
  const r = rtnl();
  const op = `createVeth ${o.name} peer ${o.peerName}${o.peerNetns ? ` in ${o.peerNetns}` : ""}`;
  checkLinkName(o.name, op);
  checkLinkName(o.peerName, op);
  withLinkObject(() => r.rtnl_link_veth_alloc(), (link) => {
    const peer = r.rtnl_link_veth_get_peer(link); // a reference of our own
    if (peer === null) throw new RangeError(`${op}: libnl veth has no peer`);
    let fd = -1;
    try {
      r.rtnl_link_set_name(link, cstr(o.name));
      r.rtnl_link_set_name(peer, cstr(o.peerName));
      if (o.mtu !== undefined) {
        r.rtnl_link_set_mtu(link, checkMtu(o.mtu, op));
        r.rtnl_link_set_mtu(peer, o.mtu);
      }
      if (o.mac !== undefined) setMac(link, o.mac, op);
      if (o.peerMac !== undefined) setMac(peer, o.peerMac, op);
      // On creation the kernel takes these flags whole (no change mask), so keep MULTICAST,
      // which a new veth has by default, next to UP.
      // The peer cannot be opened inside the creating request (the kernel pairs the two ends
      // only after both are registered: ENOTCONN), so it is brought up afterwards.
      if (o.up) r.rtnl_link_set_flags(link, IFF_UP | IFF_MULTICAST);
      if (o.peerNetns !== undefined) {
        fd = openNetns(o.peerNetns, op);
        r.rtnl_link_set_ns_fd(peer, fd);
      }
      check(r.rtnl_link_add(sock, link, NLM_F_CREATE | NLM_F_EXCL), op);
    } finally {
      if (fd >= 0) closeFd(fd);
      r.rtnl_link_put(peer);
    }
  });
  if (o.peerUp) {
    if (o.peerNetns === undefined) setUp(sock, o.peerName, true);
    else {
      const peerSock = withNetns(o.peerNetns, openSocket);
      try {
        setUp(peerSock, o.peerName, true);
      } finally {
        freeSocket(peerSock);
      }
    }
  }
}

/**
 * One RTM_NEWLINK change. A link named (not indexed) is looked up by the kernel through the
 * name in the request, so no extra round trip is needed, except to rename it.
 */
export function changeLink(
  sock: Pointer,
  ref: LinkRef,
  op: string,
  apply: (changes: Pointer) => void,
  rename?: string,
): void {
  const r = rtnl();
  const index = rename !== undefined ? linkIndex(sock, ref, op) : 0;
  withLinkObject(() => r.rtnl_link_alloc(), (orig) => {
    withLinkObject(() => r.rtnl_link_alloc(), (changes) => {
      if (typeof ref === "number") r.rtnl_link_set_ifindex(orig, checkIndex(ref));
      else if (index > 0) r.rtnl_link_set_ifindex(orig, index);
      else r.rtnl_link_set_name(changes, cstr(checkLinkName(ref, op)));
      if (rename !== undefined) r.rtnl_link_set_name(changes, cstr(checkLinkName(rename, op)));
      apply(changes);
      check(r.rtnl_link_change(sock, orig, changes, 0), op);
    });
  });
}

export function setUp(sock: Pointer, ref: LinkRef, up: boolean): void {
  changeLink(sock, ref, `${up ? "setUp" : "setDown"} ${describeLink(ref)}`, (c) => {
    if (up) rtnl().rtnl_link_set_flags(c, IFF_UP);
    else rtnl().rtnl_link_unset_flags(c, IFF_UP);
  });
}

export function setMtu(sock: Pointer, ref: LinkRef, mtu: number): void {
  const op = `setMtu ${describeLink(ref)} ${mtu}`;
  checkMtu(mtu, op);
  changeLink(sock, ref, op, (c) => rtnl().rtnl_link_set_mtu(c, mtu));
}

export function setLinkMac(sock: Pointer, ref: LinkRef, mac: string): void {
  const op = `setMac ${describeLink(ref)} ${mac}`;
  const a = parseMac(mac, op);
  withAddr(a, () => changeLink(sock, ref, op, (c) => rtnl().rtnl_link_set_addr(c, a)));
}

export function rename(sock: Pointer, ref: LinkRef, newName: string): void {
  changeLink(sock, ref, `rename ${describeLink(ref)} to ${newName}`, () => {}, newName);
}

export function moveToNetns(sock: Pointer, ref: LinkRef, netnsPath: string): void {
  const op = `moveToNetns ${describeLink(ref)} ${netnsPath}`;
  const fd = openNetns(netnsPath, op);
  try {
    changeLink(sock, ref, op, (c) => rtnl().rtnl_link_set_ns_fd(c, fd));
  } finally {
    closeFd(fd);
  }
}

export function deleteLink(sock: Pointer, ref: LinkRef): void {
  const r = rtnl();
  const op = `deleteLink ${describeLink(ref)}`;
  withLinkObject(() => r.rtnl_link_alloc(), (obj) => {
    if (typeof ref === "number") r.rtnl_link_set_ifindex(obj, checkIndex(ref));
    else r.rtnl_link_set_name(obj, cstr(checkLinkName(ref, op)));
    check(r.rtnl_link_delete(sock, obj), op);
  });
}
