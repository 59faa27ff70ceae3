"""Signals: their numbers and names (the generic numbering of x86, arm, riscv), each
process's dispositions, mask and pending set, and the calls that change them.

A signal comes from a task of the guest (``kill``, ``tgkill``, ``abort()``, a child's end) or
from the kernel (``SIGPIPE`` on a pipe without readers). One the current task sends itself is
delivered on the way back from that call; one for another task is posted and delivered when
that task next runs (ending a wait it is in). A signal that is blocked stays pending until the
mask lets it through, which is the moment it is delivered, as on Linux. A delivered signal
whose action is the default one ends the process the way Linux does (status 128 + the
signal); an ignored one is dropped; one with a handler raises :class:`SignalDelivery`, for
the CPU side to build the signal frame and enter the handler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from kernel_model.linux_errno import Errno
from kernel_model.registry import Int, Pid, Ptr, Size, syscall
from kernel_model.seam import KernelError, ProcessExit, SyscallRequest

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel

SIGNALS: dict[str, int] = {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6, "SIGBUS": 7,
    "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13,
    "SIGALRM": 14, "SIGTERM": 15, "SIGSTKFLT": 16, "SIGCHLD": 17, "SIGCONT": 18, "SIGSTOP": 19,
    "SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25,
    "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29, "SIGPWR": 30, "SIGSYS": 31,
}
SIGNAL_NAMES: dict[int, str] = {n: name for name, n in SIGNALS.items()}

# What strsignal() says, as a shell prints it for a killed job.
DESCRIPTIONS: dict[str, str] = {
    "SIGHUP": "Hangup", "SIGINT": "Interrupt", "SIGQUIT": "Quit", "SIGILL": "Illegal instruction",
    "SIGTRAP": "Trace/breakpoint trap", "SIGABRT": "Aborted", "SIGBUS": "Bus error",
    "SIGFPE": "Floating point exception", "SIGKILL": "Killed", "SIGUSR1": "User defined signal 1",
    "SIGSEGV": "Segmentation fault", "SIGUSR2": "User defined signal 2", "SIGPIPE": "Broken pipe",
    "SIGALRM": "Alarm clock", "SIGTERM": "Terminated", "SIGXCPU": "CPU time limit exceeded",
    "SIGXFSZ": "File size limit exceeded", "SIGSYS": "Bad system call",
}


def signal_number(name: str) -> int:
    """The number of a signal by name (``"SIGSEGV"`` -> 11)."""
    return SIGNALS[name]


def signal_name(number: int) -> str:
    """The name of a signal number (``11`` -> ``"SIGSEGV"``), or ``SIG<n>`` for others."""
    return SIGNAL_NAMES.get(number, f"SIG{number}")


NSIG = 64  # signals 1..64; a sigset_t is 64 bits on every arch the model serves
SIGSET_SIZE = NSIG // 8
SIG_DFL, SIG_IGN = 0, 1
SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
SA_SIGINFO = 0x4
SA_RESTART = 0x10000000  # a call a handler interrupted is made again after it
SA_ONSTACK = 0x08000000
SA_RESTORER = 0x04000000
SA_NODEFER = 0x40000000
SA_RESETHAND = 0x80000000
# The flags rt_sigaction keeps (UAPI_SA_FLAGS): NOCLDSTOP NOCLDWAIT SIGINFO ONSTACK RESTART
# NODEFER RESETHAND EXPOSE_TAGBITS, and SA_RESTORER where the arch has it.
UAPI_SA_FLAGS = 0x1 | 0x2 | SA_SIGINFO | SA_ONSTACK | SA_RESTART | SA_NODEFER | SA_RESETHAND | 0x800
SS_ONSTACK, SS_DISABLE = 1, 2
SS_AUTODISARM = 1 << 31

SIGKILL, SIGSTOP, SIGCONT = 9, 19, 18
# The signals whose default action is to do nothing, and those whose default is to stop.
DEFAULT_IGNORED = frozenset({17, 23, 28})  # SIGCHLD, SIGURG, SIGWINCH
DEFAULT_CONTINUE = 18  # SIGCONT: continues a stopped process, otherwise nothing
DEFAULT_STOP = frozenset({19, 20, 21, 22})  # SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU
_UNBLOCKABLE = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))


def _bit(sig: int) -> int:
    return 1 << (sig - 1)


@dataclass
class SigAction:
    """One signal's disposition, as ``rt_sigaction`` reads and writes it."""

    handler: int = SIG_DFL
    flags: int = 0
    restorer: int = 0
    mask: int = 0


