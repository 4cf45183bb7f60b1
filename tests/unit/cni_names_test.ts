import assert from "node:assert/strict";
import {
  containerIfName,
  dummyInterfaceName,
  hostVethName,
  podGateway,
} from "../../src/cni/names.ts";

Deno.test("hostVethName() reproduces upstream's worked examples", async () => {
  const coredns = { podNamespace: "kube-system", podName: "coredns-57ff979f67-qqbdh" };
  assert.equal(await hostVethName("eni", coredns), "enib5faff8a083");
  assert.equal(await hostVethName("vlan", coredns), "vlanb5faff8a083");
  assert.equal(
    await hostVethName("eni", { podNamespace: "kube-system", podName: "coredns-57ff979f67-8ns9b" }),
    "eni9571956a6cc",
  );
  assert.equal(
    await hostVethName("eni", { podNamespace: "default", podName: "sample-pod" }),
    "enicc21c2d7785",
  );
  const empty = { podNamespace: "", podName: "" };
  assert.equal(await hostVethName("eni", empty), "eni3a52ce78095");
  assert.equal(await hostVethName("eni", empty, 1), "enice799470a46");
});

Deno.test("dummyInterfaceName(), containerIfName() and podGateway() follow upstream", async () => {
  assert.equal(
    await dummyInterfaceName({ podNamespace: "kube-system", podName: "coredns-57ff979f67-qqbdh" }),
    "dummyb5faff8a083",
  );
  assert.equal(containerIfName("eth0", 0), "eth0");
  assert.equal(containerIfName("eth0", 2), "mNicIf2");
  assert.equal(podGateway(0), "169.254.1.1");
  assert.equal(podGateway(1), "169.254.1.2");
});
