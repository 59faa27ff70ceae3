"""A small ``/proc`` for the guest's processes, generated from the kernel model's own state.

``/proc/self`` is a link to ``/proc/<pid>`` of the process that looks (``thread-self`` to its
``task/<tid>``); each ``/proc/<pid>`` holds ``exe`` (a magic link to the
program: opening it opens the program even when its path is not in the guest's view, as on
Linux), ``cwd``, ``root``, ``fd/`` (magic links to the open files), ``maps`` (rendered from
the kernel's VMAs), ``cmdline`` and ``environ`` (read from the guest's stack, as Linux reads
them), ``comm``, ``stat``, ``status``, ``mounts`` and ``task/`` (a directory per thread with the
same files, ``comm``, ``stat`` and ``status`` the thread's own). At the top are ``mounts``, ``meminfo``,
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
    from kernel_model.tasks import Process, Task

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


def task_comm(proc: "Process", task: "Task") -> str:
    """A thread's name as /proc and prctl(PR_GET_NAME) show it (at most 15 bytes)."""
    exe = proc.executable
    name = task.thread.comm if task.thread.comm is not None else (exe.name if exe else "")
    return name.encode("utf-8", "surrogateescape")[: TASK_COMM_LEN - 1].decode("utf-8", "surrogateescape")


def comm_of(k: "Kernel") -> str:
    """The current thread's name (see :func:`task_comm`)."""
    return task_comm(k.process, k.current)


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

    def waiters(self) -> tuple:
        return self._inner.waiters()

    def wait_sources(self, events: int) -> tuple[tuple, dict[int, int], int | None]:
        return self._inner.wait_sources(events)

    def poll_generation(self) -> int | None:
        return self._inner.poll_generation()

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
_TOP_LINKS = ("mounts", "self", "thread-self")
_DIRS = ("root", "pid", "fd", "task")


@dataclass(frozen=True)
class _Place:
    """What a path under /proc names: its kind, and the process and thread it is about."""

    kind: str  # root | pid | fd | task | fdlink | file | link
    process: "Process | None" = None
    task: "Task | None" = None  # the thread of /proc/<pid>/task/<tid>/ (or /proc/<tid>/), else None


