/**
 * ADDITIONAL_ENI_TAGS: a JSON object of extra EC2 tags. Upstream ignores the whole variable
 * on invalid JSON and silently drops reserved keys; here both are refused, and so is anything
 * EC2 would reject later when it creates an ENI (which would stop the pool from growing).
 */

import { InvalidValue } from "./kinds.ts";

/** Tags ipamd itself writes; users cannot override them. */
const RESERVED_KEY = /k8s\.amazonaws\.com/;
const OWNER_KEY = "eks:eni:owner";
/** EC2 allows 50 tags per resource; ipamd writes up to 4 of its own. */
const MAX_TAGS = 46;

export function parseEniTags(raw: string): Readonly<Record<string, string>> {
  const example = 'a JSON object of string values, such as {"team":"infra","env":"prod"}';
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new InvalidValue(`${example} (this is not valid JSON)`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new InvalidValue(example);
  }
  const entries = Object.entries(parsed);
  const refused: string[] = [];
  for (const [key, value] of entries) {
    if (typeof value !== "string") refused.push(`${JSON.stringify(key)}: value is not a string`);
    else if (value.length > 256) refused.push(`${JSON.stringify(key)}: value over 256 characters`);
    if (key.length === 0 || key.length > 128) {
      refused.push(`${JSON.stringify(key)}: keys are 1–128 characters`);
    } else if (RESERVED_KEY.test(key) || key === OWNER_KEY) {
      refused.push(`${JSON.stringify(key)}: reserved for ipamd's own tags`);
    } else if (key.toLowerCase().startsWith("aws:")) {
      refused.push(`${JSON.stringify(key)}: the aws: prefix is reserved by AWS`);
    }
  }
  if (entries.length > MAX_TAGS) refused.push(`${entries.length} tags (at most ${MAX_TAGS})`);
  if (refused.length > 0) throw new InvalidValue(`${example}; refused: ${refused.join("; ")}`);
  return Object.freeze(Object.fromEntries(entries as Array<[string, string]>));
}
