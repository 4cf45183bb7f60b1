/** Where the test helpers find the project's executables and the reference CNI plugins. */

/** The repository root (no trailing slash). */
export const REPO_ROOT: string = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

export const BIN_DIR = `${REPO_ROOT}/build/bin`;
/** `make launchers` */
export const IPAMD_BIN = `${BIN_DIR}/ipamd`;
export const AWS_CNI_BIN = `${BIN_DIR}/aws-cni`;
/** `make cnitool`: the libcni driver (tests/e2e/cnitool/main.go). */
export const CNITOOL_BIN = `${BIN_DIR}/cnitool`;
/** Debian's containernetworking-plugins (ptp, host-local, loopback, portmap, bandwidth...). */
export const REFERENCE_PLUGIN_DIR = "/usr/lib/cni";
/** The busybox OCI image tarball built by tests/lab/busybox_image.sh (see containerd.ts). */
export const BUSYBOX_IMAGE_TAR = `${REPO_ROOT}/build/busybox-oci.tar`;

/** PATH for processes the helpers start with a cleared environment. */
export const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Throws NotFound naming the make target that builds `path` when it is missing. */
export function requireBuilt(path: string, makeTarget: string): void {
  try {
    Deno.statSync(path);
  } catch {
    throw new Deno.errors.NotFound(`${path} is missing: run \`make ${makeTarget}\` first`);
  }
}