class ProcFilesystem(Filesystem):
    """``/proc`` for every process of ``kernel``'s guest.

    ``/proc/<pid>/`` exists for each process, zombies included (their memory gone: ``maps``,
    ``cmdline`` and ``environ`` are empty, ``exe`` does not resolve), with ``task/<tid>/`` for
    each of its threads; ``/proc/<tid>/`` of a thread that is not its group's leader works but is
    not listed, as on Linux. ``self`` and ``thread-self`` follow the task that looks.

    Like Linux's, it is not a read-only mount: its files refuse writing by their permissions.
    """

    read_only = False

    def __init__(self, kernel: "Kernel") -> None:
        self._k = kernel
        self.dev = PROC_DEV
        self._born = now_ns()

    # -- the tree --------------------------------------------------------------------------

    def _process_of(self, name: str) -> "tuple[Process, Task | None] | None":
        """The process a /proc/<name> names (and the thread, when it is a thread's tid)."""
        if not name.isdigit() or name != str(int(name)):
            return None
        table = self._k.processes
        proc = table.processes.get(int(name))
        if proc is not None:
            return proc, None
        task = table.tasks.get(int(name))
        if task is not None and task.state != "dead":
            return task.process, task
        return None

    def _thread(self, proc: "Process", name: str) -> "Task | None":
        if not name.isdigit():
            return None
        return next((t for t in proc.threads if str(t.tid) == name and t.state != "dead"), None)

    def _place(self, rel: Rel) -> _Place:
        """What ``rel`` names (ENOENT when nothing)."""
        if not rel:
            return _Place("root")
        head = rel[0]
        if len(rel) == 1 and head in _TOP_LINKS:
            return _Place("link")
        if len(rel) == 1 and head in _TOP_FILES:
            return _Place("file")
        found = self._process_of(head)
        if found is None:
            raise KernelError(Errno.ENOENT)
        proc, task = found
        rest = rel[1:]
        if len(rest) >= 2 and rest[0] == "task" and task is None:
            task = self._thread(proc, rest[1])
            if task is None:
                raise KernelError(Errno.ENOENT)
            rest = rest[2:]
            if not rest:
                return _Place("pid", proc, task)
        elif rest == ("task",) and task is None:
            return _Place("task", proc)
        if not rest:
            return _Place("pid", proc, task)
        if len(rest) == 1:
            if rest[0] in _PID_FILES:
                return _Place("file", proc, task)
            if rest[0] in _PID_LINKS:
                return _Place("link", proc, task)
            if rest[0] == "fd":
                return _Place("fd", proc, task)
        elif len(rest) == 2 and rest[0] == "fd" and rest[1].isdigit() and proc.alive and int(rest[1]) in proc.fds:
            return _Place("fdlink", proc, task)
        raise KernelError(Errno.ENOENT)

    def _kind(self, rel: Rel) -> str:
        """What ``rel`` is: root, pid, fd, task, fdlink, file or link (ENOENT otherwise)."""
        return self._place(rel).kind

    def _stat(self, mode: int, rel: Rel, size: int = 0, proc: "Process | None" = None) -> StatInfo:
        ident = (proc or self._k.process).identity
        ino = (hash(rel) & 0xFFFFFFF) | 0x10000000
        return StatInfo(
            mode=mode, ino=ino, dev=self.dev, nlink=2 if mode & S_IFDIR == S_IFDIR else 1,
            uid=ident.effective_uid, gid=ident.effective_gid,
            size=size, blksize=1024, atime_ns=self._born, mtime_ns=self._born, ctime_ns=self._born,
        )

    def lstat(self, rel: Rel) -> StatInfo:
        place = self._place(rel)
        if place.kind in _DIRS:
            return self._stat(S_IFDIR | 0o555, rel, proc=place.process)
        if place.kind == "file":
            return self._stat(S_IFREG | 0o444, rel, proc=place.process)
        if place.kind == "fdlink":
            of = place.process.fds.get(int(rel[-1]))  # type: ignore[union-attr]
            bits = {O_RDONLY: 0o500, O_WRONLY: 0o300}.get(of.flags & O_ACCMODE, 0o700)
            return self._stat(S_IFLNK | bits, rel, 64, place.process)
        return self._stat(S_IFLNK | 0o777, rel, len(self.readlink(rel)), place.process)

    def readlink(self, rel: Rel, at: "Node | None" = None) -> bytes:
        place = self._place(rel)
        if place.kind == "fdlink":
            of = place.process.fds.get(int(rel[-1]))  # type: ignore[union-attr]
            return os.fsencode(of.handle.proc_name() or of.path)
        if place.kind != "link":
            raise KernelError(Errno.EINVAL)
        name = rel[-1]
        current = self._k.current
        if place.process is None:
            if name == "self":
                return str(current.process.pid).encode()
            if name == "thread-self":
                return f"{current.process.pid}/task/{current.tid}".encode()
            return b"self/mounts"
        proc = place.process
        if not proc.alive:
            raise KernelError(Errno.ENOENT)  # a zombie has no files, no directory, no program
        if name == "root":
            return b"/"
        if name == "cwd":
            return os.fsencode("/" + "/".join(proc.fs.cwd))
        if proc.executable is None:
            raise KernelError(Errno.ENOENT)
        return os.fsencode(proc.executable.path)

    def magic_link(self, rel: Rel) -> StatInfo | None:
        try:
            place = self._place(rel)
        except KernelError:
            return None
        proc = place.process
        if place.kind == "fdlink":
            return proc.fds.get(int(rel[-1])).handle.stat()  # type: ignore[union-attr]
        if place.kind == "link" and rel[-1] == "exe" and proc is not None and proc.alive and proc.executable:
            return proc.executable.stat()
        return None

    def open_magic(self, rel: Rel, flags: int) -> Handle:
        place = self._place(rel)
        proc = place.process
        if place.kind == "fdlink":
            return BorrowedHandle(proc.fds.get(int(rel[-1])).handle)  # type: ignore[union-attr]
        exe = proc.executable if proc is not None and proc.alive else None
        if exe is None:
            raise KernelError(Errno.ENOENT)
        if wants_write(flags):
            raise KernelError(Errno.ETXTBSY)  # the running program cannot be opened for writing
        return exe.open()

    def open(self, rel: Rel, flags: int, mode: int, exists: bool, at: "Node | None" = None) -> Handle:
        if not exists:
            raise KernelError(Errno.EACCES)
        place = self._place(rel)
        if wants_write(flags):
            raise KernelError(Errno.EACCES)
        if place.kind in _DIRS:
            return _Listing(self.lstat(rel), lambda: self._listing(rel, place))
        # Generated once, at open, then read like a file (as Linux's seq files mostly are).
        return BytesHandle(self._generate(rel[-1], place), self.lstat(rel))

    def statfs(self) -> FsStats:
        return FsStats(PROC_SUPER_MAGIC, bsize=4096, flags=ST_VALID | ST_NOSUID | ST_NODEV | ST_NOEXEC)

    def _listing(self, rel: Rel, place: _Place) -> list[DirEntry]:
        proc = place.process
        if place.kind == "root":
            names = [(n, S_IFLNK) for n in _TOP_LINKS] + [(n, S_IFREG) for n in _TOP_FILES]
            names += [(str(pid), S_IFDIR) for pid in self._k.processes.processes]
        elif place.kind == "pid":
            names = [(n, S_IFREG) for n in _PID_FILES] + [(n, S_IFLNK) for n in _PID_LINKS] + [("fd", S_IFDIR)]
            if place.task is None:
                names.append(("task", S_IFDIR))
        elif place.kind == "task":
            names = [(str(t.tid), S_IFDIR) for t in proc.threads if t.state != "dead"]  # type: ignore[union-attr]
        else:
            names = [(str(fd), S_IFLNK) for fd, _ in proc.fds.items()] if proc.alive else []  # type: ignore[union-attr]
        # the named entries first, then the pids in order, as Linux lists /proc
        names.sort(key=lambda e: (e[0].isdigit(), int(e[0]) if e[0].isdigit() else 0, e[0]))
        return [DirEntry(n, self._stat(m, rel + (n,)).ino, dtype_of(m)) for n, m in names]

    # -- the generated files ---------------------------------------------------------------

    def _generate(self, name: str, place: _Place) -> bytes:
        if place.process is None:
            return getattr(self, "_file_" + name)()
        task = place.task or place.process.main_thread() or place.process.threads[0]
        return getattr(self, "_file_" + name)(place.process, task)

    def _file_maps(self, proc: "Process", task: "Task") -> bytes:
        if not proc.alive:
            return b""
        return "".join(v.maps_line() + "\n" for v in proc.mm.vmas).encode()

    def _user_range(self, proc: "Process", start: int, end: int) -> bytes:
        if end <= start or not proc.alive:
            return b""
        try:
            return proc.memory.read(start, end - start)
        except Exception:  # noqa: BLE001 - the guest unmapped its own stack: Linux reads nothing
            return b""

    def _file_cmdline(self, proc: "Process", task: "Task") -> bytes:
        return self._user_range(proc, proc.mm.arg_start, proc.mm.arg_end)

    def _file_environ(self, proc: "Process", task: "Task") -> bytes:
        return self._user_range(proc, proc.mm.env_start, proc.mm.env_end)

    def _file_comm(self, proc: "Process", task: "Task") -> bytes:
        return (task_comm(proc, task) + "\n").encode()

    def _state(self, proc: "Process", task: "Task") -> str:
        if not proc.alive:
            return "Z (zombie)"
        if proc.stopped is not None or task.state == "stopped":
            return "T (stopped)"
        if task.state == "blocked":
            return "S (sleeping)"
        return "R (running)"

    def _file_stat(self, proc: "Process", task: "Task") -> bytes:
        ppid = proc.parent.pid if proc.parent is not None else proc.identity.ppid
        vsize = proc.mm.mapped_bytes if proc.alive else 0
        threads = sum(1 for t in proc.threads if t.state != "dead")
        fields = [task.tid, f"({task_comm(proc, task)})", self._state(proc, task)[0], ppid, proc.pgid, proc.sid, 0, -1,
                  0x400000] + [0] * 10
        fields += [max(threads, 1), 0, 0, vsize, vsize // 4096, (1 << 64) - 1] + [0] * 30
        return (" ".join(str(f) for f in fields[:52]) + "\n").encode()

    def _file_status(self, proc: "Process", task: "Task") -> bytes:
        ident = proc.identity
        sig = task.signals
        ignored = sum(1 << (n - 1) for n, a in proc.handlers.items() if a.handler == 1)
        caught = sum(1 << (n - 1) for n, a in proc.handlers.items() if a.handler > 1)
        uid, gid = ident.uid, ident.gid
        vm_kb = proc.mm.mapped_bytes // 1024 if proc.alive else 0
        fds = [fd for fd, _ in proc.fds.items()] if proc.alive else []
        ppid = proc.parent.pid if proc.parent is not None else ident.ppid
        threads = sum(1 for t in proc.threads if t.state != "dead")
        lines = [
            f"Name:\t{task_comm(proc, task)}", f"Umask:\t{proc.fs.umask:04o}", f"State:\t{self._state(proc, task)}",
            f"Tgid:\t{proc.pid}", "Ngid:\t0", f"Pid:\t{task.tid}", f"PPid:\t{ppid}", "TracerPid:\t0",
            f"Uid:\t{uid}\t{ident.effective_uid}\t{ident.effective_uid}\t{ident.effective_uid}",
            f"Gid:\t{gid}\t{ident.effective_gid}\t{ident.effective_gid}\t{ident.effective_gid}",
            f"FDSize:\t{max(64, 1 << max(fds, default=0).bit_length())}",
            "Groups:\t" + " ".join(str(g) for g in ident.groups), f"VmSize:\t{vm_kb:8d} kB",
            f"VmRSS:\t{vm_kb:8d} kB", f"Threads:\t{threads}", f"SigPnd:\t{0:016x}", f"ShdPnd:\t{sig.pending:016x}",
            f"SigBlk:\t{sig.blocked:016x}", f"SigIgn:\t{ignored:016x}", f"SigCgt:\t{caught:016x}",
            "Cpus_allowed_list:\t0" + (f"-{self._k.config.cpus - 1}" if self._k.config.cpus > 1 else ""),
        ]
        return ("\n".join(lines) + "\n").encode()

    def _file_mounts(self, proc: "Process | None" = None, task: "Task | None" = None) -> bytes:
        lines = []
        for guest, fs in self._k.ns.mounts():
            kind = {PROC_SUPER_MAGIC: "proc", 0x01021994: "tmpfs"}.get(fs.statfs().magic, "hostfs")
            source = {"proc": "proc", "tmpfs": "tmpfs"}.get(kind, "sandbox")
            lines.append(f"{source} {guest} {kind} {'ro' if fs.read_only else 'rw'} 0 0\n")
        return "".join(lines).encode()

    def _file_meminfo(self) -> bytes:
        from kernel_model.limits import DEFAULT_MEMORY

        total = (self._k.config.max_memory or DEFAULT_MEMORY) // 1024
        free = max(total - self._k.mm.pool.used // 1024, 0)  # what every process maps
        return f"MemTotal:       {total:8d} kB\nMemFree:        {free:8d} kB\nMemAvailable:   {free:8d} kB\n".encode()

    def _file_uptime(self) -> bytes:
        from kernel_model.clock import CLOCK_BOOTTIME

        ns = self._k.clock.now(CLOCK_BOOTTIME)
        return f"{ns / 1e9:.2f} 0.00\n".encode()

    def _file_version(self) -> bytes:
        u = self._k.uname
        return f"Linux version {u.release} (sandbox@{u.nodename}) {u.version}\n".encode()
