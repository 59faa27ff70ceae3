"""Processes and threads come and go: clone, fork, vfork, execve, exit, wait4, waitid.

``clone`` makes a :class:`~kernel_model.tasks.Task`, in a new
:class:`~kernel_model.tasks.Process` unless ``CLONE_THREAD``, sharing what its flags say; the
CPU side makes its registers (and a copy of the address space for a fork). ``execve`` replaces
the process's program from the guest's filesystem (an ELF, or a ``#!`` script's interpreter).
A process ends when its last thread does, or at ``exit_group`` or a fatal signal: its children
go to the first process, it stays a zombie until its parent reaps it with ``wait4``/``waitid``,
and its parent gets its exit signal (SIGCHLD).
"""

from __future__ import annotations

import struct
from dataclasses import replace
from typing import TYPE_CHECKING

from kernel_model.compat import clone_tls
from kernel_model.linux_errno import Errno
from kernel_model.registry import DirFd, Int, Path, Pid, Ptr, Size, ULong, syscall
from kernel_model.seam import Exec, KernelError, ProcessExit, SyscallRequest
from kernel_model.signals import SIG_IGN, SigAction, SignalState
from kernel_model.tasks import FsState, Process, Task
from kernel_model.threads import ThreadState

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel

CSIGNAL = 0xFF
CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_PIDFD, CLONE_PTRACE, CLONE_VFORK, CLONE_PARENT = 0x1000, 0x2000, 0x4000, 0x8000
CLONE_THREAD, CLONE_NEWNS, CLONE_SYSVSEM, CLONE_SETTLS = 0x10000, 0x20000, 0x40000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_DETACHED = 0x100000, 0x200000, 0x400000
CLONE_UNTRACED, CLONE_CHILD_SETTID, CLONE_NEWCGROUP = 0x800000, 0x1000000, 0x2000000
CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID = 0x4000000, 0x8000000, 0x10000000, 0x20000000
CLONE_NEWNET, CLONE_IO = 0x40000000, 0x80000000
CLONE_CLEAR_SIGHAND, CLONE_INTO_CGROUP = 0x100000000, 0x200000000
_NAMESPACES = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
# What the model makes of the flags it does not act on: SYSVSEM (no SysV semaphores to share
# undo lists of), IO (no I/O scheduler), PTRACE/UNTRACED (no tracer), DETACHED (ignored by Linux).
_ACCEPTED = CLONE_SYSVSEM | CLONE_IO | CLONE_PTRACE | CLONE_UNTRACED | CLONE_DETACHED

SIGCHLD = 17
CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_TRAPPED, CLD_STOPPED, CLD_CONTINUED = 1, 2, 3, 4, 5, 6
WNOHANG, WUNTRACED, WSTOPPED, WEXITED, WCONTINUED, WNOWAIT = 1, 2, 2, 4, 8, 0x01000000
__WNOTHREAD, __WALL, __WCLONE = 0x20000000, 0x40000000, 0x80000000
P_ALL, P_PID, P_PGID, P_PIDFD = 0, 1, 2, 3
# The signals whose default action dumps core (the wait status then has 0x80 when a core was
# written; with RLIMIT_CORE 0, none is, as on a default Linux).

ARG_MAX = 32 * 4096 * 32  # what Linux allows argv and envp together: a quarter of an 8 MiB stack
MAX_ARG_STRLEN = 32 * 4096  # one string
MAX_ARG_STRINGS = 0x7FFFFFFF
BINPRM_BUF_SIZE = 256  # how much of a #! line Linux reads
MAX_INTERPRETERS = 4  # #! nested deeper than this is ELOOP


# -- clone -------------------------------------------------------------------------------------


