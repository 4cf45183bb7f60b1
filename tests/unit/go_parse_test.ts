import assert from "node:assert/strict";
import { parseGoAtoi, parseGoBool, parseGoIntBase0 } from "../../src/config/go_parse.ts";

Deno.test("parseGoBool() accepts exactly strconv.ParseBool's spellings", () => {
  for (const t of ["1", "t", "T", "TRUE", "true", "True"]) assert.equal(parseGoBool(t), true, t);
  for (const f of ["0", "f", "F", "FALSE", "false", "False"]) {
    assert.equal(parseGoBool(f), false, f);
  }
  for (const bad of ["", "yes", "no", "tRUE", "TrUe", "y", " true", "true ", "01"]) {
    assert.equal(parseGoBool(bad), undefined, bad);
  }
});

Deno.test("parseGoAtoi() accepts a sign and decimal digits only", () => {
  assert.deepEqual(["42", "+42", "-42", "007", "-0"].map(parseGoAtoi), [42, 42, -42, 7, 0]);
  for (const bad of ["", "+", "4 2", " 42", "42 ", "1_000", "0x2a", "4.2", "1e3", "９"]) {
    assert.equal(parseGoAtoi(bad), undefined, bad);
  }
});

Deno.test("parseGoIntBase0() follows strconv.ParseInt(s, 0, 64) prefixes and underscores", () => {
  const cases: Array<[string, bigint]> = [
    ["128", 128n],
    ["0x80", 128n],
    ["0XfF", 255n],
    ["0200", 128n],
    ["0o200", 128n],
    ["0O17", 15n],
    ["0b101", 5n],
    ["0", 0n],
    ["-0x10", -16n],
    ["1_000", 1000n],
    ["0x_ff", 255n],
    ["0_7", 7n],
    ["9223372036854775807", 9223372036854775807n],
    ["-9223372036854775808", -9223372036854775808n],
  ];
  for (const [text, value] of cases) assert.equal(parseGoIntBase0(text), value, text);
  for (
    const bad of [
      "",
      "-",
      "0x",
      "0b",
      "08",
      "0b2",
      "1__0",
      "_1",
      "1_",
      "0x1g",
      " 1",
      "9223372036854775808",
    ]
  ) {
    assert.equal(parseGoIntBase0(bad), undefined, bad);
  }
});
