"""Test programs for the tracer: the same sequences of system calls on every arch.

    python3 tests/trace/programs/build.py      # rewrite NAME.ARCH.s and the NAME.ARCH executables

Each program is a list of calls with literal arguments, turned into assembly for each arch by
``sandbox.stubs.calls_program`` (so the x86_64 and aarch64 programs are twins) and wrapped in a
static ELF by ``sandbox.elfwriter``, so that native ``strace``, ``qemu-aarch64 -strace`` and the
sandbox can all run the very same file. Flag values come from the per-arch value tables
(``O_DIRECTORY`` is not the same number on x86_64 and aarch64).

The programs expect to run in a writable directory holding ``data.txt`` ("Hello world\\n") and
``sub/inner.txt``; file descriptors are predictable because Linux hands out the lowest free one.

A program of several processes (``tasks``) is a list of calls too, with markers between them
(:class:`Label`, :class:`IfChild`, :class:`IfArgs`, :class:`Return`) that become a branch or two
per arch, so that a clone's child, a program run again by execve and a signal handler each go
their own way. Each process's calls stay in a fixed order however the processes are scheduled:
the signals they send each other are blocked except in the call that waits for them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from kernel_model.constants import value_names  # noqa: E402
from sandbox.arch import Arch, get_arch  # noqa: E402
from sandbox.arch.syscalls import syscall_table  # noqa: E402
from sandbox.assembler import assemble  # noqa: E402
from sandbox.elfwriter import build_elf  # noqa: E402
from sandbox.stubs import Words, _Program, _show, calls_program  # noqa: E402

AT_FDCWD = -100
ARCHES = ("x86_64", "aarch64")
FIXED = 0x10000000  # an address no static program uses, for MAP_FIXED


class Values:
    """Per-arch constants by name: ``v("open_flags", "O_RDONLY|O_DIRECTORY")``."""

    def __init__(self, arch: Arch) -> None:
        self.arch = arch

    def __call__(self, table: str, text: str) -> int:
        return value_names(table, self.arch.name).parse(text)


Calls = list[tuple[str, tuple]]


# -- programs with more than one way through -----------------------------------------------------
# A program of several processes is still a list of calls, with a few markers between them:
# where a clone's child goes, what the program does when it runs again through execve, and a
# signal handler. Each marker becomes an instruction or two per arch (BRANCHES).


@dataclass(frozen=True)
class Label:
    """A place in the program: a child's first call, a handler."""

    name: str


@dataclass(frozen=True)
class IfChild:
    """Go to ``label`` when the call before returned 0: in the child of a clone, fork or vfork."""

    label: str


@dataclass(frozen=True)
class IfArgs:
    """Go to ``label`` when the program was started with ``count`` arguments (argv[0] included)."""

    count: int
    label: str


@dataclass(frozen=True)
class Return:
    """Return from a signal handler (to its sa_restorer)."""


@dataclass(frozen=True)
class CodeAddress:
    """A label's address as an item of :class:`Words` (a handler in a struct sigaction)."""

    label: str

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class Returned:
    """An argument: what the call before returned (``kill(getppid(), ...)``)."""


BRANCHES = {
    "x86_64": {IfChild: "test rax, rax\njz {label}", IfArgs: "cmp qword ptr [rsp], {count}\nje {label}",
               Return: "ret"},
    "aarch64": {IfChild: "cbz x0, {label}", IfArgs: "ldr x9, [sp]\ncmp x9, #{count}\nb.eq {label}",
                Return: "ret"},
}
Flow = list["tuple[str, tuple] | Label | IfChild | IfArgs | Return"]