def do_clone(k: "Kernel", req: SyscallRequest, flags: int, stack: int, parent_tid: int, child_tid: int, tls: int,
             exit_signal: int) -> int:
    """The body of clone/clone3/fork/vfork once their arguments are read."""
    parent_task = k.current
    state = parent_task.call_state
    if "vfork_child" in state:  # the vfork's wait ended (its child exec'd or exited): return its pid
        return state["vfork_child"]
    _check_flags(flags, exit_signal)
    proc = parent_task.process
    limit = k.max_processes()
    if not flags & CLONE_THREAD and len(k.processes.live()) >= limit:
        k.processes.limit_refusals += 1
        raise KernelError(Errno.EAGAIN, f"{limit} processes are alive, the most allowed")
    cpu = req.cpu
    if cpu is None:
        raise KernelError(Errno.ENOSYS, "no CPU side to make a task with")
    new_tls: int | tuple[int, bytes] | None = None
    if flags & CLONE_SETTLS:
        # i386's thread pointer is a segment: the argument is a user_desc for a TLS slot
        new_tls = clone_tls(k, tls) if k.arch.name == "i386" else tls
    tid = k.processes.new_id()
    context, memory = cpu.clone_task(bool(flags & CLONE_VM), stack, new_tls)
    signals = SignalState(actions=proc.handlers, blocked=parent_task.signals.blocked, pid=tid, uid=proc.identity.uid,
                          watch=parent_task.signals.watch)
    if flags & CLONE_VM and not flags & CLONE_VFORK:
        pass  # a thread sharing memory starts with no alternate signal stack (Linux clears it)
    else:
        signals.altstack = replace(parent_task.signals.altstack)
    thread = ThreadState(comm=parent_task.thread.comm)
    if flags & CLONE_THREAD:
        child_proc = proc
        task = Task(tid, proc, signals, thread, context)
        proc.threads.append(task)
    else:
        child_proc = _new_process(k, proc, tid, flags, memory, exit_signal)
        signals.actions = child_proc.handlers
        task = Task(tid, child_proc, signals, thread, context)
        child_proc.threads.append(task)
    if flags & CLONE_CHILD_CLEARTID:
        thread.clear_child_tid = child_tid
    k.processes.tasks[tid] = task
    k.scheduler.add(task)
    tid_bytes = tid.to_bytes(4, k.structs.byteorder, signed=True)
    if flags & CLONE_PARENT_SETTID:
        k.memory.write(parent_tid, tid_bytes)
    if flags & CLONE_CHILD_SETTID:
        memory.write(child_tid, tid_bytes)
    if flags & CLONE_PIDFD:
        raise KernelError(Errno.EINVAL, "pidfds are not modelled")
    if flags & CLONE_VFORK:
        # The parent waits until the child execs or exits, then returns the child's pid.
        state["vfork_child"] = tid
        k.wait_for(f"its vfork child, pid {tid}", (child_proc.vfork_done,))
    return tid


def _check_flags(flags: int, exit_signal: int) -> None:
    if flags & CLONE_SIGHAND and not flags & CLONE_VM:
        raise KernelError(Errno.EINVAL)
    if flags & CLONE_THREAD and not flags & CLONE_SIGHAND:
        raise KernelError(Errno.EINVAL)
    if flags & CLONE_FS and flags & CLONE_NEWNS:
        raise KernelError(Errno.EINVAL)
    if flags & _NAMESPACES:
        raise KernelError(Errno.EPERM, "new namespaces need privileges the guest has not")
    if flags & CLONE_CLEAR_SIGHAND and flags & CLONE_SIGHAND:
        raise KernelError(Errno.EINVAL)
    if not 0 <= exit_signal <= 64:
        raise KernelError(Errno.EINVAL)