@dataclass
class AltStack:
    """The alternate signal stack (``sigaltstack``)."""

    sp: int = 0
    size: int = 0
    flags: int = SS_DISABLE


SI_USER, SI_KERNEL, SI_TKILL = 0, 0x80, -6  # si_code: kill(), the kernel, tkill()/tgkill()


class HandlerNotSupported(ProcessExit):
    """A signal reached a handler the guest installed, on a CPU that cannot run handlers.

    The process ends with the signal's status, and the reason says why, rather than going on
    as if the handler had run.
    """

    def __init__(self, sig: int, handler: int) -> None:
        super().__init__(
            signal=sig,
            reason=f"{signal_name(sig)} would run the guest's handler at {handler:#x}; this arch cannot "
            "run signal handlers yet, so the process ends as if it had no handler",
        )


class SignalDelivery(Exception):
    """The guest's handler for ``sig`` must run as the current system call returns.

    Raised by the kernel model with its bookkeeping done (the mask while the handler runs is
    already in force; ``saved_mask`` is the one ``rt_sigreturn`` puts back). The CPU side
    writes ``result`` (None: nothing) as the call's return value, saves the registers in a
    signal frame and enters the handler (see :mod:`sandbox.sigframe`).
    """

    def __init__(self, sig: int, action: SigAction, saved_mask: int, code: int, result: int | None, pid: int, uid: int,
                 status: int = 0) -> None:
        super().__init__(f"deliver {signal_name(sig)} to the handler at {action.handler:#x}")
        self.sig = sig
        self.action = action
        self.saved_mask = saved_mask
        self.code = code
        self.result = result
        self.pid = pid  # the sender, for siginfo
        self.uid = uid
        self.status = status  # si_status (SIGCHLD: the child's exit status or signal)
        self.addr: int | None = None  # si_addr, for the signal of a CPU fault
        # the CPU's trap number and error code for that fault (x86's sigcontext keeps them)
        self.trap: tuple[int, int] = (0, 0)


class ProcessStop(Exception):
    """A signal whose default action stops the process (SIGSTOP, SIGTSTP...) was delivered."""

    def __init__(self, sig: int, how: str) -> None:
        super().__init__(f"stopped by {signal_name(sig)} ({how})")
        self.sig = sig


class SignalReturn(Exception):
    """``rt_sigreturn`` (or the old ``sigreturn``): the CPU side restores the registers from the
    signal frame, then calls :meth:`SignalState.after_handler` with the mask and alternate stack
    the frame held.

    ``rt`` says which frame is on the stack: the rt one (``siginfo`` and ``ucontext``) or, for
    ``sigreturn`` on i386 and arm, the frame of a handler installed without ``SA_SIGINFO``.
    """

    def __init__(self, rt: bool = True) -> None:
        super().__init__("rt_sigreturn" if rt else "sigreturn")
        self.rt = rt


