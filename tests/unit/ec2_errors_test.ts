import assert from "node:assert/strict";
import {
  classify,
  Ec2Error,
  isAttachmentLimitExceeded,
  isInsufficientCidrBlocks,
  isIpLimitExceeded,
  isNotFound,
  isSubnetFull,
  isThrottled,
  isTransportFailure,
  isUnauthorized,
} from "../../src/aws/ec2_errors.ts";

const err = (code: string, status?: number, retryable = false) =>
  new Ec2Error({ code, action: "X", status, attempts: 1, retryable });

Deno.test("predicates match exactly the EC2 codes ipamd acts on", () => {
  assert.ok(isThrottled(err("RequestLimitExceeded", 503)));
  assert.ok(isThrottled(err("SomethingNew", 429)));
  assert.ok(isSubnetFull(err("InsufficientFreeAddressesInSubnet", 400)));
  assert.ok(isInsufficientCidrBlocks(err("InsufficientCidrBlocks", 400)));
  assert.ok(isIpLimitExceeded(err("PrivateIpAddressLimitExceeded", 400)));
  assert.ok(isAttachmentLimitExceeded(err("AttachmentLimitExceeded", 400)));
  for (
    const code of [
      "InvalidNetworkInterfaceID.NotFound",
      "InvalidAttachmentID.NotFound",
      "InvalidInstanceID.NotFound",
    ]
  ) {
    assert.ok(isNotFound(err(code, 400)), code);
  }
  assert.ok(isUnauthorized(err("UnauthorizedOperation", 403)));
  assert.ok(isTransportFailure(err("ECONNRESET", undefined, true)));
  assert.equal(isNotFound(err("InvalidNetworkInterfaceID.Malformed", 400)), false);
  assert.equal(isSubnetFull(err("InsufficientCidrBlocks", 400)), false);
  assert.equal(isThrottled(err("InternalError", 500)), false);
});

Deno.test("predicates are false for anything that is not an Ec2Error", () => {
  const plain = Object.assign(new Error("x"), { code: "RequestLimitExceeded" });
  assert.equal(isThrottled(plain), false);
  assert.equal(isNotFound(undefined), false);
});

Deno.test("classify() takes the code from the SDK error name and the status from $metadata", () => {
  const e = Object.assign(new Error("m"), {
    name: "PrivateIpAddressLimitExceeded",
    $metadata: { httpStatusCode: 400, requestId: "r" },
  });
  assert.deepEqual(classify(e, false), {
    code: "PrivateIpAddressLimitExceeded",
    status: 400,
    requestId: "r",
    throttled: false,
    retryable: false,
  });
});

Deno.test("classify() treats 5xx and transport failures as retryable", () => {
  const e500 = Object.assign(new Error("m"), {
    name: "Unknown",
    $metadata: { httpStatusCode: 502 },
  });
  assert.equal(classify(e500, false).retryable, true);
  const reset = Object.assign(new Error("m"), { code: "ECONNRESET", $metadata: {} });
  assert.deepEqual(classify(reset, false), {
    code: "ECONNRESET",
    throttled: false,
    retryable: true,
  });
  assert.equal(classify(new Error("anything"), true).code, "ClientTimeout");
});

Deno.test("Ec2Error's message names the action, code, status and attempts", () => {
  const e = new Ec2Error({
    code: "RequestLimitExceeded",
    action: "AssignPrivateIpAddresses",
    status: 503,
    attempts: 10,
    retryable: true,
    cause: new Error("Request limit exceeded."),
  });
  assert.equal(
    e.message,
    "EC2 AssignPrivateIpAddresses failed with RequestLimitExceeded (HTTP 503) after 10 attempts: Request limit exceeded.",
  );
});
