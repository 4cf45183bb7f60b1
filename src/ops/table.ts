/** Plain-text tables for the node CLI: aligned columns, no colour, stable for scripts. */

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | boolean | undefined;
  align?: "left" | "right";
}

export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => format(c.value(row))));
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((r) => r[i]!.length))
  );
  const line = (values: string[]) =>
    values.map((v, i) =>
      columns[i]!.align === "right" ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)
    )
      .join("  ").trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join("\n");
}

function format(value: string | number | boolean | undefined): string {
  if (value === undefined) return "-";
  if (typeof value === "boolean") return value ? "yes" : "no";
  return String(value);
}