def _new_process(k: "Kernel", parent: Process, pid: int, flags: int, memory, exit_signal: int) -> Process:  # type: ignore[no-untyped-def]
    mm = parent.mm if flags & CLONE_VM else parent.mm.copy(memory)
    fds = parent.fds if flags & CLONE_FILES else parent.fds.copy()
    fs = parent.fs if flags & CLONE_FS else FsState(parent.fs.cwd, parent.fs.umask)
    if flags & CLONE_SIGHAND:
        handlers = parent.handlers
    elif flags & CLONE_CLEAR_SIGHAND:
        handlers = {sig: replace(a) for sig, a in parent.handlers.items() if a.handler == SIG_IGN}
    else:
        handlers = {sig: replace(a) for sig, a in parent.handlers.items()}
    real_parent = parent.parent if flags & CLONE_PARENT and parent.parent is not None else parent
    identity = replace(parent.identity, pid=pid, ppid=real_parent.pid)
    child = Process(pid, identity, memory, mm, fds, fs, handlers, parent.limits.copy(), replace(parent.prctl), real_parent)
    child.pgid, child.sid = parent.pgid, parent.sid
    child.executable = parent.executable
    child.exit_signal = exit_signal
    child.nice = parent.nice
    real_parent.children.append(child)
    k.processes.processes[pid] = child
    return child


@syscall("clone", partial="every flag glibc, musl, Go, Rust and busybox use; no new namespaces (EPERM), no pidfds (EINVAL)")
def sys_clone(k: "Kernel", req: SyscallRequest, flags: ULong, stack: Ptr, parent_tid: Ptr, a4: Ptr, a5: Ptr) -> int:
    # The registers after stack differ between arches (x86_64: parent_tid, child_tid, tls;
    # aarch64, arm, riscv64, i386: parent_tid, tls, child_tid): the arch's table says which.
    child_tid, tls = k.abi.clone_tail(a4, a5)
    return do_clone(k, req, flags & 0xFFFFFFFF, stack, parent_tid, child_tid, tls, flags & CSIGNAL)


@syscall("clone3", partial="as clone; set_tid and cgroup are refused (EINVAL)")
def sys_clone3(k: "Kernel", req: SyscallRequest, cl_args: Ptr, size: Size) -> int:
    if size < 64 or size > 4096:
        raise KernelError(Errno.EINVAL)
    raw = k.memory.read(cl_args, size)
    flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls = struct.unpack(k.structs.endian + "8Q", raw[:64])
    set_tid = set_tid_size = cgroup = 0
    if size >= 80:
        set_tid, set_tid_size = struct.unpack(k.structs.endian + "2Q", raw[64:80])
    if size >= 88:
        cgroup = struct.unpack(k.structs.endian + "Q", raw[80:88])[0]
    if any(raw[88:]):
        raise KernelError(Errno.E2BIG)  # a larger struct must be zero past what is known
    if set_tid or set_tid_size or cgroup or flags & CLONE_INTO_CGROUP:
        raise KernelError(Errno.EINVAL)
    if exit_signal & ~CSIGNAL or flags & (CSIGNAL | CLONE_DETACHED):
        raise KernelError(Errno.EINVAL)
    if (stack == 0) != (stack_size == 0):
        raise KernelError(Errno.EINVAL)
    top = stack + stack_size if stack else 0
    return do_clone(k, req, flags, top, parent_tid, child_tid, tls, exit_signal)


@syscall("fork")
def sys_fork(k: "Kernel", req: SyscallRequest) -> int:
    return do_clone(k, req, SIGCHLD, 0, 0, 0, 0, SIGCHLD)


@syscall("vfork")
def sys_vfork(k: "Kernel", req: SyscallRequest) -> int:
    return do_clone(k, req, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0, SIGCHLD)


# -- execve ------------------------------------------------------------------------------------


def _read_strings(k: "Kernel", ptr: int, total: list[int]) -> list[bytes]:
    """A NULL-terminated array of C strings (argv, envp), counting into ``total`` for E2BIG."""
    word = k.arch.word_size
    out: list[bytes] = []
    if not ptr:
        return out
    while True:
        addr = int.from_bytes(k.memory.read(ptr + word * len(out), word), k.structs.byteorder)
        if not addr:
            return out
        s = k.memory.read_cstr(addr, MAX_ARG_STRLEN + 1)
        if len(s) > MAX_ARG_STRLEN:
            raise KernelError(Errno.E2BIG)
        total[0] += len(s) + 1 + word
        if total[0] > ARG_MAX or len(out) >= MAX_ARG_STRINGS:
            raise KernelError(Errno.E2BIG)
        out.append(s)