@dataclass
class SignalState:
    """The dispositions, blocked mask, pending set and alternate stack of the process.

    ``pid`` and ``uid`` are what a signal the process sends itself carries in its siginfo.
    """

    actions: dict[int, SigAction] = field(default_factory=dict)
    blocked: int = 0
    pending: int = 0
    altstack: AltStack = field(default_factory=AltStack)
    pid: int = 0
    uid: int = 0
    pending_codes: dict[int, int] = field(default_factory=dict)  # si_code of each pending signal
    # who sent each pending signal another task posted: (pid, uid, how, si_status)
    pending_senders: dict[int, tuple[int, int, str, int]] = field(default_factory=dict)
    # Told of each signal as it is delivered, ignored ones included (a tracer shows them, as
    # strace does): called with the signal, its si_code and who sent it ((pid, uid, si_status),
    # or None when the process sent it itself); for a CPU fault's signal also with its si_addr.
    watch: Callable[..., None] | None = field(default=None, compare=False, repr=False)
    # Signals another task sent that were dropped as ignored, while something watches: a
    # traced Linux process takes them (a tracer sees them) on its way back to user mode, so
    # the watch is told of them there (sig, si_code, (pid, uid, si_status)).
    dropped: list[tuple[int, int, tuple[int, int, int]]] = field(default_factory=list, compare=False, repr=False)

    def action(self, sig: int) -> SigAction:
        """The disposition of ``sig`` (the default one unless changed)."""
        return self.actions.get(sig) or SigAction()

    def ignores(self, sig: int) -> bool:
        """Whether delivering ``sig`` now would do nothing."""
        act = self.action(sig)
        if act.handler == SIG_IGN:
            return sig not in (SIGKILL, SIGSTOP)
        return act.handler == SIG_DFL and (sig in DEFAULT_IGNORED or sig == DEFAULT_CONTINUE)

    def send(self, sig: int, how: str, code: int = SI_USER, result: int | None = 0) -> None:
        """Raise ``sig`` for the process: deliver it now unless blocked (then it is pending).

        ``how`` says who sent it (``"tgkill"``, ``"a write to a pipe with no reader"``), for
        the reason the process ends with; ``code`` is its si_code; ``result`` is what the
        system call that raised it returns, should a handler run first.
        """
        if sig == 0:
            return
        if self.blocked & _bit(sig) and sig not in (SIGKILL, SIGSTOP):
            # Blocked signals are never ignored: the action may change before they are let in.
            self.pending |= _bit(sig)
            self.pending_codes.setdefault(sig, code)
            return
        self.deliver(sig, how, code, result)

    def post(self, sig: int, code: int, sender_pid: int, sender_uid: int, how: str, status: int = 0) -> None:
        """Make ``sig`` pending for this thread, from another task or process (it is delivered
        when the thread next runs, or when its mask lets it in)."""
        self.pending |= _bit(sig)
        self.pending_codes.setdefault(sig, code)
        self.pending_senders.setdefault(sig, (sender_pid, sender_uid, how, status))

    def deliverable(self) -> bool:
        """Whether a pending signal is not blocked (it would be delivered now)."""
        return bool(self.pending & ~self.blocked)

    def deliver(self, sig: int, how: str, code: int = SI_USER, result: int | None = 0,
                sender: tuple[int, int, int] | None = None) -> None:
        """Carry out the action of ``sig``: nothing, end the process, or run its handler.

        ``sender`` is (pid, uid, si_status) of who sent it (default: the process itself).
        """
        if self.watch is not None:
            self.watch(sig, code, sender)
        self._act(sig, how, code, result, sender)

    def force_fault(self, sig: int, code: int, addr: int) -> bool:
        """The signal of a CPU fault in the current task (Linux's force_sig_fault): its handler
        runs (the SignalDelivery propagates, with ``addr`` as si_addr), or False when the
        signal is blocked, ignored or left to its default action: the fault then ends the
        process, as on Linux, where a blocked or ignored fault signal is reset to SIG_DFL."""
        act = self.action(sig)
        if self.blocked & _bit(sig) or act.handler in (SIG_DFL, SIG_IGN):
            return False
        if self.watch is not None:
            self.watch(sig, code, None, addr)
        try:
            self._act(sig, "a CPU fault", code, None, None)
        except SignalDelivery as delivery:
            delivery.addr = addr
            raise
        return False

    def _act(self, sig: int, how: str, code: int, result: int | None, sender: tuple[int, int, int] | None) -> None:
        if self.ignores(sig):
            return
        act = self.action(sig)
        if act.handler != SIG_DFL:
            saved = self.blocked
            self.blocked = (saved | act.mask | (0 if act.flags & SA_NODEFER else _bit(sig))) & ~_UNBLOCKABLE
            if act.flags & SA_RESETHAND:
                self.actions[sig] = SigAction(SIG_DFL, act.flags, act.restorer, act.mask)  # only the handler resets
            pid, uid, status = sender if sender is not None else (self.pid, self.uid, 0)
            raise SignalDelivery(sig, act, saved, code, result, pid, uid, status)
        if sig in DEFAULT_STOP:
            raise ProcessStop(sig, how)
        raise ProcessExit(signal=sig, reason=f"{signal_name(sig)} ({DESCRIPTIONS.get(signal_name(sig), 'signal')}), sent by {how}")

    def deliver_pending(self, how: str, result: int | None = 0) -> None:
        """Deliver what is pending and no longer blocked, lowest signal first as Linux does.

        A handler to run stops the loop (its SignalDelivery propagates); the rest stay pending
        until the handler returns and the mask is restored.
        """
        if self.dropped:
            self.report_dropped()
        ready = self.pending & ~self.blocked
        while ready:
            sig = (ready & -ready).bit_length()
            self.pending &= ~_bit(sig)
            ready &= ~_bit(sig)
            posted = self.pending_senders.pop(sig, None)
            code = self.pending_codes.pop(sig, SI_USER)
            if posted is None:
                self.deliver(sig, how, code, result)
            else:
                pid, uid, sent_how, status = posted
                self.deliver(sig, sent_how, code, result, (pid, uid, status))

    def report_dropped(self) -> None:
        """Tell the watch of the ignored signals dropped since the last return to user mode."""
        dropped, self.dropped = self.dropped, []
        if self.watch is not None:
            for sig, code, sender in dropped:
                self.watch(sig, code, sender)

    def after_handler(self, mask: int, altstack: AltStack | None) -> None:
        """What ``rt_sigreturn`` does once the registers are back: the frame's mask and altstack."""
        self.blocked = mask & ~_UNBLOCKABLE
        if altstack is not None:
            self.altstack = altstack
        self.deliver_pending("the process itself, delivered when its handler returned", None)


