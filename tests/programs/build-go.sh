#!/bin/sh
# Rebuild bin/gofeatures.{x86_64,aarch64,riscv64} from src/go with Debian's Go
# (apt-get install golang-go; it cross-compiles by itself). Static, no cgo, stripped, and with
# no build id or file paths in the binary, so a rebuild with the same Go gives the same bytes.
# The built files are committed, so the tests run on any host without Go.
set -eu
cd "$(dirname "$0")/src/go"
: "${GOCACHE:=${TMPDIR:-/tmp}/gofeatures-cache}"
export GOCACHE CGO_ENABLED=0 GOOS=linux GOFLAGS=-mod=mod
for pair in amd64:x86_64 arm64:aarch64 riscv64:riscv64; do
    GOARCH=${pair%%:*} go build -ldflags='-s -w -buildid=' -trimpath -o "../../bin/gofeatures.${pair##*:}" .
done
ls -l ../../bin/gofeatures.*
