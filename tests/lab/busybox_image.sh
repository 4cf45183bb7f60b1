#!/bin/sh
# Builds a minimal container image from Debian's busybox-static, as an OCI image layout tarball
# that `ctr images import` accepts: no registry, no docker. The output is reproducible (fixed
# mtimes, owners and gzip header), so its digest only changes when busybox does.
#   tests/lab/busybox_image.sh OUT.tar [IMAGE_NAME]     (default docker.io/library/lab-busybox:latest)
set -eu
out=${1:?usage: busybox_image.sh OUT.tar [IMAGE_NAME]}
name=${2:-docker.io/library/lab-busybox:latest}
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "busybox_image.sh: $busybox is missing: apt-get install busybox-static" >&2; exit 1; }
if ! "$busybox" --list | grep -qx ping; then
  echo "busybox_image.sh: $busybox has no ping applet; install busybox-static" >&2; exit 1
fi

work=$(mktemp -d /tmp/lab-busybox-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
blobs=$work/oci/blobs/sha256
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp" \
  "$rootfs/run" "$blobs"
cp "$busybox" "$rootfs/bin/busybox"
for applet in sh ash cat echo env false hostname httpd ifconfig ip ls nc ping ps route sleep \
  true wget; do
  ln -s busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/:/bin/sh' > "$rootfs/etc/passwd"
echo 'root:x:0:' > "$rootfs/etc/group"

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
# Stores a file as a blob; prints its digest.
blob() { d=$(sha "$1"); cp "$1" "$blobs/$d"; echo "$d"; }

tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$rootfs" -cf "$work/layer.tar" .
diff_id=$(sha "$work/layer.tar")
gzip -n -9 < "$work/layer.tar" > "$work/layer.tar.gz"
layer=$(blob "$work/layer.tar.gz")

printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
  "$diff_id" > "$work/config.json"
config=$(blob "$work/config.json")

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
  "$config" "$(size "$work/config.json")" "$layer" "$(size "$work/layer.tar.gz")" > "$work/manifest.json"
manifest=$(blob "$work/manifest.json")

echo '{"imageLayoutVersion":"1.0.0"}' > "$work/oci/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest" "$(size "$work/manifest.json")" "$name" "${name##*:}" > "$work/oci/index.json"

mkdir -p "$(dirname "$out")"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/oci" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "built $out ($name, manifest sha256:$manifest)"
