"""Tests of system call behaviour that run once per arch, on any host, with no toolchain.

`sandbox` is a fresh sandbox for the arch of each instance of a test (the test id shows it);
`sandbox.stub(name, *args)` is the assembly for one call followed by exit(0), with bytes
arguments placed in memory and passed by address.
"""

import pytest

from sandbox.testing import assert_trace_matches

EVERY_ARCH = ("x86_64", "aarch64", "i386", "arm", "riscv64")


@pytest.mark.arches(*EVERY_ARCH)
def test_write_returns_the_count(sandbox):
    r = sandbox.run_asm(sandbox.stub("write", 1, b"hi\n", 3))
    assert r.stdout == b"hi\n"
    assert r.syscalls[0].ret == 3
    r.expect_calls("write", "exit").expect_exit(0)


@pytest.mark.arches(*EVERY_ARCH)
def test_a_bad_descriptor_is_ebadf(sandbox):
    r = sandbox.run_asm(sandbox.stub("write", 42, b"x", 1))
    r.expect_errno("write", "EBADF")
    assert r.call("write").ret == -9  # -errno in the return register, on every arch


@pytest.mark.arches(*EVERY_ARCH)
def test_a_file_written_in_tmp_reads_back(sandbox):
    # Several calls in one process: Sandbox.syscall makes one real call at a time.
    fd = sandbox.syscall("openat", -100, "/tmp/note", 0o1101, 0o600).ret  # O_WRONLY|O_CREAT|O_TRUNC
    assert sandbox.syscall("write", fd, b"remember", 8).ret == 8
    assert sandbox.syscall("close", fd).ret == 0
    fd = sandbox.syscall("openat", -100, "/tmp/note", 0, 0).ret
    buf = bytearray(16)
    assert sandbox.syscall("read", fd, buf, 16).ret == 8
    assert bytes(buf[:8]) == b"remember"


@pytest.mark.arches(*EVERY_ARCH)
def test_missing_files_are_enoent(sandbox):
    rec = sandbox.syscall("openat", -100, "/no/such/file", 0, 0)
    assert rec.errno == "ENOENT" and rec.ret == -2


@pytest.mark.arches(*EVERY_ARCH)
def test_uname_reports_the_guest_arch(sandbox):
    buf = bytearray(6 * 65)  # struct utsname: six 65-byte fields
    assert sandbox.syscall("uname", buf).ret == 0
    machine = bytes(buf[4 * 65 : 5 * 65]).split(b"\0")[0].decode()
    assert machine == {"x86_64": "x86_64", "aarch64": "aarch64", "i386": "i686", "arm": "armv7l",
                       "riscv64": "riscv64"}[sandbox.arch.name]


@pytest.mark.arches(*EVERY_ARCH)
def test_the_trace_matches_the_golden_file(sandbox):
    # Addresses are masked, so one file serves every arch; pytest --sandbox-update-golden rewrites it.
    r = sandbox.run_asm(sandbox.stub("getpid"))
    assert_trace_matches(r, "golden/getpid.trace")


@pytest.mark.arches("x86_64", "i386")
def test_a_trace_per_arch(sandbox):
    # With addresses kept, each arch has its own file ({arch} is filled in): the program break
    # is where each arch's stub ends.
    r = sandbox.run_asm(sandbox.stub("brk", 0))
    assert_trace_matches(r, "golden/brk.{arch}.trace", mask_addresses=False)


@pytest.mark.arches("riscv64")
def test_hand_written_riscv64(sandbox):
    # riscv64 code is assembled by the package itself: no Keystone, no cross assembler.
    r = sandbox.run_asm("""
        li   a7, 64          # write
        li   a0, 1
        la   a1, msg
        li   a2, 6
        ecall
        li   a7, 93          # exit(a0 - 6): 0 when all six bytes were written
        addi a0, a0, -6
        ecall
    msg: .ascii "hello\\n"
    """)
    assert (r.exit_status, r.stdout) == (0, b"hello\n")
