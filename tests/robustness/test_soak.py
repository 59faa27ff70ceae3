"""Soak: thousands of short guest runs in one process leave its memory, threads and
descriptors where they were.

Each run is one of a mix (both arches): a clean exit, a crash, an instruction budget used up,
a wall-clock timeout, an mmap refused by the memory limit, files in /tmp, a signal handler,
and a static glibc program, with a new Sandbox each time, dropped without ``close()`` as
careless callers do (every tenth is closed, as careful ones do). CI runs a few hundred;
the full soak is

    SANDBOX_SOAK_RUNS=10000 python -m pytest tests/robustness/test_soak.py -s

which prints the figures it checks.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from pathlib import Path

from sandbox import Sandbox

RUNS = int(os.environ.get("SANDBOX_SOAK_RUNS", "400"))
PROGRAMS = Path(__file__).resolve().parents[1] / "programs" / "bin"

EXIT = {"x86_64": "mov eax, 60; mov edi, {status}; syscall", "aarch64": "mov x8, #93; mov x0, #{status}; svc #0"}
GUESTS = {
    "x86_64": {
        "hello": 'mov eax, 1; mov edi, 1; lea rsi, [rip+msg]; mov edx, 3; syscall; {exit}; msg: .ascii "hi\\n"',
        "crash": "mov rax, [0x10]",
        "spin": "l: jmp l",
        # mmap(0, 1 GiB, RW, PRIVATE|ANON): more than the limit; exit with the low byte of -errno
        "mmap": "mov eax, 9; xor edi, edi; mov esi, 0x40000000; mov edx, 3; mov r10d, 0x22; mov r8, -1; "
        "xor r9d, r9d; syscall; mov edi, eax; neg edi; mov eax, 60; syscall",
        # open("/tmp/f", O_CREAT|O_WRONLY), write, close, and exit
        "file": "mov eax, 2; lea rdi, [rip+path]; mov esi, 0x41; mov edx, 0x1a4; syscall; mov edi, eax; "
        "mov eax, 1; lea rsi, [rip+path]; mov edx, 6; syscall; mov eax, 3; syscall; {exit}; "
        'path: .asciz "/tmp/f"',
    },
    "aarch64": {
        "hello": 'mov x8, #64; mov x0, #1; adr x1, msg; mov x2, #3; svc #0; {exit}; msg: .ascii "hi\\n"',
        "crash": "mov x0, #0x10; ldr x1, [x0]",
        "spin": "l: b l",
        "mmap": "mov x8, #222; mov x0, #0; mov x1, #0x40000000; mov x2, #3; mov x3, #0x22; mov x4, #-1; "
        "mov x5, #0; svc #0; neg x0, x0; mov x8, #93; svc #0",
        "file": "mov x8, #56; mov x0, #-100; adr x1, path; mov x2, #0x41; mov x3, #0x1a4; svc #0; mov x19, x0; "
        "mov x8, #64; adr x1, path; mov x2, #6; svc #0; mov x0, x19; mov x8, #57; svc #0; {exit}; "
        'path: .asciz "/tmp/f"',
    },
}


def rss_kib() -> int:
    """This process's resident memory in KiB (Linux's /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def open_fds() -> int:
    """How many descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


def one_run(i: int) -> None:
    """Run guest number ``i`` of the mix and check it ended as it should."""
    arch = ("x86_64", "aarch64")[i % 2]
    kind = ("hello", "crash", "budget", "mmap", "file", "hello", "libc", "timeout")[(i // 2) % 8]
    if kind == "timeout" and i % 80 >= 16:
        kind = "hello"  # a timeout waits for real: only a few of them
    exit0 = EXIT[arch].format(status=0)
    guests = GUESTS[arch]
    if kind == "hello":
        r = Sandbox(arch).run_asm(guests["hello"].format(exit=exit0))
        assert (r.exit_status, r.stdout) == (0, b"hi\n")
    elif kind == "crash":
        r = Sandbox(arch).run_asm(guests["crash"])
        assert r.signal == "SIGSEGV" and r.fault is not None
    elif kind == "budget":
        r = Sandbox(arch, max_insns=20_000).run_asm(guests["spin"])
        assert (r.exit_status, r.limit) == (152, "max_insns")
    elif kind == "timeout":
        r = Sandbox(arch, timeout=0.02).run_asm(guests["spin"])
        assert (r.exit_status, r.limit) == (137, "timeout")
    elif kind == "mmap":
        r = Sandbox(arch, max_memory=64 << 20).run_asm(guests["mmap"])
        assert r.exit_status == 12 and r.refused == {"max_memory": 1}  # ENOMEM
    elif kind == "file":
        r = Sandbox(arch).run_asm(guests["file"].format(exit=exit0))
        assert r.exit_status == 0
    else:
        sb = Sandbox(arch, seed=1, virtual_time=True)
        r = sb.run_file(str(PROGRAMS / f"libc-demo-static.{arch}"), ["demo", "args", "x"])
        assert r.exit_status == 0 and b"argc=3" in r.stdout
    if i % 10 == 0:
        # the careful caller: release the engine now rather than when the sandbox goes
        with Sandbox(arch) as sb:
            sb.run_asm(guests["hello"].format(exit=exit0))


def test_thousands_of_runs_leak_no_memory_threads_or_descriptors():
    for i in range(48):  # warm up: caches, the watchdog thread, the allocator's arenas
        one_run(i)
    gc.collect()
    rss0, threads0, fds0 = rss_kib(), threading.active_count(), open_fds()
    started = time.monotonic()
    peak = rss0
    for i in range(RUNS):
        one_run(i)
        if i % 50 == 0:
            peak = max(peak, rss_kib())
    gc.collect()
    rss1, threads1, fds1 = rss_kib(), threading.active_count(), open_fds()
    elapsed = time.monotonic() - started
    print(
        f"\nsoak: {RUNS} runs in {elapsed:.1f}s; RSS {rss0 // 1024} MiB -> {rss1 // 1024} MiB "
        f"({rss1 - rss0:+d} KiB, peak {peak // 1024} MiB); threads {threads0} -> {threads1}; fds {fds0} -> {fds1}"
    )
    assert threads1 == threads0
    assert fds1 == fds0
    # A leak of one engine per run would be megabytes per run; allow the allocator some slack.
    assert rss1 - rss0 < 24 * 1024
    assert peak - rss0 < 64 * 1024
