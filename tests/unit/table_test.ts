import assert from "node:assert/strict";
import { renderTable } from "../../src/ops/table.ts";

Deno.test("renderTable() aligns columns and right-aligns numbers when asked", () => {
  const text = renderTable([{ id: "eni-1", ips: 3 }, { id: "eni-22", ips: 12 }], [
    { header: "ENI", value: (r) => r.id },
    { header: "IPS", value: (r) => r.ips, align: "right" },
  ]);
  assert.equal(text, "ENI     IPS\neni-1     3\neni-22   12");
});

Deno.test("renderTable() prints '-' for missing values and yes/no for booleans", () => {
  const text = renderTable([{ a: undefined, b: true }], [
    { header: "A", value: (r) => r.a },
    { header: "B", value: (r) => r.b },
  ]);
  assert.equal(text, "A  B\n-  yes");
});
