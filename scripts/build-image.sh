#!/usr/bin/env bash
# Build the Debian 12 systemd test image from Debian's archive with debootstrap and
# `docker import` it. The tag carries the hash of this recipe, so a second run with an
# unchanged recipe finds the image (or the cached root tarball) and costs seconds.
#
#   scripts/build-image.sh            # prints the image tag on the last line
#   BSAAS_TEST_IMAGE=<pulled image>   # skip building: a CI with a registry sets this
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
name=${BSAAS_IMAGE_NAME:-htcfarm-bsaas/debian12-systemd}
mirror=${BSAAS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
cache_dir=${BSAAS_CACHE_DIR:-$HOME/.cache/htcfarm-bsaas}
packages=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,iproute2,procps,ca-certificates,gnupg,curl,less

if [ -n "${BSAAS_TEST_IMAGE:-}" ] && [ "${BSAAS_TEST_IMAGE}" != "${name}:latest" ]; then
  echo "build-image: using BSAAS_TEST_IMAGE=${BSAAS_TEST_IMAGE} as given, nothing built" >&2
  echo "${BSAAS_TEST_IMAGE}"
  exit 0
fi

recipe_hash=$( { cat "$0"; echo "$mirror $suite $packages"; } | sha256sum | cut -c1-12)
tag="${name}:${recipe_hash}"
tarball="${cache_dir}/debian12-systemd-${recipe_hash}.tar"

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "build-image: $tag is present (recipe unchanged)" >&2
elif [ -s "$tarball" ]; then
  echo "build-image: importing cached root $tarball" >&2
  import=1
else
  command -v debootstrap >/dev/null 2>&1 || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  mkdir -p "$cache_dir"
  root=$(mktemp -d /var/tmp/bsaas-rootfs.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  echo "build-image: debootstrap $suite from $mirror" >&2
  debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$cache_dir/debootstrap.log" 2>&1 || {
    tail -n 30 "$cache_dir/debootstrap.log" >&2; exit 1; }

  cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
SOURCES
  # Units that make no sense in a container and slow the boot or fail.
  for unit in systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
              getty.target console-getty.service systemd-logind.service \
              sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
              systemd-remount-fs.service apt-daily.timer apt-daily-upgrade.timer; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done
  : >"$root/etc/machine-id"
  echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/90-bsaas-norecommends"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
  # Older recipes' roots are of no further use.
  find "$cache_dir" -maxdepth 1 -name 'debian12-systemd-*.tar' ! -name "${tarball##*/}" -delete
  import=1
fi

if [ "${import:-0}" = 1 ]; then
  docker import \
    --change 'ENV container=docker' \
    --change 'CMD ["/lib/systemd/systemd"]' \
    "$tarball" "$tag" >/dev/null
fi
docker tag "$tag" "${name}:latest"
echo "$tag"
