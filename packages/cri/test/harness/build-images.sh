#!/bin/sh
# build-images.sh OUTDIR PAUSE_REF BUSYBOX_REF [EXTRA_REF]
#
# Writes OUTDIR/pause.tar, OUTDIR/busybox.tar (and OUTDIR/extra.tar, the same
# files with another config, so a distinct image that tests may remove): single-layer OCI image
# archives whose only content is the static /bin/busybox (Debian's
# busybox-static) plus one symlink per applet. Needs no network.
# Import with `ctr -n k8s.io images import` (CRI only sees namespace k8s.io).
set -eu

OUT=${1:?usage: build-images.sh OUTDIR PAUSE_REF BUSYBOX_REF}
PAUSE_REF=${2:?pause image ref}
BUSYBOX_REF=${3:?busybox image ref}
EXTRA_REF=${4:-}
BB=${BUSYBOX_BIN:-/bin/busybox}

case $(uname -m) in
  x86_64) ARCH=amd64 ;;
  aarch64) ARCH=arm64 ;;
  *) ARCH=$(uname -m) ;;
esac

mkdir -p "$OUT"
W=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$W"' EXIT

# Root filesystem shared by both images.
R=$W/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/proc" "$R/sys" "$R/dev" "$R/root" "$R/var/run"
cp "$BB" "$R/bin/busybox"
chmod 0755 "$R/bin/busybox"
for applet in $("$BB" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$R/bin/$applet"
done
chmod 1777 "$R/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$R/etc/group"

# Reproducible tar options; the layer stays uncompressed, so diff_id == digest.
TAR_OPTS="--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner"
# shellcheck disable=SC2086
tar $TAR_OPTS -C "$R" -cf "$W/layer" .

# put_blob FILE: move FILE into the current image's blob store and set
# $DIGEST / $SIZE for it.
put_blob() {
  DIGEST=$(sha256sum "$1" | cut -d' ' -f1)
  SIZE=$(stat -c %s "$1")
  mv "$1" "$IMG/blobs/sha256/$DIGEST"
}

# image NAME REF CONFIG: write OUTDIR/NAME.tar for REF with the given
# image config ("config" member of the OCI image config JSON).
image() {
  IMG=$W/$1
  mkdir -p "$IMG/blobs/sha256"
  cp "$W/layer" "$IMG/layer"
  put_blob "$IMG/layer"
  LAYER_DIGEST=$DIGEST LAYER_SIZE=$SIZE

  printf '{"architecture":"%s","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$ARCH" "$3" "$LAYER_DIGEST" >"$IMG/config"
  put_blob "$IMG/config"
  CONFIG_DIGEST=$DIGEST CONFIG_SIZE=$SIZE

  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$CONFIG_DIGEST" "$CONFIG_SIZE" "$LAYER_DIGEST" "$LAYER_SIZE" >"$IMG/manifest"
  put_blob "$IMG/manifest"

  # io.containerd.image.name carries the full reference for `ctr images import`.
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$DIGEST" "$SIZE" "$ARCH" "$2" "${2##*:}" >"$IMG/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$IMG/oci-layout"
  # shellcheck disable=SC2086
  tar $TAR_OPTS -C "$IMG" -cf "$OUT/$1.tar" oci-layout index.json blobs
}

ENV='["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]'
# The sandbox's PID 1 only has to wait; CRI stops it with SIGKILL.
image pause "$PAUSE_REF" "{\"Env\":$ENV,\"Entrypoint\":[\"/bin/sleep\",\"inf\"],\"WorkingDir\":\"/\"}"
image busybox "$BUSYBOX_REF" "{\"Env\":$ENV,\"Cmd\":[\"/bin/sh\"],\"WorkingDir\":\"/\"}"
if [ -n "$EXTRA_REF" ]; then
  image extra "$EXTRA_REF" "{\"Env\":$ENV,\"Cmd\":[\"/bin/sh\"],\"WorkingDir\":\"/tmp\"}"
fi
