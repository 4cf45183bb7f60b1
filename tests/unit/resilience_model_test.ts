/** The crash suite's model (tests/lab/resilience_model.ts) catches what it is there to catch. */
import assert from "node:assert/strict";
import { CrashModel } from "../lab/resilience_model.ts";

Deno.test("CrashModel accepts a consistent history and a datastore that matches it", () => {
  const m = new CrashModel();
  m.addAcked("a", "10.0.0.1");
  m.addAcked("b", "10.0.0.2");
  m.delStarted("a");
  m.delAcked("a", ["10.0.0.1"]);
  m.addAcked("c", "10.0.0.1"); // reused after its release was acknowledged
  m.delStarted("never");
  m.delAcked("never", "unknown");
  assert.deepEqual(m.compare(new Map([["b", "10.0.0.2"], ["c", "10.0.0.1"]])), []);
  assert.deepEqual(m.violations, []);
});

Deno.test("CrashModel flags an address acknowledged to a second key while the first holds it", () => {
  const m = new CrashModel();
  m.addAcked("a", "10.0.0.1");
  m.addAcked("b", "10.0.0.1");
  assert.equal(m.violations.length, 1);
  assert.match(m.violations[0]!, /10\.0\.0\.1 acknowledged to b while a still holds it/);
});

Deno.test("CrashModel allows reuse while the holder's DEL is in flight, and checks that DEL", () => {
  const m = new CrashModel();
  m.addAcked("a", "10.0.0.1");
  m.delStarted("a");
  m.addAcked("b", "10.0.0.1");
  m.delAcked("a", ["10.0.0.1"]);
  assert.deepEqual(m.violations, []);
  assert.deepEqual(m.held(), [{ key: "b", ip: "10.0.0.1" }]);
});

Deno.test("CrashModel flags lost, moved, leaked and doubly held assignments after a restart", () => {
  const m = new CrashModel();
  m.addAcked("lost", "10.0.0.1");
  m.addAcked("moved", "10.0.0.2");
  m.addAcked("gone", "10.0.0.3");
  m.delStarted("gone");
  m.delAcked("gone", ["10.0.0.3"]);
  m.compare(new Map([["moved", "10.0.0.4"], ["gone", "10.0.0.3"], ["stranger", "10.0.0.4"]]));
  const text = m.violations.join("\n");
  assert.match(text, /lost → 10\.0\.0\.1 was lost/);
  assert.match(text, /moved → 10\.0\.0\.2 became 10\.0\.0\.4/);
  assert.match(text, /gone holds 10\.0\.0\.3/);
  assert.match(text, /stranger holds 10\.0\.0\.4/);
  assert.match(text, /10\.0\.0\.4 is held by both/);
});

Deno.test("CrashModel settles operations in doubt either way and hands them back for a DEL", () => {
  const m = new CrashModel();
  m.addAcked("kept", "10.0.0.1");
  m.inDoubt("added", "add");
  m.inDoubt("dropped", "add");
  m.delStarted("kept");
  m.inDoubt("kept", "del");
  const doubted = m.compare(new Map([["added", "10.0.0.2"], ["kept", "10.0.0.1"]]));
  assert.deepEqual(doubted.sort(), ["added", "dropped", "kept"]);
  assert.deepEqual(m.violations, []);
  // The runtime DELs them: the held ones must be released, the other is unknown.
  m.delAcked("added", ["10.0.0.2"]);
  m.delAcked("kept", ["10.0.0.1"]);
  m.delAcked("dropped", "unknown");
  assert.deepEqual(m.violations, []);
  m.addAcked("x", "10.0.0.5");
  m.delAcked("x", "unknown");
  assert.match(m.violations.join(), /DEL of x \(holding 10\.0\.0\.5\) answered UnknownAttachment/);
});