# -- the system calls ----------------------------------------------------------------------


def _read_sigset(k: "Kernel", ptr: int) -> int:
    return int.from_bytes(k.memory.read(ptr, SIGSET_SIZE), k.structs.byteorder)


def _write_sigset(k: "Kernel", ptr: int, value: int, size: int = SIGSET_SIZE) -> None:
    k.memory.write(ptr, value.to_bytes(SIGSET_SIZE, k.structs.byteorder)[:size])


@syscall("rt_sigaction")
def sys_rt_sigaction(k: "Kernel", req: SyscallRequest, signum: Int, act: Ptr, oldact: Ptr, sigsetsize: Size) -> int:
    if sigsetsize != SIGSET_SIZE:
        raise KernelError(Errno.EINVAL)
    layout = k.structs.sigaction
    new = None
    if act:
        raw = layout.unpack(k.memory.read(act, layout.size))
        # Since Linux 5.11 unknown flag bits are cleared, so a program can tell which are supported.
        known = UAPI_SA_FLAGS | (SA_RESTORER if "sa_restorer" in layout.names else 0)
        new = SigAction(raw["sa_handler"], raw["sa_flags"] & known, raw.get("sa_restorer", 0),
                        raw["sa_mask"] & ~_UNBLOCKABLE)
    if not 1 <= signum <= NSIG or (new is not None and signum in (SIGKILL, SIGSTOP)):
        raise KernelError(Errno.EINVAL)
    state = k.signals
    old = state.action(signum)
    if new is not None:
        state.actions[signum] = new
        if state.ignores(signum):
            state.pending &= ~_bit(signum)  # setting a signal to be ignored discards it
    if oldact:
        k.memory.write(oldact, layout.pack(sa_handler=old.handler, sa_flags=old.flags, sa_restorer=old.restorer, sa_mask=old.mask))
    return 0


