#!/bin/sh
# Put Debian's busybox-static for amd64 and arm64 in .cache/busybox/ as busybox.x86_64 and
# busybox.aarch64, where the busybox tests look for them. Needs apt with the arm64 architecture
# added (as root: dpkg --add-architecture arm64 && apt-get update); .ci/run does both.
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="$root/.cache/busybox"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"
cd "$work"
apt-get download -q busybox-static:amd64 busybox-static:arm64 >/dev/null 2>&1 \
    || apt-get download busybox-static:amd64 busybox-static:arm64
for pair in amd64:x86_64 arm64:aarch64; do
    deb_arch=${pair%%:*}
    arch=${pair##*:}
    mkdir -p "x-$deb_arch"
    dpkg-deb -x busybox-static_*_"$deb_arch".deb "x-$deb_arch"
    cp "x-$deb_arch/bin/busybox" "$dest/busybox.$arch"
done
ls -l "$dest"
