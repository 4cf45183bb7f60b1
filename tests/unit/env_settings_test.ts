import assert from "node:assert/strict";
import { loadConfig } from "../../src/config.ts";
import { ipamdEnvSettings, networkutilsEnvSettings } from "../../src/config/env_settings.ts";

Deno.test("ipamdEnvSettings() has upstream's /v1/ipamd-env-settings keys and types", () => {
  const { config } = loadConfig({});
  assert.equal(
    JSON.stringify(ipamdEnvSettings(config)),
    '{"WARM_IP_TARGET":0,"WARM_ENI_TARGET":1,"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG":false,' +
      '"AWS_MANAGE_ENIS_NON_SCHEDULABLE":false,"ENABLE_SUBNET_DISCOVERY":true}',
  );
});

Deno.test("networkutilsEnvSettings() has upstream's shape: nil lists as null, SNAT mode as a number", () => {
  assert.equal(
    JSON.stringify(networkutilsEnvSettings(loadConfig({}).config)),
    '{"AWS_VPC_K8S_CNI_CONNMARK":128,"AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS":null,' +
      '"AWS_VPC_K8S_CNI_EXTERNALSNAT":false,"AWS_EXTERNAL_SERVICE_CIDRS":null,"AWS_VPC_ENI_MTU":9001,' +
      '"AWS_VPC_K8S_CNI_VETHPREFIX":"eni","AWS_VPC_CNI_NODE_PORT_SUPPORT":true,"AWS_VPC_K8S_CNI_RANDOMIZESNAT":2}',
  );
  const env = {
    AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: "10.1.2.3/16",
    AWS_VPC_K8S_CNI_RANDOMIZESNAT: "none",
  };
  const settings = networkutilsEnvSettings(loadConfig(env).config);
  assert.deepEqual([
    settings.AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS,
    settings.AWS_VPC_K8S_CNI_RANDOMIZESNAT,
  ], [
    ["10.1.0.0/16"],
    0,
  ]);
  const external = networkutilsEnvSettings(
    loadConfig({ ...env, AWS_VPC_K8S_CNI_EXTERNALSNAT: "true" }).config,
  );
  assert.equal(external.AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS, null); // ignored under external SNAT
});