class _FlowProgram(_Program):
    """sandbox.stubs' program with the markers above, and code addresses and results as arguments."""

    def place(self, label: str, value: bytes | bytearray | str | Words) -> None:
        if isinstance(value, Words) and any(isinstance(i, CodeAddress) for i in value.items):
            words = [i.label if isinstance(i, CodeAddress) else str(i & self.arch.word_mask) for i in value.items]
            directive = {8: ".quad", 4: ".long"}[self.arch.word_size]
            self.data.append(f".balign {self.arch.word_size}")
            self.data.append(f"{label}: {directive} {', '.join(words)}")
            return
        super().place(label, value)

    def call(self, index: int, name_or_number: str | int, args: tuple) -> tuple[str, int, dict[int, tuple[str, int]]]:
        regs, start = self.arch.arg_regs, len(self.code)
        returned = [i for i, a in enumerate(args) if isinstance(a, Returned)]
        result = super().call(index, name_or_number, [0 if i in returned else a for i, a in enumerate(args)])
        body = self.code[start + 1:]
        for i in returned:
            body.remove(self.arch.stub_immediate(regs[i], 0))  # type: ignore[misc]
        # the result is moved first, before the register it is in gets an argument of its own
        moves = [f"mov {regs[i]}, {self.arch.ret_reg}" for i in returned if regs[i] != self.arch.ret_reg]
        shown = ", ".join("<result>" if i in returned else _show(a) for i, a in enumerate(args))
        self.code[start:] = [self.comment(f"{result[0]}({shown})"), *moves, *body]
        return result


def flow_program(arch: Arch, flow: Flow, title: str) -> str:
    """Assembly for a list of calls and markers (see :class:`Label` and the others)."""
    prog = _FlowProgram(arch)
    prog.code.extend(prog.comment(line) for line in title.splitlines())
    prog.code.append("_start:")
    for index, item in enumerate(flow):
        if isinstance(item, Label):
            prog.code.append(f"{item.name}:")
        elif isinstance(item, tuple):
            prog.call(index + 1, item[0], item[1])
        else:
            prog.code.extend(BRANCHES[arch.name][type(item)].format(**item.__dict__).splitlines())
    return prog.text()


def files(v: Values) -> Calls:
    """Descriptors, reading, writing, fcntl/ioctl, directories."""
    o = lambda text: v("open_flags", text)  # noqa: E731
    binary = b'tab\there "quoted" back\\slash nul\0 del\x7f \xff\xfe oct\x019 \x012 cr\r ff\x0c vt\x0b end'
    return [
        ("openat", (AT_FDCWD, "data.txt", o("O_RDONLY"), 0)),
        ("read", (3, bytearray(64), 64)),
        ("read", (3, bytearray(64), 64)),
        ("lseek", (3, 0, v("whence", "SEEK_SET"))),
        ("lseek", (3, -1, v("whence", "SEEK_END"))),
        ("pread64", (3, bytearray(8), 8, 2)),
        ("lseek", (3, 0, v("whence", "SEEK_SET"))),
        ("readv", (3, Words(bytes(4), 4, bytes(8), 8), 2)),
        ("preadv", (3, Words(bytes(5), 5), 1, 6)),
        ("fstat", (3, bytearray(256))),
        ("newfstatat", (AT_FDCWD, "data.txt", bytearray(256), 0)),
        ("newfstatat", (AT_FDCWD, "sub", bytearray(256), v("at_flags", "AT_SYMLINK_NOFOLLOW"))),
        ("newfstatat", (3, "", bytearray(256), v("at_flags", "AT_EMPTY_PATH"))),
        ("newfstatat", (AT_FDCWD, "/dev/null", bytearray(256), 0)),
        ("fcntl", (3, v("fcntl_cmd", "F_GETFL"), 0)),
        ("fcntl", (3, v("fcntl_cmd", "F_GETFD"), 0)),
        ("fcntl", (3, v("fcntl_cmd", "F_SETFD"), v("fd_flags", "FD_CLOEXEC"))),
        ("fcntl", (3, v("fcntl_cmd", "F_GETFD"), 0)),
        ("fcntl", (3, v("fcntl_cmd", "F_SETFL"), o("O_NONBLOCK"))),
        ("fcntl", (3, v("fcntl_cmd", "F_GETFL"), 0)),
        ("fcntl", (3, v("fcntl_cmd", "F_DUPFD"), 10)),
        ("fcntl", (3, v("fcntl_cmd", "F_DUPFD_CLOEXEC"), 0)),
        ("ioctl", (3, v("ioctl_request", "FIONREAD"), bytearray(4))),
        ("ioctl", (3, v("ioctl_request", "FIOCLEX"), 0)),
        ("ioctl", (3, v("ioctl_request", "FIONCLEX"), 0)),
        ("ioctl", (3, v("ioctl_request", "FIONBIO"), b"\1\0\0\0")),
        ("ioctl", (3, v("ioctl_request", "TCGETS"), bytearray(64))),
        ("ioctl", (3, v("ioctl_request", "TIOCGWINSZ"), bytearray(8))),
        ("ioctl", (3, 0x1234, 0)),
        ("dup", (3,)),
        ("dup3", (3, 7, o("O_CLOEXEC"))),
        ("close", (7,)),
        ("close", (5,)),
        ("close", (10,)),
        ("close", (4,)),
        ("close", (3,)),
        ("close", (3,)),
        ("openat", (AT_FDCWD, "out.tmp", o("O_RDWR|O_CREAT|O_TRUNC"), 0o644)),
        ("write", (3, binary, len(binary))),
        ("writev", (3, Words(b"hello ", 6, b"world\n", 6), 2)),
        ("pwrite64", (3, b"abc", 3, 100)),
        ("pwritev", (3, Words(b"zz", 2), 1, 7)),
        ("ftruncate", (3, 50)),
        ("fsync", (3,)),
        ("fdatasync", (3,)),
        ("lseek", (3, 0, v("whence", "SEEK_SET"))),
        ("read", (3, bytearray(64), 64)),
        ("close", (3,)),
        ("unlinkat", (AT_FDCWD, "out.tmp", 0)),
        ("openat", (AT_FDCWD, "sub", o("O_RDONLY|O_DIRECTORY|O_CLOEXEC"), 0)),
        ("getdents64", (3, bytearray(4096), 4096)),
        ("getdents64", (3, bytearray(4096), 4096)),
        ("fchdir", (3,)),
        ("getcwd", (bytearray(4096), 4096)),
        ("chdir", ("..",)),
        ("close", (3,)),
        ("openat", (AT_FDCWD, "missing", o("O_RDONLY"), 0)),
        ("openat", (AT_FDCWD, "sub", o("O_WRONLY"), 0)),
        ("openat", (AT_FDCWD, "data.txt", o("O_RDONLY|O_DIRECTORY"), 0)),
        ("exit_group", (0,)),
    ]


