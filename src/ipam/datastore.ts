/**
 * The datastore: which ENIs the node has, which /32 secondary IPs and /28 prefixes each holds,
 * which pod holds which address, and which addresses are cooling down after a pod released
 * them. No I/O: every change that a checkpoint must record goes through the injected
 * `persist(snapshot)` before it is acknowledged; if that throws, the change is rolled back and
 * a PersistError raised. Iteration order is insertion order (ENIs, then their CIDRs), so the
 * same history always gives the same addresses.
 */

import type { AttachmentKey } from "../rpc/protocol.ts";
import {
  AddressInUseError,
  CidrConflictError,
  PersistError,
  PoolExhaustedError,
  UnknownAttachmentError,
  UnknownCidrError,
  UnknownEniError,
} from "./errors.ts";
import {
  type Cidr,
  cidrContains,
  cidrSize,
  formatCidr,
  formatIpv4,
  parseCidr,
  parseIpv4,
} from "../ipv4.ts";
import { routeTableId } from "./route_table.ts";
import {
  type AllocationRecord,
  type Assignment,
  type CoolingRecord,
  type DatastoreOptions,
  type DatastoreSnapshot,
  type EniDetail,
  type EniInit,
  LEGACY_IF_NAME,
  LEGACY_NETWORK_NAME,
  type PodMetadata,
  type PoolStats,
} from "./datastore_types.ts";

export * from "./datastore_types.ts";
import { countEni, countPool, type PoolMode, type PoolView } from "./view.ts";

interface Entry {
  key?: AttachmentKey;
  pod?: PodMetadata;
  assignedAt?: number;
  unassignedAt?: number;
}

interface CidrState {
  readonly text: string;
  readonly cidr: Cidr;
  readonly isPrefix: boolean;
  readonly size: number;
  /** Only addresses with a history (assigned, or released at some time). */
  readonly entries: Map<number, Entry>;
  assigned: number;
}

interface EniState extends Omit<EniDetail, "cidrs"> {
  excluded: boolean;
  cidrs: Map<string, CidrState>;
}

interface Slot {
  readonly eni: EniState;
  readonly cidr: CidrState;
  readonly address: number;
}

type Undo = (step: () => void) => void;

function keyString(key: AttachmentKey): string {
  return JSON.stringify([key.networkName, key.containerId, key.ifName]);
}

export class Datastore {
  readonly #mode: PoolMode;
  readonly #cooldownMs: number;
  readonly #now: () => number;
  readonly #persist?: (snapshot: DatastoreSnapshot) => void;
  #enis = new Map<string, EniState>();
  readonly #cidrOwner = new Map<string, EniState>();
  readonly #byKey = new Map<string, Slot>();

  constructor(options: DatastoreOptions) {
    this.#mode = options.mode;
    this.#cooldownMs = options.cooldownMs;
    this.#now = options.now ?? Date.now;
    if (options.persist) this.#persist = options.persist;
  }

  get mode(): PoolMode {
    return this.#mode;
  }

  // ---- ENIs and CIDRs -------------------------------------------------------------------

