"""Threads' own state and their synchronisation: the thread pointer (x86_64 ``arch_prctl``),
``set_tid_address``, the robust futex list, ``rseq``, and ``futex``.

A futex wait parks the task on the wait queue of its word (in its address space) until a
``FUTEX_WAKE``, a requeue or its timeout; when no task could ever wake it, the scheduler
reports a deadlock instead of hanging the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kernel_model.linux_errno import Errno
from kernel_model.registry import Int, Ptr, Size, UInt, ULong, syscall
from kernel_model.seam import KernelError, SyscallRequest

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel

ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS = 0x1001, 0x1002, 0x1003, 0x1004
ARCH_GET_CPUID, ARCH_SET_CPUID = 0x1011, 0x1012
ARCH_GET_XCOMP_SUPP, ARCH_GET_XCOMP_PERM, ARCH_REQ_XCOMP_PERM = 0x1021, 0x1022, 0x1023
XFEATURE_MASK_FPSSE = 0x3  # x87 and SSE state: what the emulated CPU saves with xsave

@dataclass
class ThreadState:
    """What the kernel keeps about the thread: its tid pointers and its robust list."""

    clear_child_tid: int = 0
    robust_list: int = 0
    robust_list_len: int = 0
    rseq: int = 0
    comm: str | None = None  # the name prctl(PR_SET_NAME) gave (None: the program's name)


ROBUST_LIST_HEAD_WORDS = 3  # struct robust_list_head: list.next, futex_offset, list_op_pending


def _word(k: "Kernel", value: int) -> bytes:
    return value.to_bytes(k.arch.word_size, "big" if k.arch.big_endian else "little")


@syscall("arch_prctl", partial="ARCH_SET_GS/ARCH_GET_GS are refused with EINVAL (the GS base is not modelled)")
def sys_arch_prctl(k: "Kernel", req: SyscallRequest, option: Int, arg2: ULong) -> int:
    if k.arch.bits == 32 and option in (ARCH_SET_FS, ARCH_GET_FS, ARCH_SET_GS, ARCH_GET_GS):
        raise KernelError(Errno.EINVAL)  # i386: the FS and GS bases are only for 64-bit processes
    if option == ARCH_SET_FS:
        if arg2 >= k.mm.task_size:
            raise KernelError(Errno.EPERM)
        _cpu(req).set_thread_pointer(arg2)
        return 0
    if option == ARCH_GET_FS:
        k.memory.write(arg2, _word(k, _cpu(req).get_thread_pointer()))
        return 0
    if option == ARCH_GET_CPUID:
        return 1  # cpuid is not faulting
    if option == ARCH_SET_CPUID:
        raise KernelError(Errno.ENODEV)  # as on a CPU without cpuid faulting
    if option == ARCH_GET_XCOMP_SUPP or option == ARCH_GET_XCOMP_PERM:
        k.memory.write(arg2, XFEATURE_MASK_FPSSE.to_bytes(8, "little"))
        return 0
    if option == ARCH_REQ_XCOMP_PERM:
        # Only dynamically enabled features (AMX) need asking for; this CPU has none.
        raise KernelError(Errno.EINVAL if arg2 > 63 else Errno.EOPNOTSUPP)
    raise KernelError(Errno.EINVAL)


def _cpu(req: SyscallRequest):  # type: ignore[no-untyped-def]
    if req.cpu is None:
        raise KernelError(Errno.EINVAL, "no CPU attached to this request")
    return req.cpu


@syscall("set_tid_address")
def sys_set_tid_address(k: "Kernel", req: SyscallRequest, tidptr: Ptr) -> int:
    k.thread.clear_child_tid = tidptr
    return k.current.tid


@syscall("set_robust_list")
def sys_set_robust_list(k: "Kernel", req: SyscallRequest, head: Ptr, length: Size) -> int:
    if length != ROBUST_LIST_HEAD_WORDS * k.arch.word_size:
        raise KernelError(Errno.EINVAL)
    k.thread.robust_list, k.thread.robust_list_len = head, length
    return 0


@syscall("get_robust_list")
def sys_get_robust_list(k: "Kernel", req: SyscallRequest, pid: Int, head_ptr: Ptr, len_ptr: Ptr) -> int:
    if pid not in (0, k.identity.pid):
        raise KernelError(Errno.ESRCH)
    k.memory.write(head_ptr, _word(k, k.thread.robust_list))
    k.memory.write(len_ptr, _word(k, k.thread.robust_list_len))
    return 0


@syscall("rseq", partial="answers ENOSYS, as a kernel before 4.18 does; libc then does without")
def sys_rseq(k: "Kernel", req: SyscallRequest, rseq: Ptr, rseq_len: UInt, flags: Int, sig: UInt) -> int:
    # Restartable sequences need the kernel to rewrite the guest's pc on preemption; with one
    # thread and no preemption there is nothing to gain, and ENOSYS is a documented answer.
    raise KernelError(Errno.ENOSYS)


# -- futex ---------------------------------------------------------------------------------

FUTEX_WAIT, FUTEX_WAKE, FUTEX_FD, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE, FUTEX_WAKE_OP = 0, 1, 2, 3, 4, 5
FUTEX_LOCK_PI, FUTEX_UNLOCK_PI, FUTEX_TRYLOCK_PI, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 6, 7, 8, 9, 10
FUTEX_WAIT_REQUEUE_PI, FUTEX_CMP_REQUEUE_PI, FUTEX_LOCK_PI2 = 11, 12, 13
FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME = 128, 256
FUTEX_TID_MASK = 0x3FFFFFFF
FUTEX_WAITERS = 0x80000000
FUTEX_OWNER_DIED = 0x40000000
_CLOCK_REALTIME_OK = {FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI, FUTEX_LOCK_PI2}
_FUTEX_OP_ARITH = {0: lambda old, arg: arg, 1: lambda old, arg: old + arg, 2: lambda old, arg: old | arg,
                   3: lambda old, arg: old & ~arg, 4: lambda old, arg: old ^ arg}


def _load_u32(k: "Kernel", addr: int) -> int:
    return int.from_bytes(k.memory.read(addr, 4), "big" if k.arch.big_endian else "little")


def _store_u32(k: "Kernel", addr: int, value: int) -> None:
    k.memory.write(addr, (value & 0xFFFFFFFF).to_bytes(4, "big" if k.arch.big_endian else "little"))


def _wait_timeout(k: "Kernel", timeout: int, absolute: bool, realtime: bool) -> int | None:
    """Nanoseconds a wait may last (None: no timeout); EINVAL for a malformed timespec."""
    if not timeout:
        return None
    from kernel_model.clock import CLOCK_MONOTONIC, CLOCK_REALTIME, read_timespec

    ns = read_timespec(k, timeout)
    if absolute:
        ns = max(ns - k.clock.now(CLOCK_REALTIME if realtime else CLOCK_MONOTONIC), 0)
    return ns


@syscall("futex", partial="private and shared futexes within an address space; PI futexes without priority inheritance")
def sys_futex(k: "Kernel", req: SyscallRequest, uaddr: Ptr, futex_op: Int, val: UInt, timeout: Ptr, uaddr2: Ptr, val3: UInt) -> int:
    cmd = futex_op & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
    realtime = bool(futex_op & FUTEX_CLOCK_REALTIME)
    if realtime and cmd not in _CLOCK_REALTIME_OK:
        raise KernelError(Errno.ENOSYS)
    if cmd in (FUTEX_WAIT, FUTEX_WAKE, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE, FUTEX_WAKE_OP, FUTEX_WAIT_BITSET,
               FUTEX_WAKE_BITSET, FUTEX_LOCK_PI, FUTEX_UNLOCK_PI, FUTEX_TRYLOCK_PI, FUTEX_LOCK_PI2,
               FUTEX_WAIT_REQUEUE_PI, FUTEX_CMP_REQUEUE_PI) and uaddr % 4:
        raise KernelError(Errno.EINVAL)
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        if cmd == FUTEX_WAIT_BITSET and val3 == 0:
            raise KernelError(Errno.EINVAL)
        reason = k.resumed()
        if reason == "event":
            return 0  # woken by a FUTEX_WAKE
        if reason == "timeout":
            raise KernelError(Errno.ETIMEDOUT)
        # FUTEX_WAIT's timeout is relative; FUTEX_WAIT_BITSET's is absolute.
        wait_ns = _wait_timeout(k, timeout, cmd == FUTEX_WAIT_BITSET, realtime)
        if _load_u32(k, uaddr) != val:
            raise KernelError(Errno.EAGAIN)
        k.current.call_state["futex_bits"] = val3 if cmd == FUTEX_WAIT_BITSET else FUTEX_BITSET_MATCH_ANY
        k.wait_for(f"the futex at {uaddr:#x}", (k.futex_queue(uaddr),), wait_ns)
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        if cmd == FUTEX_WAKE_BITSET and val3 == 0:
            raise KernelError(Errno.EINVAL)
        bits = val3 if cmd == FUTEX_WAKE_BITSET else FUTEX_BITSET_MATCH_ANY
        return _wake(k, uaddr, val, bits)
    if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
        if cmd == FUTEX_CMP_REQUEUE and _load_u32(k, uaddr) != val3:
            raise KernelError(Errno.EAGAIN)
        return _requeue(k, uaddr, uaddr2, val, timeout & 0xFFFFFFFF)  # val2 rides in the timeout register
    if cmd == FUTEX_WAKE_OP:
        return _wake_op(k, uaddr, uaddr2, val, timeout & 0xFFFFFFFF, val3)
    if cmd in (FUTEX_LOCK_PI, FUTEX_LOCK_PI2, FUTEX_TRYLOCK_PI):
        return _lock_pi(k, uaddr, cmd == FUTEX_TRYLOCK_PI, timeout)
    if cmd == FUTEX_UNLOCK_PI:
        word = _load_u32(k, uaddr)
        if word & FUTEX_TID_MASK != k.current.tid:
            raise KernelError(Errno.EPERM)
        queue = k.futex_queue(uaddr)
        _store_u32(k, uaddr, FUTEX_WAITERS if len(queue.waiters) > 1 else 0)
        queue.wake(1)  # the woken locker takes the lock when it tries again
        return 0
    if cmd in (FUTEX_WAIT_REQUEUE_PI, FUTEX_CMP_REQUEUE_PI):
        if uaddr == uaddr2:
            raise KernelError(Errno.EINVAL)
        if cmd == FUTEX_CMP_REQUEUE_PI:
            if val != 1:
                raise KernelError(Errno.EINVAL)
            if _load_u32(k, uaddr) != val3:
                raise KernelError(Errno.EAGAIN)
            return _requeue(k, uaddr, uaddr2, 1, timeout & 0xFFFFFFFF)
        reason = k.resumed()
        if reason == "event":
            return 0
        if reason == "timeout":
            raise KernelError(Errno.ETIMEDOUT)
        if _load_u32(k, uaddr) != val:
            raise KernelError(Errno.EAGAIN)
        wait_ns = _wait_timeout(k, timeout, True, realtime)
        k.wait_for(f"the futex at {uaddr:#x} (requeue-pi)", (k.futex_queue(uaddr),), wait_ns)
    raise KernelError(Errno.ENOSYS)


FUTEX_BITSET_MATCH_ANY = 0xFFFFFFFF
FUTEX_WAITERS = 0x80000000


def _wake(k: "Kernel", uaddr: int, count: int, bits: int = FUTEX_BITSET_MATCH_ANY) -> int:
    """Wake up to ``count`` waiters on ``uaddr`` whose bitset shares a bit with ``bits``."""
    queue = k.futex_queue(uaddr, create=False)
    if queue is None:
        return 0
    return queue.wake(max(count, 0), match=lambda t: bool(t.call_state.get("futex_bits", FUTEX_BITSET_MATCH_ANY) & bits))


def _requeue(k: "Kernel", uaddr: int, uaddr2: int, wake: int, move: int) -> int:
    """Wake up to ``wake`` waiters of ``uaddr``, move up to ``move`` more to ``uaddr2``."""
    queue = k.futex_queue(uaddr, create=False)
    if queue is None:
        return 0
    woken = queue.wake(wake)
    target = k.futex_queue(uaddr2)
    moved = 0
    for task in list(queue.waiters)[:move]:
        queue.waiters.remove(task)
        target.waiters.append(task)
        assert task.wait is not None
        task.wait.queues = tuple(target if q is queue else q for q in task.wait.queues)
        moved += 1
    return woken + moved


def _wake_op(k: "Kernel", uaddr: int, uaddr2: int, wake: int, wake2: int, encoded: int) -> int:
    """FUTEX_WAKE_OP: change *uaddr2, wake ``wake`` on uaddr, and ``wake2`` on uaddr2 if the
    old value of *uaddr2 passes the comparison."""
    op = (encoded >> 28) & 0xF
    oparg = (encoded >> 12) & 0xFFF
    if op & 8:  # FUTEX_OP_OPARG_SHIFT
        if oparg > 31:
            oparg &= 31  # the kernel warns and masks
        oparg = 1 << oparg
        op &= 7
    if oparg & 0x800:
        oparg -= 0x1000  # sign-extended 12 bits
    fn = _FUTEX_OP_ARITH.get(op)
    if fn is None:
        raise KernelError(Errno.ENOSYS)
    cmp = (encoded >> 24) & 0xF
    if cmp > 5:
        raise KernelError(Errno.ENOSYS)
    cmparg = encoded & 0xFFF
    if cmparg & 0x800:
        cmparg -= 0x1000
    old = _load_u32(k, uaddr2)
    _store_u32(k, uaddr2, fn(old, oparg))
    woken = _wake(k, uaddr, wake)
    signed_old = old - (1 << 32) if old & 0x80000000 else old
    passes = (signed_old == cmparg, signed_old != cmparg, signed_old < cmparg, signed_old <= cmparg,
              signed_old > cmparg, signed_old >= cmparg)[cmp]
    if passes:
        woken += _wake(k, uaddr2, wake2)
    return woken


def _lock_pi(k: "Kernel", uaddr: int, try_only: bool, timeout: int) -> int:
    """FUTEX_LOCK_PI without priority inheritance: take the lock word, or wait for its owner."""
    reason = k.resumed()
    if reason == "timeout":
        raise KernelError(Errno.ETIMEDOUT)
    me = k.current.tid
    word = _load_u32(k, uaddr)
    owner = word & FUTEX_TID_MASK
    if owner == 0 or word & FUTEX_OWNER_DIED:
        queue = k.futex_queue(uaddr, create=False)
        waiters = FUTEX_WAITERS if queue is not None and queue.waiters else 0
        _store_u32(k, uaddr, me | waiters | (word & FUTEX_OWNER_DIED))
        return 0
    if owner == me:
        raise KernelError(Errno.EDEADLK)
    if try_only:
        raise KernelError(Errno.EAGAIN)
    if k.processes.tasks.get(owner) is None:
        raise KernelError(Errno.ESRCH)  # no such owner
    _store_u32(k, uaddr, word | FUTEX_WAITERS)
    wait_ns = _wait_timeout(k, timeout, True, False) if timeout else None
    k.wait_for(f"the PI futex at {uaddr:#x}, held by {owner}", (k.futex_queue(uaddr),), wait_ns)
    return _lock_pi(k, uaddr, try_only, timeout)