def paths(v: Values) -> Calls:
    """Names: directories, links, renames, access checks, the umask."""
    at = lambda text: v("at_flags", text)  # noqa: E731
    return [
        ("umask", (0o022,)),
        ("umask", (0o077,)),
        ("umask", (0o022,)),
        ("mkdirat", (AT_FDCWD, "d.tmp", 0o755)),
        ("mkdirat", (AT_FDCWD, "d.tmp", 0o755)),
        ("symlinkat", ("../data.txt", AT_FDCWD, "d.tmp/link")),
        ("readlinkat", (AT_FDCWD, "d.tmp/link", bytearray(64), 64)),
        ("readlinkat", (AT_FDCWD, "d.tmp/link", bytearray(4), 4)),
        ("readlinkat", (AT_FDCWD, "data.txt", bytearray(64), 64)),
        ("linkat", (AT_FDCWD, "data.txt", AT_FDCWD, "d.tmp/hard", 0)),
        ("renameat", (AT_FDCWD, "d.tmp/hard", AT_FDCWD, "d.tmp/hard2")),
        ("renameat2", (AT_FDCWD, "d.tmp/hard2", AT_FDCWD, "d.tmp/link", v("rename_flags", "RENAME_NOREPLACE"))),
        ("renameat2", (AT_FDCWD, "d.tmp/hard2", AT_FDCWD, "d.tmp/hard3", v("rename_flags", "RENAME_NOREPLACE"))),
        ("faccessat", (AT_FDCWD, "data.txt", v("access_mode", "R_OK"))),
        ("faccessat", (AT_FDCWD, "data.txt", v("access_mode", "X_OK"))),
        ("faccessat2", (AT_FDCWD, "d.tmp/link", v("access_mode", "F_OK"), v("faccessat_flags", "AT_SYMLINK_NOFOLLOW"))),
        ("faccessat2", (AT_FDCWD, "missing", v("access_mode", "F_OK"), v("faccessat_flags", "AT_EACCESS"))),
        ("newfstatat", (AT_FDCWD, "d.tmp/link", bytearray(256), at("AT_SYMLINK_NOFOLLOW"))),
        ("newfstatat", (AT_FDCWD, "d.tmp/link", bytearray(256), 0)),
        ("unlinkat", (AT_FDCWD, "d.tmp", at("AT_REMOVEDIR"))),
        ("unlinkat", (AT_FDCWD, "d.tmp/link", 0)),
        ("unlinkat", (AT_FDCWD, "d.tmp/hard3", 0)),
        ("unlinkat", (AT_FDCWD, "d.tmp", at("AT_REMOVEDIR"))),
        ("unlinkat", (AT_FDCWD, "d.tmp", at("AT_REMOVEDIR"))),
        ("exit_group", (0,)),
    ]


