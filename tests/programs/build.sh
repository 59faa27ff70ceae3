#!/bin/sh
# Rebuild the test programs in bin/ from src/ with Debian's compilers:
#   apt-get install gcc gcc-aarch64-linux-gnu      (the latter brings libc6-dev-arm64-cross)
# x86_64 uses the native gcc on an x86_64 host, or x86_64-linux-gnu-gcc elsewhere.
# The built files are committed, so the tests run on any host without these compilers.
set -eu
cd "$(dirname "$0")"
mkdir -p bin

cc_for() {
    case "$1" in
        x86_64) if [ "$(uname -m)" = x86_64 ]; then echo gcc; else echo x86_64-linux-gnu-gcc; fi ;;
        aarch64) if [ "$(uname -m)" = aarch64 ]; then echo gcc; else echo aarch64-linux-gnu-gcc; fi ;;
    esac
}

# Small pages and no build id keep the files small and the builds reproducible.
LDFLAGS="-Wl,-z,max-page-size=4096 -Wl,--build-id=none -s"

for arch in x86_64 aarch64; do
    cc=$(cc_for "$arch")
    $cc -Os -static -nostdlib -ffreestanding -fno-stack-protector -fno-builtin -Wall $LDFLAGS \
        -o "bin/raw-syscalls.$arch" src/raw-syscalls.c
    $cc -O2 -static -Wall $LDFLAGS -o "bin/libc-demo-static.$arch" src/libc-demo.c -lm
    $cc -O2 -Wall $LDFLAGS -o "bin/libc-demo-dynamic.$arch" src/libc-demo.c -lm
done
# elf-layout: every arch the sandbox runs (apt-get install gcc-i686-linux-gnu
# gcc-arm-linux-gnueabihf gcc-riscv64-linux-gnu). arm's compiler makes Thumb code.
for pair in x86_64:$(cc_for x86_64) aarch64:$(cc_for aarch64) i386:i686-linux-gnu-gcc \
            arm:arm-linux-gnueabihf-gcc riscv64:riscv64-linux-gnu-gcc; do
    arch=${pair%%:*}
    ${pair#*:} -Os -static -nostdlib -ffreestanding -fno-stack-protector -fno-builtin -fno-pie -no-pie -Wall \
        $LDFLAGS -o "bin/elf-layout.$arch" src/elf-layout.c
done
# features (one case per kernel feature the acceptance tests measure) and child (the no-libc
# program its fork-exec and posix-spawn cases start), for every arch. -Os keeps static glibc
# programs under a megabyte; -fno-pie -no-pie gives the classic fixed layout on every arch.
for pair in x86_64:$(cc_for x86_64) aarch64:$(cc_for aarch64) i386:i686-linux-gnu-gcc \
            arm:arm-linux-gnueabihf-gcc riscv64:riscv64-linux-gnu-gcc; do
    arch=${pair%%:*}
    cc=${pair#*:}
    $cc -Os -static -pthread -Wall -Wextra $LDFLAGS -o "bin/features.$arch" src/features.c
    $cc -Os -static -nostdlib -ffreestanding -fno-stack-protector -fno-builtin -fno-pie -no-pie -Wall \
        $LDFLAGS -o "bin/child.$arch" src/child.c
done
ls -l bin
