/**
 * Keeps an up-to-date view of this node: LIST (field selector metadata.name) then WATCH from
 * the list's resourceVersion, re-watching when the server ends the stream, re-listing on 410
 * Gone, and backing off (1 s → 30 s) while the API server is unreachable. Subscribers get every
 * new version of the Node; nothing is delivered twice for one resourceVersion.
 */
import { type Logger, silentLogger } from "../ops/log.ts";
import { sleep } from "../ops/timers.ts";
import type { K8sClient, WatchHandle } from "./client.ts";
import { type NodeInfo, nodeInfoFromObject } from "./node_info.ts";
import type { NodeObject } from "./types.ts";

export interface NodeWatcherOptions {
  /** Server-side length of one watch request (default 300 s). */
  watchTimeoutSeconds?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  logger?: Logger;
}

export type NodeListener = (node: NodeInfo) => void;

export class NodeWatcher {
  #client: K8sClient;
  #name: string;
  #options: Required<Omit<NodeWatcherOptions, "logger">>;
  #log: Logger;
  #listeners = new Set<NodeListener>();
  #current: NodeInfo | undefined;
  #stopper = new AbortController();
  #watch: WatchHandle | undefined;
  #loop: Promise<void> | undefined;
  #firstList = Promise.withResolvers<void>();
  #nudge: AbortController | undefined;

  constructor(client: K8sClient, nodeName: string, options: NodeWatcherOptions = {}) {
    this.#client = client;
    this.#name = nodeName;
    this.#log = (options.logger ?? silentLogger).with({ component: "node-watch", node: nodeName });
    this.#options = {
      watchTimeoutSeconds: options.watchTimeoutSeconds ?? 300,
      minBackoffMs: options.minBackoffMs ?? 1000,
      maxBackoffMs: options.maxBackoffMs ?? 30000,
    };
  }

  /** The latest version seen, if any. */
  get current(): NodeInfo | undefined {
    return this.#current;
  }

  /** Calls `listener` on every new version of the node. Returns the unsubscribe function. */
  subscribe(listener: NodeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Starts watching. Resolves once the first LIST attempt has finished (successfully or not);
   * watching goes on in the background until stop().
   */
  async start(): Promise<NodeInfo | undefined> {
    this.#loop ??= this.#run();
    await this.#firstList.promise;
    return this.#current;
  }

  /** Ends a backoff wait now (the API server is known to be back). No effect while watching. */
  retryNow(): void {
    this.#nudge?.abort();
  }

  async stop(): Promise<void> {
    this.#stopper.abort();
    this.#watch?.stop();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#stopper.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        let rv = await this.#list();
        failures = 0;
        for (;;) {
          if (signal.aborted) return;
          const next = await this.#watchOnce(rv);
          if (next === undefined) break; // 410 Gone: list again
          rv = next;
        }
      } catch (error) {
        this.#firstList.resolve();
        if (signal.aborted) return;
        failures++;
        const delay = Math.min(
          this.#options.maxBackoffMs,
          this.#options.minBackoffMs * 2 ** Math.min(failures - 1, 16),
        );
        this.#log.warn("node watch failed; retrying", { error, retryInMs: delay });
        this.#nudge = new AbortController();
        await sleep(delay, AbortSignal.any([signal, this.#nudge.signal])).catch(() => {});
        this.#nudge = undefined;
      }
    }
  }

  async #list(): Promise<string> {
    const list = await this.#client.listNodes({ fieldSelector: `metadata.name=${this.#name}` });
    const node = list.items[0];
    if (node) this.#deliver(node);
    else this.#log.warn("node not found; waiting for it to appear");
    this.#firstList.resolve();
    return list.resourceVersion;
  }

  /** One watch request; returns the resourceVersion to resume from, or undefined after 410. */
  async #watchOnce(resourceVersion: string): Promise<string | undefined> {
    let rv = resourceVersion;
    let gone = false;
    this.#watch = await this.#client.watchNodes(
      {
        fieldSelector: `metadata.name=${this.#name}`,
        resourceVersion,
        timeoutSeconds: this.#options.watchTimeoutSeconds,
      },
      (type, object) => {
        const node = object as NodeObject;
        if (type === "ERROR") {
          const code = (object as { code?: unknown }).code;
          if (code === 410) gone = true;
          else this.#log.warn("watch error event", { status: object });
          return;
        }
        if (node?.metadata?.resourceVersion) rv = node.metadata.resourceVersion;
        if (type === "ADDED" || type === "MODIFIED") this.#deliver(node);
        if (type === "DELETED") this.#log.warn("node deleted; keeping its last known state");
      },
    );
    if (this.#stopper.signal.aborted) this.#watch.stop();
    const error = await this.#watch.done;
    if (error) throw error;
    return gone ? undefined : rv;
  }

  #deliver(object: NodeObject): void {
    const info = nodeInfoFromObject(object);
    if (this.#current && this.#current.resourceVersion === info.resourceVersion) return;
    this.#current = info;
    for (const listener of [...this.#listeners]) {
      try {
        listener(info);
      } catch (error) {
        this.#log.error("node listener failed", { error });
      }
    }
  }
}
