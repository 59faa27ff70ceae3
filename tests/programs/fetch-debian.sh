#!/bin/sh
# Download the pinned Debian packages in debian-packages.txt, check their sha256 and unpack
# them under .cache/ (static shells for amd64, arm64, armhf and i386; an arm64 rootfs).
# Needs apt with those arches added, once, as root:
#   dpkg --add-architecture arm64 && dpkg --add-architecture armhf \
#     && dpkg --add-architecture i386 && apt-get update
# (on an arm64 host add amd64 instead of arm64); .ci/run does this. Options: see
# `fetch-debian.sh --help` (--only, --arches, --repin).
exec python3 "$(dirname "$0")/fetch_debian.py" "$@"
