/**
 * The Go standard-library parsers upstream applies to environment variables, with their exact
 * accepted spellings, so a value that works upstream means the same here. Each returns
 * undefined for text Go would reject; callers turn that into a ConfigError.
 */

const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/** The spellings strconv.ParseBool accepts, for error messages. */
export const BOOL_SPELLINGS = "1, t, T, TRUE, true, True or 0, f, F, FALSE, false, False";

/** strconv.ParseBool. */
export function parseGoBool(text: string): boolean | undefined {
  if (TRUE.has(text)) return true;
  if (FALSE.has(text)) return false;
  return undefined;
}

/** strconv.Atoi: optional sign, decimal digits, no spaces or underscores, 64-bit range. */
export function parseGoAtoi(text: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(text)) return undefined;
  const value = BigInt(text);
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
    return undefined; // Go accepts up to 2^63-1; nothing we read needs more than 2^53.
  }
  return Number(value);
}

/**
 * strconv.ParseInt(text, 0, 64): base from the prefix (0x hex, 0o or a bare leading 0 octal,
 * 0b binary, else decimal) and underscores between digits. Returned as a bigint so the
 * caller checks the range it needs.
 */
export function parseGoIntBase0(text: string): bigint | undefined {
  let rest = text;
  let negative = false;
  if (rest.startsWith("+") || rest.startsWith("-")) {
    negative = rest.startsWith("-");
    rest = rest.slice(1);
  }
  if (rest === "") return undefined;
  const unsigned = rest;
  let base = 10;
  if (rest[0] === "0") {
    const marker = rest.length >= 3 ? rest[1]!.toLowerCase() : "";
    if (marker === "b" || marker === "o" || marker === "x") {
      base = marker === "b" ? 2 : marker === "o" ? 8 : 16;
      rest = rest.slice(2);
    } else {
      base = 8;
      rest = rest.slice(1);
    }
  }
  let value = 0n;
  let underscores = false;
  for (const char of rest) {
    if (char === "_") {
      underscores = true;
      continue;
    }
    const digit = parseInt(char, 36);
    if (Number.isNaN(digit) || digit >= base) return undefined;
    value = value * BigInt(base) + BigInt(digit);
  }
  if (underscores && !underscoreOk(unsigned)) return undefined;
  if (value > 2n ** 63n - (negative ? 0n : 1n)) return undefined;
  return negative ? -value : value;
}

/** Go's underscoreOK: underscores only between digits or after a base prefix. */
function underscoreOk(text: string): boolean {
  let saw = "^";
  let i = 0;
  let hex = false;
  const marker = text.length >= 2 && text[0] === "0" ? text[1]!.toLowerCase() : "";
  if (marker === "b" || marker === "o" || marker === "x") {
    i = 2;
    saw = "0";
    hex = marker === "x";
  }
  for (; i < text.length; i++) {
    const char = text[i]!;
    if ((char >= "0" && char <= "9") || (hex && /[a-fA-F]/.test(char))) {
      saw = "0";
      continue;
    }
    if (char === "_") {
      if (saw !== "0") return false;
      saw = "_";
      continue;
    }
    if (saw === "_") return false;
    saw = "!";
  }
  return saw !== "_";
}
