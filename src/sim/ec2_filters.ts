/**
 * Describe* filtering and pagination as EC2 does them: values of one filter are ORed, filters
 * are ANDed, `*` and `?` are wildcards, `tag:<key>` and `tag-key` work on every taggable
 * resource, an unknown filter name is an error, and NextToken is opaque.
 */
import { Ec2ApiError, invalidValue } from "./ec2_error.ts";
import type { Filter } from "./ec2_query.ts";
import type { Tags } from "./vpc.ts";

/** Filter name -> the values of an item that the filter matches against. */
export type FilterTable<T> = Record<string, (item: T) => (string | number | boolean | undefined)[]>;

export function applyFilters<T>(
  items: T[],
  filters: Filter[],
  table: FilterTable<T>,
  tagsOf?: (item: T) => Tags,
): T[] {
  const checks = filters.map((f) => compile(f, table, tagsOf));
  return items.filter((item) => checks.every((check) => check(item)));
}

function compile<T>(
  filter: Filter,
  table: FilterTable<T>,
  tagsOf?: (item: T) => Tags,
): (item: T) => boolean {
  const patterns = filter.values.map(wildcard);
  const matches = (values: (string | number | boolean | undefined)[]) =>
    values.some((v) => v !== undefined && patterns.some((p) => p.test(String(v))));
  if (tagsOf && filter.name.startsWith("tag:")) {
    const key = filter.name.slice(4);
    return (item) => matches([tagsOf(item).get(key)]);
  }
  if (tagsOf && filter.name === "tag-key") return (item) => matches([...tagsOf(item).keys()]);
  if (tagsOf && filter.name === "tag-value") return (item) => matches([...tagsOf(item).values()]);
  const get = table[filter.name];
  if (!get) throw invalidValue(`The filter '${filter.name}' is invalid`);
  return (item) => matches(get(item));
}

/** EC2 filter values: `*` any run of characters, `?` one character, `\` escapes. */
export function wildcard(value: string): RegExp {
  let re = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === "\\" && i + 1 < value.length) re += escapeRe(value[++i]!);
    else if (c === "*") re += "[\\s\\S]*";
    else if (c === "?") re += "[\\s\\S]";
    else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

export interface PageRequest {
  maxResults?: number;
  nextToken?: string;
  /** Allowed MaxResults range for the action. */
  min: number;
  max: number;
  /** Page size when MaxResults is absent; undefined: everything in one page. */
  defaultPage?: number;
}

/** One page of items and the token for the next one. */
export function paginate<T>(
  action: string,
  items: T[],
  req: PageRequest,
): { page: T[]; nextToken?: string } {
  if (req.maxResults !== undefined && (req.maxResults < req.min || req.maxResults > req.max)) {
    throw invalidValue(
      `Value ( ${req.maxResults} ) for parameter maxResults is invalid. Expecting a value between ${req.min} and ${req.max}.`,
    );
  }
  const start = req.nextToken === undefined ? 0 : decodeToken(action, req.nextToken);
  const size = req.maxResults ?? req.defaultPage ?? items.length;
  const page = items.slice(start, start + size);
  const end = start + page.length;
  return { page, nextToken: end < items.length ? encodeToken(action, end) : undefined };
}

function encodeToken(action: string, offset: number): string {
  return btoa(JSON.stringify({ a: action, o: offset })).replaceAll("=", "");
}

function decodeToken(action: string, token: string): number {
  try {
    const { a, o } = JSON.parse(atob(token));
    if (a === action && Number.isInteger(o) && o >= 0) return o;
  } catch {
    // fall through: any undecodable token is invalid
  }
  throw new Ec2ApiError(
    "InvalidPaginationToken",
    `The token '${token}' is invalid or has expired.`,
  );
}
