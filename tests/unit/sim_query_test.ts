import assert from "node:assert/strict";
import { QueryParams } from "../../src/sim/ec2_query.ts";

const parse = (body: string) => QueryParams.parse(new URLSearchParams(body));

Deno.test("filters() reads Filter.N.Name with Filter.N.Value.M in index order", () => {
  const p = parse(
    "Action=DescribeNetworkInterfaces&Filter.2.Name=status&Filter.2.Value.1=available" +
      "&Filter.1.Name=tag%3Acluster.k8s.amazonaws.com%2Fname&Filter.1.Value.2=b&Filter.1.Value.1=a" +
      "&Filter.10.Name=vpc-id&Filter.10.Value.1=vpc-1",
  );
  assert.deepEqual(p.filters(), [
    { name: "tag:cluster.k8s.amazonaws.com/name", values: ["a", "b"] },
    { name: "status", values: ["available"] },
    { name: "vpc-id", values: ["vpc-1"] },
  ]);
});

Deno.test("tagSpecifications() reads TagSpecification.N.Tag.M.Key/Value", () => {
  const p = parse(
    "TagSpecification.1.ResourceType=network-interface&TagSpecification.1.Tag.1.Key=node.k8s.amazonaws.com%2Finstance_id" +
      "&TagSpecification.1.Tag.1.Value=i-1&TagSpecification.1.Tag.2.Key=empty",
  );
  assert.deepEqual(p.tagSpecifications(), [{
    resourceType: "network-interface",
    tags: [["node.k8s.amazonaws.com/instance_id", "i-1"], ["empty", ""]],
  }]);
});

Deno.test("nested members, lists of structures and flat lists", () => {
  const p = parse(
    "Attachment.AttachmentId=eni-attach-1&Attachment.DeleteOnTermination=true&SecurityGroupId.1=sg-1&SecurityGroupId.2=sg-2" +
      "&PrivateIpAddresses.1.PrivateIpAddress=10.0.0.5&PrivateIpAddresses.1.Primary=TRUE",
  );
  assert.equal(p.child("Attachment")?.string("AttachmentId"), "eni-attach-1");
  assert.equal(p.child("Attachment")?.bool("DeleteOnTermination"), true);
  assert.deepEqual(p.list("SecurityGroupId"), ["sg-1", "sg-2"]);
  const [a] = p.structList("PrivateIpAddresses");
  assert.equal(a?.string("PrivateIpAddress"), "10.0.0.5");
  assert.equal(a?.bool("Primary"), true);
  assert.deepEqual(p.list("Missing"), []);
});

Deno.test("bad values answer EC2 errors naming the parameter", () => {
  const p = parse("DeviceIndex=one&DryRun=maybe&Filter.x.Name=a&Tag.1.Value=v");
  assert.throws(() => p.int("DeviceIndex"), {
    code: "InvalidParameterValue",
    message: /DeviceIndex/,
  });
  assert.throws(() => p.bool("DryRun"), { code: "InvalidParameterValue" });
  assert.throws(() => p.filters(), { code: "InvalidParameter", message: /Filter\.x/ });
  assert.throws(() => p.tags(), { code: "MissingParameter", message: /Tag\.1\.Key/ });
  assert.throws(() => p.requiredString("SubnetId"), {
    code: "MissingParameter",
    message: /SubnetId/,
  });
});

Deno.test("body parameters override query-string parameters", () => {
  const p = QueryParams.parse(new URLSearchParams("Action=A&X=1"), new URLSearchParams("Action=B"));
  assert.equal(p.string("Action"), "B");
  assert.equal(p.string("X"), "1");
});
