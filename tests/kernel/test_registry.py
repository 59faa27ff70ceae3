"""The handler registry: argument decoding and the completeness table."""

from __future__ import annotations

import pytest

import kernel_model  # noqa: F401 - registers the handlers
from kernel_model.linux_errno import Errno, errno_by_name
from kernel_model.registry import REGISTRY, Completeness, Fd, Ptr, syscall


def test_core_calls_are_registered():
    core = {
        "read", "write", "readv", "writev", "openat", "open", "close", "lseek", "pread64", "pwrite64", "fstat",
        "newfstatat", "stat", "lstat", "mmap", "munmap", "mprotect", "brk", "exit", "exit_group", "getpid",
        "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "uname", "clock_gettime", "gettimeofday",
        "nanosleep", "getrandom", "getcwd", "ioctl",
    }
    assert core <= set(REGISTRY)


def test_every_handler_declares_its_completeness():
    for spec in REGISTRY.values():
        assert spec.completeness in (Completeness.FULL, Completeness.PARTIAL)
        if spec.completeness is Completeness.PARTIAL:
            assert spec.note, spec.name


def test_fd_arguments_are_signed_32_bit_and_pointers_unsigned():
    spec = REGISTRY["write"]
    assert spec.decode((0xFFFFFFFF, 0xFFFF800000000000, 3, 0, 0, 0), 64) == (-1, 0xFFFF800000000000, 3)
    assert spec.decode((0x1_0000_0005, 0, 0, 0, 0, 0), 64)[0] == 5
    lseek = REGISTRY["lseek"]
    assert lseek.decode((3, 0xFFFFFFFFFFFFFFFF, 1), 64) == (3, -1, 1)


def test_a_handler_without_kinds_is_refused():
    with pytest.raises(TypeError):

        @syscall("test_missing_kind")
        def bad(k, req, x: int) -> int:  # noqa: ARG001
            return 0

    assert "test_missing_kind" not in REGISTRY


def test_registering_twice_is_refused():
    with pytest.raises(ValueError):

        @syscall("write")
        def again(k, req, fd: Fd, buf: Ptr) -> int:  # noqa: ARG001
            return 0


def test_errno_table():
    assert Errno.EBADF == 9 and Errno.ENOSYS == 38 and Errno.EFAULT == 14
    assert Errno.EBADF.message == "Bad file descriptor"
    assert errno_by_name("EWOULDBLOCK") is Errno.EAGAIN
    assert all(e.message for e in Errno)