def do_execve(k: "Kernel", req: SyscallRequest, dirfd: int, raw_path: bytes, argv: list[bytes], envp: list[bytes],
              flags: int = 0) -> int:
    """execve/execveat once the arguments are read: find the program, replace the process."""
    from kernel_model.abi import AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, O_RDONLY
    from kernel_model.paths import open_file
    from kernel_model.vfs import X_OK

    if flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW):
        raise KernelError(Errno.EINVAL)
    path = raw_path
    for depth in range(MAX_INTERPRETERS + 1):
        if not path and not flags & AT_EMPTY_PATH:
            raise KernelError(Errno.ENOENT)
        if not path:
            of = k.fds.get(dirfd)
            shown = of.path
        else:
            from kernel_model.paths import resolve_at

            loc = resolve_at(k, dirfd, path, follow=not flags & AT_SYMLINK_NOFOLLOW)
            assert loc.stat is not None
            if loc.stat.mode & 0o170000 == 0o120000:
                raise KernelError(Errno.ELOOP)
            if loc.stat.mode & 0o170000 != 0o100000:
                raise KernelError(Errno.EACCES)  # a directory, a device: not a program
            if not k.ns.creds.permits(loc.stat, X_OK) or not loc.stat.mode & 0o111:
                raise KernelError(Errno.EACCES)
            of = open_file(k, dirfd, path, O_RDONLY, 0)
            shown = loc.text
        data = _read_all(of)
        if data[:2] == b"#!":
            if depth == MAX_INTERPRETERS:
                raise KernelError(Errno.ELOOP)
            interp, arg = _shebang(data)
            # the interpreter gets: its own name, its argument, the script's path, the rest
            argv = [interp] + ([arg] if arg else []) + [path or shown.encode()] + argv[1:]
            path, dirfd, flags = interp, -100, 0
            continue
        if data[:4] != b"\x7fELF":
            raise KernelError(Errno.ENOEXEC)
        break
    cpu = req.cpu
    if cpu is None:
        raise KernelError(Errno.ENOSYS, "no CPU side to run a program with")
    cpu.check_program(data)  # ENOEXEC for another machine's ELF, before anything changes
    # the name (comm) is the file name execve was given, a script's rather than its interpreter's
    name = (raw_path or shown.encode()).rsplit(b"/", 1)[-1].decode("utf-8", "surrogateescape")
    _point_of_no_return(k)
    try:
        cpu.start_program(data, shown, argv, envp, name)
    except KernelError as e:
        # Past the point of no return a failure is fatal, as Linux makes it (SIGSEGV).
        raise ProcessExit(signal=11, reason=f"execve of {shown} failed after the old program was gone ({e.errno.name})") from None
    raise Exec()


def _read_all(of) -> bytes:  # type: ignore[no-untyped-def]
    chunks = []
    pos = 0
    while True:
        data = of.handle.pread(1 << 20, pos)
        if not data:
            break
        chunks.append(data)
        pos += len(data)
        if pos > 1 << 30:
            raise KernelError(Errno.ENOMEM)
    of.release() if of.refs == 0 else None
    return b"".join(chunks)


def _shebang(data: bytes) -> tuple[bytes, bytes]:
    line = data[2:BINPRM_BUF_SIZE].split(b"\n", 1)[0].strip(b" \t")
    if not line:
        raise KernelError(Errno.ENOEXEC)
    interp, _, arg = line.partition(b" ")
    arg = arg.strip(b" \t")
    return interp, arg


