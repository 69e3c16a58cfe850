#!/usr/bin/env bash
# Build a Debian systemd test image from Debian's archive with debootstrap and `docker import`
# it. The tag carries the hash of this recipe, so a second run with an unchanged recipe finds the
# image (or the cached root tarball) and costs seconds.
#
#   scripts/build-image.sh [VARIANT]   # prints the image tag on the last line
#
# Variants:
#   debian12          bookworm: the control plane (Docker, etcd, ZooKeeper) and the harness
#   debian13          trixie: the htcondor role installs Debian 13's own condor (23.9.6)
#   debian13-testing  trixie with Debian testing added at a low pin: the role installs only condor
#                     (25.14.1) from testing. Testing's own systemd refuses cgroup v1 hosts, trixie's
#                     does not, hence this mix (see docs/development.md).
#
# A CI that can pull images sets BSAAS_TEST_IMAGE (debian12), BSAAS_TEST_IMAGE_DEBIAN13 or
# BSAAS_TEST_IMAGE_DEBIAN13_TESTING to a pulled image instead; nothing is built for that variant.
set -euo pipefail

variant=${1:-debian12}
mirror=${BSAAS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache_dir=${BSAAS_CACHE_DIR:-$HOME/.cache/htcfarm-bsaas}
packages=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,iproute2,procps,ca-certificates,gnupg,curl,less
testing_suite=
case "$variant" in
  debian12) suite=bookworm; override=${BSAAS_TEST_IMAGE:-} ;;
  debian13) suite=trixie; override=${BSAAS_TEST_IMAGE_DEBIAN13:-} ;;
  debian13-testing) suite=trixie; testing_suite=forky; override=${BSAAS_TEST_IMAGE_DEBIAN13_TESTING:-} ;;
  *) echo "build-image: unknown variant '$variant'; use debian12, debian13 or debian13-testing" >&2; exit 2 ;;
esac
name=htcfarm-bsaas/${variant}-systemd

if [ -n "$override" ] && [ "$override" != "${name}:latest" ]; then
  echo "build-image: using $override for $variant as given, nothing built" >&2
  echo "$override"
  exit 0
fi

recipe_hash=$( { cat "$0"; echo "$mirror $suite $testing_suite $packages"; } | sha256sum | cut -c1-12)
tag="${name}:${recipe_hash}"
tarball="${cache_dir}/${variant}-systemd-${recipe_hash}.tar"

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
  echo "build-image: debootstrap $suite from $mirror ($variant)" >&2
  debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$cache_dir/debootstrap-$variant.log" 2>&1 || {
    tail -n 30 "$cache_dir/debootstrap-$variant.log" >&2; exit 1; }

  cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
SOURCES
  if [ -n "$testing_suite" ]; then
    # Testing is there to be asked for by name (apt-get install -t $testing_suite condor); nothing
    # else comes from it unless it must.
    echo "deb $mirror $testing_suite main" >"$root/etc/apt/sources.list.d/$testing_suite.list"
    printf 'Package: *\nPin: release n=%s\nPin-Priority: 100\n' "$testing_suite" \
      >"$root/etc/apt/preferences.d/$testing_suite"
  fi
  # This environment's archive is a fixed snapshot whose testing Release files are past their
  # Valid-Until date; the machines' own apt is set the same way.
  echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/90-bsaas-snapshot"
  # Units that make no sense in a container and slow the boot or fail.
  for unit in systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
              getty.target console-getty.service systemd-logind.service \
              sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
              systemd-remount-fs.service apt-daily.timer apt-daily-upgrade.timer; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done
  : >"$root/etc/machine-id"
  echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/90-bsaas-norecommends"
  # A throwaway test container needs no fsync after every unpacked file, nor manuals and
  # translations: dpkg skips both, which is most of an install's time on these hosts.
  cat >"$root/etc/dpkg/dpkg.cfg.d/90-bsaas-test-image" <<'DPKG'
force-unsafe-io
path-exclude=/usr/share/man/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
DPKG
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
  # Older recipes' roots of this variant are of no further use.
  find "$cache_dir" -maxdepth 1 -name "${variant}-systemd-*.tar" ! -name "${tarball##*/}" -delete
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
