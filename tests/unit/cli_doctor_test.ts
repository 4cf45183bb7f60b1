import assert from "node:assert/strict";
import type { Link, Route, Rule } from "../../ffi/mod.ts";
import { Ec2Error } from "../../src/aws/ec2_errors.ts";
import { loadConfig } from "../../src/config.ts";
import { checkEc2, ec2Failure } from "../../src/ops/cli/doctor_aws.ts";
import { checkIptables, checkOtherBackend } from "../../src/ops/cli/doctor_iptables.ts";
import {
  checkEnis,
  checkHostRules,
  checkIpForward,
  checkPods,
  checkRpFilter,
  type NetworkState,
  type PodExpectation,
} from "../../src/ops/cli/doctor_network.ts";
import {
  checkCniBinary,
  checkConflist,
  type PluginFiles,
} from "../../src/ops/cli/doctor_plugin.ts";
import { check, renderReport, report } from "../../src/ops/cli/doctor_report.ts";
import { parseIptablesSave, type SavedTables } from "../../src/node/iptables_plan.ts";
import { renderSnatRules } from "../../src/node/snat_rules.ts";

const link = (index: number, name: string, mac = ""): Link => ({
  index,
  name,
  mac,
  mtu: 9001,
  up: true,
});
const route = (dst: string, table: number, ifindex: number, gateway?: string): Route => ({
  dst,
  table,
  ifindex,
  link: ifindex,
  scope: gateway ? "universe" : "link",
  family: 4,
  type: "unicast",
  ...(gateway ? { gateway } : {}),
});
const rule = (priority: number, table: number, match: Partial<Rule>): Rule => ({
  priority,
  table,
  family: 4,
  ...match,
});

/** p1 on the primary ENI, p2 on eth1 (table 2): everything aws-cni and ipamd install. */
function healthy(): NetworkState {
  return {
    links: [
      link(2, "eth0", "02:00:00:00:00:01"),
      link(3, "eni1111111111a"),
      link(4, "eni2222222222b"),
      link(5, "eth1", "02:00:00:00:00:02"),
    ],
    routes: [
      route("default", 254, 2, "10.0.0.1"),
      route("10.0.0.10/32", 254, 3),
      route("10.0.0.20/32", 254, 4),
      route("10.0.0.1/32", 2, 5),
      route("default", 2, 5, "10.0.0.1"),
    ],
    rules: [
      rule(512, 254, { dst: "10.0.0.10/32" }),
      rule(512, 254, { dst: "10.0.0.20/32" }),
      rule(1024, 254, { fwmark: 0x80, fwmask: 0x80 }),
      rule(1536, 2, { src: "10.0.0.20/32" }),
      rule(32765, 2, { src: "10.0.0.5/32" }),
    ],
  };
}

const PODS: PodExpectation[] = [
  { namespace: "default", name: "p1", ip: "10.0.0.10", routeTableId: 254, veth: "eni1111111111a" },
  { namespace: "default", name: "p2", ip: "10.0.0.20", routeTableId: 2, veth: "eni2222222222b" },
];

Deno.test("checkPods() passes when every pod has its route, rule 512 and (secondary ENI) 1536", () => {
  const result = checkPods(PODS, healthy());
  assert.equal(result.status, "PASS", JSON.stringify(result));
  assert.match(result.summary, /^2 pods:/);
});

Deno.test("checkPods() fails a missing rule 512 and names the pod and the command that restores it", () => {
  const net = healthy();
  net.rules = net.rules.filter((r) => !(r.priority === 512 && r.dst === "10.0.0.10/32"));
  const result = checkPods(PODS, net);
  assert.equal(result.status, "FAIL");
  assert.match(result.summary, /^1 of 2 pods miss/);
  assert.deepEqual(result.details, [
    "default/p1 10.0.0.10: rule 512 missing (restore: ip rule add to 10.0.0.10/32 lookup main prio 512)",
  ]);
  assert.match(result.remedy ?? "", /kubectl delete pod -n default p1/);
});

Deno.test("checkPods() fails a missing rule 1536, a missing veth and a route to the wrong device", () => {
  const net = healthy();
  net.rules = net.rules.filter((r) => r.priority !== 1536);
  net.routes = net.routes.map((r) => (r.dst === "10.0.0.10/32" ? { ...r, ifindex: 2 } : r));
  net.links = net.links.filter((l) => l.name !== "eni2222222222b");
  const details = checkPods(PODS, net).details ?? [];
  assert.ok(
    details.some((d) =>
      /p1 .*host route 10\.0\.0\.10\/32 goes to eth0, not eni1111111111a/.test(d)
    ),
    details.join("\n"),
  );
  assert.ok(details.some((d) => /p2 .*host veth eni2222222222b is missing/.test(d)));
  assert.ok(
    details.some((d) =>
      /p2 .*rule 1536 missing.*ip rule add from 10\.0\.0\.20\/32 lookup 2 prio 1536/.test(d)
    ),
  );
});

