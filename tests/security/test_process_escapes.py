"""Beyond paths: the guest never reaches a host descriptor it was not given, never runs a host
program, never signals a host process, never changes the host's credentials, never opens a
socket unless the policy allows the network, and never names a host clock or terminal request
that reaches past itself."""

from __future__ import annotations

import os
import struct
import signal
import subprocess
import sys

import pytest
from arena import failed, refused

from kernel_model.host import policy_from_dict

AT_FDCWD = -100


def no_children() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_host_descriptors_are_not_the_guests(arena):
    sb = arena.sandbox()
    sb.syscall("getpid")
    held = [fs.beneath.fd for _, fs in sb.machine.kernel.ns.mounts() if hasattr(fs, "beneath")]
    assert held and all(fd > 2 for fd in held)
    extra = os.open(arena.outside / "secret.txt", os.O_RDONLY)  # a host fd of the Python process
    try:
        for fd in sorted({*held, extra, 3, 4, 5, 63, 64, 1023, 1024, 4096, 65535, 2**31 - 1, -1}):
            failed(sb.syscall("fstat", fd, bytearray(256)), "EBADF")
            failed(sb.syscall("read", fd, bytearray(8), 8), "EBADF")
            failed(sb.syscall("openat", fd, "secret.txt", 0, 0), "EBADF")
            failed(sb.syscall("close", fd), "EBADF")
        os.fstat(extra)  # still open: the guest's close did not reach it
        failed(sb.syscall("dup3", 1, 1 << 20, 0), "EBADF")
        failed(sb.syscall("fcntl", 1, 0, 5000), "EINVAL")  # F_DUPFD past the table
    finally:
        os.close(extra)


def test_no_host_program_is_ever_run(arena):
    # The guest's fork and execve make guest processes and load programs into the emulator
    # (a host program the policy shows is only a file to it): no host process is ever made.
    sb = arena.sandbox(policy=policy_from_dict({"paths": {"/": "ro", str(arena.granted): "rw"}}))
    assert no_children()
    for name, args in (
        ("execve", ("/bin/sh", 0, 0)),
        ("execveat", (AT_FDCWD, "/bin/true", 0, 0, 0)),
        ("clone", (signal.SIGCHLD, 0, 0, 0, 0)),
        ("vfork", ()),
    ):
        if sb.machine is not None and sb.machine.arch.name != "x86_64" and name == "vfork":
            continue  # only x86_64 and i386 have vfork
        sb.syscall(name, *args)
        assert no_children(), name
    assert no_children()


def test_no_host_process_is_signalled(arena):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        sb = arena.sandbox()
        for name, args in (
            ("kill", (sleeper.pid, signal.SIGKILL)),
            ("kill", (-1, signal.SIGKILL)),
            ("kill", (-sleeper.pid, signal.SIGKILL)),
            ("kill", (os.getpid(), signal.SIGKILL)),
            ("tgkill", (sleeper.pid, sleeper.pid, signal.SIGKILL)),
            ("tkill", (sleeper.pid, signal.SIGKILL)),
            ("pidfd_open", (sleeper.pid, 0)),
            ("pidfd_send_signal", (3, signal.SIGKILL, 0, 0)),
            ("rt_sigqueueinfo", (sleeper.pid, signal.SIGKILL, 0)),
            ("ptrace", (16, sleeper.pid, 0, 0)),  # PTRACE_ATTACH
            ("process_vm_writev", (sleeper.pid, 0, 0, 0, 0, 0)),
        ):
            rec = sb.syscall(name, *args)
            assert rec.errno in ("ESRCH", "ENOSYS", "EPERM", "EBADF"), rec
        assert sleeper.poll() is None, "the host process was signalled"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_host_credentials_never_change(arena):
    sb = arena.sandbox()
    ids = (os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups())
    for name, args in (
        ("setuid", (12345,)), ("setgid", (12345,)), ("setresuid", (1, 2, 3)), ("setresgid", (1, 2, 3)),
        ("setreuid", (1, 2)), ("setgroups", (1, b"\x39\x30\x00\x00")), ("setfsuid", (1,)), ("capset", (0, 0)),
        ("unshare", (0x10000000,)), ("setns", (0, 0)), ("chroot", ("/",)), ("mount", ("x", "/mnt", "tmpfs", 0, 0)),
    ):
        rec = sb.syscall(name, *args)
        assert rec.errno in ("ENOSYS", "EPERM", "EFAULT", "EINVAL"), rec
    assert (os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()) == ids


