/**
 * `ipamd sim` as a process with its lab (root): the real AWS CLI creates and attaches ENIs and
 * the node namespace sees eth1 with the ENI's MAC; instance-type limits surface as EC2 error
 * codes; the real ec2-metadata reads IMDS inside a node; the router routes assigned addresses
 * to the ENI; SIGTERM removes every namespace and the state directory.
 */
import assert from "node:assert/strict";
import { startSimProcess } from "../lab/sim_process.ts";

const isRoot = Deno.uid() === 0;

function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).outputSync();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The real AWS CLI v2 with dummy credentials against the simulator. */
function aws(endpoint: string, ...args: string[]) {
  return run("/usr/bin/aws", ["--endpoint-url", endpoint, "--output", "json", "ec2", ...args], {
    AWS_ACCESS_KEY_ID: "tsim",
    AWS_SECRET_ACCESS_KEY: "tsim",
    AWS_DEFAULT_REGION: "us-west-2",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_CONFIG_FILE: "/nonexistent/tsim",
    AWS_PAGER: "",
  });
}

function awsJson(endpoint: string, ...args: string[]) {
  const r = aws(endpoint, ...args);
  assert.equal(r.code, 0, `aws ec2 ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout || "{}");
}

function links(netns: string): { ifname: string; address: string; operstate: string }[] {
  return JSON.parse(run("ip", ["-n", netns, "-j", "link"]).stdout);
}

function routeGet(netns: string, ip: string): { dst: string; gateway?: string; dev: string }[] {
  return JSON.parse(run("ip", ["-n", netns, "-j", "route", "get", ip]).stdout);
}

Deno.test({
  name: "ipamd sim: the AWS CLI attaches ENIs that appear as ethN in the node, within EC2's limits",
  ignore: !isRoot,
  async fn() {
    await using sim = await startSimProcess([
      "--nodes",
      "2",
      "--instance-type",
      "t3.medium",
      "--prefix",
      "tsim",
      "--seed",
      "77",
    ]);
    const { info } = sim;
    const node = info.nodes[0]!;
    const ep = info.ec2Endpoint;
    const subnetId = info.subnets[0]!.subnetId;
    assert.equal(info.nodes.length, 2);
    assert.equal(info.router?.netns, `tsim-${info.labId}-r`);
    assert.equal(node.netns, `tsim-${info.labId}-n1`);
    assert.equal(links(node.netns).find((l) => l.ifname === "eth0")?.address, node.primaryMac);

    // Create with 5 secondaries (6 IPv4 on a t3.medium ENI: the limit) and attach at device 1.
    const eni = awsJson(
      ep,
      "create-network-interface",
      "--subnet-id",
      subnetId,
      "--secondary-private-ip-address-count",
      "5",
    ).NetworkInterface;
    awsJson(
      ep,
      "attach-network-interface",
      "--network-interface-id",
      eni.NetworkInterfaceId,
      "--instance-id",
      node.instanceId,
      "--device-index",
      "1",
    );
    const eth1 = links(node.netns).find((l) => l.ifname === "eth1");
    assert.equal(eth1?.address, eni.MacAddress);
    assert.equal(eth1?.operstate, "DOWN", "ipamd brings it up, as on a real instance");

    const over = aws(
      ep,
      "assign-private-ip-addresses",
      "--network-interface-id",
      eni.NetworkInterfaceId,
      "--secondary-private-ip-address-count",
      "1",
    );
    assert.notEqual(over.code, 0);
    assert.match(over.stderr, /\(PrivateIpAddressLimitExceeded\)/);

    // The router delivers every address of the ENI to it, via the ENI's primary IP.
    const secondary = eni.PrivateIpAddresses.find((a: { Primary: boolean }) =>
      !a.Primary
    ).PrivateIpAddress;
    const [viaRouter] = routeGet(info.router!.netns, secondary);
    assert.equal(viaRouter?.dev, "n1d1");
    assert.equal(viaRouter?.gateway, eni.PrivateIpAddress);

    // A third ENI fits (3 on a t3.medium), a fourth does not.
    const third = awsJson(ep, "create-network-interface", "--subnet-id", subnetId).NetworkInterface;
    awsJson(
      ep,
      "attach-network-interface",
      "--network-interface-id",
      third.NetworkInterfaceId,
      "--instance-id",
      node.instanceId,
      "--device-index",
      "2",
    );
    const fourth =
      awsJson(ep, "create-network-interface", "--subnet-id", subnetId).NetworkInterface;
    const refused = aws(
      ep,
      "attach-network-interface",
      "--network-interface-id",
      fourth.NetworkInterfaceId,
      "--instance-id",
      node.instanceId,
      "--device-index",
      "3",
    );
    assert.match(
      refused.stderr,
      /\(AttachmentLimitExceeded\).*Interface count 4 exceeds the limit for t3\.medium/,
    );
    assert.deepEqual(links(node.netns).map((l) => l.ifname).sort(), ["eth0", "eth1", "eth2", "lo"]);

    // Detach takes eth2 away again; the other node never saw any of it.
    const attachment = awsJson(
      ep,
      "describe-network-interfaces",
      "--network-interface-ids",
      third.NetworkInterfaceId,
    ).NetworkInterfaces[0].Attachment;
    awsJson(ep, "detach-network-interface", "--attachment-id", attachment.AttachmentId);
    assert.deepEqual(links(node.netns).map((l) => l.ifname).sort(), ["eth0", "eth1", "lo"]);
    assert.deepEqual(links(info.nodes[1]!.netns).map((l) => l.ifname).sort(), ["eth0", "lo"]);

    // A node added at run time through the control API is a namespace and an instance too.
    const res = await fetch(`${info.controlEndpoint}/instances`, {
      method: "POST",
      body: JSON.stringify({ instanceType: "m5.large" }),
    });
    assert.equal(res.status, 201);
    const added = await res.json();
    assert.equal(added.netns, `tsim-${info.labId}-n3`);
    assert.equal(links(added.netns).find((l) => l.ifname === "eth0")?.address, added.primaryMac);
    const described = awsJson(ep, "describe-instances", "--instance-ids", added.instanceId);
    assert.equal(described.Reservations[0].Instances[0].InstanceType, "m5.large");
  },
});

Deno.test({
  name:
    "ipamd sim: real IMDS clients inside a node namespace, routed prefixes, and a clean SIGTERM",
  ignore: !isRoot,
  async fn() {
    const sim = await startSimProcess([
      "--nodes",
      "1",
      "--instance-type",
      "m5.large",
      "--prefix",
      "tsim",
      "--imds-lag",
      "0",
    ]);
    let stopped = false;
    try {
      const { info } = sim;
      const node = info.nodes[0]!;
      // amazon-ec2-utils' ec2-metadata hard-codes 169.254.169.254 and speaks IMDSv2 only.
      const meta = run("ip", [
        "netns",
        "exec",
        node.netns,
        "timeout",
        "20",
        "ec2-metadata",
        "--instance-id",
        "--local-ipv4",
      ]);
      assert.equal(meta.code, 0, meta.stderr);
      assert.match(meta.stdout, new RegExp(`instance-id: ${node.instanceId}`));
      assert.match(meta.stdout, new RegExp(`local-ipv4: ${node.primaryIp.replaceAll(".", "\\.")}`));
      // ec2-metadata has no MAC option: read it with curl the same IMDSv2 way.
      const token = run("ip", [
        "netns",
        "exec",
        node.netns,
        "curl",
        "-sf",
        "-m",
        "5",
        "-X",
        "PUT",
        "-H",
        "X-aws-ec2-metadata-token-ttl-seconds: 60",
        "http://169.254.169.254/latest/api/token",
      ]).stdout;
      const mac = run("ip", [
        "netns",
        "exec",
        node.netns,
        "curl",
        "-sf",
        "-m",
        "5",
        "-H",
        `X-aws-ec2-metadata-token: ${token}`,
        "http://169.254.169.254/latest/meta-data/mac",
      ]);
      assert.equal(mac.stdout, node.primaryMac);
      const noToken = run("ip", [
        "netns",
        "exec",
        node.netns,
        "curl",
        "-s",
        "-m",
        "5",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "http://169.254.169.254/latest/meta-data/mac",
      ]);
      assert.equal(noToken.stdout, "401");

      // EC2 inside the lab at 198.51.100.10:80 (what ipamd in the node uses).
      const inLab = run("ip", [
        "netns",
        "exec",
        node.netns,
        "/usr/bin/aws",
        "--endpoint-url",
        node.env.AWS_ENDPOINT_URL_EC2!,
        "--output",
        "json",
        "ec2",
        "assign-private-ip-addresses",
        "--network-interface-id",
        node.primaryEniId,
        "--ipv4-prefix-count",
        "1",
      ], {
        AWS_ACCESS_KEY_ID: "tsim",
        AWS_SECRET_ACCESS_KEY: "tsim",
        AWS_DEFAULT_REGION: "us-west-2",
        AWS_EC2_METADATA_DISABLED: "true",
        AWS_CONFIG_FILE: "/nonexistent/tsim",
      });
      assert.equal(inLab.code, 0, inLab.stderr);
      const prefix: string = JSON.parse(inLab.stdout).AssignedIpv4Prefixes[0].Ipv4Prefix;
      const inPrefix = prefix.replace(/\.(\d+)\/28$/, (_, last) => `.${Number(last) + 9}`);
      const [route] = routeGet(info.router!.netns, inPrefix);
      assert.equal(route?.dev, "n1d0");
      assert.equal(route?.gateway, node.primaryIp);
      const ipv4Prefix = run("ip", [
        "netns",
        "exec",
        node.netns,
        "curl",
        "-sf",
        "-m",
        "5",
        "-H",
        `X-aws-ec2-metadata-token: ${token}`,
        `http://169.254.169.254/latest/meta-data/network/interfaces/macs/${node.primaryMac}/ipv4-prefix`,
      ]);
      assert.equal(ipv4Prefix.stdout, prefix);

      // The AWS SDK in the node with nothing but the node's env: EC2 at 198.51.100.10 in the
      // router, instance-profile credentials from IMDS (no static keys anywhere).
      const env = Object.entries(node.env).map(([k, v]) => `${k}=${v}`);
      const sdk = run("ip", [
        "netns",
        "exec",
        node.netns,
        "env",
        "-i",
        `PATH=${Deno.env.get("PATH")}`,
        ...(Deno.env.get("DENO_DIR")
          ? [`DENO_DIR=${Deno.env.get("DENO_DIR")}`]
          : [`HOME=${Deno.env.get("HOME") ?? "/root"}`]),
        "AWS_SHARED_CREDENTIALS_FILE=/nonexistent/tsim",
        "AWS_CONFIG_FILE=/nonexistent/tsim",
        ...env,
        Deno.execPath(),
        "run",
        "-A",
        "--cached-only",
        "--quiet",
        "--config",
        new URL("../../deno.json", import.meta.url).pathname,
        new URL("../lab/sim_node_sdk.ts", import.meta.url).pathname,
      ]);
      assert.equal(sdk.code, 0, sdk.stderr);
      assert.deepEqual(JSON.parse(sdk.stdout), { reservations: 1, accessKeyPrefix: "ASIA" });

      const code = await sim.stop();
      stopped = true;
      assert.equal(code, 0);
      const left = run("ip", ["netns", "list"]).stdout.split("\n").filter((l) =>
        l.includes(info.labId)
      );
      assert.deepEqual(left, []);
      assert.throws(() => Deno.statSync(node.stateDir), Deno.errors.NotFound);
      assert.throws(() => Deno.statSync(node.stateDir.replace(/\/n1$/, "")), Deno.errors.NotFound);
    } finally {
      if (!stopped) await sim.stop();
      await sim[Symbol.asyncDispose]();
    }
  },
});
