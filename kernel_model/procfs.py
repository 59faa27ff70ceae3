"""A small ``/proc`` for the one guest process, generated from the kernel model's own state.

``/proc/self`` is a link to ``/proc/<pid>``, which holds ``exe`` (a magic link to the
program: opening it opens the program even when its path is not in the guest's view, as on
Linux), ``cwd``, ``root``, ``fd/`` (magic links to the open files), ``maps`` (rendered from
the kernel's VMAs), ``cmdline`` and ``environ`` (read from the guest's stack, as Linux reads
them), ``comm``, ``stat``, ``status`` and ``mounts``. At the top are ``mounts``, ``meminfo``,
``uptime`` and ``version``. Every file is generated when it is opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from kernel_model.abi import O_ACCMODE, O_RDONLY, O_WRONLY
from kernel_model.filesystems import PROC_SUPER_MAGIC, ST_NODEV, ST_NOEXEC, ST_NOSUID, ST_VALID, Filesystem, FsStats, wants_write, Node
from kernel_model.fsnodes import S_IFDIR, S_IFLNK, S_IFREG, BytesHandle, DirEntry, Handle, StatInfo, dtype_of, makedev, now_ns
from kernel_model.linux_errno import Errno
from kernel_model.seam import KernelError

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel

Rel = tuple[str, ...]
PROC_DEV = makedev(0, 22)
TASK_COMM_LEN = 16


@dataclass
class Executable:
    """The program the process runs, for ``/proc/self/exe``: its path and how to open it."""

    path: str  # the path /proc/self/exe names (the guest's view when the file is in it)
    open: Callable[[], Handle]
    stat: Callable[[], StatInfo]
    name: str = ""  # comm: the base name of the path it was started by


def comm_of(k: "Kernel") -> str:
    """The process's name as /proc and prctl(PR_GET_NAME) show it (at most 15 bytes)."""
    exe = k.executable
    name = k.thread.comm if k.thread.comm is not None else (exe.name if exe else "")
    return name.encode("utf-8", "surrogateescape")[: TASK_COMM_LEN - 1].decode("utf-8", "surrogateescape")


class BorrowedHandle(Handle):
    """Another open file's handle, reached again through ``/proc/self/fd/N``.

    The original owns it: closing this one leaves it open.
    """

    def __init__(self, inner: Handle) -> None:
        self._inner = inner
        self.seekable = inner.seekable
        self.is_tty = inner.is_tty
        self.is_directory = inner.is_directory
        self.may_block = inner.may_block

    def pread(self, size: int, offset: int) -> bytes:
        return self._inner.pread(size, offset)

    def pwrite(self, data: bytes, offset: int) -> int:
        return self._inner.pwrite(data, offset)

    def stat(self) -> StatInfo:
        return self._inner.stat()

    def truncate(self, length: int) -> None:
        self._inner.truncate(length)

    def listdir(self) -> list[DirEntry]:
        return self._inner.listdir()

    def sync(self) -> None:
        self._inner.sync()

    def host_fd(self) -> int | None:
        return self._inner.host_fd()

    def poll(self) -> int:
        return self._inner.poll()

    def wait_fd(self) -> int | None:
        return self._inner.wait_fd()

    def bytes_available(self) -> int | None:
        return self._inner.bytes_available()

    def proc_name(self) -> str | None:
        return self._inner.proc_name()


class _Listing(Handle):
    """A /proc directory, listed when it is read (so /proc/self/fd shows the fd reading it)."""

    is_directory = True

    def __init__(self, st: StatInfo, entries: Callable[[], list[DirEntry]]) -> None:
        self._st = st
        self._entries = entries

    def pread(self, size: int, offset: int) -> bytes:
        raise KernelError(Errno.EISDIR)

    def stat(self) -> StatInfo:
        return self._st

    def listdir(self) -> list[DirEntry]:
        return self._entries()


_PID_FILES = ("cmdline", "comm", "environ", "maps", "mounts", "stat", "status")
_PID_LINKS = ("cwd", "exe", "root")
_TOP_FILES = ("meminfo", "uptime", "version")