def _point_of_no_return(k: "Kernel") -> None:
    """What execve does to the process before the new program starts: the other threads end,
    the descriptors and handlers stop being shared, close-on-exec files close, caught signals
    go back to their default, the alternate stack and the robust list are forgotten, and a
    vfork parent goes on."""
    task = k.current
    proc = task.process
    for other in list(proc.threads):
        if other is not task and other.state != "dead":
            k.end_task(other)
    if task.tid != proc.pid:
        # the exec'ing thread takes over the process's pid as its tid, as Linux's de_thread
        k.processes.tasks.pop(task.tid, None)
        task.tid = proc.pid
        k.processes.tasks[task.tid] = task
    if sum(1 for p in k.processes.processes.values() if p.fds is proc.fds and p.alive) > 1:
        proc.fds = proc.fds.copy()
    proc.fds.close_on_exec()
    proc.handlers = {sig: SigAction(SIG_IGN) for sig, a in proc.handlers.items() if a.handler == SIG_IGN}
    task.signals.actions = proc.handlers
    task.signals.altstack = type(task.signals.altstack)()
    task.thread.robust_list = task.thread.robust_list_len = 0
    task.thread.comm = None
    proc.execed = True
    proc.vfork_done.wake()
    k.switch_to(task)


@syscall("execve", partial="ELF programs of the guest's arch and #! scripts, from the guest's filesystem")
def sys_execve(k: "Kernel", req: SyscallRequest, pathname: Path, argv: Ptr, envp: Ptr) -> int:
    from kernel_model.paths import read_path

    total = [0]
    path = read_path(k, pathname)
    return do_execve(k, req, -100, path, _read_strings(k, argv, total), _read_strings(k, envp, total))


@syscall("execveat", partial="as execve")
def sys_execveat(k: "Kernel", req: SyscallRequest, dirfd: DirFd, pathname: Path, argv: Ptr, envp: Ptr, flags: Int) -> int:
    from kernel_model.paths import read_path

    total = [0]
    path = read_path(k, pathname)
    return do_execve(k, req, dirfd, path, _read_strings(k, argv, total), _read_strings(k, envp, total), flags)


# -- exit ----------------------------------------------------------------------------------------


class ThreadExit(Exception):
    """The current thread ended (``exit`` with other threads left): the CPU side drops it."""

    def __init__(self, status: int = 0) -> None:
        super().__init__(f"thread exited with {status}")
        self.status = status


@syscall("exit")
def sys_exit(k: "Kernel", req: SyscallRequest, status: Int) -> int:
    proc = k.process
    others = [t for t in proc.threads if t is not k.current and t.state != "dead"]
    if not others:
        raise ProcessExit(status & 0xFF)  # the last thread: the process ends with its status
    k.end_task(k.current)
    raise ThreadExit(status & 0xFF)


@syscall("exit_group")
def sys_exit_group(k: "Kernel", req: SyscallRequest, status: Int) -> int:
    raise ProcessExit(status & 0xFF)


# -- the ids -------------------------------------------------------------------------------------


@syscall("getpid")
def sys_getpid(k: "Kernel", req: SyscallRequest) -> int:
    return k.process.pid


@syscall("gettid")
def sys_gettid(k: "Kernel", req: SyscallRequest) -> int:
    return k.current.tid


@syscall("getppid")
def sys_getppid(k: "Kernel", req: SyscallRequest) -> int:
    parent = k.process.parent
    return parent.pid if parent is not None else k.identity.ppid


def _process(k: "Kernel", pid: int) -> Process:
    """The process ``pid`` names (0: the caller); ESRCH when there is none alive."""
    if pid == 0:
        return k.process
    proc = k.processes.processes.get(pid)
    if proc is None or proc.exit is not None and not proc in k.process.children:
        raise KernelError(Errno.ESRCH)
    return proc


@syscall("getpgid")
def sys_getpgid(k: "Kernel", req: SyscallRequest, pid: Pid) -> int:
    return _process(k, pid).pgid


@syscall("getpgrp")
def sys_getpgrp(k: "Kernel", req: SyscallRequest) -> int:
    return k.process.pgid


