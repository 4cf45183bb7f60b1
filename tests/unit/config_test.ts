import assert from "node:assert/strict";
import { ConfigError, type ConfigKey, loadConfig, renderEnv, VARIABLES } from "../../src/config.ts";

const BOOL_TRUE = ["1", "t", "T", "TRUE", "true", "True"];
const BOOL_FALSE = ["0", "f", "F", "FALSE", "false", "False"];
const BOOL_BAD = ["yes", "TrUe", " true", "on", "2"];

type Case = { valid: Array<[string, unknown]>; invalid: string[] };
const bool = (options: { allowTrue?: boolean } = {}): Case => ({
  valid: [
    ...(options.allowTrue === false ? [] : BOOL_TRUE.map((t): [string, unknown] => [t, true])),
    ...BOOL_FALSE.map((f): [string, unknown] => [f, false]),
  ],
  invalid: [...BOOL_BAD, ...(options.allowTrue === false ? ["true"] : [])],
});
const count = (extra: Array<[string, unknown]> = []): Case => ({
  valid: [["0", 0], ["7", 7], ["+3", 3], ...extra],
  invalid: ["-1", "1.5", "abc", " 1", "1_000", "0x10"],
});
const freeText = (value: string): Case => ({ valid: [[value, value]], invalid: [] });
const anyUrl: Case = {
  valid: [["https://ec2.us-west-2.amazonaws.com", "https://ec2.us-west-2.amazonaws.com"], [
    "http://10.0.0.1:5000",
    "http://10.0.0.1:5000",
  ]],
  invalid: ["ec2.amazonaws.com", "ftp://x", "http//x"],
};
const level: Case = {
  valid: [["DEBUG", "debug"], ["Info", "info"], ["warn", "warn"], ["FATAL", "error"]],
  invalid: ["verbose", "trace"],
};
const address: Case = {
  valid: [["127.0.0.1:61679", "127.0.0.1:61679"], [":9000", ":9000"], [
    "unix:/run/x.sock",
    "unix:/run/x.sock",
  ], [
    "[::1]:80",
    "[::1]:80",
  ]],
  invalid: ["61679", "localhost", "host:99999", "unix:relative"],
};