Deno.test("checkPods() warns about rules left for addresses no pod holds", () => {
  const result = checkPods(PODS.slice(0, 1), healthy());
  assert.equal(result.status, "WARN");
  assert.deepEqual(result.details, [
    "stale rule 512 to 10.0.0.20/32 (remove: ip rule del to 10.0.0.20/32 lookup 254 prio 512)",
    "stale rule 1536 from 10.0.0.20/32 (remove: ip rule del from 10.0.0.20/32 lookup 2 prio 1536)",
  ]);
});

const ENIS = [
  {
    id: "eni-a",
    deviceNumber: 0,
    routeTableId: 254,
    mac: "02:00:00:00:00:01",
    primaryIp: "10.0.0.4",
  },
  {
    id: "eni-b",
    deviceNumber: 1,
    routeTableId: 2,
    mac: "02:00:00:00:00:02",
    primaryIp: "10.0.0.5",
    subnetCidr: "10.0.0.0/20",
  },
];

Deno.test("checkEnis() checks each secondary ENI's table and rule 32765", () => {
  assert.equal(checkEnis(ENIS, healthy()).status, "PASS");
  const net = healthy();
  net.rules = net.rules.filter((r) => r.priority !== 32765);
  net.routes = net.routes.filter((r) => !(r.table === 2 && r.dst === "default"));
  const result = checkEnis(ENIS, net);
  assert.equal(result.status, "FAIL");
  assert.deepEqual(result.details, [
    "eni-b: table 2 has no default route (restore: ip route replace default via 10.0.0.1 dev eth1 table 2)",
    "eni-b: rule 32765 missing (restore: ip rule add from 10.0.0.5/32 lookup 2 prio 32765)",
  ]);
  const gone = checkEnis(ENIS, {
    ...healthy(),
    links: healthy().links.filter((l) => l.name !== "eth1"),
  });
  assert.match(gone.details?.[0] ?? "", /no interface has its MAC 02:00:00:00:00:02/);
});

Deno.test("checkRpFilter() wants loose (2), fails strict (1) on the interface or in conf.all", () => {
  assert.equal(
    checkRpFilter({ primaryInterface: "eth0", rpFilter: 2, rpFilterAll: 0 }).status,
    "PASS",
  );
  const strict = checkRpFilter({ primaryInterface: "eth0", rpFilter: 1, rpFilterAll: 0 });
  assert.equal(strict.status, "FAIL");
  assert.match(strict.remedy ?? "", /ipamd init.*sysctl -w net\.ipv4\.conf\.eth0\.rp_filter=2/);
  const all = checkRpFilter({ primaryInterface: "eth0", rpFilter: 0, rpFilterAll: 1 });
  assert.equal(all.status, "FAIL");
  assert.match(all.remedy ?? "", /net\.ipv4\.conf\.all\.rp_filter=2/);
  assert.equal(
    checkRpFilter({ primaryInterface: "eth0", rpFilter: 0, rpFilterAll: 0 }).status,
    "WARN",
  );
});

Deno.test("checkIpForward() and checkHostRules() fail with the command that fixes them", () => {
  assert.equal(checkIpForward(1).status, "PASS");
  assert.match(checkIpForward(0).remedy ?? "", /sysctl -w net\.ipv4\.ip_forward=1/);
  assert.equal(checkHostRules(healthy().rules, 0x80).status, "PASS");
  const missing = checkHostRules([], 0x80);
  assert.equal(missing.status, "FAIL");
  assert.deepEqual(missing.details, [
    "restore: ip rule add fwmark 0x80/0x80 lookup main prio 1024",
  ]);
  assert.equal(checkHostRules([], undefined).status, "PASS");
});

const SNAT = renderSnatRules({
  vpcCidrs: ["10.0.0.0/16"],
  primaryIp: "10.0.0.4",
  primaryInterface: "eth0",
  excludeSnatCidrs: ["192.168.0.0/16"],
});
const BACKEND = { kind: "nft", version: "1.8.9" };