def memory(v: Values) -> Calls:
    """The address space: brk, anonymous and file mappings, protection, advice."""
    prot = lambda text: v("prot", text)  # noqa: E731
    mapf = lambda text: v("map_flags", text)  # noqa: E731
    return [
        ("brk", (0,)),
        ("mmap", (0, 65536, prot("PROT_READ|PROT_WRITE"), mapf("MAP_PRIVATE|MAP_ANONYMOUS"), -1, 0)),
        ("mmap", (FIXED, 8192, prot("PROT_READ|PROT_WRITE"), mapf("MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS"), -1, 0)),
        ("mprotect", (FIXED, 4096, prot("PROT_READ"))),
        ("mprotect", (FIXED, 4096, prot("PROT_NONE"))),
        ("madvise", (FIXED, 8192, v("madvise", "MADV_DONTNEED"))),
        ("munmap", (FIXED, 8192)),
        ("openat", (AT_FDCWD, "data.txt", v("open_flags", "O_RDONLY"), 0)),
        ("mmap", (0, 4096, prot("PROT_READ"), mapf("MAP_PRIVATE"), 3, 0)),
        ("mmap", (0, 4096, prot("PROT_READ"), mapf("MAP_PRIVATE"), 3, 4095)),
        ("close", (3,)),
        ("mmap", (0, 0, prot("PROT_READ"), mapf("MAP_PRIVATE|MAP_ANONYMOUS"), -1, 0)),
        ("mmap", (0, 4096, prot("PROT_READ"), mapf("MAP_ANONYMOUS"), -1, 0)),
        ("munmap", (FIXED + 1, 4096)),
        ("exit_group", (0,)),
    ]


def process(v: Values) -> Calls:
    """Identity, the clocks, sleeping, randomness."""
    clock = lambda text: v("clockid", text)  # noqa: E731
    return [
        ("getpid", ()), ("gettid", ()), ("getppid", ()),
        ("getuid", ()), ("geteuid", ()), ("getgid", ()), ("getegid", ()),
        ("uname", (bytearray(390),)),
        ("getrandom", (bytearray(16), 16, 0)),
        ("getrandom", (bytearray(8), 8, v("getrandom_flags", "GRND_NONBLOCK"))),
        ("clock_gettime", (clock("CLOCK_REALTIME"), bytearray(16))),
        ("clock_gettime", (clock("CLOCK_MONOTONIC"), bytearray(16))),
        ("clock_gettime", (clock("CLOCK_BOOTTIME"), bytearray(16))),
        ("clock_gettime", (12345, bytearray(16))),
        ("clock_getres", (clock("CLOCK_MONOTONIC"), bytearray(16))),
        ("clock_getres", (clock("CLOCK_REALTIME"), 0)),
        ("gettimeofday", (bytearray(16), 0)),
        ("gettimeofday", (bytearray(16), bytearray(8))),
        ("nanosleep", (Words(0, 1000), 0)),
        ("nanosleep", (Words(0, 1000), bytearray(16))),
        ("nanosleep", (Words(0, 2_000_000_000), 0)),
        ("clock_nanosleep", (clock("CLOCK_MONOTONIC"), 0, Words(0, 1000), 0)),
        ("times", (bytearray(32),)),
        ("times", (0,)),
        ("exit_group", (7,)),
    ]


