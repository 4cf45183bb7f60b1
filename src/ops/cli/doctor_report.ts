/**
 * The results of `ipamd doctor`: one line per check (PASS, WARN, FAIL or SKIP), the details
 * of what is wrong, and a one-line remedy; `--json` prints the same data.
 */

export type CheckStatus = "PASS" | "WARN" | "FAIL" | "SKIP";

export interface CheckResult {
  /** Stable identifier, e.g. "pods" (scripts select checks by it). */
  id: string;
  status: CheckStatus;
  /** One line: what was checked and what was found. */
  summary: string;
  /** One line per problem (capped), each with the exact command that fixes it where there is one. */
  details?: string[];
  /** What to do, in one line; absent on PASS. */
  remedy?: string;
}

export interface DoctorReport {
  checks: CheckResult[];
  counts: Record<CheckStatus, number>;
  /** Exit code: 0 when nothing FAILed. */
  ok: boolean;
}

/** At most this many detail lines per check; the rest are counted. */
export const MAX_DETAILS = 12;

export function check(
  id: string,
  status: CheckStatus,
  summary: string,
  more: { details?: string[]; remedy?: string } = {},
): CheckResult {
  const details = capped(more.details ?? []);
  return {
    id,
    status,
    summary,
    ...(details.length > 0 ? { details } : {}),
    ...(more.remedy && status !== "PASS" ? { remedy: more.remedy } : {}),
  };
}

function capped(details: string[]): string[] {
  if (details.length <= MAX_DETAILS) return details;
  return [...details.slice(0, MAX_DETAILS), `... and ${details.length - MAX_DETAILS} more`];
}

export function report(checks: CheckResult[]): DoctorReport {
  const counts: Record<CheckStatus, number> = { PASS: 0, WARN: 0, FAIL: 0, SKIP: 0 };
  for (const c of checks) counts[c.status]++;
  return { checks, counts, ok: counts.FAIL === 0 };
}

export function renderReport(r: DoctorReport): string {
  const width = Math.max(...r.checks.map((c) => c.id.length));
  const lines: string[] = [];
  for (const c of r.checks) {
    lines.push(`${c.status.padEnd(4)}  ${c.id.padEnd(width)}  ${c.summary}`);
    const indent = " ".repeat(width + 8);
    for (const d of c.details ?? []) lines.push(`${indent}${d}`);
    if (c.remedy) lines.push(`${indent}fix: ${c.remedy}`);
  }
  const { PASS, WARN, FAIL, SKIP } = r.counts;
  const parts = [
    `${FAIL} failed`,
    `${WARN} warning${WARN === 1 ? "" : "s"}`,
    `${PASS} passed`,
    ...(SKIP > 0 ? [`${SKIP} skipped`] : []),
  ];
  lines.push("", `${parts.join(", ")}.`);
  return lines.join("\n");
}