/** Every variable: values accepted (with the parsed result) and values refused. */
const CASES: Record<ConfigKey, Case> = {
  warmEniTarget: count(),
  warmIpTarget: count(),
  minimumIpTarget: count(),
  warmPrefixTarget: { valid: [["2", 2], ["0", 0]], invalid: ["-1", "one"] },
  prefixDelegation: bool(),
  maxEni: { valid: [["3", 3], ["1", 1], ["0", null], ["-1", null]], invalid: ["three", "2.0"] },
  ipCooldownSeconds: count(),
  warmPoolMode: { valid: [["static", "static"], ["Adaptive", "adaptive"]], invalid: ["dynamic"] },
  podIpWaitSeconds: { valid: [["0", 0], ["120", 120]], invalid: ["121", "-1", "30s"] },
  maxPods: { valid: [["29", 29], ["110", 110]], invalid: ["0", "-3", "many", "1.5"] },
  enableIpv4: { valid: BOOL_TRUE.map((t) => [t, true]), invalid: ["false", "0", "yes"] },
  enableIpv6: bool({ allowTrue: false }),
  customNetworking: bool(),
  eniConfigAnnotation: freeText("example.com/eni-config"),
  eniConfigLabel: freeText("topology.kubernetes.io/zone"),
  subnetDiscovery: bool(),
  manageUntaggedEni: bool(),
  manageEnisNonSchedulable: bool(),
  disableNetworkResourceProvisioning: bool(),
  imdsOnlyMode: bool(),
  disableLeakedEniCleanup: bool(),
  clusterName: {
    valid: [["prod-eks_1", "prod-eks_1"]],
    invalid: ["-leading", "a".repeat(101), "bad\nname"],
  },
  additionalEniTags: {
    valid: [['{"team":"infra","cost-center":"42"}', { team: "infra", "cost-center": "42" }]],
    invalid: [
      "{team:infra}",
      '["a"]',
      '{"team":42}',
      '{"node.k8s.amazonaws.com/instance_id":"i-1"}',
      '{"aws:cloudformation:stack":"x"}',
      '{"eks:eni:owner":"me"}',
    ],
  },
  enablePodEni: bool({ allowTrue: false }),
  podSecurityGroupEnforcingMode: {
    valid: [["standard", "standard"]],
    invalid: ["Standard", "loose"],
  },
  enableMultiNic: bool({ allowTrue: false }),
  externalSnat: bool(),
  excludeSnatCidrs: {
    valid: [[" 10.1.2.3/16 , 192.168.0.0/24,,", ["10.1.0.0/16", "192.168.0.0/24"]], ["0.0.0.0/0", [
      "0.0.0.0/0",
    ]]],
    invalid: ["10.0.0.0/33", "10.0.0.1", "fe80::/10", "10.0.0.0/8;172.16.0.0/12"],
  },
  randomizeSnat: {
    valid: [["hashrandom", "hashrandom"], ["none", "none"]],
    invalid: ["random", "PRNG"],
  },
  nodePortSupport: bool(),
  connmark: {
    valid: [
      ["128", 128],
      ["0x80", 128],
      ["0X80", 128],
      ["0200", 128],
      ["0o200", 128],
      ["0b1000_0000", 128],
      [
        "0x_80",
        128,
      ],
      ["4294967295", 4294967295],
      ["+0x4000", 0x4000],
    ],
    invalid: ["0", "-1", "0x100000000", "0x", "08", "1__0", "_1", "0x80_", "mark"],
  },
  externalServiceCidrs: { valid: [["100.64.0.0/10", ["100.64.0.0/10"]]], invalid: ["100.64.0.0"] },
  eniMtu: {
    valid: [["576", 576], ["9001", 9001], ["1500", 1500]],
    invalid: ["575", "9002", "jumbo"],
  },
  podMtu: { valid: [["1400", 1400]], invalid: ["9100"] },
  vethPrefix: {
    valid: [["cali", "cali"], ["ve", "ve"]],
    invalid: ["eth", "lo", "vlan", "toolong", "a/b"],
  },
  disableTcpEarlyDemux: bool(),
  networkPolicyMode: {
    valid: [["strict", "strict"], ["Standard", "standard"], ["NONE", "none"]],
    invalid: ["off"],
  },
  enableBandwidthPlugin: bool(),
  disablePodV6: bool(),
  enableV6Egress: bool({ allowTrue: false }),
  nodeName: freeText("ip-10-0-0-1.ec2.internal"),
  podName: freeText("aws-node-x7k2p"),
  clusterEndpoint: anyUrl,
  kubeconfig: freeText("/etc/kubernetes/kubelet.conf"),
  kubernetesServiceHost: freeText("10.100.0.1"),
  kubernetesServicePort: freeText("443"),
  annotatePodIp: bool(),
  awsEc2Endpoint: anyUrl,
  awsEndpointUrlEc2: anyUrl,
  imdsEndpoint: {
    valid: [["http://169.254.169.254", "http://169.254.169.254"]],
    invalid: ["169.254.169.254"],
  },
  httpTimeoutSeconds: { valid: [["10", 10], ["60", 60]], invalid: ["5", "9", "ten"] },
  ec2ApiQps: { valid: [["5", 5], ["0.5", 0.5]], invalid: ["0", "-1", "1e3", "fast"] },
  ec2ApiBurst: { valid: [["1", 1], ["40", 40]], invalid: ["0", "2.5"] },
  vpcCniVersion: freeText("v1.23.1"),
  socketPath: freeText("/run/ipamd.sock"),
  backingStore: freeText("/tmp/ipam.json"),
  logLevel: level,
  logFile: freeText("stdout"),
  pluginLogFile: {
    valid: [["stderr", "stderr"], ["/tmp/p.log", "/tmp/p.log"]],
    invalid: ["stdout"],
  },
  pluginLogLevel: level,
  hostCniBinPath: freeText("/opt/cni/bin"),
  hostCniConfDirPath: freeText("/etc/cni/net.d"),
  disableIntrospection: bool(),
  introspectionBindAddress: address,
  disableMetrics: bool(),
  metricsBindAddress: address,
};

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  assert.fail(`no ConfigError for ${JSON.stringify(env)}`);
}

for (
  const [key, spec] of Object.entries(VARIABLES) as Array<
    [ConfigKey, (typeof VARIABLES)[ConfigKey]]
  >
) {
  const cases = CASES[key];
  Deno.test(`loadConfig() reads ${spec.name}: accepted values parse, refused ones name the variable`, () => {
    for (const [raw, expected] of cases.valid) {
      const { config, settings } = loadConfig({ [spec.name]: raw });
      assert.deepEqual(config[key], expected, `${spec.name}=${raw}`);
      assert.equal(settings.find((s) => s.name === spec.name)?.source, "environment");
    }
    for (const raw of cases.invalid) {
      const error = configError({ [spec.name]: raw });
      assert.equal(error.problems.length, 1, `${spec.name}=${raw}`);
      assert.equal(error.problems[0]!.variable, spec.name);
      assert.equal(error.problems[0]!.value, raw);
      assert.ok(error.message.includes(spec.name) && error.message.includes(JSON.stringify(raw)));
    }
    // Empty means unset, as upstream.
    assert.deepEqual(loadConfig({ [spec.name]: "" }).config[key], loadConfig({}).config[key]);
  });
}

