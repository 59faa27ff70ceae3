"""epoll: ``epoll_create``/``epoll_create1``, ``epoll_ctl``, ``epoll_wait``, ``epoll_pwait``
and ``epoll_pwait2``.

An epoll instance is a file holding an interest list: for each (descriptor, open file) the
events asked for and the caller's 64-bit data. Readiness is the one poll and select use, each
handle's :meth:`~kernel_model.fsnodes.Handle.poll`, and a wait waits on the same sources
(:func:`kernel_model.poll.wait_until`): wait queues, host descriptors, a timer's deadline.

Level-triggered entries are reported while they are ready, and go to the back of the list once
reported so that a small ``maxevents`` takes turns, as Linux's ready list does. An
edge-triggered entry is reported again only after a change: a wake of the file's wait queues
(every write to a pipe or an eventfd, every expiration of a timer), or for a file whose
readiness only the host knows, new events. ``EPOLLONESHOT`` disables the entry once reported,
until ``EPOLL_CTL_MOD``. An entry goes away when its open file is closed for the last time.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Callable

from kernel_model.abi import O_CLOEXEC
from kernel_model.clock import read_timespec
from kernel_model.compat import read_timespec64
from kernel_model.eventfiles import AnonHandle, install_anon
from kernel_model.fdtable import OpenFile
from kernel_model.fsnodes import READABLE, Handle
from kernel_model.linux_errno import Errno
from kernel_model.poll import wait_until
from kernel_model.registry import Fd, Int, Ptr, Size, syscall
from kernel_model.sched import Blocked, WaitQueue
from kernel_model.seam import GuestFault, KernelError, SyscallRequest
from kernel_model.signals import _UNBLOCKABLE, SIGSET_SIZE, SignalDelivery

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel

EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLERR, EPOLLHUP = 0x1, 0x2, 0x4, 0x8, 0x10
EPOLLRDHUP = 0x2000
EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET = 1 << 28, 1 << 29, 1 << 30, 1 << 31
PRIVATE_BITS = EPOLLEXCLUSIVE | EPOLLWAKEUP | EPOLLONESHOT | EPOLLET
EXCLUSIVE_OK_BITS = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
EP_MAX_NESTS = 4
INT_MAX = (1 << 31) - 1


def event_layout(k: "Kernel") -> tuple[str, int]:
    """The struct format of ``struct epoll_event`` and its size: packed on x86 (12 bytes),
    a padded u64 elsewhere (16)."""
    fmt = "IQ" if k.arch.name in ("x86_64", "i386") else "IIQ"
    return k.structs.endian + fmt, struct.calcsize("<" + fmt)


class Entry:
    """One watched (descriptor, open file) of an interest list."""

    __slots__ = ("fd", "file", "events", "data", "fresh", "generation", "seen")

    def __init__(self, fd: int, file: OpenFile, events: int, data: int) -> None:
        self.fd = fd
        self.file = file
        self.set(events, data)

    def set(self, events: int, data: int) -> None:
        """Ask for ``events`` with ``data`` (ADD, MOD); ERR and HUP are always asked for."""
        self.events = events | EPOLLERR | EPOLLHUP
        self.data = data
        self.fresh = True  # not reported since added or modified: an edge is due if it is ready
        self.generation: int | None = None
        self.seen = 0

    @property
    def handle(self) -> Handle:
        """The handle of the watched open file."""
        return self.file.handle

    def pending(self) -> int:
        """The events it would report now (without reporting them)."""
        asked = self.events & ~PRIVATE_BITS
        if not asked:
            return 0  # a one-shot entry that fired
        ready = self.handle.poll() & asked
        if not ready or not self.events & EPOLLET or self.fresh:
            return ready
        generation = self.handle.poll_generation()
        if generation is None:
            return ready if ready & ~self.seen else 0
        return ready if generation != self.generation else 0

    def reported(self, events: int) -> None:
        """It was reported with ``events``."""
        self.fresh = False
        if self.events & EPOLLET:
            self.generation = self.handle.poll_generation()
            self.seen = events
        if self.events & EPOLLONESHOT:
            self.events &= PRIVATE_BITS


class Epoll(AnonHandle):
    """An epoll instance: the interest list, in the order entries became candidates."""

    kind = "eventpoll"

    def __init__(self) -> None:
        self.entries: dict[tuple[int, OpenFile], Entry] = {}
        self.changed = WaitQueue("an epoll interest list to change")

    def live(self) -> list[Entry]:
        """The entries whose file is still open (an entry goes with its file's last close)."""
        for key in [key for key, e in self.entries.items() if e.file.refs <= 0]:
            del self.entries[key]
        return list(self.entries.values())

    def ready(self, maxevents: int) -> list[tuple[Entry, int]]:
        """Up to ``maxevents`` entries with the events each would report now (nothing is reported yet)."""
        out = []
        for entry in self.live():
            events = entry.pending()
            if not events:
                if entry.events & EPOLLET and not entry.handle.poll() & entry.events:
                    entry.seen = 0  # no longer ready: the host's next events are an edge
                continue
            out.append((entry, events))
            if len(out) == maxevents:
                break
        return out

    def report(self, got: list[tuple[Entry, int]]) -> None:
        """These entries were reported: edges and one-shots are spent, level ones go to the back."""
        for entry, events in got:
            entry.reported(events)
            if not entry.events & (EPOLLET | EPOLLONESHOT):
                key = (entry.fd, entry.file)
                self.entries[key] = self.entries.pop(key)  # to the back: the others' turn next

    def sources(self) -> list[tuple[Handle, int]]:
        """The handles a wait waits on, with the events asked of each."""
        return [(e.handle, e.events & ~PRIVATE_BITS) for e in self.live() if e.events & ~PRIVATE_BITS]

    # -- as a file, watched by poll, select or another epoll ------------------------------

    def poll(self) -> int:
        return READABLE if any(e.pending() for e in self.live()) else 0

    def waiters(self) -> tuple:
        return (self.changed,)

    def wait_sources(self, events: int) -> tuple[tuple, dict[int, int], int | None]:
        queues: list = [self.changed]
        host: dict[int, int] = {}
        due = None
        for handle, wanted in self.sources():
            q, h, d = handle.wait_sources(wanted)
            queues.extend(q)
            for fd, ev in h.items():
                host[fd] = host.get(fd, 0) | ev
            if d is not None:
                due = d if due is None else min(due, d)
        return tuple(queues), host, due

    def poll_generation(self) -> int | None:
        return self.changed.generation + sum(e.handle.poll_generation() or 0 for e in self.live())

    def reaches(self, other: "Epoll", depth: int = 0) -> bool:
        """Whether ``other`` is this instance or is watched through it (a loop, or too deep)."""
        if self is other or depth > EP_MAX_NESTS:
            return True
        return any(isinstance(e.handle, Epoll) and e.handle.reaches(other, depth + 1) for e in self.live())

    def close(self) -> None:
        self.entries.clear()


def _epoll(k: "Kernel", fd: int) -> Epoll:
    handle = k.fds.get_io(fd).handle
    if not isinstance(handle, Epoll):
        raise KernelError(Errno.EINVAL)
    return handle


@syscall("epoll_create1")
def sys_epoll_create1(k: "Kernel", req: SyscallRequest, flags: Int) -> int:
    canonical = k.abi.open_flags_in(flags & 0xFFFFFFFF)
    if canonical & ~O_CLOEXEC:
        raise KernelError(Errno.EINVAL)
    return install_anon(k, Epoll(), bool(canonical & O_CLOEXEC), False)


@syscall("epoll_create")
def sys_epoll_create(k: "Kernel", req: SyscallRequest, size: Int) -> int:
    if size <= 0:
        raise KernelError(Errno.EINVAL)
    return sys_epoll_create1(k, req, 0)


@syscall("epoll_ctl", partial="EPOLLEXCLUSIVE is accepted, but a wake wakes every waiter; an edge-triggered "
         "host descriptor (a terminal, a host socket) has an edge only when new events appear, not on each arrival")
def sys_epoll_ctl(k: "Kernel", req: SyscallRequest, epfd: Fd, op: Int, fd: Fd, event: Ptr) -> int:
    fmt, size = event_layout(k)
    events = data = 0
    if op != EPOLL_CTL_DEL:
        fields = struct.unpack(fmt, k.memory.read(event, size))
        events, data = fields[0], fields[-1]
    ep_file = k.fds.get_io(epfd)  # an O_PATH descriptor is EBADF here, as fdget makes it
    target = k.fds.get_io(fd)
    if not target.handle.pollable:
        raise KernelError(Errno.EPERM)
    ep = ep_file.handle
    if target is ep_file or not isinstance(ep, Epoll):
        raise KernelError(Errno.EINVAL)
    if op != EPOLL_CTL_DEL and events & EPOLLEXCLUSIVE:
        if op == EPOLL_CTL_MOD or isinstance(target.handle, Epoll) or events & ~EXCLUSIVE_OK_BITS:
            raise KernelError(Errno.EINVAL)
    events &= ~EPOLLWAKEUP  # without CAP_BLOCK_SUSPEND it is dropped silently
    key = (fd, target)
    ep.live()
    entry = ep.entries.get(key)
    if op == EPOLL_CTL_ADD:
        if entry:
            raise KernelError(Errno.EEXIST)
        if isinstance(target.handle, Epoll) and target.handle.reaches(ep):
            raise KernelError(Errno.ELOOP)
        ep.entries[key] = Entry(fd, target, events, data)
    elif op == EPOLL_CTL_DEL:
        if not entry:
            raise KernelError(Errno.ENOENT)
        del ep.entries[key]
    elif op == EPOLL_CTL_MOD:
        if not entry:
            raise KernelError(Errno.ENOENT)
        if entry.events & EPOLLEXCLUSIVE:
            raise KernelError(Errno.EINVAL)
        entry.set(events, data)
    else:
        raise KernelError(Errno.EINVAL)
    ep.changed.wake()  # a waiter looks again
    return 0


def _with_sigmask(k: "Kernel", sigmask: int, sigsetsize: int, body: Callable[[], int]) -> int:
    """Run ``body`` (a wait) with the signal mask at ``sigmask`` in place, as epoll_pwait does:
    the mask is put in place once, kept across the call's restarts, and the one from before
    comes back when the call returns; a handler that interrupts the wait returns to it too
    (its frame saves the mask from before)."""
    state = k.signals
    kept = k.current.call_state
    if sigmask and "pwait_mask" not in kept:
        if sigsetsize != SIGSET_SIZE:
            raise KernelError(Errno.EINVAL)
        new = int.from_bytes(k.memory.read(sigmask, SIGSET_SIZE), k.structs.byteorder) & ~_UNBLOCKABLE
        kept["pwait_mask"] = state.blocked
        state.blocked = new
    saved = kept.get("pwait_mask")
    try:
        result = body()
    except Blocked:
        raise  # the mask stays in place while the task waits
    except SignalDelivery as delivery:
        if saved is not None:
            delivery.saved_mask = saved
        raise
    except BaseException:
        if saved is not None:
            state.blocked = saved
        raise
    if saved is not None:
        state.blocked = saved
    return result


def do_epoll_wait(k: "Kernel", epfd: int, events: int, maxevents: int, timeout_ns: int | None, what: str,
                  takes_signals: bool = False) -> int:
    """epoll_wait's body: wait for up to ``maxevents`` events and copy them to ``events``.

    ``takes_signals``: a signal that may be delivered ends the wait with EINTR here, its
    handler run as the call returns (epoll_pwait, made again when a signal comes)."""
    fmt, size = event_layout(k)
    if maxevents <= 0 or maxevents > INT_MAX // size:
        raise KernelError(Errno.EINVAL)
    ep = _epoll(k, epfd)

    def interrupted() -> None:
        if takes_signals and k.signals.deliverable():
            k.signals.deliver_pending(f"a signal that came during {what}", -int(Errno.EINTR))

    got, _ = wait_until(k, lambda: ep.ready(maxevents), bool, lambda: [(ep, EPOLLIN)], timeout_ns, what,
                        before_wait=interrupted)
    if got:
        out = b"".join(struct.pack(fmt, *((ev, e.data) if len(fmt) == 3 else (ev, 0, e.data))) for e, ev in got)
        try:
            k.memory.write(events, out)
        except GuestFault:
            raise KernelError(Errno.EFAULT) from None
        ep.report(got)
    return len(got)


def _ms(timeout: int) -> int | None:
    return None if timeout < 0 else timeout * 1_000_000


@syscall("epoll_wait")
def sys_epoll_wait(k: "Kernel", req: SyscallRequest, epfd: Fd, events: Ptr, maxevents: Int, timeout: Int) -> int:
    return do_epoll_wait(k, epfd, events, maxevents, _ms(timeout), "epoll_wait")


@syscall("epoll_pwait")
def sys_epoll_pwait(k: "Kernel", req: SyscallRequest, epfd: Fd, events: Ptr, maxevents: Int, timeout: Int,
                    sigmask: Ptr, sigsetsize: Size) -> int:
    return _with_sigmask(k, sigmask, sigsetsize,
                         lambda: do_epoll_wait(k, epfd, events, maxevents, _ms(timeout), "epoll_pwait", True))


@syscall("epoll_pwait2")
def sys_epoll_pwait2(k: "Kernel", req: SyscallRequest, epfd: Fd, events: Ptr, maxevents: Int, timeout: Ptr,
                     sigmask: Ptr, sigsetsize: Size) -> int:
    # a struct __kernel_timespec (64-bit seconds) on every arch
    timeout_ns = None
    if timeout:
        timeout_ns = read_timespec64(k, timeout) if k.arch.bits == 32 else read_timespec(k, timeout)
    return _with_sigmask(k, sigmask, sigsetsize,
                         lambda: do_epoll_wait(k, epfd, events, maxevents, timeout_ns, "epoll_pwait2", True))
