/**
 * The bodies of upstream's introspection endpoints /v1/ipamd-env-settings and
 * /v1/networkutils-env-settings, with upstream's keys and JSON types (Go nil slices are null).
 */

import type { Config } from "../config.ts";

const SNAT_TYPE = { none: 0, hashrandom: 1, prng: 2 } as const;

export interface IpamdEnvSettings {
  WARM_IP_TARGET: number;
  WARM_ENI_TARGET: number;
  AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: boolean;
  AWS_MANAGE_ENIS_NON_SCHEDULABLE: boolean;
  ENABLE_SUBNET_DISCOVERY: boolean;
}

export interface NetworkutilsEnvSettings {
  AWS_VPC_K8S_CNI_CONNMARK: number;
  AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: string[] | null;
  AWS_VPC_K8S_CNI_EXTERNALSNAT: boolean;
  AWS_EXTERNAL_SERVICE_CIDRS: string[] | null;
  AWS_VPC_ENI_MTU: number;
  AWS_VPC_K8S_CNI_VETHPREFIX: string;
  AWS_VPC_CNI_NODE_PORT_SUPPORT: boolean;
  /** 0 none, 1 hashrandom, 2 prng (upstream's enum). */
  AWS_VPC_K8S_CNI_RANDOMIZESNAT: number;
}

export function ipamdEnvSettings(config: Config): IpamdEnvSettings {
  return {
    WARM_IP_TARGET: config.warmIpTarget,
    WARM_ENI_TARGET: config.warmEniTarget,
    AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: config.customNetworking,
    AWS_MANAGE_ENIS_NON_SCHEDULABLE: config.manageEnisNonSchedulable,
    ENABLE_SUBNET_DISCOVERY: config.subnetDiscovery,
  };
}

export function networkutilsEnvSettings(config: Config): NetworkutilsEnvSettings {
  const list = (cidrs: readonly string[]) => (cidrs.length === 0 ? null : [...cidrs]);
  return {
    AWS_VPC_K8S_CNI_CONNMARK: config.connmark,
    // Upstream ignores exclusions under external SNAT and reports them as nil.
    AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: config.externalSnat ? null : list(config.excludeSnatCidrs),
    AWS_VPC_K8S_CNI_EXTERNALSNAT: config.externalSnat,
    AWS_EXTERNAL_SERVICE_CIDRS: list(config.externalServiceCidrs),
    AWS_VPC_ENI_MTU: config.eniMtu,
    AWS_VPC_K8S_CNI_VETHPREFIX: config.vethPrefix,
    AWS_VPC_CNI_NODE_PORT_SUPPORT: config.nodePortSupport,
    AWS_VPC_K8S_CNI_RANDOMIZESNAT: SNAT_TYPE[config.randomizeSnat],
  };
}