@syscall("rt_sigprocmask")
def sys_rt_sigprocmask(k: "Kernel", req: SyscallRequest, how: Int, set: Ptr, oldset: Ptr, sigsetsize: Size) -> int:
    if sigsetsize != SIGSET_SIZE:
        raise KernelError(Errno.EINVAL)
    state = k.signals
    old = state.blocked
    if set:
        mask = _read_sigset(k, set) & ~_UNBLOCKABLE
        if how == SIG_BLOCK:
            state.blocked = old | mask
        elif how == SIG_UNBLOCK:
            state.blocked = old & ~mask
        elif how == SIG_SETMASK:
            state.blocked = mask
        else:
            raise KernelError(Errno.EINVAL)
    if oldset:
        _write_sigset(k, oldset, old)
    # Linux delivers what the new mask lets through on the way back to user space.
    state.deliver_pending("the process itself, delivered when rt_sigprocmask unblocked it", 0)
    return 0


# -- waiting for a signal --------------------------------------------------------------------------

# The calls that wait for a signal themselves: when one comes, the call is made again and
# takes it (a handler runs as it returns EINTR, or sigtimedwait dequeues it), rather than
# being interrupted from outside like any other wait.
SIGNAL_WAITS = frozenset({"pause", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "epoll_pwait",
                          "epoll_pwait2"})


def siginfo_bytes(k: "Kernel", sig: int, code: int, pid: int, uid: int, status: int = 0,
                  addr: int | None = None) -> bytes:
    """A 128-byte ``siginfo_t``: signo, errno, code, then the sender's pid and uid (and for
    SIGCHLD the child's status), or for a CPU fault's signal the faulting address (si_addr)."""
    import struct

    head = struct.pack(k.structs.endian + "iii", sig, 0, code) + bytes(4 if k.arch.word_size == 8 else 0)
    if addr is not None:
        body = struct.pack(k.structs.endian + ("Q" if k.arch.word_size == 8 else "I"), addr)
    else:
        body = struct.pack(k.structs.endian + "iIi", pid, uid, status)
    return (head + body).ljust(128, b"\0")


@syscall("pause")
def sys_pause(k: "Kernel", req: SyscallRequest) -> int:
    state = k.signals
    while True:
        if state.deliverable():
            # a handler runs as the call returns EINTR; an ignored signal does not end the wait
            state.deliver_pending("a signal pause waited for", -int(Errno.EINTR))
        k.wait_for("a signal (pause)")


@syscall("rt_sigsuspend")
def sys_rt_sigsuspend(k: "Kernel", req: SyscallRequest, mask: Ptr, sigsetsize: Size) -> int:
    if sigsetsize != SIGSET_SIZE:
        raise KernelError(Errno.EINVAL)
    state = k.signals
    kept = k.current.call_state
    saved = kept.get("sigsuspend_mask")
    if saved is None:
        # the mask changes for the wait only: the handler's frame keeps the one from before
        new = _read_sigset(k, mask) & ~_UNBLOCKABLE
        saved = kept["sigsuspend_mask"] = state.blocked
        state.blocked = new
    while True:
        if state.deliverable():
            try:
                state.deliver_pending("a signal sigsuspend waited for", -int(Errno.EINTR))
            except SignalDelivery as delivery:
                delivery.saved_mask = saved
                raise
        k.wait_for("a signal (sigsuspend)")


