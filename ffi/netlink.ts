/**
 * The safe netlink API: one NETLINK_ROUTE socket per `Netlink`, bound to the namespace it
 * was opened in. Links and everything hanging on them may be named or given by ifindex. All
 * calls are synchronous; the work is done in links/addrs/routes/rules/neigh.ts.
 */

import type { Family, Pointer } from "./addr.ts";
import * as addrs from "./addrs.ts";
import { isNotFound } from "./errors.ts";
import * as links from "./links.ts";
import * as neigh from "./neigh.ts";
import { withNetns } from "./netns.ts";
import * as routes from "./routes.ts";
import * as rules from "./rules.ts";
import { freeSocket, openSocket } from "./socket.ts";

type LinkRef = links.LinkRef;

export class Netlink implements Disposable {
  #sock: Pointer | null;
  /** The namespace file this socket was opened in; undefined for `open()`. */
  readonly netnsPath: string | undefined;

  private constructor(sock: Pointer, netnsPath?: string) {
    this.#sock = sock;
    this.netnsPath = netnsPath;
  }

  /** A socket in the calling thread's current namespace. */
  static open(): Netlink {
    return new Netlink(openSocket());
  }

  /** Switches in, opens a socket, switches back: the socket keeps working on `netnsPath`. */
  static openIn(netnsPath: string): Netlink {
    return new Netlink(withNetns(netnsPath, openSocket), netnsPath);
  }

  get closed(): boolean {
    return this.#sock === null;
  }

  /** Frees the socket; later calls throw. Closing twice is harmless. */
  close(): void {
    if (this.#sock !== null) freeSocket(this.#sock);
    this.#sock = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  get #s(): Pointer {
    if (this.#sock === null) {
      throw new Error(`Netlink socket${this.netnsPath ? ` for ${this.netnsPath}` : ""} is closed`);
    }
    return this.#sock;
  }

  // ---- links
  links(): links.Link[] {
    return links.listLinks(this.#s);
  }
  /** One targeted lookup; undefined when absent. */
  link(nameOrIndex: LinkRef): links.Link | undefined {
    return links.getLink(this.#s, nameOrIndex);
  }
  linkByMac(mac: string): links.Link | undefined {
    return links.linkByMac(this.#s, mac);
  }
  createVeth(options: links.VethOptions): void {
    links.createVeth(this.#s, options);
  }
  setUp(link: LinkRef): void {
    links.setUp(this.#s, link, true);
  }
  setDown(link: LinkRef): void {
    links.setUp(this.#s, link, false);
  }
  setMtu(link: LinkRef, mtu: number): void {
    links.setMtu(this.#s, link, mtu);
  }
  setMac(link: LinkRef, mac: string): void {
    links.setLinkMac(this.#s, link, mac);
  }
  /** The kernel refuses (EBUSY) to rename a link that is up. */
  rename(link: LinkRef, newName: string): void {
    links.rename(this.#s, link, newName);
  }
  moveToNetns(link: LinkRef, netnsPath: string): void {
    links.moveToNetns(this.#s, link, netnsPath);
  }
  deleteLink(link: LinkRef): void {
    links.deleteLink(this.#s, link);
  }
  deleteLinkIfExists(link: LinkRef): boolean {
    return ifExists(() => links.deleteLink(this.#s, link));
  }

  // ---- addresses
  addresses(filter?: { link?: LinkRef; family?: Family }): addrs.Address[] {
    return addrs.listAddresses(this.#s, filter);
  }
  addAddress(link: LinkRef, cidr: string, options?: addrs.AddressOptions): void {
    addrs.addAddress(this.#s, link, cidr, options);
  }
  /** Like addAddress; an address already there is fine. */
  ensureAddress(link: LinkRef, cidr: string, options?: addrs.AddressOptions): void {
    addrs.ensureAddress(this.#s, link, cidr, options);
  }
  deleteAddress(link: LinkRef, cidr: string): void {
    addrs.deleteAddress(this.#s, link, cidr);
  }
  deleteAddressIfExists(link: LinkRef, cidr: string): boolean {
    return addrs.deleteAddressIfExists(this.#s, link, cidr);
  }

  // ---- routes
  routes(filter?: { table?: number; family?: Family }): routes.Route[] {
    return routes.listRoutes(this.#s, filter);
  }
  addRoute(route: routes.RouteSpec): void {
    routes.addRoute(this.#s, route);
  }
  replaceRoute(route: routes.RouteSpec): void {
    routes.replaceRoute(this.#s, route);
  }
  deleteRoute(route: routes.RouteSpec): void {
    routes.deleteRoute(this.#s, route);
  }
  deleteRouteIfExists(route: routes.RouteSpec): boolean {
    return routes.deleteRouteIfExists(this.#s, route);
  }

  // ---- rules
  rules(family?: Family): rules.Rule[] {
    return rules.listRules(this.#s, family);
  }
  addRule(rule: rules.RuleSpec): void {
    rules.addRule(this.#s, rule);
  }
  /** Like addRule; an identical rule already there is fine. */
  ensureRule(rule: rules.RuleSpec): void {
    rules.ensureRule(this.#s, rule);
  }
  deleteRule(rule: rules.RuleSpec): void {
    rules.deleteRule(this.#s, rule);
  }
  deleteRuleIfExists(rule: rules.RuleSpec): boolean {
    return rules.deleteRuleIfExists(this.#s, rule);
  }

  // ---- neighbours
  neighbours(filter?: { link?: LinkRef }): neigh.Neighbour[] {
    return neigh.listNeighbours(this.#s, filter);
  }
  /** Adds or replaces a permanent entry (NUD_PERMANENT). */
  replaceNeighbour(n: { link: LinkRef; ip: string; mac: string }): void {
    neigh.replaceNeighbour(this.#s, n);
  }
  deleteNeighbour(n: { link: LinkRef; ip: string }): void {
    neigh.deleteNeighbour(this.#s, n);
  }
  deleteNeighbourIfExists(n: { link: LinkRef; ip: string }): boolean {
    return neigh.deleteNeighbourIfExists(this.#s, n);
  }
}

function ifExists(fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}