def errors(v: Values) -> Calls:
    """Calls that fail: bad descriptors and addresses, bad arguments; then exit (not exit_group)."""
    return [
        ("write", (1, 0x10, 1)),
        ("write", (42, b"lost\n", 5)),
        ("read", (42, 0x10, 1)),
        ("openat", (AT_FDCWD, 0x10, v("open_flags", "O_RDONLY"), 0)),
        ("close", (-1,)),
        ("dup3", (1, 1, 0)),
        ("fstat", (42, bytearray(256))),
        ("newfstatat", (AT_FDCWD, "", bytearray(256), 0)),
        ("getcwd", (bytearray(1), 1)),
        ("lseek", (42, 0, 0)),
        ("exit", (3,)),
    ]


def misc(v: Values) -> Calls:
    """Permissions, times, limits, scheduling, process groups, signals, futexes, pipes and polls."""
    o = lambda text: v("open_flags", text)  # noqa: E731
    sig = lambda name: v("signal", name)  # noqa: E731
    word = Words(0)
    ignore = Words(1, 0, 0, 0)  # struct sigaction: SIG_IGN, no flags, no restorer, empty mask
    return [
        ("openat", (AT_FDCWD, "f.tmp", o("O_RDWR|O_CREAT|O_TRUNC"), 0o600)),
        ("fchmod", (3, 0o640)),
        ("fchmodat", (AT_FDCWD, "f.tmp", 0o604)),
        ("fchown", (3, -1, -1)),
        ("fchownat", (AT_FDCWD, "f.tmp", -1, -1, v("at_flags", "AT_SYMLINK_NOFOLLOW"))),
        ("utimensat", (AT_FDCWD, "f.tmp", Words(1_000_000_000, 5, 1_000_000_100, 7), 0)),
        ("truncate", ("f.tmp", 100)),
        ("fstatfs", (3, bytearray(120))),
        ("statfs", ("f.tmp", bytearray(120))),
        ("statx", (AT_FDCWD, "f.tmp", 0, v("statx_mask", "STATX_TYPE|STATX_MODE|STATX_SIZE"), bytearray(256))),
        ("pipe2", (bytearray(8), o("O_CLOEXEC"))),
        ("write", (5, b"x", 1)),
        ("ppoll", (Words(4 | (1 << 32), 5 | (4 << 32)), 2, Words(0, 0), 0, 8)),
        ("sendfile", (5, 3, Words(0), 10)),
        ("pselect6", (0, 0, 0, 0, Words(0, 0), 0)),
        ("close", (5,)), ("close", (4,)),
        ("getpgid", (0,)), ("getsid", (0,)), ("setpgid", (0, 0)), ("setsid", ()),
        ("getpriority", (v("which_prio", "PRIO_PROCESS"), 0)),
        ("setpriority", (v("which_prio", "PRIO_PROCESS"), 0, 0)),  # the nice value it has: allowed
        # an interval timer far ahead, then disarmed: no SIGALRM comes
        ("setitimer", (v("itimer_which", "ITIMER_REAL"), Words(0, 0, 100, 0), bytearray(32))),
        ("getitimer", (v("itimer_which", "ITIMER_REAL"), bytearray(32))),
        ("setitimer", (v("itimer_which", "ITIMER_REAL"), Words(0, 0, 0, 0), 0)),
        ("getgroups", (0, 0)),
        ("setgroups", (-1, 0)),
        ("prlimit64", (0, v("rlimit_resource", "RLIMIT_NOFILE"), 0, bytearray(16))),
        ("getrlimit", (v("rlimit_resource", "RLIMIT_NOFILE"), bytearray(16))),
        ("setrlimit", (v("rlimit_resource", "RLIMIT_NOFILE"), Words(1024, 1024))),
        ("getrusage", (v("rusage_who", "RUSAGE_SELF"), bytearray(144))),
        ("sched_getscheduler", (0,)),
        ("sched_getparam", (0, bytearray(4))),
        ("sched_setaffinity", (0, 8, Words(1))),
        ("sched_getaffinity", (0, 128, bytearray(128))),
        ("sched_yield", ()),
        ("getcpu", (bytearray(4), bytearray(4), 0)),
        ("sysinfo", (bytearray(112),)),
        ("prctl", (v("prctl_option", "PR_GET_DUMPABLE"), 0, 0, 0, 0)),
        ("prctl", (v("prctl_option", "PR_SET_NAME"), b"traced-by-test", 0, 0, 0)),
        ("prctl", (v("prctl_option", "PR_GET_NAME"), bytearray(16), 0, 0, 0)),
        ("set_tid_address", (word,)),
        ("rseq", (Words(0, 0, 0, 0), 32, 0, 0x53053053)),
        ("set_robust_list", (Words(0, 0, 0), 24)),
        ("get_robust_list", (0, bytearray(8), bytearray(8))),
        ("futex", (word, v("futex_cmd", "FUTEX_WAKE_PRIVATE"), 1, 0, 0, 0)),
        ("futex", (word, v("futex_cmd", "FUTEX_WAIT_PRIVATE"), 1, Words(0, 0), 0, 0)),
        ("rt_sigaction", (sig("SIGUSR1"), ignore, 0, 8)),
        ("rt_sigaction", (sig("SIGUSR1"), 0, bytearray(32), 8)),
        ("rt_sigprocmask", (v("sig_how", "SIG_BLOCK"), Words(1 << (sig("SIGUSR2") - 1)), bytearray(8), 8)),
        ("kill", (0, sig("SIGUSR1"))),
        ("tgkill", (0, 0, 0)),
        ("tkill", (0, 0)),
        ("rt_sigpending", (bytearray(8), 8)),
        ("sigaltstack", (0, bytearray(24))),
        ("wait4", (-1, bytearray(4), 0, 0)),
        ("waitid", (v("idtype", "P_ALL"), 0, bytearray(128), v("wait_options", "WEXITED"), 0)),
        ("unlinkat", (AT_FDCWD, "f.tmp", 0)),
        ("exit_group", (0,)),
    ]


