"""Waiting for descriptors: ``poll``, ``ppoll``, ``select`` and ``pselect6``.

Each open file's handle says which events are true now. When none is and the caller asked to
wait, the task waits on the wait queues of the objects polled (a pipe another task writes to)
and on the host descriptors behind the guest's (a terminal, the host's stdin), up to the
timeout; when no task could ever make one ready, the scheduler reports a deadlock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, TypeVar

from kernel_model.clock import NSEC, read_timespec, write_timespec
from kernel_model.fsnodes import POLLERR, POLLHUP, POLLNVAL, POLLPRI, READABLE, WRITABLE
from kernel_model.limits import RLIMIT_NOFILE
from kernel_model.linux_errno import Errno
from kernel_model.registry import Int, Ptr, Size, UInt, syscall
from kernel_model.sched import Blocked, Wait
from kernel_model.seam import KernelError, SyscallRequest
from kernel_model.signals import SIGSET_SIZE

if TYPE_CHECKING:
    from kernel_model.fsnodes import Handle
    from kernel_model.kernel import Kernel

T = TypeVar("T")

ALWAYS = POLLERR | POLLHUP | POLLNVAL  # reported whether asked for or not


def _ready(k: "Kernel", wanted: list[tuple[int, int]]) -> list[int]:
    """For each (fd, events): the events true now (POLLNVAL for a descriptor not open)."""
    out = []
    for fd, events in wanted:
        if fd < 0:
            out.append(0)
            continue
        if fd not in k.fds:
            out.append(POLLNVAL)
            continue
        out.append(k.fds.get(fd).handle.poll() & (events | ALWAYS))
    return out


def wait_until(k: "Kernel", check: Callable[[], T], ready: Callable[[T], bool],
               sources: Callable[[], list[tuple["Handle", int]]], timeout_ns: int | None, what: str,
               before_wait: Callable[[], None] | None = None) -> tuple[T, int]:
    """The one way poll, select and epoll wait: ``check()`` says what is true now; when
    ``ready`` says nothing is and the caller may wait, the task waits on what each
    (handle, events) of ``sources()`` names (wait queues, host descriptors, a timer's
    deadline) and on the timeout, and the call is made again when one of them changes.

    Returns ``check()``'s answer and the nanoseconds of the timeout left (0 when it ran out).
    Nothing is changed before the wait: the call is made again from its start. ``before_wait``
    runs when the call would wait (epoll_pwait ends it there for a signal it lets in).
    """
    k.resumed()
    got = check()
    kept = k.current.call_state
    deadline = kept.get("deadline")
    now = k.monotonic() if deadline is not None else 0  # a virtual clock moves at each reading
    timed_out = deadline is not None and deadline <= now
    if ready(got) or timeout_ns == 0 or timed_out:
        if timeout_ns is None or timed_out:
            return got, 0
        if deadline is None:
            return got, timeout_ns  # ready at once: none of the timeout was used
        return got, max(deadline - now, 0)
    if before_wait is not None:
        before_wait()
    if deadline is None and timeout_ns is not None:
        deadline = kept["deadline"] = k.monotonic() + max(timeout_ns, 0)
    queues: list = []
    host: dict[int, int] = {}
    wake_at = deadline
    for handle, events in sources():
        q, h, due = handle.wait_sources(events)
        queues.extend(q)
        for fd, ev in h.items():
            host[fd] = host.get(fd, 0) | ev
        if due is not None:
            wake_at = due if wake_at is None else min(wake_at, due)
    raise Blocked(Wait(tuple(queues), wake_at, host, f"{what} (its descriptors to be ready)"))


def wait_for(k: "Kernel", wanted: list[tuple[int, int]], timeout_ns: int | None, what: str) -> tuple[list[int], int]:
    """Wait until an event in ``wanted`` is true or the timeout passes.

    Returns the events per entry and the nanoseconds of the timeout left (0 when it ran out).
    """

    def sources() -> list[tuple["Handle", int]]:
        return [(k.fds.get(fd).handle, events) for fd, events in wanted if fd >= 0 and fd in k.fds]

    return wait_until(k, lambda: _ready(k, wanted), any, sources, timeout_ns, what)


def _poll(k: "Kernel", fds: int, nfds: int, timeout_ns: int | None, what: str) -> tuple[int, int]:
    if nfds > k.limits.get(RLIMIT_NOFILE)[0]:
        raise KernelError(Errno.EINVAL)
    layout = k.structs.pollfd
    raw = k.memory.read(fds, layout.size * nfds) if nfds else b""
    entries = [layout.unpack(raw[i * layout.size : (i + 1) * layout.size]) for i in range(nfds)]
    got, left = wait_for(k, [(e["fd"], e["events"] & 0xFFFF) for e in entries], timeout_ns, what)
    out = b"".join(
        layout.pack(fd=e["fd"], events=e["events"], revents=r) for e, r in zip(entries, got)
    )
    if out:
        k.memory.write(fds, out)
    return sum(1 for r in got if r), left


@syscall("poll")
def sys_poll(k: "Kernel", req: SyscallRequest, fds: Ptr, nfds: UInt, timeout: Int) -> int:
    return _poll(k, fds, nfds, None if timeout < 0 else timeout * 1_000_000, "poll")[0]


def _check_sigmask(k: "Kernel", sigmask: int, sigsetsize: int) -> None:
    # The mask only matters while waiting for a signal, and no signal can arrive while the
    # only thread waits; it is still read, so a bad pointer is EFAULT as on Linux.
    if sigmask:
        if sigsetsize != SIGSET_SIZE:
            raise KernelError(Errno.EINVAL)
        k.memory.read(sigmask, SIGSET_SIZE)


@syscall("ppoll", partial="the signal mask is checked and read, but no signal can arrive while waiting")
def sys_ppoll(k: "Kernel", req: SyscallRequest, fds: Ptr, nfds: UInt, tmo_p: Ptr, sigmask: Ptr, sigsetsize: Size) -> int:
    timeout_ns = read_timespec(k, tmo_p) if tmo_p else None
    _check_sigmask(k, sigmask, sigsetsize)
    count, left = _poll(k, fds, nfds, timeout_ns, "ppoll")
    if tmo_p and timeout_ns:
        write_timespec(k, tmo_p, left)  # ppoll reports the time left, as select does
    return count


# -- select ----------------------------------------------------------------------------------


def _read_fdset(k: "Kernel", ptr: int, nfds: int) -> int:
    if not ptr:
        return 0
    word = k.arch.word_size
    size = (nfds + word * 8 - 1) // (word * 8) * word
    return int.from_bytes(k.memory.read(ptr, size), k.structs.byteorder) & ((1 << nfds) - 1)


def _write_fdset(k: "Kernel", ptr: int, nfds: int, bits: int) -> None:
    if ptr:
        word = k.arch.word_size
        size = (nfds + word * 8 - 1) // (word * 8) * word
        k.memory.write(ptr, bits.to_bytes(size, k.structs.byteorder))


_SELECT_READ = READABLE | POLLHUP | POLLERR
_SELECT_WRITE = WRITABLE | POLLERR
_SELECT_EXCEPT = POLLPRI


def do_select(k: "Kernel", nfds: int, readfds: int, writefds: int, exceptfds: int, timeout_ns: int | None, what: str) -> tuple[int, int]:
    """select's body: returns the number of bits set and the nanoseconds of timeout left."""
    if nfds < 0:
        raise KernelError(Errno.EINVAL)
    nfds = min(nfds, k.fds.limit)
    sets = [_read_fdset(k, p, nfds) for p in (readfds, writefds, exceptfds)]
    wanted = []
    asked = sets[0] | sets[1] | sets[2]
    for fd in range(nfds):
        if asked >> fd & 1:
            if fd not in k.fds:
                raise KernelError(Errno.EBADF)
            events = (READABLE if sets[0] >> fd & 1 else 0) | (WRITABLE if sets[1] >> fd & 1 else 0)
            events |= POLLPRI if sets[2] >> fd & 1 else 0
            wanted.append((fd, events))
    got, left = wait_for(k, wanted, timeout_ns, what)
    out = [0, 0, 0]
    for (fd, _), events in zip(wanted, got):
        for i, mask in enumerate((_SELECT_READ, _SELECT_WRITE, _SELECT_EXCEPT)):
            if sets[i] >> fd & 1 and events & mask:
                out[i] |= 1 << fd
    for ptr, bits in zip((readfds, writefds, exceptfds), out):
        _write_fdset(k, ptr, nfds, bits)
    return sum(bin(b).count("1") for b in out), left


