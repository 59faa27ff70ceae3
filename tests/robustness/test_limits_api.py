"""The limits in the Python API: their defaults, what a RunResult says, and host signals."""

from __future__ import annotations

import argparse
import os
import signal
import struct
import threading
import time

import pytest

from sandbox import Sandbox, SandboxError
from sandbox.errors import ExecFormatError
from sandbox.limits import API_DEFAULTS, UNLIMITED, Limits, add_limit_options, format_size, limits_from_args
from sandbox.limits import parse_count, parse_duration, parse_size

SPIN = {"x86_64": "l: jmp l", "aarch64": "l: b l"}
YES = {
    "x86_64": 'l: mov eax, 1; mov edi, 1; lea rsi, [rip+m]; mov edx, 4; syscall; jmp l; m: .ascii "yes\\n"',
    "aarch64": 'l: mov x8, #64; mov x0, #1; adr x1, m; mov x2, #4; svc #0; b l; m: .ascii "yes\\n"',
}
# rt_sigaction(SIGXFSZ, {SIG_IGN}), then write "yes\n" until a write fails; exit with -errno
YES_IGNORING_SIGXFSZ = {
    "x86_64": "mov eax, 13; mov edi, 25; lea rsi, [rip+act]; xor edx, edx; mov r10d, 8; syscall; "
    "l: mov eax, 1; mov edi, 1; lea rsi, [rip+m]; mov edx, 4; syscall; test rax, rax; jns l; "
    'neg eax; mov edi, eax; mov eax, 60; syscall; m: .ascii "yes\\n"; .align 8; act: .quad 1; .quad 0; .quad 0; .quad 0',
    "aarch64": "mov x8, #134; mov x0, #25; adr x1, act; mov x2, #0; mov x3, #8; svc #0; "
    "l: mov x8, #64; mov x0, #1; adr x1, m; mov x2, #4; svc #0; cmp x0, #0; b.ge l; "
    'neg x0, x0; mov x8, #93; svc #0; m: .ascii "yes\\n"; .align 3; act: .quad 1; .quad 0; .quad 0; .quad 0',
}
ARCHES = ["x86_64", "aarch64"]


def test_the_api_defaults_suit_untrusted_code_and_the_cli_has_none():
    sb = Sandbox("x86_64")
    assert sb.limits == API_DEFAULTS
    assert API_DEFAULTS == Limits(timeout=30.0, max_insns=None, max_memory=1 << 30, max_fds=1024, max_output=64 << 20,
                                  max_processes=256)
    # captured output is host memory; the host's own streams are not
    assert Sandbox("x86_64", capture=False).limits.max_output is None
    assert Sandbox("x86_64", capture=False, max_output=10).limits.max_output == 10
    parser = argparse.ArgumentParser()
    add_limit_options(parser)
    assert limits_from_args(parser.parse_args([])) == UNLIMITED == Limits()


def test_the_defaults_are_what_the_guest_reads_as_its_rlimits():
    sb = Sandbox("aarch64")
    for resource, expected in ((7, (1024, 1024)), (9, (1 << 30, 1 << 30))):
        buf = bytearray(16)
        assert sb.syscall("prlimit64", 0, resource, 0, buf).ret == 0
        assert struct.unpack("<QQ", buf) == expected
    unlimited = Sandbox("aarch64", max_memory=None, max_fds=None)
    buf = bytearray(16)
    unlimited.syscall("prlimit64", 0, 9, 0, buf)
    assert struct.unpack("<QQ", buf) == (2**64 - 1, 2**64 - 1)


def test_bad_limits_are_refused_in_one_line():
    for kw, words in (
        ({"timeout": 0}, "timeout 0: must be more than 0 seconds"),
        ({"max_insns": -5}, "max_insns -5: must be"),
        ({"max_memory": 1.5}, "max_memory 1.5: must be"),
        ({"max_fds": -1}, "max_fds -1: must be"),
        ({"max_output": 0}, "max_output 0: must be"),
        ({"max_processes": 0}, "max_processes 0: must be a whole number from 1"),
    ):
        with pytest.raises(SandboxError, match=words):
            Sandbox("x86_64", **kw)