def test_the_network_is_closed_unless_the_policy_opens_it(arena):
    sb = arena.sandbox()
    for args in ((2, 1, 0), (10, 2, 0)):  # TCP over IPv4, UDP over IPv6
        refused(sb.syscall("socket", *args), "EACCES", "network.allow = false")
    # A socket pair is not the network: it is connected to nothing but itself.
    rec = sb.syscall("socketpair", 1, 1, 0, pair := bytearray(8))
    assert rec.ret == 0, rec
    a, b = struct.unpack("<ii", pair)
    assert sb.syscall("write", a, b"ping", 4).ret == 4
    assert sb.syscall("read", b, got := bytearray(4), 4).ret == 4 and got == b"ping"
    # Nothing else is a socket to connect or bind.
    fd = sb.syscall("openat", AT_FDCWD, "file.txt", 0, 0).ret
    failed(sb.syscall("connect", fd, b"\x02\x00\x00\x50\x7f\x00\x00\x01" + bytes(8), 16), "ENOTSOCK")
    failed(sb.syscall("bind", 99, bytes(16), 16), "EBADF")


def test_only_the_fixed_clocks_are_read(arena):
    sb = arena.sandbox()
    assert sb.syscall("clock_gettime", 0, bytearray(16)).ret == 0
    clockfd = ((~5) << 3) | 3  # a dynamic clock: the clock behind file descriptor 5 of the host
    for clock in (-2, clockfd, 10, 12, 1000, 2**31 - 1):
        failed(sb.syscall("clock_gettime", clock, bytearray(16)), "EINVAL")
        failed(sb.syscall("clock_getres", clock, bytearray(16)), "EINVAL")
        failed(sb.syscall("clock_nanosleep", clock, 0, bytes(16), 0), "EINVAL")


def test_no_ioctl_reaches_a_host_descriptor(arena):
    sb = arena.sandbox()
    fd = sb.syscall("openat", AT_FDCWD, "file.txt", 0, 0).ret
    TIOCSTI, TIOCCONS, TIOCSCTTY, FIOCLEX = 0x5412, 0x541D, 0x540E, 0x5451
    for request in (TIOCSTI, TIOCCONS, TIOCSCTTY, 0xC0045877, 0x40049409):  # ..., FS_IOC_SETFLAGS-ish, BTRFS
        failed(sb.syscall("ioctl", fd, request, b"x"), "ENOTTY")  # the model answers: no ioctl reaches the host
    assert sb.syscall("ioctl", fd, FIOCLEX, 0).ret == 0  # the guest's own descriptor flag
    failed(sb.syscall("ioctl", fd, 0x5401, bytearray(64)), "ENOTTY")  # TCGETS: asked of the host, not a tty


def test_a_denied_call_is_refused_with_its_errno_and_rule(arena):
    policy = policy_from_dict({"paths": {str(arena.granted): "ro"}, "syscalls": {"getrandom": "deny=ENOSYS", "uname": "deny"}})
    sb = arena.sandbox(policy=policy)
    refused(sb.syscall("getrandom", bytearray(8), 8, 0), "ENOSYS", 'syscalls.getrandom = "deny=ENOSYS"')
    refused(sb.syscall("uname", bytearray(400)), "EPERM", 'syscalls.uname = "deny=EPERM"')


@pytest.mark.parametrize("stream", ["stdin", "stdout", "stderr"])
def test_stdio_only_as_granted(arena, stream):
    policy = policy_from_dict({"paths": {str(arena.granted): "ro"}, "stdio": {stream: False}})
    sb = arena.sandbox(policy=policy)
    fd = ["stdin", "stdout", "stderr"].index(stream)
    failed(sb.syscall("fstat", fd, bytearray(256)), "EBADF")
    for other in {0, 1, 2} - {fd}:
        assert sb.syscall("fstat", other, bytearray(256)).ret == 0