@syscall("select")
def sys_select(k: "Kernel", req: SyscallRequest, nfds: Int, readfds: Ptr, writefds: Ptr, exceptfds: Ptr, timeout: Ptr) -> int:
    timeout_ns = None
    if timeout:
        tv = k.structs.timeval.unpack(k.memory.read(timeout, k.structs.timeval.size))
        if tv["tv_sec"] < 0 or not 0 <= tv["tv_usec"] < 1_000_000:
            raise KernelError(Errno.EINVAL)
        timeout_ns = tv["tv_sec"] * NSEC + tv["tv_usec"] * 1000
    count, left = do_select(k, nfds, readfds, writefds, exceptfds, timeout_ns, "select")
    if timeout:
        k.memory.write(timeout, k.structs.timeval.pack(tv_sec=left // NSEC, tv_usec=left % NSEC // 1000))
    return count


@syscall("pselect6", partial="the signal mask is checked and read, but no signal can arrive while waiting")
def sys_pselect6(k: "Kernel", req: SyscallRequest, nfds: Int, readfds: Ptr, writefds: Ptr, exceptfds: Ptr, timeout: Ptr, sigmask: Ptr) -> int:
    timeout_ns = read_timespec(k, timeout) if timeout else None
    if sigmask:
        word = k.structs.word
        import struct

        size = struct.calcsize(word)
        mask_ptr, mask_size = struct.unpack(k.structs.endian + word * 2, k.memory.read(sigmask, size * 2))
        _check_sigmask(k, mask_ptr, mask_size)
    count, left = do_select(k, nfds, readfds, writefds, exceptfds, timeout_ns, "pselect6")
    if timeout and timeout_ns:
        write_timespec(k, timeout, left)
    return count