def test_human_sizes_counts_and_durations():
    assert [parse_size(t) for t in ("4096", "64K", "64M", "64MiB", "64mb", "1.5G", "1T")] == [
        4096, 64 << 10, 64 << 20, 64 << 20, 64 << 20, 3 << 29, 1 << 40,
    ]
    assert [parse_count(t) for t in ("1000", "1_000_000", "10M", "2.5G")] == [1000, 10**6, 10**7, 25 * 10**8]
    assert [parse_duration(t) for t in ("2", "0.5", "500ms", "2s", "1m", "1h")] == [2, 0.5, 0.5, 2, 60, 3600]
    for bad in ("", "-1", "1e3", "64Q", "M", "1.5.2"):
        with pytest.raises(ValueError):
            parse_size(bad)
    with pytest.raises(ValueError, match="whole number"):
        parse_count("1.5")
    with pytest.raises(ValueError):
        parse_duration("soon")
    assert [format_size(n) for n in (64 << 20, 3 << 29, 4097, 1024)] == ["64M", "1.5G", "4097", "1K"]


@pytest.mark.parametrize("arch", ARCHES)
def test_captured_output_stops_at_its_limit_with_sigxfsz(arch):
    r = Sandbox(arch, max_output=1000).run_asm(YES[arch])
    assert (r.exit_status, r.signal, r.limit) == (153, "SIGXFSZ", "max_output")
    assert r.stdout == (b"yes\n" * 250)
    assert r.reason == "SIGXFSZ (File size limit exceeded), sent by a write past the output size limit"
    assert r.refused == {"max_output": 1}


@pytest.mark.parametrize("arch", ARCHES)
def test_a_guest_ignoring_sigxfsz_gets_efbig(arch):
    r = Sandbox(arch, max_output=10).run_asm(YES_IGNORING_SIGXFSZ[arch])
    assert (r.exit_status, r.limit) == (27, None)  # EFBIG, and the guest exited by itself
    assert r.stdout == b"yes\nyes\nye"
    assert r.refused == {"max_output": 2}  # one write cut short, one refused


def test_a_program_bigger_than_the_memory_limit_is_refused_at_load():
    with pytest.raises(ExecFormatError, match=r"does not fit in the memory limit \(1M\)"):
        Sandbox("x86_64", max_memory=1 << 20).run_file("tests/programs/bin/libc-demo-static.x86_64")
    with pytest.raises(ExecFormatError, match=r"does not fit in the memory limit \(64K\)"):
        Sandbox("aarch64", max_memory=64 << 10).run_asm("nop")


def test_the_limits_hold_for_every_process_of_a_sandbox():
    sb = Sandbox("x86_64", max_insns=1000, timeout=5)
    for _ in range(3):
        assert sb.run_asm(SPIN["x86_64"]).limit == "max_insns"
        assert sb.run_asm("mov eax, 60; mov edi, 3; syscall").exit_status == 3