  /** Adds an ENI; false (and nothing changes) when it is already there. */
  addEni(init: EniInit): boolean {
    if (this.#enis.has(init.id)) return false;
    this.#enis.set(init.id, {
      id: init.id,
      deviceNumber: init.deviceNumber,
      isPrimary: init.isPrimary ?? init.deviceNumber === 0,
      isTrunk: init.isTrunk ?? false,
      isEfa: init.isEfa ?? false,
      ...(init.subnetId === undefined ? {} : { subnetId: init.subnetId }),
      routeTableId: init.routeTableId ?? routeTableId(init.deviceNumber),
      excluded: init.excluded ?? false,
      createdAt: init.createdAt ?? this.#now(),
      cidrs: new Map(),
    });
    return true;
  }

  hasEni(eniId: string): boolean {
    return this.#enis.has(eniId);
  }

  /** Marks an ENI's subnet as excluded from (or again allowed for) pod addresses. */
  setExcluded(eniId: string, excluded: boolean): void {
    this.#eni(eniId).excluded = excluded;
  }

  /**
   * Removes an ENI. Without `force` it must hold no pod address and no address in cooldown
   * (AddressInUseError); with `force` its pods lose their addresses, which are returned.
   */
  removeEni(eniId: string, options: { force?: boolean } = {}): Assignment[] {
    const eni = this.#eni(eniId);
    const cidrs = [...eni.cidrs.values()];
    const forced = this.#checkRemovable(eni, { cidrs, force: options.force ?? false });
    const before = [...this.#enis];
    const drop = () => {
      this.#enis.delete(eniId);
      for (const cidr of cidrs) this.#cidrOwner.delete(cidr.text);
    };
    if (!cidrs.some((c) => c.entries.size > 0)) {
      drop();
      return [];
    }
    return this.#commit(`removing ENI ${eniId}`, (undo) => {
      drop();
      this.#unindex(forced, undo);
      undo(() => {
        this.#enis = new Map(before);
        for (const cidr of cidrs) this.#cidrOwner.set(cidr.text, eni);
      });
      return forced.map((slot) => this.#toAssignment(slot));
    });
  }

  /**
   * Adds a secondary IP ("10.0.0.5" or "10.0.0.5/32") or a prefix ("10.0.0.16/28") to an ENI;
   * false when the ENI already has it. A prefix's network address is usable (EC2 reserves
   * nothing inside delegated prefixes).
   */
  addCidr(eniId: string, cidr: string): boolean {
    const eni = this.#eni(eniId);
    const parsed = parseCidr(cidr.includes("/") ? cidr : `${cidr}/32`);
    if (parsed === undefined) {
      throw new RangeError(`${JSON.stringify(cidr)} is not an IPv4 address or CIDR`);
    }
    const text = formatCidr(parsed);
    const owner = this.#cidrOwner.get(text);
    if (owner === eni) return false;
    if (owner) throw new CidrConflictError(text, { eniId, existingEniId: owner.id });
    const state: CidrState = {
      text,
      cidr: parsed,
      isPrefix: parsed.prefixLength < 32,
      size: cidrSize(parsed),
      entries: new Map(),
      assigned: 0,
    };
    eni.cidrs.set(text, state);
    this.#cidrOwner.set(text, eni);
    return true;
  }

  /**
   * Removes a CIDR from an ENI. Without `force` no address of it may be assigned or cooling
   * (AddressInUseError), which is what makes releasing safe against a concurrent ADD; with
   * `force` (EC2 no longer has it) its pods lose their addresses, which are returned.
   */
  removeCidr(eniId: string, cidr: string, options: { force?: boolean } = {}): Assignment[] {
    const eni = this.#eni(eniId);
    const parsed = parseCidr(cidr.includes("/") ? cidr : `${cidr}/32`);
    const state = parsed && eni.cidrs.get(formatCidr(parsed));
    if (!state) throw new UnknownCidrError(eniId, cidr);
    const forced = this.#checkRemovable(eni, {
      cidrs: [state],
      force: options.force ?? false,
      cidr: state.text,
    });
    const before = [...eni.cidrs];
    const drop = () => {
      eni.cidrs.delete(state.text);
      this.#cidrOwner.delete(state.text);
    };
    if (state.entries.size === 0) {
      drop();
      return [];
    }
    return this.#commit(`removing ${state.text} from ENI ${eniId}`, (undo) => {
      drop();
      this.#unindex(forced, undo);
      undo(() => {
        eni.cidrs = new Map(before);
        this.#cidrOwner.set(state.text, eni);
      });
      return forced.map((slot) => this.#toAssignment(slot));
    });
  }

  // ---- pods -------------------------------------------------------------------------------

  /**
   * Assigns a free, out-of-cooldown address to an attachment. Idempotent: a repeated key gets
   * the address it already holds. Prefix mode uses prefixes first, then fallback /32s.
   */
  assign(key: AttachmentKey, pod?: PodMetadata): Assignment {
    if (!key.networkName || !key.containerId || !key.ifName) {
      throw new TypeError(
        `an attachment needs a network name, container id and interface name: got ${
          JSON.stringify(key)
        }`,
      );
    }
    const id = keyString(key);
    const existing = this.#byKey.get(id);
    if (existing) return this.#toAssignment(existing);
    const now = this.#now();
    const slot = this.#findFree(now);
    if (!slot) throw new PoolExhaustedError(countPool(this.view()));
    return this.#commit("assigning an address", (undo) => {
      const previous = slot.cidr.entries.get(slot.address);
      const entry: Entry = {
        key: { networkName: key.networkName, containerId: key.containerId, ifName: key.ifName },
        assignedAt: now,
        ...(pod ? { pod: { ...pod } } : {}),
      };
      slot.cidr.entries.set(slot.address, entry);
      slot.cidr.assigned++;
      this.#byKey.set(id, slot);
      undo(() => {
        if (previous) slot.cidr.entries.set(slot.address, previous);
        else slot.cidr.entries.delete(slot.address);
        slot.cidr.assigned--;
        this.#byKey.delete(id);
      });
      return this.#toAssignment(slot);
    });
  }

  /**
   * Releases the address of an attachment (upstream's legacy key is tried too); it then cools
   * down for IP_COOLDOWN_PERIOD. Throws UnknownAttachmentError when nothing is held.
   */
  release(key: AttachmentKey): Assignment {
    const legacy = { ...key, networkName: LEGACY_NETWORK_NAME, ifName: LEGACY_IF_NAME };
    const id = [keyString(key), keyString(legacy)].find((k) => this.#byKey.has(k));
    const slot = id === undefined ? undefined : this.#byKey.get(id);
    if (id === undefined || !slot) throw new UnknownAttachmentError(key);
    const released = this.#toAssignment(slot);
    const now = this.#now();
    return this.#commit(`releasing ${released.ipv4}`, (undo) => {
      const entry = slot.cidr.entries.get(slot.address)!;
      const previous = { ...entry };
      slot.cidr.entries.set(slot.address, { assignedAt: entry.assignedAt, unassignedAt: now });
      slot.cidr.assigned--;
      this.#byKey.delete(id);
      undo(() => {
        slot.cidr.entries.set(slot.address, previous);
        slot.cidr.assigned++;
        this.#byKey.set(id, slot);
      });
      return released;
    });
  }

  lookup(key: AttachmentKey): Assignment | undefined {
    const slot = this.#byKey.get(keyString(key));
    return slot && this.#toAssignment(slot);
  }

  /** Every assignment, in ENI, CIDR and address order. */
  assignments(): Assignment[] {
    return this.#slots().filter((s) => s.cidr.entries.get(s.address)?.key).map((s) =>
      this.#toAssignment(s)
    );
  }

  /**
   * Restores assignments (and cooldowns) from a checkpoint, after the ENIs and CIDRs were
   * loaded from the instance. Every address must lie in a CIDR of the datastore and be free
   * (see planRestore); all or nothing, persisted once.
   */
  restore(allocations: readonly AllocationRecord[], cooling: readonly CoolingRecord[] = []): void {
    const now = this.#now();
    this.#commit("restoring the checkpoint", (undo) => {
      for (const record of allocations) {
        const slot = this.#locate(record.ipv4);
        const id = keyString(record.key);
        const entry = slot.cidr.entries.get(slot.address);
        if (entry?.key) {
          throw new AddressInUseError({
            eniId: slot.eni.id,
            cidr: slot.cidr.text,
            reason: "assigned",
            addresses: [record.ipv4],
          });
        }
        if (this.#byKey.has(id)) {
          throw new RangeError(`the checkpoint lists attachment ${id} twice`);
        }
        slot.cidr.entries.set(slot.address, {
          key: { ...record.key },
          assignedAt: record.assignedAt,
          ...(record.pod ? { pod: { ...record.pod } } : {}),
        });
        slot.cidr.assigned++;
        this.#byKey.set(id, slot);
        undo(() => {
          if (entry) slot.cidr.entries.set(slot.address, entry);
          else slot.cidr.entries.delete(slot.address);
          slot.cidr.assigned--;
          this.#byKey.delete(id);
        });
      }
      for (const record of cooling) {
        if (now - record.unassignedAt >= this.#cooldownMs) continue;
        const slot = this.#locate(record.ipv4);
        if (slot.cidr.entries.has(slot.address)) continue;
        slot.cidr.entries.set(slot.address, { unassignedAt: record.unassignedAt });
        undo(() => slot.cidr.entries.delete(slot.address));
      }
    });
  }

  // ---- reports ----------------------------------------------------------------------------

  /** The plain-data picture the planner reads; cooling resolved at the current time. */
  view(): PoolView {
    const now = this.#now();
    return {
      mode: this.#mode,
      enis: [...this.#enis.values()].map((eni) => ({
        id: eni.id,
        deviceNumber: eni.deviceNumber,
        isPrimary: eni.isPrimary,
        isTrunk: eni.isTrunk,
        isEfa: eni.isEfa,
        excluded: eni.excluded,
        createdAt: eni.createdAt,
        cidrs: [...eni.cidrs.values()].map((cidr) => ({
          cidr: cidr.text,
          isPrefix: cidr.isPrefix,
          size: cidr.size,
          assigned: cidr.assigned,
          cooling: [...cidr.entries.values()].filter((e) => this.#cooling(e, now)).length,
        })),
      })),
    };
  }

  stats(): PoolStats {
    const view = this.view();
    return {
      mode: this.#mode,
      ...countPool(view),
      pods: this.#byKey.size,
      enis: view.enis.length,
      perEni: view.enis.map((eni) => ({ id: eni.id, ...countEni(this.#mode, eni) })),
    };
  }

  /** Everything, down to each address with a history (introspection, `ipamd enis`). */
  details(): EniDetail[] {
    const now = this.#now();
    return [...this.#enis.values()].map(({ cidrs, ...eni }) => ({
      ...eni,
      cidrs: [...cidrs.values()].map((cidr) => ({
        cidr: cidr.text,
        isPrefix: cidr.isPrefix,
        addresses: [...cidr.entries].sort(([a], [b]) => a - b).map(([address, e]) => ({
          ipv4: formatIpv4(address),
          ...(e.key ? { key: { ...e.key } } : {}),
          ...(e.pod ? { pod: { ...e.pod } } : {}),
          ...(e.assignedAt === undefined ? {} : { assignedAt: e.assignedAt }),
          ...(e.unassignedAt === undefined ? {} : { unassignedAt: e.unassignedAt }),
          cooling: this.#cooling(e, now),
        })),
      })),
    }));
  }

  /** What the checkpoint records, in ENI, CIDR and address order. */
  snapshot(): DatastoreSnapshot {
    const now = this.#now();
    const allocations: AllocationRecord[] = [];
    const cooling: CoolingRecord[] = [];
    for (const slot of this.#slots()) {
      const entry = slot.cidr.entries.get(slot.address)!;
      const ipv4 = formatIpv4(slot.address);
      if (entry.key) {
        allocations.push({
          key: { ...entry.key },
          ipv4,
          assignedAt: entry.assignedAt ?? now,
          ...(entry.pod ? { pod: { ...entry.pod } } : {}),
        });
      } else if (this.#cooling(entry, now)) {
        cooling.push({ ipv4, unassignedAt: entry.unassignedAt! });
      }
    }
    return { allocations, cooling };
  }

  // ---- internals --------------------------------------------------------------------------

  #eni(eniId: string): EniState {
    const eni = this.#enis.get(eniId);
    if (!eni) throw new UnknownEniError(eniId);
    return eni;
  }

  #cooling(entry: Entry, now: number): boolean {
    // Cooling while less than the period has passed, so a period of 0 means no cooldown.
    return !entry.key && entry.unassignedAt !== undefined &&
      now - entry.unassignedAt < this.#cooldownMs;
  }

  /** Every address with a history, in ENI, CIDR and address order. */
  #slots(): Slot[] {
    const slots: Slot[] = [];
    for (const eni of this.#enis.values()) {
      for (const cidr of eni.cidrs.values()) {
        const addresses = [...cidr.entries.keys()].sort((a, b) => a - b);
        for (const address of addresses) slots.push({ eni, cidr, address });
      }
    }
    return slots;
  }

  #findFree(now: number): Slot | undefined {
    const passes = this.#mode === "prefix-delegation" ? [true, false] : [false];
    for (const prefixPass of passes) {
      for (const eni of this.#enis.values()) {
        if (eni.excluded || eni.isTrunk) continue;
        for (const cidr of eni.cidrs.values()) {
          if (cidr.isPrefix !== prefixPass || cidr.assigned >= cidr.size) continue;
          for (let offset = 0; offset < cidr.size; offset++) {
            const address = cidr.cidr.network + offset;
            const entry = cidr.entries.get(address);
            if (!entry || (!entry.key && !this.#cooling(entry, now))) {
              return { eni, cidr, address };
            }
          }
        }
      }
    }
    return undefined;
  }

  #locate(ipv4: string): Slot {
    const address = parseIpv4(ipv4);
    if (address !== undefined) {
      for (const eni of this.#enis.values()) {
        for (const cidr of eni.cidrs.values()) {
          if (cidrContains(cidr.cidr, address)) return { eni, cidr, address };
        }
      }
    }
    throw new RangeError(`${ipv4} is in no CIDR of the datastore`);
  }

  /** The pods that removal would affect; throws unless forced when anything is in use. */
  #checkRemovable(
    eni: EniState,
    options: { cidrs: CidrState[]; force: boolean; cidr?: string },
  ): Slot[] {
    const { cidrs, force } = options;
    const now = this.#now();
    const assigned: Slot[] = [];
    const cooling: string[] = [];
    for (const cidr of cidrs) {
      for (const [address, entry] of [...cidr.entries].sort(([a], [b]) => a - b)) {
        if (entry.key) assigned.push({ eni, cidr, address });
        else if (this.#cooling(entry, now)) cooling.push(formatIpv4(address));
      }
    }
    if (!force && (assigned.length > 0 || cooling.length > 0)) {
      const reason = assigned.length > 0 ? "assigned" : "cooling";
      throw new AddressInUseError({
        eniId: eni.id,
        ...(options.cidr === undefined ? {} : { cidr: options.cidr }),
        reason,
        addresses: reason === "assigned" ? assigned.map((s) => formatIpv4(s.address)) : cooling,
      });
    }
    return assigned;
  }

  #unindex(slots: Slot[], undo: Undo): void {
    for (const slot of slots) {
      const entry = slot.cidr.entries.get(slot.address)!;
      const id = keyString(entry.key!);
      this.#byKey.delete(id);
      undo(() => this.#byKey.set(id, slot));
    }
  }

  #toAssignment(slot: Slot): Assignment {
    const entry = slot.cidr.entries.get(slot.address)!;
    return {
      key: { ...entry.key! },
      ipv4: formatIpv4(slot.address),
      eniId: slot.eni.id,
      cidr: slot.cidr.text,
      deviceNumber: slot.eni.deviceNumber,
      routeTableId: slot.eni.routeTableId,
      ...(entry.pod ? { pod: { ...entry.pod } } : {}),
      assignedAt: entry.assignedAt!,
    };
  }

  /** Runs a change; persists it when it did anything; undoes it if either step throws. */
  #commit<T>(what: string, change: (undo: Undo) => T): T {
    const steps: Array<() => void> = [];
    const rollback = () => {
      for (const step of steps.reverse()) step();
    };
    let result: T;
    try {
      result = change((step) => steps.push(step));
    } catch (error) {
      rollback();
      throw error;
    }
    if (steps.length > 0 && this.#persist) {
      try {
        this.#persist(this.snapshot());
      } catch (cause) {
        rollback();
        throw new PersistError(what, { cause });
      }
    }
    return result;
  }
}