class ProcFilesystem(Filesystem):
    """``/proc`` for the process of ``kernel``.

    Like Linux's, it is not a read-only mount: its files refuse writing by their permissions.
    """

    read_only = False

    def __init__(self, kernel: "Kernel") -> None:
        self._k = kernel
        self.dev = PROC_DEV
        self._born = now_ns()

    @property
    def _pid(self) -> str:
        return str(self._k.identity.pid)

    # -- the tree --------------------------------------------------------------------------

    def _kind(self, rel: Rel) -> str:
        """What ``rel`` is: "root", "pid", "fd", "fdlink", "file", "link" (ENOENT otherwise)."""
        if not rel:
            return "root"
        head = rel[0]
        if len(rel) == 1:
            if head in ("self", "mounts"):
                return "link"
            if head in _TOP_FILES:
                return "file"
            if head == self._pid:
                return "pid"
        elif head == self._pid:
            if len(rel) == 2:
                if rel[1] in _PID_FILES:
                    return "file"
                if rel[1] in _PID_LINKS:
                    return "link"
                if rel[1] == "fd":
                    return "fd"
            elif len(rel) == 3 and rel[1] == "fd" and rel[2].isdigit() and int(rel[2]) in self._k.fds:
                return "fdlink"
        raise KernelError(Errno.ENOENT)

    def _stat(self, mode: int, rel: Rel, size: int = 0) -> StatInfo:
        ident = self._k.identity
        ino = (hash(rel) & 0xFFFFFFF) | 0x10000000
        return StatInfo(
            mode=mode, ino=ino, dev=self.dev, nlink=2 if mode & S_IFDIR == S_IFDIR else 1,
            uid=ident.effective_uid, gid=ident.effective_gid,
            size=size, blksize=1024, atime_ns=self._born, mtime_ns=self._born, ctime_ns=self._born,
        )

    def lstat(self, rel: Rel) -> StatInfo:
        kind = self._kind(rel)
        if kind in ("root", "pid", "fd"):
            return self._stat(S_IFDIR | 0o555, rel)
        if kind == "file":
            return self._stat(S_IFREG | 0o444, rel)
        if kind == "fdlink":
            of = self._k.fds.get(int(rel[2]))
            bits = {O_RDONLY: 0o500, O_WRONLY: 0o300}.get(of.flags & O_ACCMODE, 0o700)
            return self._stat(S_IFLNK | bits, rel, 64)
        return self._stat(S_IFLNK | 0o777, rel, len(self.readlink(rel)))

    def readlink(self, rel: Rel, at: "Node | None" = None) -> bytes:
        kind = self._kind(rel)
        if kind == "fdlink":
            of = self._k.fds.get(int(rel[2]))
            return os.fsencode(of.handle.proc_name() or of.path)
        if kind != "link":
            raise KernelError(Errno.EINVAL)
        name = rel[-1]
        if name == "self":
            return self._pid.encode()
        if name == "mounts":
            return b"self/mounts"
        if name == "root":
            return b"/"
        if name == "cwd":
            return os.fsencode("/" + "/".join(self._k.cwd))
        exe = self._k.executable
        if exe is None:
            raise KernelError(Errno.ENOENT)
        return os.fsencode(exe.path)

    def magic_link(self, rel: Rel) -> StatInfo | None:
        try:
            kind = self._kind(rel)
        except KernelError:
            return None
        if kind == "fdlink":
            return self._k.fds.get(int(rel[2])).handle.stat()
        if kind == "link" and rel[-1] == "exe" and self._k.executable is not None:
            return self._k.executable.stat()
        return None

    def open_magic(self, rel: Rel, flags: int) -> Handle:
        kind = self._kind(rel)
        if kind == "fdlink":
            return BorrowedHandle(self._k.fds.get(int(rel[2])).handle)
        exe = self._k.executable
        if exe is None:
            raise KernelError(Errno.ENOENT)
        if wants_write(flags):
            raise KernelError(Errno.ETXTBSY)  # the running program cannot be opened for writing
        return exe.open()

    def open(self, rel: Rel, flags: int, mode: int, exists: bool, at: "Node | None" = None) -> Handle:
        if not exists:
            raise KernelError(Errno.EACCES)
        kind = self._kind(rel)
        if wants_write(flags):
            raise KernelError(Errno.EACCES)
        if kind in ("root", "pid", "fd"):
            return _Listing(self.lstat(rel), lambda: self._listing(rel, kind))
        # Generated once, at open, then read like a file (as Linux's seq files mostly are).
        return BytesHandle(self._generate(rel[-1]), self.lstat(rel))

    def statfs(self) -> FsStats:
        return FsStats(PROC_SUPER_MAGIC, bsize=4096, flags=ST_VALID | ST_NOSUID | ST_NODEV | ST_NOEXEC)

    def _listing(self, rel: Rel, kind: str) -> list[DirEntry]:
        if kind == "root":
            names = [(n, S_IFLNK if n in ("self", "mounts") else S_IFREG) for n in ("mounts", "self", *_TOP_FILES)]
            names.append((self._pid, S_IFDIR))
        elif kind == "pid":
            names = [(n, S_IFREG) for n in _PID_FILES] + [(n, S_IFLNK) for n in _PID_LINKS] + [("fd", S_IFDIR)]
        else:
            names = [(str(fd), S_IFLNK) for fd, _ in self._k.fds.items()]
        return [DirEntry(n, self._stat(m, rel + (n,)).ino, dtype_of(m)) for n, m in sorted(names)]

    # -- the generated files ---------------------------------------------------------------

    def _generate(self, name: str) -> bytes:
        return getattr(self, "_file_" + name)()

    def _file_maps(self) -> bytes:
        return "".join(v.maps_line() + "\n" for v in self._k.mm.vmas).encode()

    def _user_range(self, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        try:
            return self._k.memory.read(start, end - start)
        except Exception:  # noqa: BLE001 - the guest unmapped its own stack: Linux reads nothing
            return b""

    def _file_cmdline(self) -> bytes:
        mm = self._k.mm
        return self._user_range(mm.arg_start, mm.arg_end)

    def _file_environ(self) -> bytes:
        mm = self._k.mm
        return self._user_range(mm.env_start, mm.env_end)

    def _comm(self) -> str:
        return comm_of(self._k)

    def _file_comm(self) -> bytes:
        return (self._comm() + "\n").encode()

    def _file_stat(self) -> bytes:
        k = self._k
        pid, ppid = k.identity.pid, k.identity.ppid
        vsize = k.mm.mapped_bytes
        fields = [pid, f"({self._comm()})", "R", ppid, pid, pid, 0, -1, 0x400000] + [0] * 10
        fields += [1, 0, 0, vsize, vsize // 4096, (1 << 64) - 1] + [0] * 30
        return (" ".join(str(f) for f in fields[:52]) + "\n").encode()

    def _file_status(self) -> bytes:
        k = self._k
        ident = k.identity
        sig = k.signals
        ignored = sum(1 << (n - 1) for n, a in sig.actions.items() if a.handler == 1)
        caught = sum(1 << (n - 1) for n, a in sig.actions.items() if a.handler > 1)
        uid, gid = ident.uid, ident.gid
        vm_kb = k.mm.mapped_bytes // 1024
        lines = [
            f"Name:\t{self._comm()}", f"Umask:\t{k.umask:04o}", "State:\tR (running)", f"Tgid:\t{ident.pid}",
            "Ngid:\t0", f"Pid:\t{ident.pid}", f"PPid:\t{ident.ppid}", "TracerPid:\t0",
            f"Uid:\t{uid}\t{ident.effective_uid}\t{ident.effective_uid}\t{ident.effective_uid}",
            f"Gid:\t{gid}\t{ident.effective_gid}\t{ident.effective_gid}\t{ident.effective_gid}",
            f"FDSize:\t{max(64, 1 << max((fd for fd, _ in k.fds.items()), default=0).bit_length())}",
            "Groups:\t" + " ".join(str(g) for g in ident.groups), f"VmSize:\t{vm_kb:8d} kB",
            f"VmRSS:\t{vm_kb:8d} kB", "Threads:\t1", f"SigPnd:\t{0:016x}", f"ShdPnd:\t{sig.pending:016x}",
            f"SigBlk:\t{sig.blocked:016x}", f"SigIgn:\t{ignored:016x}", f"SigCgt:\t{caught:016x}",
            "Cpus_allowed_list:\t0" + (f"-{k.config.cpus - 1}" if k.config.cpus > 1 else ""),
        ]
        return ("\n".join(lines) + "\n").encode()

    def _file_mounts(self) -> bytes:
        lines = []
        for guest, fs in self._k.ns.mounts():
            kind = {PROC_SUPER_MAGIC: "proc", 0x01021994: "tmpfs"}.get(fs.statfs().magic, "hostfs")
            source = {"proc": "proc", "tmpfs": "tmpfs"}.get(kind, "sandbox")
            lines.append(f"{source} {guest} {kind} {'ro' if fs.read_only else 'rw'} 0 0\n")
        return "".join(lines).encode()

    def _file_meminfo(self) -> bytes:
        from kernel_model.limits import DEFAULT_MEMORY

        total = (self._k.config.max_memory or DEFAULT_MEMORY) // 1024
        free = max(total - self._k.mm.mapped_bytes // 1024, 0)
        return f"MemTotal:       {total:8d} kB\nMemFree:        {free:8d} kB\nMemAvailable:   {free:8d} kB\n".encode()

    def _file_uptime(self) -> bytes:
        from kernel_model.clock import CLOCK_BOOTTIME

        ns = self._k.clock.now(CLOCK_BOOTTIME)
        return f"{ns / 1e9:.2f} 0.00\n".encode()

    def _file_version(self) -> bytes:
        u = self._k.uname
        return f"Linux version {u.release} (sandbox@{u.nodename}) {u.version}\n".encode()
