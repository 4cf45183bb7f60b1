/**
 * The JSON the introspection API serves (src/ipam/introspection_source.ts), as the CLI reads
 * it. Fields a CLI of another release might not find are optional, so a CLI and a daemon of
 * neighbouring releases still work together.
 */

/** `/v1/enis`: upstream's shape, keyed by network card ("0"). */
export type UpstreamEnis = Record<string, UpstreamCard>;

export interface UpstreamCard {
  TotalIPs: number;
  AssignedIPs: number;
  ENIs: Record<string, UpstreamEni>;
}

export interface UpstreamEni {
  ID: string;
  IsPrimary: boolean;
  IsTrunk: boolean;
  IsEFA: boolean;
  DeviceNumber: number;
  AvailableIPv4Cidrs: Record<string, UpstreamCidr>;
  IsExcludedForPodIPs: boolean;
  RouteTableID: number;
  SubnetID: string;
}

export interface UpstreamCidr {
  Cidr: { IP: string; Mask: string };
  IPAddresses: Record<string, UpstreamAddress>;
  IsPrefix: boolean;
}

export interface UpstreamAddress {
  Address: string;
  IPAMKey: { networkName: string; containerID: string; ifName: string };
  IPAMMetadata: { k8sPodNamespace?: string; k8sPodName?: string; interfacesCount?: number };
  AssignedTime: string;
  UnassignedTime: string;
}

/** One element of `/v1/pods`. */
export interface PodEntry {
  podNamespace: string;
  podName: string;
  ipv4: string;
  eniId: string;
  cidr: string;
  deviceNumber: number;
  routeTableId: number;
  networkName: string;
  containerId: string;
  ifName: string;
  assignedAt: string;
}

/** `/v1/pool`. */
export interface PoolInfo {
  ready: boolean;
  terminating?: boolean;
  mode?: string;
  instanceId?: string;
  instanceType?: string;
  limits?: { maxEnis: number; ipv4PerEni: number; maxPods: number };
  counts?: {
    total: number;
    assigned: number;
    cooling: number;
    available: number;
    prefixes?: number;
    enis?: number;
  };
  waitingAdds?: number;
  plan?: {
    reason: string;
    low: boolean;
    canGrow: boolean;
    blocked?: { code: string; message: string };
    actions?: unknown[];
    releaseDeferredUntil?: string;
  };
  unmanagedEnis?: string[];
  vpcCidrs?: string[];
  cooldownSeconds?: number;
  cooling?: Array<{ ipv4: string; eniId: string; cidr: string; availableAt: string }>;
}
