/**
 * Structured logging: one JSON object per line, to a file or to stderr, never to stdout
 * (stdout belongs to CNI results and CLI output). Values under keys that look like secrets
 * are redacted, and so are credentials inside any text (AWS access key ids, pre-signed URL
 * parameters, signatures, bearer tokens), so a token or credential never reaches a log file.
 */

export type Level = "debug" | "info" | "warn" | "error";

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEY =
  /token|secret|password|passwd|credential|authorization|session|access_?key|api_?key|private_?key/i;
/** Credentials that can appear inside text (an SDK message, a URL, a header echoed back). */
const SECRET_TEXT: ReadonlyArray<[RegExp, string]> = [
  // Long-term (AKIA) and temporary (ASIA) access key ids.
  [/\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, "[redacted]"],
  // SigV4 query parameters of pre-signed URLs.
  [/(X-Amz-(?:Security-Token|Credential|Signature)=)[^&\s"']+/gi, "$1[redacted]"],
  // SigV4 Authorization header parts.
  [/((?:Credential|Signature)=)[^,&\s"']+/g, "$1[redacted]"],
  [/(Bearer\s+)[A-Za-z0-9._~+/=-]+/g, "$1[redacted]"],
];
const encoder = new TextEncoder();

export interface LoggerOptions {
  /** "stderr", "stdout" (ipamd only) or a file path; parent folders are created. */
  destination?: string;
  level?: Level;
  /** Fields added to every line, such as the component name. */
  fields?: Record<string, unknown>;
}

/** Parses upstream's level names (DEBUG, Info, warn, ERROR, FATAL) case-insensitively. */
export function parseLevel(value: string): Level | undefined {
  switch (value.trim().toLowerCase()) {
    case "debug":
      return "debug";
    case "info":
      return "info";
    case "warn":
    case "warning":
      return "warn";
    case "error":
    case "fatal":
      return "error";
    default:
      return undefined;
  }
}

export class Logger {
  #write: (line: Uint8Array) => void;
  #rank: number;
  #fields: Record<string, unknown>;

  constructor(options: LoggerOptions = {}, write?: (line: Uint8Array) => void) {
    this.#rank = RANK[options.level ?? "info"];
    this.#fields = options.fields ?? {};
    this.#write = write ?? openDestination(options.destination ?? "stderr");
  }

  /** A logger writing to the same place with extra fields on every line. */
  with(fields: Record<string, unknown>): Logger {
    const level = (Object.keys(RANK) as Level[]).find((l) => RANK[l] === this.#rank);
    return new Logger({ level, fields: { ...this.#fields, ...fields } }, this.#write);
  }

  enabled(level: Level): boolean {
    return RANK[level] >= this.#rank;
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.#log("debug", msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.#log("info", msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.#log("warn", msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.#log("error", msg, fields);
  }

  #log(level: Level, msg: string, fields?: Record<string, unknown>): void {
    if (RANK[level] < this.#rank) return;
    const entry = { ts: new Date().toISOString(), level, msg, ...this.#fields, ...fields };
    try {
      this.#write(encoder.encode(JSON.stringify(entry, redact) + "\n"));
    } catch {
      // A full disk or a closed stderr must never take the daemon or a pod ADD down with it.
    }
  }
}

/** A logger that drops everything (tests, and CLI commands run with --quiet). */
export const silentLogger: Logger = new Logger({ destination: "none" });

function openDestination(destination: string): (line: Uint8Array) => void {
  if (destination === "none") return () => {};
  if (destination === "stderr" || destination === "") {
    return (line) => writeAll(Deno.stderr, line);
  }
  if (destination === "stdout") return (line) => writeAll(Deno.stdout, line);
  let file: Deno.FsFile | undefined;
  return (line) => {
    if (!file) {
      const dir = destination.slice(0, destination.lastIndexOf("/"));
      if (dir) Deno.mkdirSync(dir, { recursive: true });
      file = Deno.openSync(destination, { append: true, create: true, mode: 0o640 });
    }
    writeAll(file, line);
  };
}

function writeAll(target: { writeSync(p: Uint8Array): number }, data: Uint8Array): void {
  let offset = 0;
  while (offset < data.length) offset += target.writeSync(data.subarray(offset));
}

/** Replaces credentials found inside a text (see SECRET_TEXT). */
export function scrubText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_TEXT) out = out.replace(pattern, replacement);
  return out;
}

function redact(key: string, value: unknown): unknown {
  if (key && SECRET_KEY.test(key) && value !== undefined && value !== null && value !== "") {
    return "[redacted]";
  }
  if (typeof value === "string") return scrubText(value);
  if (value instanceof Error) {
    return {
      name: value.name,
      message: value.message,
      ...(value.cause ? { cause: String(value.cause) } : {}),
    };
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}
