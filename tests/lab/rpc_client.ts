/**
 * A tiny JSON-RPC 2.0 client for tests: one request per connection over ipamd's unix socket,
 * newline-delimited (src/rpc/protocol.ts). Tests use it to ask ipamd whether it is ready and
 * what it holds; aws-cni has its own client in src/.
 */
import {
  type MethodName,
  type ParamsOf,
  type ResultOf,
  RpcError,
  type RpcResponse,
} from "../../src/rpc/protocol.ts";
import { PROTOCOL_VERSION } from "../../src/version.ts";

/** ipamd's socket could not be reached or did not answer in time (not an RPC-level error). */
export class RpcTransportError extends Error {
  readonly socketPath: string;
  constructor(socketPath: string, message: string, options?: ErrorOptions) {
    super(`ipamd socket ${socketPath}: ${message}`, options);
    this.name = "RpcTransportError";
    this.socketPath = socketPath;
  }
}

type ParamsWithoutVersion<M extends MethodName> = Omit<ParamsOf[M], "protocolVersion">;

/** Sends one request; resolves with the result, rejects with RpcError or RpcTransportError. */
export async function rpcCall<M extends MethodName>(
  socketPath: string,
  method: M,
  params: ParamsWithoutVersion<M>,
  options: { timeoutMs?: number } = {},
): Promise<ResultOf[M]> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socketPath });
  } catch (e) {
    throw new RpcTransportError(socketPath, `cannot connect (${(e as Error).name})`, { cause: e });
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, options.timeoutMs ?? 5_000);
  try {
    const request = {
      jsonrpc: "2.0",
      id: 1,
      method,
      params: { protocolVersion: PROTOCOL_VERSION, ...params },
    };
    await conn.write(new TextEncoder().encode(JSON.stringify(request) + "\n"));
    const line = await readLine(conn);
    const response = JSON.parse(line) as RpcResponse<M>;
    if ("error" in response) throw RpcError.fromObject(response.error);
    return response.result;
  } catch (e) {
    if (e instanceof RpcError) throw e;
    const why = timedOut
      ? `no reply within ${options.timeoutMs ?? 5_000} ms`
      : `bad reply (${(e as Error).message})`;
    throw new RpcTransportError(socketPath, `${method}: ${why}`, { cause: e });
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timeout
    }
  }
}

async function readLine(conn: Deno.UnixConn): Promise<string> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(64 * 1024);
  let text = "";
  while (!text.includes("\n")) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`connection closed after ${text.length} bytes`);
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
  }
  return text.slice(0, text.indexOf("\n"));
}
