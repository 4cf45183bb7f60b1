import assert from "node:assert/strict";
import { MAIN_TABLE, routeTableId } from "../../src/ipam/route_table.ts";

Deno.test("routeTableId() uses main for device 0 and device + 1 for other ENIs of card 0", () => {
  assert.deepEqual([routeTableId(0), routeTableId(1), routeTableId(14)], [MAIN_TABLE, 2, 15]);
});

Deno.test("routeTableId() uses 10000 + 100·card + device on cards above 0 (spec §3.11)", () => {
  assert.deepEqual([routeTableId(1, 1), routeTableId(3, 2), routeTableId(0, 1)], [
    10101,
    10203,
    10100,
  ]);
});