@syscall("getsid")
def sys_getsid(k: "Kernel", req: SyscallRequest, pid: Pid) -> int:
    return _process(k, pid).sid


@syscall("setpgid")
def sys_setpgid(k: "Kernel", req: SyscallRequest, pid: Pid, pgid: Pid) -> int:
    if pgid < 0:
        raise KernelError(Errno.EINVAL)
    me = k.process
    target = _process(k, pid)
    if target is not me and target not in me.children:
        raise KernelError(Errno.ESRCH)
    if target is not me and target.execed:
        raise KernelError(Errno.EACCES)  # a child that has exec'd can no longer be moved
    if target.sid == target.pid or target.sid != me.sid:
        raise KernelError(Errno.EPERM)  # a session leader, or a child in another session
    group = pgid or target.pid
    if group != target.pid and not any(p.pgid == group and p.sid == me.sid for p in k.processes.live()):
        raise KernelError(Errno.EPERM)  # no such group in the caller's session
    target.pgid = group
    return 0


@syscall("setsid")
def sys_setsid(k: "Kernel", req: SyscallRequest) -> int:
    me = k.process
    if any(p.pgid == me.pid for p in k.processes.live()):
        raise KernelError(Errno.EPERM)  # it leads a process group already
    me.sid = me.pgid = me.pid
    return me.pid


# -- waiting for children --------------------------------------------------------------------


def _matches(k: "Kernel", child: Process, selector: tuple[str, int], options: int) -> bool:
    kind, value = selector
    if kind == "pid" and child.pid != value:
        return False
    if kind == "pgid" and child.pgid != value:
        return False
    # __WCLONE waits for children whose exit signal is not SIGCHLD only; __WALL for both
    if not options & __WALL and bool(options & __WCLONE) != (child.exit_signal != SIGCHLD):
        return False
    return True


def _reapable(child: Process, options: int) -> str | None:
    """What of ``child`` a wait with ``options`` would report now: exited, stopped, continued."""
    if child.exit is not None and options & WEXITED:
        return "exited"
    if child.reported == "stopped" and options & WSTOPPED:
        return "stopped"
    if child.reported == "continued" and options & WCONTINUED:
        return "continued"
    return None


def wait_child(k: "Kernel", selector: tuple[str, int], options: int, what: str) -> tuple[Process, str] | None:
    """The child a wait reports (and how), None with WNOHANG when none is ready; ECHILD with
    no child to wait for; otherwise the caller waits for a child's change."""
    me = k.process
    candidates = [c for c in me.children if _matches(k, c, selector, options)]
    if not options & __WNOTHREAD:
        # a thread waits for the children of every thread of its process (they are one list here)
        pass
    if not candidates:
        raise KernelError(Errno.ECHILD)
    for child in candidates:
        event = _reapable(child, options)
        if event is not None:
            return child, event
    if options & WNOHANG:
        return None
    k.wait_for(what, (me.child_events,))
    return wait_child(k, selector, options, what)


def _status(child: Process, event: str) -> tuple[int, int, int]:
    """(wait status, si_code, si_status) of a child's change."""
    if event == "stopped":
        sig = child.stopped or 19
        return (sig << 8) | 0x7F, CLD_STOPPED, sig
    if event == "continued":
        return 0xFFFF, CLD_CONTINUED, 18
    ex = child.exit
    assert ex is not None
    if ex.signal:
        return ex.signal & 0x7F, CLD_KILLED, ex.signal
    return (ex.status & 0xFF) << 8, CLD_EXITED, ex.status & 0xFF


def _reap(k: "Kernel", child: Process, event: str, options: int) -> None:
    if options & WNOWAIT:
        return
    if event == "exited":
        k.process.children.remove(child)
        k.process.children_cpu_ns += child.cpu_ns + child.children_cpu_ns
        k.processes.processes.pop(child.pid, None)
    else:
        child.reported = None