Deno.test("loadConfig() defaults are upstream's (manifest values where code and manifest differ)", () => {
  const { config, settings } = loadConfig({});
  assert.deepEqual(
    [config.warmEniTarget, config.warmIpTarget, config.minimumIpTarget, config.warmPrefixTarget],
    [1, 0, 0, 1],
  );
  assert.deepEqual(
    [config.maxEni, config.ipCooldownSeconds, config.enableIpv4, config.enableIpv6],
    [null, 30, true, false],
  );
  assert.deepEqual([config.connmark, config.eniMtu, config.podMtu, config.vethPrefix], [
    0x80,
    9001,
    9001,
    "eni",
  ]);
  assert.deepEqual([config.randomizeSnat, config.nodePortSupport, config.subnetDiscovery], [
    "prng",
    true,
    true,
  ]);
  assert.deepEqual([config.backingStore, config.socketPath], [
    "/var/run/aws-node/ipam.json",
    "/var/run/aws-node/ipamd.sock",
  ]);
  assert.deepEqual([
    config.introspectionBindAddress,
    config.metricsBindAddress,
    config.httpTimeoutSeconds,
  ], [
    "127.0.0.1:61679",
    ":61678",
    10,
  ]);
  assert.deepEqual([
    config.podIpWaitSeconds,
    config.warmPoolMode,
    config.ec2ApiQps,
    config.ec2ApiBurst,
    config.maxPods,
  ], [
    30,
    "static",
    1,
    10,
    null,
  ]);
  assert.deepEqual([config.provisioning, config.leakedEniCleanup, config.ec2Endpoint], [
    true,
    true,
    "",
  ]);
  assert.ok(settings.every((s) => s.source === "default"));
  assert.equal(settings.length, Object.keys(VARIABLES).length);
});

Deno.test("loadConfig() reports every problem at once", () => {
  const error = configError({
    WARM_IP_TARGET: "lots",
    ENABLE_IPv6: "true",
    AWS_VPC_ENI_MTU: "70000",
    MAX_ENI: "x",
  });
  assert.deepEqual(error.problems.map((p) => p.variable).sort(), [
    "AWS_VPC_ENI_MTU",
    "ENABLE_IPv6",
    "MAX_ENI",
    "WARM_IP_TARGET",
  ]);
  assert.match(error.message, /invalid configuration \(4 problems\)/);
  assert.match(error.message, /WARM_IP_TARGET="lots": a decimal integer ≥ 0/);
  assert.match(error.message, /ENABLE_IPv6="true": IPv6 is not supported by this release/);
});

Deno.test("loadConfig() names the accepted ParseBool spellings", () => {
  const error = configError({ ENABLE_PREFIX_DELEGATION: "yes" });
  assert.match(
    error.problems[0]!.accepted,
    /1, t, T, TRUE, true, True or 0, f, F, FALSE, false, False/,
  );
});

Deno.test("loadConfig() compares the prefix-mode targets as numbers, not strings", () => {
  const error = configError({ ENABLE_PREFIX_DELEGATION: "true", WARM_PREFIX_TARGET: "0" });
  assert.equal(error.problems[0]!.variable, "WARM_PREFIX_TARGET");
  // Upstream compares "10" <= "0" as strings; here any target above 0 is enough.
  for (const name of ["WARM_IP_TARGET", "MINIMUM_IP_TARGET", "WARM_PREFIX_TARGET"]) {
    const env = { ENABLE_PREFIX_DELEGATION: "true", WARM_PREFIX_TARGET: "0", [name]: "10" };
    assert.equal(loadConfig(env).config.prefixDelegation, true);
  }
  assert.equal(loadConfig({ ENABLE_PREFIX_DELEGATION: "true" }).config.warmPrefixTarget, 1);
});

Deno.test("loadConfig() sets POD_MTU from AWS_VPC_ENI_MTU unless it is given", () => {
  assert.equal(loadConfig({ AWS_VPC_ENI_MTU: "1500" }).config.podMtu, 1500);
  assert.equal(loadConfig({ AWS_VPC_ENI_MTU: "1500", POD_MTU: "1400" }).config.podMtu, 1400);
  const setting = loadConfig({ AWS_VPC_ENI_MTU: "1500" }).settings.find((s) =>
    s.name === "POD_MTU"
  )!;
  assert.deepEqual([setting.value, setting.source, setting.default], [
    "1500",
    "default",
    "AWS_VPC_ENI_MTU",
  ]);
});