def legacy(v: Values) -> Calls:
    """The x86_64 calls that the generic table replaced with *at forms."""
    o = lambda text: v("open_flags", text)  # noqa: E731
    return [
        ("open", ("data.txt", o("O_RDONLY"), 0)),
        ("alarm", (100,)), ("alarm", (0,)),  # setitimer's older form, far ahead, then disarmed
        ("dup2", (3, 9)),
        ("creat", ("new.tmp", 0o600)),
        ("stat", ("data.txt", bytearray(256))),
        ("lstat", ("sub", bytearray(256))),
        ("access", ("data.txt", v("access_mode", "R_OK|W_OK"))),
        ("access", ("missing", v("access_mode", "F_OK"))),
        ("mkdir", ("dir.tmp", 0o700)),
        ("symlink", ("data.txt", "dir.tmp/link")),
        ("readlink", ("dir.tmp/link", bytearray(64), 64)),
        ("link", ("new.tmp", "dir.tmp/hard")),
        ("rename", ("dir.tmp/hard", "dir.tmp/hard2")),
        ("unlink", ("dir.tmp/hard2",)),
        ("unlink", ("dir.tmp/link",)),
        ("unlink", ("new.tmp",)),
        ("rmdir", ("dir.tmp",)),
        ("rmdir", ("dir.tmp",)),
        ("time", (0,)),
        ("time", (bytearray(8),)),
        ("chmod", ("data.txt", 0o644)),
        ("chown", ("data.txt", -1, -1)),
        ("lchown", ("data.txt", -1, -1)),
        ("utime", ("data.txt", Words(1_000_000_000, 1_000_000_000))),
        ("utimes", ("data.txt", Words(1_000_000_000, 0, 1_000_000_000, 0))),
        ("futimesat", (AT_FDCWD, "data.txt", 0)),
        ("open", ("sub", o("O_RDONLY|O_DIRECTORY"), 0)),
        ("getdents", (4, bytearray(4096), 4096)),
        ("getpgrp", ()),
        ("pipe", (bytearray(8),)),
        ("poll", (Words(5 | (1 << 32)), 1, 0)),
        ("select", (0, 0, 0, 0, Words(0, 0))),
        ("exit_group", (0,)),
    ]