def _write_rusage(k: "Kernel", rusage: int, cpu_ns: int) -> None:
    if not rusage:
        return
    word = k.arch.word_size
    fields = [cpu_ns // 10**9, cpu_ns % 10**9 // 1000] + [0] * 16
    k.memory.write(rusage, b"".join(f.to_bytes(word, k.structs.byteorder, signed=True) for f in fields))


@syscall("wait4")
def sys_wait4(k: "Kernel", req: SyscallRequest, pid: Pid, wstatus: Ptr, options: Int, rusage: Ptr) -> int:
    if options & ~(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WALL | __WCLONE):
        raise KernelError(Errno.EINVAL)
    if pid == -1:
        selector = ("any", 0)
    elif pid == 0:
        selector = ("pgid", k.process.pgid)
    elif pid < -1:
        selector = ("pgid", -pid)
    else:
        selector = ("pid", pid)
    found = wait_child(k, selector, options | WEXITED, f"its children (wait4 {pid})")
    if found is None:
        return 0
    child, event = found
    status, _, _ = _status(child, event)
    if wstatus:
        k.memory.write(wstatus, status.to_bytes(4, k.structs.byteorder))
    _write_rusage(k, rusage, child.cpu_ns)
    _reap(k, child, event, options)
    return child.pid


@syscall("waitid")
def sys_waitid(k: "Kernel", req: SyscallRequest, idtype: Int, id: Pid, infop: Ptr, options: Int, rusage: Ptr) -> int:
    if options & ~(WNOHANG | WEXITED | WSTOPPED | WCONTINUED | WNOWAIT | __WNOTHREAD | __WALL | __WCLONE):
        raise KernelError(Errno.EINVAL)
    if not options & (WEXITED | WSTOPPED | WCONTINUED):
        raise KernelError(Errno.EINVAL)
    if idtype == P_ALL:
        selector = ("any", 0)
    elif idtype == P_PID:
        if id <= 0:
            raise KernelError(Errno.EINVAL)
        selector = ("pid", id)
    elif idtype == P_PGID:
        if id < 0:
            raise KernelError(Errno.EINVAL)
        selector = ("pgid", id or k.process.pgid)
    elif idtype == P_PIDFD:
        raise KernelError(Errno.EINVAL, "pidfds are not modelled")
    else:
        raise KernelError(Errno.EINVAL)
    found = wait_child(k, selector, options, f"its children (waitid)")
    word = k.arch.word_size
    if found is None:
        if infop:
            k.memory.write(infop, bytes(128))  # WNOHANG with nothing to report: si_pid 0
        return 0
    child, event = found
    _, code, si_status = _status(child, event)
    if infop:
        head = struct.pack(k.structs.endian + "iii", SIGCHLD, 0, code) + bytes(4 if word == 8 else 0)
        body = struct.pack(k.structs.endian + "iii", child.pid, child.identity.uid, si_status)
        k.memory.write(infop, (head + body).ljust(128, b"\0"))
    _write_rusage(k, rusage, child.cpu_ns)
    _reap(k, child, event, options)
    return 0


def exit_signal_info(child: Process) -> tuple[int, int]:
    """(si_code, si_status) of the SIGCHLD a child's end sends its parent."""
    _, code, status = _status(child, "exited")
    return code, status


# -- ends: a thread, a process -------------------------------------------------------------------


def end_task(k: "Kernel", task: Task) -> None:
    """A thread ends: its ``clear_child_tid`` is cleared and woken (what pthread_join waits
    on), and it leaves the scheduler. The process ends with its last thread (the caller's
    business: :func:`end_process`)."""
    if task.state == "dead":
        return
    ctid = task.thread.clear_child_tid
    if ctid and task.process.alive:
        try:
            task.process.memory.write(ctid, bytes(4))
        except Exception:  # noqa: BLE001 - unmapped by now: Linux ignores the fault too
            pass
        queue = k.futex_queue(ctid, create=False, mm=task.process.mm)
        if queue is not None:
            queue.wake(1)
    task.state = "dead"
    k.scheduler.remove(task)
    k.processes.tasks.pop(task.tid, None)


def end_process(k: "Kernel", proc: Process, ex: ProcessExit) -> None:
    """A process ends (exit_group, its last thread's exit, a fatal signal): every thread ends,
    its descriptors close, its children go to the first process, it stays a zombie for its
    parent to reap, and the parent gets its exit signal."""
    if proc.exit is not None:
        return
    proc.exit = ex
    for task in list(proc.threads):
        end_task(k, task)
    if proc.pid == k.processes.first_pid and proc is not k.process:
        k.preempt()  # another task ended the first process: the run ends with it, now
    others = [p for p in k.processes.processes.values() if p is not proc and p.alive]
    if not any(p.fds is proc.fds for p in others):
        proc.fds.close_all()
    if not any(p.mm is proc.mm for p in others):
        proc.mm.release()  # a zombie holds no memory
    reaper = k.processes.reaper
    for child in list(proc.children):
        proc.children.remove(child)
        if reaper is not None and reaper is not proc and reaper.alive:
            child.with_parent(reaper)
            reaper.children.append(child)
            if child.exit is not None:
                reaper.child_events.wake()
        else:
            child.parent = None
    proc.vfork_done.wake()
    parent = proc.parent
    if parent is None or not parent.alive:
        k.processes.processes.pop(proc.pid, None)
        return
    action = parent.handlers.get(proc.exit_signal)
    autoreap = proc.exit_signal == SIGCHLD and action is not None and (action.handler == SIG_IGN or action.flags & 0x2)
    if autoreap:  # SIGCHLD ignored, or SA_NOCLDWAIT: no zombie is left
        parent.children.remove(proc)
        k.processes.processes.pop(proc.pid, None)
    parent.child_events.wake()
    if proc.exit_signal:
        code, status = exit_signal_info(proc)
        post_signal(k, parent, proc.exit_signal, code, proc.pid, proc.identity.uid, f"the end of pid {proc.pid}", status)


def post_signal(k: "Kernel", proc: Process, sig: int, code: int, sender_pid: int, sender_uid: int, how: str,
                status: int = 0, task: Task | None = None) -> None:
    """Send ``sig`` to a process (or to one of its threads): it is delivered when the thread
    that takes it next runs, and ends a wait it is in (EINTR, or a restart)."""
    from kernel_model.signals import SIGCONT, SIGKILL, SIGSTOP, DEFAULT_STOP

    if sig == 0 or not proc.alive:
        return
    if sig == SIGKILL:
        killed = ProcessExit(signal=SIGKILL, reason=f"SIGKILL (Killed), sent by {how}")
        if proc is k.process:
            raise killed  # the caller itself: it ends as the call does
        end_process(k, proc, killed)
        return
    if sig == SIGCONT and proc.stopped is not None:
        proc.stopped = None
        proc.reported = "continued"
        for t in proc.threads:
            if t.state == "stopped":
                t.state = "runnable"
        if proc.parent is not None and proc.parent.alive:
            proc.parent.child_events.wake()
    live = [t for t in proc.threads if t.state != "dead"]
    if not live:
        return
    if task is None:
        bit = 1 << (sig - 1)
        task = next((t for t in live if not t.signals.blocked & bit), proc.main_thread() or live[0])
    state = task.signals
    if state.ignores(sig) and not state.blocked & (1 << (sig - 1)):
        if state.watch is not None:
            state.dropped.append((sig, code, (sender_pid, sender_uid, status)))
        return  # dropped now, as Linux drops an ignored signal at sending time
    state.post(sig, code, sender_pid, sender_uid, how, status)
    proc.signal_events.wake()  # a signalfd (the signal blocked, pending) reads it
    if sig in DEFAULT_STOP or sig == SIGSTOP:
        pass  # a stop takes effect when the thread takes the signal
    if task.state == "blocked" and not state.blocked & (1 << (sig - 1)):
        task.wake("signal")
