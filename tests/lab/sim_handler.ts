/** The simulator's EC2 handler over a fixture VPC, called with Request objects (no sockets). */
import { Counters } from "../../src/sim/counters.ts";
import { ec2Handler } from "../../src/sim/ec2_server.ts";
import { defaultFaultConfig, type FaultConfig, Faults } from "../../src/sim/faults.ts";
import { RecordingPlumbing } from "../../src/sim/plumbing.ts";
import { Rng } from "../../src/sim/rand.ts";
import { type Fixture, vpcFixture } from "./sim_fixture.ts";
import { parseXml, type XmlElement } from "./sim_xml.ts";

/** A SigV4 Authorization header (signatures are not verified; scope is). */
export const SIGNED =
  "AWS4-HMAC-SHA256 Credential=tsim/20260101/us-west-2/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";

export interface HandlerFixture extends Fixture {
  faults: Faults;
  counters: Counters;
  plumbing: RecordingPlumbing;
  call(
    params: Record<string, string | number | boolean>,
  ): Promise<{ status: number; xml: string; doc: XmlElement }>;
}

export function handlerFixture(
  options: Parameters<typeof vpcFixture>[0] & { faults?: FaultConfig } = {},
): HandlerFixture {
  const fixture = vpcFixture(options);
  const faults = new Faults(options.faults ?? defaultFaultConfig(), new Rng(9));
  const counters = new Counters();
  const plumbing = new RecordingPlumbing();
  for (const i of fixture.instances) {
    const eni = fixture.vpc.eni(i.primaryEniId);
    plumbing.addNode({
      nodeKey: i.nodeKey,
      name: i.privateDnsName,
      mac: eni.mac,
      primaryIp: i.privateIp,
      prefixLen: 20,
      gateway: "10.10.0.1",
    });
  }
  const handler = ec2Handler({ vpc: fixture.vpc, faults, counters, plumbing });
  return {
    ...fixture,
    faults,
    counters,
    plumbing,
    async call(params) {
      const body = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
      const headers = { authorization: SIGNED };
      const res = await handler(new Request("http://sim.test/", { method: "POST", body, headers }));
      const xml = await res.text();
      return { status: res.status, xml, doc: parseXml(xml) };
    },
  };
}
