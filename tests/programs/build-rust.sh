#!/bin/sh
# Rebuild bin/rustfeatures.x86_64 from src/rust with rustc (rustup's stable toolchain and its
# x86_64-unknown-linux-gnu target): statically linked with glibc (+crt-static), optimised for
# size, stripped, small pages and no build id like the C programs. Committed, so the tests
# need no Rust.
set -eu
cd "$(dirname "$0")"
rustc --edition 2021 --target x86_64-unknown-linux-gnu -C target-feature=+crt-static \
    -C opt-level=s -C panic=abort -C relocation-model=static -C strip=symbols -C codegen-units=1 \
    -C link-arg=-Wl,-z,max-page-size=4096 -C link-arg=-Wl,--build-id=none \
    --remap-path-prefix="$(pwd)=." -o bin/rustfeatures.x86_64 src/rust/rustfeatures.rs
ls -l bin/rustfeatures.x86_64
