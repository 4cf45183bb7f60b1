import assert from "node:assert/strict";
import {
  CheckFailedError,
  CniCode,
  CniError,
  ConfigError,
  EnvError,
  NetnsNotFoundError,
  PodNetworkError,
  StdinError,
  toCniError,
} from "../../src/cni/errors.ts";
import { IpamdUnreachableError } from "../../src/rpc/client.ts";
import { ErrorCode, type ErrorKind, RpcError } from "../../src/rpc/protocol.ts";

Deno.test("toCniError() maps aws-cni's own errors to the spec's codes", () => {
  const cases: Array<[unknown, number]> = [
    [new ConfigError("version", "v"), 1],
    [new ConfigError("unsupported-field", "f"), 2],
    [new NetnsNotFoundError("/var/run/netns/x"), 3],
    [new EnvError(["CNI_IFNAME"], "e"), 4],
    [new StdinError("s"), 5],
    [new ConfigError("decode", "d"), 6],
    [new ConfigError("invalid", "i"), 7],
    [new IpamdUnreachableError("/s.sock", "refused"), 11],
    [new PodNetworkError("create veth", "failed", { errno: "EEXIST" }), 11],
    [new CniError(50, "status"), 50],
    [new CniError(51, "status"), 51],
    [new CheckFailedError(["pod: x"]), 100],
    [new TypeError("a bug"), 999],
    ["a string thrown", 999],
  ];
  for (const [error, code] of cases) assert.equal(toCniError(error).code, code, String(error));
});

Deno.test("toCniError() maps every ipamd error kind; only protocol bugs are 999", () => {
  const expected: Record<ErrorKind, number> = {
    ParseError: 999,
    InvalidRequest: 999,
    MethodNotFound: 999,
    InvalidParams: 999,
    Internal: 999,
    VersionMismatch: 11,
    NoAvailableAddress: 11,
    UnknownAttachment: 3,
    NotReady: 11,
    StorageFailure: 11,
    Overloaded: 11,
  };
  assert.deepEqual(Object.keys(expected).sort(), Object.keys(ErrorCode).sort());
  for (const [kind, code] of Object.entries(expected)) {
    const mapped = toCniError(new RpcError(kind as ErrorKind, "from ipamd"));
    assert.equal(mapped.code, code, kind);
    assert.match(mapped.msg, /^ipamd: from ipamd$/);
    assert.match(mapped.details ?? "", new RegExp(`^${kind}: `));
  }
});

Deno.test("toCniError() messages say what failed and what to do", () => {
  const unreachable = toCniError(new IpamdUnreachableError("/run/ipamd.sock", "missing"));
  assert.match(unreachable.msg, /\/run\/ipamd\.sock does not exist/);
  assert.match(unreachable.msg, /not running/);
  const wiring = toCniError(
    new PodNetworkError("add rule to 10.0.0.5", "add rule failed: File exists", {
      errno: "EEXIST",
    }),
  );
  assert.match(wiring.details ?? "", /step: add rule to 10\.0\.0\.5 \(EEXIST\).*rolled back/);
  const bug = toCniError(new RangeError("index out of range"));
  assert.match(bug.msg, /internal error: index out of range/);
  assert.match(bug.details ?? "", /bug/);
  assert.equal(CniCode.Internal, 999);
});
