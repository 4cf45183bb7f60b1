/**
 * The node sysctls upstream's init container (aws-vpc-cni-init, spec §1.5) sets, for an
 * `ipamd init` step. They apply to the calling thread's current network namespace.
 */

import { isNotFound, readSysctl, writeSysctl } from "../../ffi/mod.ts";
import { type Logger, silentLogger } from "../ops/log.ts";

export interface NodeSysctlSettings {
  /** The primary ENI's interface name (found by the IMDS MAC). */
  primaryInterface: string;
  /** DISABLE_TCP_EARLY_DEMUX: tcp_early_demux=0 (needed for pod-to-host traffic with SGP). */
  disableTcpEarlyDemux?: boolean;
  /** ENABLE_IPv6. */
  enableIpv6?: boolean;
  /** ENABLE_V6_EGRESS. */
  enableV6Egress?: boolean;
}

export interface SysctlWrite {
  key: string;
  value: string;
  /** The value before, when it differed (undefined: unchanged or absent). */
  previous?: string;
}

/** The writes, in upstream's order; optional ones are skipped when the key does not exist. */
export function planNodeSysctls(settings: NodeSysctlSettings): {
  key: string;
  value: string;
  optional: boolean;
}[] {
  const primary = settings.primaryInterface;
  const plan = [
    // Loose reverse-path filtering: replies for pods on secondary ENIs arrive on the primary
    // ENI (NodePort, SNATed traffic), which strict mode would drop.
    { key: `net/ipv4/conf/${primary}/rp_filter`, value: "2", optional: false },
    {
      key: "net/ipv4/tcp_early_demux",
      value: settings.disableTcpEarlyDemux ? "0" : "1",
      optional: true,
    },
  ];
  if (settings.enableIpv6) {
    plan.push({ key: "net/ipv6/conf/all/disable_ipv6", value: "0", optional: false });
  }
  if (settings.enableIpv6 || settings.enableV6Egress) {
    plan.push(
      { key: "net/ipv6/conf/all/forwarding", value: "1", optional: false },
      { key: `net/ipv6/conf/${primary}/accept_ra`, value: "2", optional: false },
    );
  }
  return plan;
}

/** Writes the node sysctls; returns what it wrote. Unchanged values are not rewritten. */
export function applyNodeSysctls(
  settings: NodeSysctlSettings,
  options: { logger?: Logger } = {},
): SysctlWrite[] {
  const logger = options.logger ?? silentLogger;
  const written: SysctlWrite[] = [];
  for (const { key, value, optional } of planNodeSysctls(settings)) {
    let previous: string;
    try {
      previous = readSysctl(key).trim();
    } catch (e) {
      if (optional && isNotFound(e)) {
        logger.debug("sysctl not present, skipped", { key });
        continue;
      }
      throw e;
    }
    if (previous === value) {
      written.push({ key, value });
      continue;
    }
    writeSysctl(key, value);
    logger.info("sysctl set", { key, value, previous });
    written.push({ key, value, previous });
  }
  return written;
}
