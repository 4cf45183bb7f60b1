/**
 * Every element the simulator writes must exist in the botocore EC2 model (the AWS CLI's copy,
 * installed by `make deps`), with the right nesting, lists as <item>s and well-formed scalars.
 */
import assert from "node:assert/strict";
import { handlerFixture } from "../lab/sim_handler.ts";
import { find, type XmlElement } from "../lab/sim_xml.ts";

const MODEL_PATH =
  "/usr/lib/python3/dist-packages/awscli/botocore/data/ec2/2016-11-15/service-2.json";
const model = (() => {
  try {
    return JSON.parse(Deno.readTextFileSync(MODEL_PATH));
  } catch {
    return undefined;
  }
})();

interface Shape {
  type: string;
  members?: Record<string, { shape: string; locationName?: string }>;
  member?: { shape: string; locationName?: string };
}

function shape(name: string): Shape {
  const s = model.shapes[name] as Shape | undefined;
  if (!s) throw new Error(`no shape ${name} in the model`);
  return s;
}

/** Checks an element's children against a shape; returns the problems found. */
function check(el: XmlElement, shapeName: string, path: string, problems: string[]): void {
  const s = shape(shapeName);
  if (s.type === "structure") {
    for (const child of el.children) {
      const member = Object.entries(s.members!).find(([name, m]) =>
        (m.locationName ?? name) === child.name
      );
      if (!member) {
        problems.push(`${path}/${child.name}: not a member of ${shapeName}`);
        continue;
      }
      check(child, member[1].shape, `${path}/${child.name}`, problems);
    }
  } else if (s.type === "list") {
    for (const child of el.children) {
      if (child.name !== (s.member!.locationName ?? "item")) {
        problems.push(`${path}/${child.name}: list members are <item>`);
      }
      check(child, s.member!.shape, `${path}/${child.name}`, problems);
    }
  } else {
    if (el.children.length) problems.push(`${path}: ${shapeName} is a ${s.type}, not a structure`);
    const t = el.text;
    if (s.type === "boolean" && t !== "true" && t !== "false") {
      problems.push(`${path}: "${t}" is not a boolean`);
    }
    if ((s.type === "integer" || s.type === "long") && !/^-?\d+$/.test(t)) {
      problems.push(`${path}: "${t}" is not an integer`);
    }
    if (s.type === "timestamp" && Number.isNaN(Date.parse(t))) {
      problems.push(`${path}: "${t}" is not a timestamp`);
    }
  }
}

function checkResponse(action: string, doc: XmlElement): string[] {
  assert.equal(doc.name, `${action}Response`, `root element of ${action}`);
  const out = model.operations[action].output?.shape as string | undefined;
  const problems: string[] = [];
  const body = {
    ...doc,
    children: doc.children.filter((c) => c.name !== "requestId" && c.name !== "return"),
  };
  if (out) check(body, out, action, problems);
  else if (body.children.length) {
    problems.push(
      `${action} has no output members but answered ${body.children.map((c) => c.name)}`,
    );
  }
  return problems;
}

Deno.test({
  name: "every action's response matches the botocore EC2 model",
  ignore: model === undefined,
  async fn() {
    const f = handlerFixture({ type: "m5.large", nodes: 1 });
    f.vpc.createTags([f.subnet.id, f.instances[0]!.id, f.vpc.defaultSecurityGroupId], [["k", "v"]]);
    const instanceId = f.instances[0]!.id;
    const responses: [string, XmlElement][] = [];
    const call = async (params: Record<string, string | number | boolean>) => {
      const res = await f.call(params);
      assert.equal(res.status, 200, `${params.Action}: ${res.xml}`);
      responses.push([String(params.Action), res.doc]);
      return res.doc;
    };
    const created = await call({
      Action: "CreateNetworkInterface",
      SubnetId: f.subnet.id,
      Description: "aws-K8S-" + instanceId,
      "SecurityGroupId.1": f.vpc.defaultSecurityGroupId,
      Ipv4PrefixCount: 1,
      "TagSpecification.1.ResourceType": "network-interface",
      "TagSpecification.1.Tag.1.Key": "node.k8s.amazonaws.com/instance_id",
      "TagSpecification.1.Tag.1.Value": instanceId,
    });
    const eniId = find(created, "networkInterface", "networkInterfaceId")!.text;
    const attached = await call({
      Action: "AttachNetworkInterface",
      NetworkInterfaceId: eniId,
      InstanceId: instanceId,
      DeviceIndex: 1,
      NetworkCardIndex: 0,
    });
    const attachmentId = find(attached, "attachmentId")!.text;
    await call({
      Action: "ModifyNetworkInterfaceAttribute",
      NetworkInterfaceId: eniId,
      "Attachment.AttachmentId": attachmentId,
      "Attachment.DeleteOnTermination": true,
    });
    await call({
      Action: "AssignPrivateIpAddresses",
      NetworkInterfaceId: eniId,
      Ipv4PrefixCount: 1,
    });
    await call({
      Action: "AssignPrivateIpAddresses",
      NetworkInterfaceId: f.instances[0]!.primaryEniId,
      SecondaryPrivateIpAddressCount: 2,
    });
    await call({
      Action: "CreateTags",
      "ResourceId.1": eniId,
      "Tag.1.Key": "a",
      "Tag.1.Value": "b",
    });
    await call({ Action: "DescribeNetworkInterfaces" });
    await call({ Action: "DescribeInstances" });
    await call({
      Action: "DescribeInstanceTypes",
      "InstanceType.1": "p4d.24xlarge",
      "InstanceType.2": "c5.metal",
    });
    await call({ Action: "DescribeSubnets" });
    await call({ Action: "DescribeSecurityGroups" });
    const prefix = f.vpc.eni(eniId).prefixes[0]!;
    await call({
      Action: "UnassignPrivateIpAddresses",
      NetworkInterfaceId: eniId,
      "Ipv4Prefix.1": prefix,
    });
    await call({ Action: "DetachNetworkInterface", AttachmentId: attachmentId });
    await call({ Action: "DeleteNetworkInterface", NetworkInterfaceId: eniId });

    const problems = responses.flatMap(([action, doc]) => checkResponse(action, doc));
    assert.deepEqual(problems, []);
    // The checker itself must notice a wrong element.
    const bogus: XmlElement = {
      name: "DescribeSubnetsResponse",
      text: "",
      children: [{ name: "subnets", text: "", children: [] }],
    };
    assert.equal(checkResponse("DescribeSubnets", bogus).length, 1);
  },
});
