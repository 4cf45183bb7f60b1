/**
 * What the introspection API shows: upstream's `/v1/enis` shape (Go field names, base64 masks,
 * RFC 3339 times with Go's zero time, container ids scrubbed), the env-settings endpoints, and
 * ours: `/v1/pods` and `/v1/pool`.
 */
import type { LoadedConfig } from "../config.ts";
import { ipamdEnvSettings, networkutilsEnvSettings } from "../config/env_settings.ts";
import type { IntrospectionSource } from "../ops/introspection.ts";
import type { EniDetail } from "./datastore_types.ts";
import type { PoolManager } from "./manager.ts";
import type { NodeRuntime } from "./node_init.ts";

const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

type Current = () => { node: NodeRuntime; manager: PoolManager } | undefined;

export function introspectionSource(
  loaded: LoadedConfig,
  current: Current,
  eniConfigName: () => string | undefined = () => undefined,
): IntrospectionSource {
  return {
    enis: () => {
      const ready = current();
      if (!ready) return {};
      const stats = ready.node.ds.stats();
      return {
        "0": {
          TotalIPs: stats.total,
          AssignedIPs: stats.assigned,
          ENIs: Object.fromEntries(ready.node.ds.details().map((e) => [e.id, upstreamEni(e)])),
        },
      };
    },
    // The ENIConfig name needs the Node from the API server; without it, upstream 404s too.
    eniConfigName: () => Promise.resolve(eniConfigName()),
    networkutilsEnv: () => networkutilsEnvSettings(loaded.config),
    ipamdEnv: () => ipamdEnvSettings(loaded.config),
    pods: () => {
      const ready = current();
      if (!ready) return [];
      return ready.node.ds.assignments().map((a) => ({
        podNamespace: a.pod?.podNamespace ?? "",
        podName: a.pod?.podName ?? "",
        ipv4: a.ipv4,
        eniId: a.eniId,
        cidr: a.cidr,
        deviceNumber: a.deviceNumber,
        routeTableId: a.routeTableId,
        networkName: a.key.networkName,
        containerId: a.key.containerId,
        ifName: a.key.ifName,
        assignedAt: new Date(a.assignedAt).toISOString(),
      }));
    },
    pool: () => {
      const ready = current();
      if (!ready) return { ready: false };
      const { node, manager } = ready;
      const plan = manager.lastPlan ?? manager.plan();
      return {
        ready: true,
        terminating: manager.terminating,
        mode: node.mode,
        instanceId: node.identity.instanceId,
        instanceType: node.identity.instanceType,
        limits: {
          maxEnis: node.settings().maxEnis,
          ipv4PerEni: node.instanceType.ipv4PerEni,
          maxPods: node.maxPods,
        },
        settings: node.settings(),
        counts: node.ds.stats(),
        waitingAdds: manager.waiting,
        plan: {
          policy: plan.policy,
          reason: plan.reason,
          low: plan.low,
          canGrow: plan.canGrow,
          blocked: plan.blocked,
          actions: plan.actions,
          ...(plan.releaseDeferredUntil
            ? { releaseDeferredUntil: new Date(plan.releaseDeferredUntil).toISOString() }
            : {}),
        },
        unmanagedEnis: [...node.unmanaged],
        vpcCidrs: node.vpcCidrs,
        // For `ipamd enis`: which released addresses still cool down, and until when.
        cooldownSeconds: loaded.config.ipCooldownSeconds,
        cooling: coolingAddresses(node.ds.details(), loaded.config.ipCooldownSeconds * 1000),
      };
    },
  };
}

function upstreamEni(eni: EniDetail): unknown {
  return {
    ID: eni.id,
    IsPrimary: eni.isPrimary,
    IsTrunk: eni.isTrunk,
    IsEFA: eni.isEfa,
    DeviceNumber: eni.deviceNumber,
    AvailableIPv4Cidrs: Object.fromEntries(eni.cidrs.map((c) => {
      const [ip, bits] = c.cidr.split("/") as [string, string];
      return [c.cidr, {
        Cidr: { IP: ip, Mask: maskBase64(Number(bits)) },
        IPAddresses: Object.fromEntries(c.addresses.map((a) => [a.ipv4, {
          Address: a.ipv4,
          IPAMKey: { networkName: a.key?.networkName ?? "", containerID: "", ifName: "" },
          IPAMMetadata: {
            k8sPodNamespace: a.pod?.podNamespace ?? "",
            k8sPodName: a.pod?.podName ?? "",
            ...(a.pod?.interfacesCount ? { interfacesCount: a.pod.interfacesCount } : {}),
          },
          AssignedTime: a.assignedAt === undefined
            ? GO_ZERO_TIME
            : new Date(a.assignedAt).toISOString(),
          UnassignedTime: a.unassignedAt === undefined
            ? GO_ZERO_TIME
            : new Date(a.unassignedAt).toISOString(),
        }])),
        IsPrefix: c.isPrefix,
        AddressFamily: "",
      }];
    })),
    IPv6Cidrs: {},
    IsExcludedForPodIPs: eni.excluded,
    RouteTableID: eni.routeTableId,
    SubnetID: eni.subnetId ?? "",
  };
}

function coolingAddresses(
  enis: readonly EniDetail[],
  cooldownMs: number,
): Array<{ ipv4: string; eniId: string; cidr: string; availableAt: string }> {
  return enis.flatMap((eni) =>
    eni.cidrs.flatMap((c) =>
      c.addresses.filter((a) => a.cooling).map((a) => ({
        ipv4: a.ipv4,
        eniId: eni.id,
        cidr: c.cidr,
        availableAt: new Date((a.unassignedAt ?? 0) + cooldownMs).toISOString(),
      }))
    )
  );
}

function maskBase64(bits: number): string {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const bytes = new Uint8Array([mask >>> 24, (mask >>> 16) & 255, (mask >>> 8) & 255, mask & 255]);
  return btoa(String.fromCharCode(...bytes));
}
