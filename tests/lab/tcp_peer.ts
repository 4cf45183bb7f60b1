/**
 * A tiny TCP peer for traffic tests, run inside a lab namespace with `ip netns exec`:
 *   serve PORT           prints "ready", then answers each connection with the peer's address
 *                        ("10.0.0.5"); exits when stdin closes or after 30 s.
 *   probe PORT ADDR...   connects to each ADDR (2 s limit each) and prints one JSON line
 *                        {"ADDR": "seen-address" | "error: ..."}.
 */
// deno-lint-ignore-file no-console -- command-line output

const [mode, portText, ...addresses] = Deno.args;
const port = Number(portText);

if (mode === "serve") {
  const listener = Deno.listen({ hostname: "0.0.0.0", port });
  const deadline = setTimeout(() => listener.close(), 30_000);
  (async () => {
    for await (const _ of Deno.stdin.readable) { /* wait for EOF */ }
    listener.close();
  })();
  console.log("ready");
  try {
    for await (const conn of listener) {
      const peer = conn.remoteAddr as Deno.NetAddr;
      await conn.write(new TextEncoder().encode(peer.hostname + "\n")).catch(() => {});
      conn.close();
    }
  } catch {
    // closed
  }
  clearTimeout(deadline);
  Deno.exit(0);
} else if (mode === "probe") {
  const seen: Record<string, string> = {};
  for (const hostname of addresses) {
    try {
      const conn = await Promise.race([
        Deno.connect({ hostname, port }),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), 2000)),
      ]);
      const buf = new Uint8Array(64);
      const n = await conn.read(buf);
      conn.close();
      seen[hostname] = new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim();
    } catch (e) {
      seen[hostname] = `error: ${e instanceof Error ? e.message : e}`;
    }
  }
  console.log(JSON.stringify(seen));
  Deno.exit(0);
} else {
  console.error("usage: tcp_peer.ts serve PORT | probe PORT ADDR...");
  Deno.exit(2);
}