def tasks(v: Values) -> Flow:
    """Processes: clone as fork and as vfork, execveat and execve, wait4, signal waits, clone3."""
    sig = lambda name: v("signal", name)  # noqa: E731
    mask = lambda *names: Words(sum(1 << (sig(n) - 1) for n in names))  # noqa: E731
    flags = lambda text: v("clone_flags", text) | sig("SIGCHLD")  # noqa: E731

    def clone(f: int, tid: int | Words = 0) -> tuple[str, tuple]:
        # the child's tid pointer is clone's 4th argument on x86_64 and its 5th elsewhere
        return "clone", (f, 0, 0, tid, 0) if v.arch.name == "x86_64" else (f, 0, 0, 0, tid)

    handler = Words(CodeAddress("handler"), v("sa_flags", "SA_RESTORER"), CodeAddress("restorer"), 0)
    no_env = Words(0)
    return [
        IfArgs(2, "again"),
        # SIGCHLD and SIGUSR1 are blocked but where a call waits for them: they come when the
        # program asks, whatever the order the processes run in.
        ("rt_sigprocmask", (v("sig_how", "SIG_BLOCK"), mask("SIGCHLD", "SIGUSR1"), 0, 8)),
        ("rt_sigaction", (sig("SIGCHLD"), handler, 0, 8)),
        ("rt_sigaction", (sig("SIGUSR1"), handler, 0, 8)),
        # a child as glibc's fork makes one; it exits 3, and its SIGCHLD reaches the handler
        clone(flags("CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID"), Words(0)),
        IfChild("first"),
        ("wait4", (-1, bytearray(4), 0, 0)),
        ("rt_sigsuspend", (mask(), 8)),
        # a child as vfork makes one: it runs this program again, which sends SIGUSR1 and exits 5
        clone(flags("CLONE_VM|CLONE_VFORK")),
        IfChild("second"),
        ("rt_sigsuspend", (mask("SIGCHLD"), 8)),
        ("wait4", (-1, bytearray(4), 0, 0)),
        ("rt_sigtimedwait", (mask("SIGCHLD"), bytearray(128), 0, 8)),
        ("rt_sigtimedwait", (mask("SIGCHLD"), 0, Words(0, 0), 8)),
        # clone3's child ends with exit (not exit_group); its SIGCHLD is taken by sigtimedwait
        # (last, and waiting for nothing: qemu-user 7.2 has no clone3)
        ("clone3", (Words(0, 0, 0, 0, sig("SIGCHLD"), 0, 0, 0), 64)),
        IfChild("third"),
        ("wait4", (-1, 0, 0, 0)),
        ("rt_sigtimedwait", (mask("SIGCHLD"), bytearray(128), Words(0, 0), 8)),
        ("exit_group", (0,)),
        Label("first"),
        ("exit_group", (3,)),
        Label("second"),
        ("execveat", (AT_FDCWD, "sub", Words(b"tasks", 0), no_env, 0)),
        ("execve", ("/proc/self/exe", Words(b"tasks", b"again", 0), no_env)),
        # where execve failed (qemu-user's), the child goes on as the new program would
        Label("again"),
        ("getppid", ()),
        ("kill", (Returned(), sig("SIGUSR1"))),
        ("exit_group", (5,)),
        Label("third"),
        ("exit", (7,)),
        Label("handler"),
        Return(),
        Label("restorer"),
        ("rt_sigreturn", ()),
    ]