def _sigtimedwait(k: "Kernel", uthese: int, uinfo: int, timeout_ns: int | None) -> int:
    state = k.signals
    kept = k.current.call_state
    wanted = _read_sigset(k, uthese) & ~_UNBLOCKABLE
    saved = kept.get("sigwait_mask")
    if saved is None:
        # the signals waited for wake the task while it waits (Linux's real_blocked)
        saved = kept["sigwait_mask"] = state.blocked
        state.blocked = saved & ~wanted
    while True:
        ready = state.pending & wanted
        if ready:
            sig = (ready & -ready).bit_length()
            state.pending &= ~_bit(sig)
            code = state.pending_codes.pop(sig, SI_USER)
            pid, uid, _how, status = state.pending_senders.pop(sig, (state.pid, state.uid, "", 0))
            state.blocked = saved
            if uinfo:
                k.memory.write(uinfo, siginfo_bytes(k, sig, code, pid, uid, status))
            return sig
        if state.pending & ~state.blocked:
            state.blocked = saved  # another signal: its handler runs and the wait ends with EINTR
            state.deliver_pending("a signal that came during sigtimedwait", -int(Errno.EINTR))
            state.blocked = saved & ~wanted
        if timeout_ns == 0 or k.wait_for("a signal (sigtimedwait)", timeout_ns=timeout_ns) == "timeout":
            state.blocked = saved
            raise KernelError(Errno.EAGAIN)


@syscall("rt_sigtimedwait")
def sys_rt_sigtimedwait(k: "Kernel", req: SyscallRequest, set: Ptr, info: Ptr, timeout: Ptr, sigsetsize: Size) -> int:
    from kernel_model.clock import read_timespec

    if sigsetsize != SIGSET_SIZE:
        raise KernelError(Errno.EINVAL)
    return _sigtimedwait(k, set, info, read_timespec(k, timeout) if timeout else None)


@syscall("rt_sigtimedwait_time64")
def sys_rt_sigtimedwait_time64(k: "Kernel", req: SyscallRequest, set: Ptr, info: Ptr, timeout: Ptr,
                               sigsetsize: Size) -> int:
    from kernel_model.compat import read_timespec64

    if sigsetsize != SIGSET_SIZE:
        raise KernelError(Errno.EINVAL)
    return _sigtimedwait(k, set, info, read_timespec64(k, timeout) if timeout else None)


@syscall("rt_sigpending")
def sys_rt_sigpending(k: "Kernel", req: SyscallRequest, set: Ptr, sigsetsize: Size) -> int:
    if sigsetsize > SIGSET_SIZE:
        raise KernelError(Errno.EINVAL)
    _write_sigset(k, set, k.signals.pending & k.signals.blocked, sigsetsize)
    return 0


def on_altstack(alt: AltStack, sp: int) -> bool:
    """Whether ``sp`` is on the alternate stack (which grows down from ``sp + size``)."""
    return alt.size > 0 and alt.sp < sp <= alt.sp + alt.size


@syscall("sigaltstack")
def sys_sigaltstack(k: "Kernel", req: SyscallRequest, ss: Ptr, old_ss: Ptr) -> int:
    layout = k.structs.stack_t
    state = k.signals
    new = layout.unpack(k.memory.read(ss, layout.size)) if ss else None
    old = state.altstack
    on_it = req.cpu is not None and on_altstack(old, req.cpu.get_stack_pointer())
    if new is not None:
        if on_it:
            raise KernelError(Errno.EPERM)  # it cannot change under a running handler
        flags = new["ss_flags"] & 0xFFFFFFFF
        mode = flags & ~SS_AUTODISARM
        if mode not in (0, SS_ONSTACK, SS_DISABLE):
            raise KernelError(Errno.EINVAL)
        if mode == SS_DISABLE:
            state.altstack = AltStack(0, 0, flags)
        else:
            if new["ss_size"] < k.abi.minsigstksz:
                raise KernelError(Errno.ENOMEM)
            state.altstack = AltStack(new["ss_sp"], new["ss_size"], flags & SS_AUTODISARM)
    if old_ss:
        flags = SS_DISABLE if old.size == 0 else (SS_ONSTACK if on_it else 0) | (old.flags & SS_AUTODISARM)
        k.memory.write(old_ss, layout.pack(ss_sp=old.sp, ss_flags=flags, ss_size=old.size))
    return 0


