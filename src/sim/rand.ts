/**
 * Seeded randomness for the simulator: every id, MAC, address and injected fault comes from a
 * stream derived from `--seed`, so two runs with the same seed and the same calls agree.
 * Streams are independent (fault injection does not shift address allocation).
 */

/** mulberry32: small, fast, good enough for test data (not for secrets). */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** One of `items`, uniformly. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  hex(chars: number): string {
    let out = "";
    while (out.length < chars) out += this.int(16).toString(16);
    return out;
  }

  /** An independent stream named `label` (same seed and label: same stream). */
  fork(label: string): Rng {
    return new Rng(hashString(`${this.#state}:${label}`));
  }
}

/** Streams used by the simulator, all derived from one seed. */
export interface SimRandom {
  seed: number;
  ids: Rng;
  addresses: Rng;
  faults: Rng;
}

export function simRandom(seed: number): SimRandom {
  const root = new Rng(seed);
  return {
    seed,
    ids: root.fork("ids"),
    addresses: root.fork("addresses"),
    faults: root.fork("faults"),
  };
}

/** A fresh seed for runs that did not ask for one (reported, so a run can be replayed). */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]! % 1_000_000_000;
}

/** EC2-style resource id: prefix plus 17 lower-case hex digits ("eni-0a1b..."). */
export function resourceId(rng: Rng, prefix: string): string {
  return `${prefix}-0${rng.hex(16)}`;
}

/** A locally administered unicast MAC like the ones EC2 gives ENIs ("02:..."). */
export function macAddress(rng: Rng): string {
  const bytes = [0x02];
  for (let i = 0; i < 5; i++) bytes.push(rng.int(256));
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

function hashString(text: string): number {
  // FNV-1a, 32 bit.
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
