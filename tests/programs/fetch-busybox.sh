#!/bin/sh
# Put Debian's busybox-static for amd64 and arm64 in .cache/busybox/ as busybox.x86_64 and
# busybox.aarch64, where the busybox tests look for them. The versions and sha256 sums are the
# ones pinned in debian-packages.txt (fetch-debian.sh fetches everything there, armhf and i386
# busybox included). Needs apt with the arm64 architecture added (as root:
# dpkg --add-architecture arm64 && apt-get update); .ci/run does both.
exec python3 "$(dirname "$0")/fetch_debian.py" --only busybox-static --arches amd64,arm64 "$@"