def _check_signal(sig: int) -> None:
    if not 0 <= sig <= NSIG:
        raise KernelError(Errno.EINVAL)


def _sender(k: "Kernel") -> tuple[int, int]:
    return k.process.pid, k.identity.uid


def send_to(k: "Kernel", proc, sig: int, how: str, code: int, task=None) -> None:  # type: ignore[no-untyped-def]
    """``sig`` from the current task to a process (or one of its threads): at once when it is
    the current task itself (delivered on the way out of this call), else posted."""
    from kernel_model.lifecycle import post_signal

    if sig == 0:
        return
    if (task is None and proc is k.process and len([t for t in proc.threads if t.state != "dead"]) == 1) or task is k.current:
        k.signals.send(sig, how, code, 0)
        return
    pid, uid = _sender(k)
    post_signal(k, proc, sig, code, pid, uid, how, task=task)
    if proc is k.process and task is None and k.signals.deliverable():
        k.signals.deliver_pending(how, 0)  # it may have landed on the caller itself


@syscall("kill")
def sys_kill(k: "Kernel", req: SyscallRequest, pid: Pid, sig: Int) -> int:
    _check_signal(sig)
    table = k.processes
    if pid > 0:
        targets = [p for p in table.live() if p.pid == pid]
    elif pid == 0:
        targets = table.group(k.process.pgid)
    elif pid == -1:
        # every process the caller may signal but itself and the first one (init's place)
        targets = [p for p in table.live() if p is not k.process and p.pid != table.first_pid]
    else:
        targets = table.group(-pid)
    if not targets:
        raise KernelError(Errno.ESRCH)
    # the caller last, so that a signal it sends itself is delivered after the others are sent
    for proc in sorted(targets, key=lambda p: p is k.process):
        send_to(k, proc, sig, "kill", SI_USER)
    return 0


def _thread(k: "Kernel", tid: int, tgid: int | None):  # type: ignore[no-untyped-def]
    task = k.processes.tasks.get(tid)
    if task is None or task.state == "dead" or (tgid is not None and task.process.pid != tgid):
        raise KernelError(Errno.ESRCH)
    return task


@syscall("tgkill")
def sys_tgkill(k: "Kernel", req: SyscallRequest, tgid: Pid, tid: Pid, sig: Int) -> int:
    if tgid <= 0 or tid <= 0:
        raise KernelError(Errno.EINVAL)
    _check_signal(sig)
    task = _thread(k, tid, tgid)
    send_to(k, task.process, sig, "tgkill", SI_TKILL, task)
    return 0


@syscall("tkill")
def sys_tkill(k: "Kernel", req: SyscallRequest, tid: Pid, sig: Int) -> int:
    if tid <= 0:
        raise KernelError(Errno.EINVAL)
    _check_signal(sig)
    task = _thread(k, tid, None)
    send_to(k, task.process, sig, "tkill", SI_TKILL, task)
    return 0


@syscall("rt_sigreturn")
def sys_rt_sigreturn(k: "Kernel", req: SyscallRequest) -> int:
    # The registers and FP state to restore are in the frame on the guest's stack, which only
    # the CPU side can put back; it calls SignalState.after_handler for the rest.
    raise SignalReturn(rt=True)


@syscall("sigreturn")
def sys_sigreturn(k: "Kernel", req: SyscallRequest) -> int:
    # i386 and arm: the return from a handler installed without SA_SIGINFO, whose frame is the
    # older one (on i386 it keeps the mask's low word in sigcontext.oldmask, the rest apart).
    raise SignalReturn(rt=False)
