/**
 * What the runtime knows about each attachment while ipamd is killed and restarted under it:
 * every acknowledged ADD and DEL, and the operations whose outcome is unknown because ipamd
 * died while they were in flight. Each acknowledgement is checked against what came before
 * (no address held by two keys at once, a repeated ADD keeps its address, a DEL releases
 * exactly what the key held), and `compare()` checks ipamd's datastore after a restart:
 * every acknowledged assignment is still held by its key, nothing released or never
 * acknowledged is held, and each in-doubt operation resolved one way or the other.
 */

export type KeyState =
  | { kind: "free" }
  | { kind: "held"; ip: string }
  /** ipamd died with an operation of this key in flight; `ip` is what the key held before. */
  | { kind: "doubt"; op: "add" | "del"; ip?: string };

export interface Held {
  key: string;
  ip: string;
}

export class CrashModel {
  readonly violations: string[] = [];
  #keys = new Map<string, KeyState>();
  /** Address → key that holds it by an acknowledged ADD. */
  #holder = new Map<string, string>();
  /** Keys with a DEL in flight: their address may already be free and handed out again. */
  #deleting = new Set<string>();
  counts = { adds: 0, dels: 0, unknownDels: 0, noAddress: 0, doubts: 0, resolved: 0 };

  state(key: string): KeyState {
    return this.#keys.get(key) ?? { kind: "free" };
  }

  /** Keys currently held by an acknowledged ADD. */
  held(): Held[] {
    const out: Held[] = [];
    for (const [key, s] of this.#keys) if (s.kind === "held") out.push({ key, ip: s.ip });
    return out;
  }

  addAcked(key: string, ip: string): void {
    this.counts.adds++;
    const before = this.state(key);
    if (before.kind === "held" && before.ip !== ip) {
      this.violations.push(`repeated ADD of ${key} moved it from ${before.ip} to ${ip}`);
    }
    const other = this.#holder.get(ip);
    if (other !== undefined && other !== key && !this.#deleting.has(other)) {
      this.violations.push(`${ip} acknowledged to ${key} while ${other} still holds it`);
    }
    if (before.kind === "held" && before.ip !== ip) this.#holder.delete(before.ip);
    this.#holder.set(ip, key);
    this.#keys.set(key, { kind: "held", ip });
  }

  /** The ADD was refused (pool empty): nothing changed. */
  addRefused(): void {
    this.counts.noAddress++;
  }

  delStarted(key: string): void {
    this.#deleting.add(key);
  }

  /** DEL answered: `released` as ipamd reports it ([] or undefined for UnknownAttachment). */
  delAcked(key: string, released: string[] | "unknown"): void {
    this.#deleting.delete(key);
    this.counts.dels++;
    const before = this.state(key);
    if (released === "unknown") {
      this.counts.unknownDels++;
      if (before.kind === "held") {
        this.violations.push(`DEL of ${key} (holding ${before.ip}) answered UnknownAttachment`);
      }
    } else if (before.kind === "held") {
      if (released.length !== 1 || released[0] !== before.ip) {
        this.violations.push(`DEL of ${key} released [${released}] instead of ${before.ip}`);
      }
    } else if (released.length > 0) {
      this.violations.push(`DEL of ${key}, which held nothing, released [${released}]`);
    }
    this.#release(key);
  }

  /** A DEL the runtime saw succeed without ipamd's word (aws-cni's prevResult fallback). */
  delSucceeded(key: string): void {
    this.#deleting.delete(key);
    this.counts.dels++;
    this.#release(key);
  }

  /** ipamd died with this key's operation in flight. */
  inDoubt(key: string, op: "add" | "del"): void {
    this.#deleting.delete(key);
    this.counts.doubts++;
    const before = this.state(key);
    const ip = before.kind === "held" ? before.ip : before.kind === "doubt" ? before.ip : undefined;
    this.#keys.set(key, { kind: "doubt", op, ...(ip ? { ip } : {}) });
  }

  /**
   * Checks the datastore's assignments (key → address) after a restart and settles every
   * in-doubt key to what ipamd holds. Returns the keys that were in doubt: their ADD or DEL
   * failed as far as the runtime knows, so it DELs them next (kubelet does).
   */
  compare(datastore: Map<string, string>): string[] {
    const doubted: string[] = [];
    const owners = new Map<string, string>();
    for (const [key, ip] of datastore) {
      const other = owners.get(ip);
      if (other) this.violations.push(`after restart ${ip} is held by both ${other} and ${key}`);
      owners.set(ip, key);
    }
    for (const [key, s] of this.#keys) {
      const ip = datastore.get(key);
      if (s.kind === "held" && ip !== s.ip) {
        this.violations.push(
          `acknowledged assignment ${key} → ${s.ip} ${ip ? `became ${ip}` : "was lost"} on restart`,
        );
      }
      if (s.kind === "doubt") {
        this.counts.resolved++;
        doubted.push(key);
        if (ip !== undefined && s.ip !== undefined && ip !== s.ip) {
          this.violations.push(`${key} held ${s.ip} before the crash and ${ip} after`);
        }
        if (ip === undefined) this.#release(key);
        else {
          this.#keys.set(key, { kind: "held", ip });
          this.#holder.set(ip, key);
        }
      }
    }
    for (const [key, ip] of datastore) {
      if (!this.#keys.has(key)) {
        this.violations.push(
          `${key} holds ${ip}, but its DEL was acknowledged or its ADD never was`,
        );
      }
    }
    return doubted;
  }

  #release(key: string): void {
    const before = this.state(key);
    const ip = before.kind === "held" ? before.ip : before.kind === "doubt" ? before.ip : undefined;
    if (ip !== undefined && this.#holder.get(ip) === key) this.#holder.delete(ip);
    // Free is the default state: forgetting the key keeps the model small over 10 000 ops.
    this.#keys.delete(key);
  }
}