# -- host signals during a run ---------------------------------------------------------------


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
@pytest.mark.parametrize("arch", ARCHES)
def test_ctrl_c_in_the_api_raises_keyboardinterrupt_at_once(arch):
    timer = threading.Timer(0.2, os.kill, [os.getpid(), signal.SIGINT])
    t = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        Sandbox(arch).run_asm(SPIN[arch])
    assert time.monotonic() - t < 2
    timer.join()
    r = Sandbox(arch, max_output=8).run_asm(YES_IGNORING_SIGXFSZ[arch])  # and the next run is fine
    assert (r.exit_status, r.stdout) == (27, b"yes\nyes\n")


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_a_python_signal_handler_runs_during_a_guest_run_which_then_goes_on():
    # pytest-timeout and profilers use SIGALRM/SIGPROF handlers: they must run while a guest
    # computes, and the guest must go on afterwards.
    calls = []
    old = signal.signal(signal.SIGALRM, lambda signum, frame: calls.append(time.monotonic()))
    loop = "mov rcx, 0x4000000; l: dec rcx; jnz l; mov eax, 60; mov edi, 4; syscall"
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
        t = time.monotonic()
        r = Sandbox("x86_64").run_asm(loop)
        elapsed = time.monotonic() - t
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, old)
    assert r.exit_status == 4
    if elapsed > 0.3:  # a fast machine may finish before the first alarm
        assert len(calls) >= 2


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_the_wakeup_fd_is_given_back_and_signals_are_passed_on_to_it():
    read, write = os.pipe()
    os.set_blocking(write, False)
    old_fd = signal.set_wakeup_fd(write)
    old_handler = signal.signal(signal.SIGUSR1, lambda *a: None)
    try:
        timer = threading.Timer(0.05, os.kill, [os.getpid(), signal.SIGUSR1])
        timer.start()
        r = Sandbox("x86_64", max_insns=30_000_000).run_asm(SPIN["x86_64"])
        timer.join()
        assert r.limit == "max_insns"
        assert signal.set_wakeup_fd(write) == write  # ours again after the run
        os.set_blocking(read, False)
        assert bytes([signal.SIGUSR1]) in os.read(read, 64)  # the byte reached us too
    finally:
        signal.set_wakeup_fd(old_fd)
        signal.signal(signal.SIGUSR1, old_handler)
        os.close(read)
        os.close(write)


def test_a_run_in_another_thread_has_its_timeout_too():
    results = []

    def work() -> None:
        results.append(Sandbox("aarch64", timeout=0.2).run_asm(SPIN["aarch64"]))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and results[0].limit == "timeout"


# fork until fork fails, then exit with the number of children made (each child exits at once)
FORK_LOOP = {
    "x86_64": "xor ebx, ebx; l: mov eax, 57; syscall; test rax, rax; js done; jz child; inc ebx; jmp l; "
    "child: mov eax, 60; xor edi, edi; syscall; done: mov r12, rax; mov edi, ebx; mov eax, 231; syscall",
    # aarch64 has no fork: clone(SIGCHLD, 0, 0, 0, 0)
    "aarch64": "mov x19, #0; l: mov x8, #220; mov x0, #17; mov x1, #0; mov x2, #0; mov x3, #0; mov x4, #0; svc #0; "
    "cmp x0, #0; b.lt done; b.eq child; add x19, x19, #1; b l; "
    "child: mov x8, #93; mov x0, #0; svc #0; done: mov x0, x19; mov x8, #94; svc #0",
}


@pytest.mark.parametrize("arch", ARCHES)
def test_max_processes_ends_a_fork_loop_with_eagain(arch):
    """Zombies count (nobody reaps them): the fifth fork fails with EAGAIN and the run says why."""
    result = Sandbox(arch, max_processes=5).run_asm(FORK_LOOP[arch])
    assert result.exit_status == 4
    forks = result.calls("fork" if arch == "x86_64" else "clone")
    assert [r.errno for r in forks] == [None] * 4 + ["EAGAIN"]
    assert result.refused == {"max_processes": 1}
    buf = bytearray(16)
    assert Sandbox(arch, max_processes=5).syscall("prlimit64", 0, 6, 0, buf).ret == 0  # RLIMIT_NPROC
    assert struct.unpack("<QQ", buf) == (5, 5)


def test_max_processes_on_the_command_line(tmp_path):
    import subprocess
    import sys

    src = tmp_path / "forks.x86_64.s"
    src.write_text(FORK_LOOP["x86_64"].replace("; ", "\n") + "\n")
    run = [sys.executable, "-m", "sandbox", "run"]
    done = subprocess.run([*run, "--max-processes", "3", str(src)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "--max-processes refused 1 fork (EAGAIN)" in done.stderr
    bad = subprocess.run([*run, "--max-processes", "0", str(src)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "sandbox run: --max-processes 0: must be a whole number from 1 to 4194304 (see sandbox run --help)"]
