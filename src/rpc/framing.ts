/**
 * Newline-delimited framing over a stream connection, shared by the RPC client and server.
 * The size limit is enforced on raw bytes before anything is decoded or parsed.
 */

const NEWLINE = 0x0a;
const CHUNK = 16 * 1024;

/** A message (or the unterminated start of one) went over the size limit. */
export class MessageTooLargeError extends Error {
  readonly limit: number;
  constructor(limit: number) {
    super(`message larger than ${limit} bytes`);
    this.name = "MessageTooLargeError";
    this.limit = limit;
  }
}

export interface ByteReader {
  read(p: Uint8Array): Promise<number | null>;
}
export interface ByteWriter {
  write(p: Uint8Array): Promise<number>;
}

export class LineReader {
  #reader: ByteReader;
  #limit: number;
  #buf = new Uint8Array(CHUNK);
  #start = 0;
  #end = 0;
  #scanned = 0;

  constructor(reader: ByteReader, limit: number) {
    this.#reader = reader;
    this.#limit = limit;
  }

  /** Bytes received but not yet returned as a line (a partial message). */
  get pending(): number {
    return this.#end - this.#start;
  }

  /** The next line without its newline, or null at end of stream (a partial line is dropped). */
  async next(): Promise<Uint8Array | null> {
    while (true) {
      const at = this.#buf.subarray(this.#start + this.#scanned, this.#end).indexOf(NEWLINE);
      if (at >= 0) {
        const end = this.#start + this.#scanned + at;
        if (end - this.#start > this.#limit) throw new MessageTooLargeError(this.#limit);
        const line = this.#buf.slice(this.#start, end);
        this.#start = end + 1;
        this.#scanned = 0;
        return line;
      }
      this.#scanned = this.#end - this.#start;
      if (this.#scanned > this.#limit) throw new MessageTooLargeError(this.#limit);
      this.#makeRoom();
      const n = await this.#reader.read(this.#buf.subarray(this.#end));
      if (n === null) return null;
      this.#end += n;
    }
  }

  #makeRoom(): void {
    if (this.#end < this.#buf.length) return;
    const used = this.#end - this.#start;
    // Grow up to limit + one chunk so that an oversized message is detected, not truncated.
    const size = used + CHUNK > this.#buf.length ? this.#buf.length * 2 : this.#buf.length;
    const next = size === this.#buf.length ? this.#buf : new Uint8Array(size);
    next.set(this.#buf.subarray(this.#start, this.#end), 0);
    this.#buf = next;
    this.#start = 0;
    this.#end = used;
  }
}

export async function writeAll(writer: ByteWriter, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await writer.write(data.subarray(offset));
}
