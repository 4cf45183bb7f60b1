/**
 * A seeded corpus of bad messages for ipamd's JSON-RPC socket (src/rpc/protocol.ts): bytes
 * that are not UTF-8 JSON, JSON that is not a request, requests with a bad envelope, and
 * requests whose params break the method's schema. Each message is one line (no newline
 * inside) and is answered with a JSON-RPC error whose code is one of `codes`.
 */
import { ErrorCode } from "../../src/rpc/protocol.ts";
import { PROTOCOL_VERSION } from "../../src/version.ts";
import { SeededRandom } from "./resilience_world.ts";

export interface RpcCase {
  name: string;
  bytes: Uint8Array;
  codes: number[];
}

const encoder = new TextEncoder();
const V = PROTOCOL_VERSION;

const ADD = {
  networkName: "aws-cni",
  containerId: "tres-garbage",
  ifName: "eth0",
  podName: "p",
  podNamespace: "tres",
  netns: "/var/run/netns/none",
};

/** One field of a method's params set to a value its schema refuses. */
const BAD_PARAMS: Array<[string, Record<string, unknown>]> = [
  ["ipam.add", { ...ADD, containerId: 5 }],
  ["ipam.add", { ...ADD, containerId: "" }],
  ["ipam.add", { ...ADD, ifName: null }],
  ["ipam.add", { ...ADD, networkName: ["aws-cni"] }],
  ["ipam.add", { ...ADD, podName: 1 }],
  ["ipam.add", { ...ADD, netns: {} }],
  ["ipam.add", { ...ADD, waitMs: -1 }],
  ["ipam.add", { ...ADD, waitMs: 1.5 }],
  ["ipam.add", { ...ADD, waitMs: "10" }],
  ["ipam.add", { ...ADD, waitMs: 1e300 }],
  ["ipam.add", { ...ADD, requiresMultiNICAttachment: "yes" }],
  ["ipam.add", { ...ADD, clientVersion: 2 }],
  ["ipam.add", { networkName: "aws-cni" }],
  ["ipam.del", { ...ADD, reason: "Deleted" }],
  ["ipam.del", { ...ADD, reason: undefined }],
  ["ipam.del", { ...ADD, reason: "PodDeleted", podUid: 7 }],
  ["ipam.get", { networkName: "aws-cni", containerId: "x" }],
  ["ipam.gc", { networkName: "aws-cni", validAttachments: "x" }],
  ["ipam.gc", { networkName: "aws-cni", validAttachments: [{ containerId: "", ifName: "eth0" }] }],
  ["ipam.gc", { networkName: "aws-cni", validAttachments: [null] }],
  ["ipam.gc", { networkName: "", validAttachments: [] }],
  ["ipam.status", { clientVersion: ["x"] }],
];

function line(text: string): Uint8Array {
  return encoder.encode(text.replace(/\n/g, " "));
}

function request(fields: Record<string, unknown>): Uint8Array {
  return line(JSON.stringify(fields));
}