/** What iptables-save prints for the rendered rules plus kube-proxy's neighbours. */
function saved(mutate: (lines: string[]) => string[] = (l) => l): SavedTables {
  const lines: string[] = ["*nat", ":KUBE-SERVICES - [0:0]"];
  for (const c of SNAT.ownChains) lines.push(`:${c.chain} - [0:0]`);
  lines.push("-A PREROUTING -j KUBE-SERVICES");
  for (const c of [...SNAT.builtinChains, ...SNAT.ownChains]) {
    if (c.table === "nat") lines.push(...c.rules.map((r) => `-A ${c.chain} ${r}`));
  }
  lines.push("COMMIT", "*mangle");
  for (const c of SNAT.builtinChains) {
    if (c.table === "mangle") lines.push(...c.rules.map((r) => `-A ${c.chain} ${r}`));
  }
  lines.push("COMMIT");
  return parseIptablesSave(mutate(lines).join("\n"));
}

Deno.test("checkIptables() passes the rendered rules next to other programs' rules", () => {
  const result = checkIptables(saved(), SNAT, BACKEND);
  assert.equal(result.status, "PASS", JSON.stringify(result));
  assert.match(result.summary, /^12 SNAT\/connmark\/mangle rules present and in order/);
});

Deno.test("checkIptables() names a missing rule, an extra one, a wrong order and a leftover chain", () => {
  const missing = checkIptables(
    saved((l) => l.filter((x) => !x.startsWith("-A POSTROUTING"))),
    SNAT,
    BACKEND,
  );
  assert.equal(missing.status, "FAIL");
  assert.deepEqual(missing.details, [
    'nat POSTROUTING: missing  -A POSTROUTING -m comment --comment "AWS SNAT CHAIN" -j AWS-SNAT-CHAIN-0',
  ]);
  const reordered = checkIptables(
    saved((l) => {
      // The SNAT rule first, then the RETURNs: same rules, wrong order.
      const at = l.flatMap((x, i) => (x.startsWith("-A AWS-SNAT-CHAIN-0") ? [i] : []));
      const rules = at.map((i) => l[i]!).reverse();
      return l.map((x, i) => (at.includes(i) ? rules[at.indexOf(i)]! : x));
    }),
    SNAT,
    BACKEND,
  );
  assert.match(reordered.details?.join("\n") ?? "", /AWS-SNAT-CHAIN-0: our rules are out of order/);
  const extra = checkIptables(
    saved((l) => [...l.slice(0, 2), ":AWS-SNAT-CHAIN-1 - [0:0]", ...l.slice(2)]),
    SNAT,
    BACKEND,
  );
  assert.match(extra.details?.join("\n") ?? "", /nat chain AWS-SNAT-CHAIN-1 should not exist/);
});

Deno.test("checkOtherBackend() warns when iptables-legacy holds rules beside nf_tables", () => {
  assert.equal(checkOtherBackend("nft", undefined).status, "PASS");
  assert.equal(checkOtherBackend("nft", "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n").status, "PASS");
  const result = checkOtherBackend(
    "nft",
    "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n" +
      "*filter\n-A INPUT -j DROP\n-A INPUT -j ACCEPT\nCOMMIT\n",
  );
  assert.equal(result.status, "WARN");
  assert.match(result.summary, /iptables-legacy holds 3 rules \(nat: 1, filter: 2\)/);
  assert.match(result.remedy ?? "", /iptables-legacy-save/);
});

function files(overrides: Partial<PluginFiles> = {}): PluginFiles {
  return {
    binDir: "/opt/cni/bin",
    confDir: "/etc/cni/net.d",
    awsCniMode: 0o100755,
    confEntries: ["10-aws.conflist"],
    conflistText: JSON.stringify({
      name: "aws-cni",
      plugins: [{ type: "aws-cni", ipamdSocket: "/run/ipamd.sock" }, { type: "portmap" }],
    }),
    installedPlugins: new Set(["aws-cni", "portmap"]),
    ...overrides,
  };
}

Deno.test("checkCniBinary() and checkConflist() pass an installed plugin pointing at the socket", () => {
  assert.equal(checkCniBinary(files(), true).status, "PASS");
  const result = checkConflist(files(), "/run/ipamd.sock", true);
  assert.equal(result.status, "PASS", JSON.stringify(result));
  assert.match(result.summary, /aws-cni → portmap, ipamd socket \/run\/ipamd\.sock/);
});

Deno.test("checkConflist() fails a missing file with a remedy that depends on ipamd's readiness", () => {
  const { conflistText: _, ...rest } = files();
  const ready = checkConflist(rest, "/run/ipamd.sock", true);
  assert.equal(ready.status, "FAIL");
  assert.match(ready.summary, /10-aws\.conflist is missing/);
  assert.match(ready.remedy ?? "", /something removed it.*restart aws-node/);
  assert.match(
    checkConflist(rest, "/run/ipamd.sock", false).remedy ?? "",
    /installs it once ready/,
  );
  const { awsCniMode: __, ...noBinary } = files();
  assert.equal(checkCniBinary(noBinary, false).status, "FAIL");
  assert.match(checkCniBinary(files({ awsCniMode: 0o100644 }), true).summary, /not executable/);
});

