/**
 * Applies per-node warm-pool overrides as the node's annotations change, without a restart:
 * every new version of the Node is parsed (node_overrides.ts); subscribers hear about it only
 * when an effective setting or its source changes; each invalid value is reported once (log
 * and a Warning event on the Node) until the annotation changes again.
 */
import { type Logger, silentLogger } from "../ops/log.ts";
import type { AwsNodeEvents } from "./aws_node_events.ts";
import type { NodeInfo } from "./node_info.ts";
import {
  applyNodeOverrides,
  describeWarmPool,
  type EffectiveWarmPool,
  parseNodeOverrides,
  sameWarmPool,
  type WarmPoolSettings,
} from "./node_overrides.ts";
import type { NodeWatcher } from "./node_watch.ts";

export type WarmPoolListener = (effective: EffectiveWarmPool, node: NodeInfo) => void;

export interface WarmPoolOverridesOptions {
  /** Where invalid values are reported as Warning events; without it they are only logged. */
  events?: AwsNodeEvents;
  logger?: Logger;
}

export class WarmPoolOverrides {
  #base: WarmPoolSettings;
  #current: EffectiveWarmPool;
  #listeners = new Set<WarmPoolListener>();
  #reported = new Set<string>();
  #events: AwsNodeEvents | undefined;
  #log: Logger;

  constructor(base: WarmPoolSettings, options: WarmPoolOverridesOptions = {}) {
    this.#base = { ...base };
    this.#current = applyNodeOverrides(this.#base, parseNodeOverrides({}));
    this.#events = options.events;
    this.#log = options.logger ?? silentLogger;
  }

  /** The settings in force now (the base until a node has been seen). */
  get current(): EffectiveWarmPool {
    return this.#current;
  }

  subscribe(listener: WarmPoolListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Feeds a version of the node; returns true when the effective settings changed. */
  update(node: NodeInfo): boolean {
    const next = applyNodeOverrides(this.#base, parseNodeOverrides(node.annotations));
    const seen = new Set<string>();
    for (const rejection of next.rejected) {
      const key = `${rejection.annotation}=${rejection.value}`;
      seen.add(key);
      if (!this.#reported.has(key)) {
        if (this.#events) this.#events.invalidNodeOverride(node, rejection);
        else this.#log.warn("ignoring an invalid node override annotation", { ...rejection });
      }
    }
    for (const annotation of next.unknown) {
      const key = `unknown:${annotation}`;
      seen.add(key);
      if (!this.#reported.has(key)) {
        this.#log.warn("unknown vpc-cni-deno.dev/ annotation on the node; ignored", { annotation });
      }
    }
    this.#reported = seen;
    const changed = !sameWarmPool(this.#current, next);
    this.#current = next;
    if (!changed) return false;
    this.#log.info("warm pool settings for this node", { settings: describeWarmPool(next) });
    for (const listener of [...this.#listeners]) {
      try {
        listener(next, node);
      } catch (error) {
        this.#log.error("warm pool listener failed", { error });
      }
    }
    return true;
  }

  /** Follows `watcher`: applies its current node, then every new version. */
  follow(watcher: NodeWatcher): () => void {
    if (watcher.current) this.update(watcher.current);
    return watcher.subscribe((node) => this.update(node));
  }
}