def legacy_tasks(v: Values) -> Flow:
    """The x86_64 calls for processes that clone and rt_sigsuspend replaced: fork, vfork, pause."""
    sig = lambda name: v("signal", name)  # noqa: E731
    handler = Words(CodeAddress("handler"), v("sa_flags", "SA_RESTORER"), CodeAddress("restorer"), 0)
    return [
        ("rt_sigprocmask", (v("sig_how", "SIG_BLOCK"), Words(1 << (sig("SIGCHLD") - 1)), 0, 8)),
        ("rt_sigaction", (sig("SIGUSR1"), handler, 0, 8)),
        ("fork", ()),
        IfChild("forked"),
        ("wait4", (-1, bytearray(4), 0, 0)),
        ("vfork", ()),
        IfChild("vforked"),
        ("wait4", (-1, bytearray(4), 0, 0)),
        # pause ends with the SIGUSR1 a child sends once it has slept long enough for its parent
        # to be in pause (a tenth of a second; there is no way to wait for that without polling)
        ("fork", ()),
        IfChild("signaller"),
        ("pause", ()),
        ("wait4", (-1, 0, 0, 0)),
        ("exit_group", (0,)),
        Label("forked"),
        ("exit_group", (4,)),
        Label("vforked"),
        ("execve", ("missing", Words(b"missing", 0), Words(0))),
        ("exit", (6,)),
        Label("signaller"),
        ("nanosleep", (Words(0, 100_000_000), 0)),
        ("getppid", ()),
        ("kill", (Returned(), sig("SIGUSR1"))),
        ("exit_group", (0,)),
        Label("handler"),
        Return(),
        Label("restorer"),
        ("rt_sigreturn", ()),
    ]


# Programs that end by a fault rather than a call: a write, then a load from address 0x10.
CRASH = {
    "x86_64": "mov eax, 1; mov edi, 1; lea rsi, [rip + msg]; mov edx, 6; syscall; mov rax, qword ptr [0x10]\n"
              'msg: .ascii "crash\\n"',
    "aarch64": "mov x8, #64; mov x0, #1; adr x1, msg; mov x2, #6; svc #0; mov x0, #16; ldr x1, [x0]\n"
               'msg: .ascii "crash\\n"',
}


@dataclass(frozen=True)
class Program:
    """A test program: its calls (or, for one that ends by a fault, its source per arch)."""

    name: str
    calls: Callable[[Values], Calls] = lambda v: []
    arches: tuple[str, ...] = ARCHES
    raw: dict[str, str] = field(default_factory=dict)
    flow: Callable[[Values], Flow] | None = None  # calls with branches, instead of ``calls``

    def source(self, arch: Arch) -> str:
        """The assembly for ``arch``."""
        if self.raw:
            return f"// {self.name}: a write, then a load from an unmapped address (SIGSEGV).\n{self.raw[arch.name]}\n"
        doc = (self.flow or self.calls).__doc__
        title = f"{self.name}: {doc}\nGenerated by tests/trace/programs/build.py; do not edit."
        if self.flow is not None:
            return flow_program(arch, self.flow(Values(arch)), title)
        return calls_program(arch, self.calls(Values(arch)), title=title)

    def call_names(self, arch: Arch) -> list[str]:
        """The calls the program's text makes, in the order they are written."""
        items = self.flow(Values(arch)) if self.flow is not None else self.calls(Values(arch))
        return [item[0] for item in items if isinstance(item, tuple)]


PROGRAMS = [
    Program("files", files),
    Program("paths", paths),
    Program("memory", memory),
    Program("process", process),
    Program("errors", errors),
    Program("misc", misc),
    Program("legacy", legacy, arches=("x86_64",)),
    Program("crash", raw=CRASH),
    Program("tasks", flow=tasks),
    Program("legacy-tasks", flow=legacy_tasks, arches=("x86_64",)),
]


def build() -> list[Path]:
    """Write every program's source and executable for each of its arches; return the files."""
    written = []
    for prog in PROGRAMS:
        for name in prog.arches:
            arch = get_arch(name)
            missing = [c for c in prog.call_names(arch) if syscall_table(arch).number(c) is None]
            if missing:
                raise SystemExit(f"{prog.name}: {name} has no {', '.join(missing)}")
            text = prog.source(arch)
            src = HERE / f"{prog.name}.{name}.s"
            src.write_text(text)
            exe = HERE / f"{prog.name}.{name}"
            exe.write_bytes(build_elf(arch, assemble(arch, text)))
            os.chmod(exe, 0o755)
            written += [src, exe]
    return written


if __name__ == "__main__":
    for path in build():
        print(path.relative_to(HERE.parents[2]))
