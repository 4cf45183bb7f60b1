import assert from "node:assert/strict";
import { loadConfig } from "../../src/config.ts";
import { configView, renderConfig } from "../../src/ops/cli/config.ts";
import { installIfChanged, renderInit } from "../../src/ops/cli/init.ts";

Deno.test("configView() lists every variable with its source, and the deprecated ones", () => {
  const env = { WARM_IP_TARGET: "5", ENABLE_NFTABLES: "true" };
  const view = configView(loadConfig(env), env);
  const warmIp = view.settings.find((s) => s.name === "WARM_IP_TARGET");
  assert.equal(warmIp?.value, "5");
  assert.equal(warmIp?.source, "environment");
  assert.equal(view.settings.find((s) => s.name === "WARM_ENI_TARGET")?.source, "default");
  assert.deepEqual(view.deprecated.find((d) => d.name === "ENABLE_NFTABLES"), {
    name: "ENABLE_NFTABLES",
    set: true,
    value: "true",
    note: "the iptables backend is detected from `iptables --version`",
  });
  assert.ok(view.warnings.some((w) => /ENABLE_NFTABLES is deprecated/.test(w)));
});

Deno.test("renderConfig() marks our additions and SDK variables, then deprecated and warnings", () => {
  const env = { POD_IP_WAIT_SECONDS: "10", AWS_VPC_K8S_CNI_CONFIGURE_RPFILTER: "false" };
  const text = renderConfig(configView(loadConfig(env), env));
  assert.match(text, /^NAME\s+VALUE\s+SOURCE\s+NOTE$/m);
  assert.match(
    text,
    /^POD_IP_WAIT_SECONDS\s+10\s+environment\s+ours \(not in upstream aws-node\)$/m,
  );
  assert.match(text, /^WARM_ENI_TARGET\s+1\s+default$/m);
  assert.match(text, /^AWS_ENDPOINT_URL_EC2\s+""\s+default\s+AWS SDK standard variable$/m);
  assert.match(
    text,
    /^ {2}AWS_VPC_K8S_CNI_CONFIGURE_RPFILTER="false" \(set\): rp_filter is always/m,
  );
  assert.match(text, /^ {2}ENABLE_NFTABLES \(not set\)/m);
  assert.match(text, /^Warnings:\n {2}AWS_VPC_K8S_CNI_CONFIGURE_RPFILTER is deprecated/m);
  const wide = renderConfig(configView(loadConfig({}), {}), { wide: true });
  assert.match(wide, /^NAME\s+VALUE\s+SOURCE\s+NOTE\s+TYPE\s+DEFAULT\s+MEANING$/m);
});

Deno.test("installIfChanged() copies aws-cni once and leaves an identical copy alone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcli-init-" });
  try {
    await Deno.writeTextFile(`${dir}/src`, "#!/bin/sh\necho v1\n");
    const first = await installIfChanged(`${dir}/src`, `${dir}/bin/`);
    assert.deepEqual(first, { source: `${dir}/src`, path: `${dir}/bin/aws-cni`, changed: true });
    assert.equal((await Deno.stat(`${dir}/bin/aws-cni`)).mode! & 0o777, 0o755);
    const before = (await Deno.stat(`${dir}/bin/aws-cni`)).ino;
    assert.equal((await installIfChanged(`${dir}/src`, `${dir}/bin`)).changed, false);
    assert.equal((await Deno.stat(`${dir}/bin/aws-cni`)).ino, before, "not rewritten");
    await Deno.writeTextFile(`${dir}/src`, "#!/bin/sh\necho v2\n");
    assert.equal((await installIfChanged(`${dir}/src`, `${dir}/bin`)).changed, true);
    assert.equal(await Deno.readTextFile(`${dir}/bin/aws-cni`), "#!/bin/sh\necho v2\n");
    await assert.rejects(installIfChanged(`${dir}/missing`, `${dir}/bin`), /pass --cni-binary/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("renderInit() says what changed and what was already right", () => {
  assert.equal(
    renderInit({
      plugin: { source: "/app/aws-cni", path: "/host/opt/cni/bin/aws-cni", changed: false },
      otherPlugins: [
        { source: "/app/plugins/portmap", path: "/host/opt/cni/bin/portmap", changed: true },
      ],
      primaryInterface: "ens5",
      sysctls: [
        { key: "net/ipv4/conf/ens5/rp_filter", value: "2", previous: "1", changed: true },
        { key: "net/ipv4/tcp_early_demux", value: "1", changed: false },
      ],
    }),
    [
      "/host/opt/cni/bin/aws-cni is up to date",
      "installed /host/opt/cni/bin/portmap (from /app/plugins/portmap)",
      "primary interface: ens5",
      "set net.ipv4.conf.ens5.rp_filter = 2 (was 1)",
      "net.ipv4.tcp_early_demux = 1 (unchanged)",
    ].join("\n"),
  );
});
