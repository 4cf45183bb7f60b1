/** The simulator's ready line as tests/lab/sim.ts reads it (SIM_CONTRACT.md §2). */
import assert from "node:assert/strict";
import { parseSimReady } from "../lab/sim.ts";

const READY = {
  ready: true,
  labId: "k3x9q1",
  region: "us-west-2",
  availabilityZone: "us-west-2a",
  ec2Endpoint: "http://127.0.0.1:40123",
  controlEndpoint: "http://127.0.0.1:40123/_sim",
  vpcId: "vpc-1",
  vpcCidr: "10.10.0.0/16",
  subnets: [{ subnetId: "subnet-1", cidr: "10.10.0.0/20", gateway: "10.10.0.1", tags: {} }],
  router: {
    netns: "vpcsim-k3x9q1-r",
    netnsPath: "/var/run/netns/vpcsim-k3x9q1-r",
    internetAddress: "198.51.100.100",
  },
  nodes: [{
    name: "ip-10-10-0-11.us-west-2.compute.internal",
    netns: "vpcsim-k3x9q1-n1",
    netnsPath: "/var/run/netns/vpcsim-k3x9q1-n1",
    instanceId: "i-1",
    instanceType: "t3.medium",
    primaryIp: "10.10.0.11",
    primaryEniId: "eni-1",
    primaryMac: "02:00:00:00:00:01",
    stateDir: "/run/vpcsim/k3x9q1/n1",
    env: { IPAMD_SOCKET_PATH: "/run/vpcsim/k3x9q1/n1/ipamd.sock" },
  }],
};

Deno.test("parseSimReady() accepts the contract's ready line", () => {
  const info = parseSimReady(JSON.stringify(READY));
  assert.equal(info.nodes[0]?.env.IPAMD_SOCKET_PATH, "/run/vpcsim/k3x9q1/n1/ipamd.sock");
  assert.equal(info.router?.netns, "vpcsim-k3x9q1-r");
});

Deno.test("parseSimReady() names what is wrong with a bad ready line", () => {
  assert.throws(() => parseSimReady("starting..."), /not JSON/);
  assert.throws(
    () => parseSimReady(JSON.stringify({ ...READY, ready: false })),
    /"ready" is not true/,
  );
  assert.throws(
    () => parseSimReady(JSON.stringify({ ...READY, region: undefined })),
    /"region" is missing/,
  );
  const nodes = [{ ...READY.nodes[0], primaryIp: "" }];
  assert.throws(
    () => parseSimReady(JSON.stringify({ ...READY, nodes })),
    /"nodes\[0\]\.primaryIp" is missing/,
  );
});