Deno.test("loadConfig() derives provisioning, leaked-ENI clean-up and the EC2 endpoint", () => {
  assert.deepEqual(
    [true, false].map((imds) => {
      const c = loadConfig({ ENABLE_IMDS_ONLY_MODE: String(imds) }).config;
      return [c.provisioning, c.leakedEniCleanup];
    }),
    [[false, false], [true, true]],
  );
  const noCleanup = loadConfig({ DISABLE_LEAKED_ENI_CLEANUP: "true" }).config;
  assert.deepEqual([noCleanup.provisioning, noCleanup.leakedEniCleanup], [true, false]);
  assert.equal(
    loadConfig({ AWS_ENDPOINT_URL_EC2: "http://sim:5000" }).config.ec2Endpoint,
    "http://sim:5000",
  );
  assert.equal(
    loadConfig({ AWS_EC2_ENDPOINT: "http://a", AWS_ENDPOINT_URL_EC2: "http://a" }).config
      .ec2Endpoint,
    "http://a",
  );
  assert.equal(
    configError({ AWS_EC2_ENDPOINT: "http://a", AWS_ENDPOINT_URL_EC2: "http://b" }).problems[0]!
      .variable,
    "AWS_EC2_ENDPOINT",
  );
});

Deno.test("loadConfig() warns about deprecated variables and warm targets adaptive ignores", () => {
  const { warnings } = loadConfig({
    ENABLE_NFTABLES: "true",
    WARM_POOL_MODE: "adaptive",
    WARM_ENI_TARGET: "1",
  });
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /ENABLE_NFTABLES is deprecated and ignored/);
  assert.match(warnings[1]!, /WARM_ENI_TARGET and WARM_PREFIX_TARGET are ignored/);
  assert.deepEqual(loadConfig({ WARM_POOL_MODE: "adaptive" }).warnings, []);
});

Deno.test("loadConfig() returns frozen objects", () => {
  const loaded = loadConfig({ AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: "10.0.0.0/8" });
  assert.ok(
    Object.isFrozen(loaded) && Object.isFrozen(loaded.config) && Object.isFrozen(loaded.settings),
  );
  assert.ok(
    Object.isFrozen(loaded.config.excludeSnatCidrs) &&
      Object.isFrozen(loaded.config.additionalEniTags),
  );
  assert.throws(() => {
    (loaded.config as { warmIpTarget: number }).warmIpTarget = 9;
  }, TypeError);
});

Deno.test("renderEnv() gives back an environment that loads to the same configuration", () => {
  const env = {
    WARM_IP_TARGET: "5",
    MINIMUM_IP_TARGET: "10",
    MAX_ENI: "4",
    AWS_VPC_K8S_CNI_CONNMARK: "0o100",
    AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: "10.1.2.3/16,192.168.0.0/24",
    ADDITIONAL_ENI_TAGS: '{"team":"infra"}',
    AWS_VPC_K8S_CNI_LOGLEVEL: "info",
    NETWORK_POLICY_ENFORCING_MODE: "Strict",
  };
  const loaded = loadConfig(env);
  const rendered = renderEnv(loaded);
  assert.equal(rendered.AWS_VPC_K8S_CNI_CONNMARK, "0x40");
  assert.equal(rendered.AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS, "10.1.0.0/16,192.168.0.0/24");
  assert.deepEqual(loadConfig(rendered).config, loaded.config);
  assert.deepEqual(loadConfig(renderEnv(loadConfig({}))).config, loadConfig({}).config);
});

Deno.test("describe() rows say where each value came from and which settings are ours", async () => {
  const { describe } = await import("../../src/config.ts");
  const rows = describe(loadConfig({ WARM_ENI_TARGET: "2" }));
  const warm = rows.find((r) => r.name === "WARM_ENI_TARGET")!;
  assert.deepEqual([warm.value, warm.source, warm.raw, warm.default, warm.origin], [
    "2",
    "environment",
    "2",
    "1",
    "upstream",
  ]);
  const ours = rows.filter((r) => r.origin === "ours").map((r) => r.name);
  assert.deepEqual(ours, [
    "WARM_POOL_MODE",
    "POD_IP_WAIT_SECONDS",
    "MAX_PODS",
    "EC2_API_QPS",
    "EC2_API_BURST",
    "IPAMD_SOCKET_PATH",
    "METRICS_BIND_ADDRESS",
  ]);
  assert.ok(rows.every((r) => r.doc.length > 10));
});