Deno.test("checkConflist() fails another socket and a missing chained plugin; warns a file sorted first", () => {
  const wrong = checkConflist(
    files({ installedPlugins: new Set(["aws-cni"]) }),
    "/var/run/other.sock",
    true,
  );
  assert.equal(wrong.status, "FAIL");
  assert.deepEqual(wrong.details, [
    "aws-cni would call ipamd at /run/ipamd.sock, but ipamd listens on /var/run/other.sock",
    'plugin "portmap" is not installed in /opt/cni/bin: every ADD fails',
  ]);
  const shadowed = checkConflist(
    files({ confEntries: ["05-cilium.conflist", "10-aws.conflist", "99-loopback.conf"] }),
    "/run/ipamd.sock",
    true,
  );
  assert.equal(shadowed.status, "WARN");
  assert.match(shadowed.summary, /05-cilium\.conflist comes first/);
  assert.equal(checkConflist(files({ conflistText: "{" }), "/run/ipamd.sock", true).status, "FAIL");
});

Deno.test("ec2Failure() names the IAM action for UnauthorizedOperation, and bad credentials", () => {
  const denied = ec2Failure(
    new Ec2Error({
      code: "UnauthorizedOperation",
      action: "DescribeNetworkInterfaces",
      status: 403,
      attempts: 1,
      retryable: false,
    }),
    "https://ec2",
  );
  assert.equal(denied.status, "FAIL");
  assert.match(
    denied.summary,
    /the IAM role lacks ec2:DescribeNetworkInterfaces \(UnauthorizedOperation\)/,
  );
  assert.match(denied.remedy ?? "", /manifests\/iam\/iam-policy\.json/);
  const creds = ec2Failure(
    new Ec2Error({
      code: "AuthFailure",
      action: "DescribeNetworkInterfaces",
      status: 401,
      attempts: 1,
      retryable: false,
    }),
    "https://ec2",
  );
  assert.match(creds.summary, /no usable AWS credentials/);
  const down = ec2Failure(
    new Ec2Error({
      code: "ECONNREFUSED",
      action: "DescribeNetworkInterfaces",
      attempts: 2,
      retryable: true,
    }),
    "http://127.0.0.1:9",
  );
  assert.match(down.summary, /EC2 at http:\/\/127\.0\.0\.1:9 does not answer \(ECONNREFUSED\)/);
});

Deno.test("checkEc2() reports UnauthorizedOperation from an EC2 endpoint as the missing IAM action", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      await request.text();
      return new Response(
        '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>UnauthorizedOperation' +
          "</Code><Message>You are not authorized to perform this operation.</Message></Error>" +
          "</Errors><RequestID>req-1</RequestID></Response>",
        { status: 403, headers: { "content-type": "text/xml" } },
      );
    },
  );
  try {
    const { config } = loadConfig({ AWS_ENDPOINT_URL_EC2: `http://127.0.0.1:${server.addr.port}` });
    const facts = {
      identity: {
        region: "us-west-2",
        availabilityZone: "us-west-2a",
        instanceId: "i-1",
        instanceType: "t3.medium",
        localIpv4: "10.0.0.4",
        primaryMac: "02:00:00:00:00:01",
      },
      primary: { eniId: "eni-1" },
      enis: [],
    } as unknown as Parameters<typeof checkEc2>[1];
    const result = await checkEc2(config, facts, {
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    });
    assert.equal(result.status, "FAIL", JSON.stringify(result));
    assert.match(result.summary, /lacks ec2:DescribeNetworkInterfaces/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("renderReport() prints one line per check, details, the fix, and the totals", () => {
  const r = report([
    check("imds", "PASS", "IMDSv2 ok"),
    check("pods", "FAIL", "1 of 2 pods miss part", { details: ["a", "b"], remedy: "do x" }),
    check("ec2", "SKIP", "--skip-ec2"),
  ]);
  assert.equal(r.ok, false);
  assert.equal(
    renderReport(r),
    [
      "PASS  imds  IMDSv2 ok",
      "FAIL  pods  1 of 2 pods miss part",
      "            a",
      "            b",
      "            fix: do x",
      "SKIP  ec2   --skip-ec2",
      "",
      "1 failed, 0 warnings, 1 passed, 1 skipped.",
    ].join("\n"),
  );
  const many = check("x", "FAIL", "s", { details: Array.from({ length: 20 }, (_, i) => `d${i}`) });
  assert.equal(many.details?.length, 13);
  assert.equal(many.details?.at(-1), "... and 8 more");
  assert.equal(check("x", "PASS", "s", { remedy: "never shown on PASS" }).remedy, undefined);
});