export function generateRpcCorpus(seed: number, count: number): RpcCase[] {
  const rng = new SeededRandom(seed);
  const families: Array<() => RpcCase> = [
    () => {
      const bytes = new Uint8Array(1 + rng.int(300)).map(() => {
        const b = rng.int(256);
        return b === 0x0a ? 0x20 : b;
      });
      // Random bytes are almost never JSON; a blank line gets no answer at all, so avoid it.
      bytes[0] = 0x7b; // "{"
      return { name: "random-bytes", bytes, codes: [ErrorCode.ParseError] };
    },
    () => {
      const text = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ipam.status", params: {} });
      return {
        name: "truncated-json",
        bytes: line(text.slice(0, 1 + rng.int(text.length - 2))),
        codes: [ErrorCode.ParseError],
      };
    },
    () => ({
      name: "bad-utf8",
      bytes: new Uint8Array([
        ...encoder.encode('{"jsonrpc":"2.0","id":1,"method":"'),
        rng.pick([0xff, 0xc3, 0xed, 0x80]),
        ...encoder.encode('","params":{}}'),
      ]),
      codes: [ErrorCode.ParseError],
    }),
    () => ({
      name: "not-an-object",
      bytes: line(rng.pick(["[]", "1", '"x"', "null", "true", "-0", "[1,2]"])),
      codes: [ErrorCode.InvalidRequest],
    }),
    () => ({
      name: "batch",
      bytes: request([{ jsonrpc: "2.0", id: 1, method: "ipam.status", params: {} }] as never),
      codes: [ErrorCode.InvalidRequest],
    }),
    () => ({
      name: "bad-envelope",
      bytes: request(rng.pick<Record<string, unknown>>([
        { id: 1, method: "ipam.status", params: { protocolVersion: V } },
        { jsonrpc: "1.0", id: 1, method: "ipam.status", params: { protocolVersion: V } },
        { jsonrpc: 2, id: 1, method: "ipam.status", params: { protocolVersion: V } },
        { jsonrpc: "2.0", method: "ipam.status", params: { protocolVersion: V } },
        { jsonrpc: "2.0", id: null, method: "ipam.status", params: { protocolVersion: V } },
        { jsonrpc: "2.0", id: {}, method: "ipam.status", params: { protocolVersion: V } },
        { jsonrpc: "2.0", id: 1, params: { protocolVersion: V } },
        { jsonrpc: "2.0", id: 1, method: 7, params: { protocolVersion: V } },
      ])),
      codes: [ErrorCode.InvalidRequest],
    }),
    () => ({
      name: "infinite-id",
      bytes: line('{"jsonrpc":"2.0","id":1e999,"method":"ipam.status","params":{}}'),
      codes: [ErrorCode.InvalidRequest],
    }),
    () => ({
      name: "unknown-method",
      bytes: request({
        jsonrpc: "2.0",
        id: rng.int(1000),
        method: rng.pick(["ipam.ADD", "status", "constructor", "__proto__", "toString", ""]),
        params: { protocolVersion: V },
      }),
      codes: [ErrorCode.MethodNotFound],
    }),
    () => ({
      name: "bad-params-shape",
      bytes: request({
        jsonrpc: "2.0",
        id: "s",
        method: "ipam.status",
        ...rng.pick<Record<string, unknown>>([{}, { params: null }, { params: [V] }, {
          params: "x",
        }]),
      }),
      codes: [ErrorCode.InvalidParams],
    }),
    () => ({
      name: "bad-protocol-version",
      bytes: request({
        jsonrpc: "2.0",
        id: 2,
        method: "ipam.status",
        params: { protocolVersion: rng.pick<unknown>(["1", 1.5, null, undefined, 2 ** 60]) },
      }),
      codes: [ErrorCode.InvalidParams],
    }),
    () => ({
      name: "other-protocol-version",
      bytes: request({
        jsonrpc: "2.0",
        id: 3,
        method: "ipam.add",
        params: { ...ADD, protocolVersion: V + 1 + rng.int(5) },
      }),
      codes: [ErrorCode.VersionMismatch],
    }),
    () => {
      const [method, params] = rng.pick(BAD_PARAMS);
      return {
        name: `bad-params-${method}`,
        bytes: request({
          jsonrpc: "2.0",
          id: 4,
          method,
          params: { protocolVersion: V, ...params },
        }),
        codes: [ErrorCode.InvalidParams],
      };
    },
    () => {
      const depth = 5_000 + rng.int(20_000);
      return {
        name: "deep-nesting",
        bytes: line(
          `{"jsonrpc":"2.0","id":5,"method":"ipam.add","params":{"protocolVersion":${V},` +
            `"deep":${"[".repeat(depth)}${"]".repeat(depth)}}}`,
        ),
        // Missing fields; a parser that gave up on the depth would answer ParseError instead.
        codes: [ErrorCode.InvalidParams, ErrorCode.ParseError],
      };
    },
  ];
  return Array.from({ length: count }, () => rng.pick(families)());
}
