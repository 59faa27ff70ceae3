"""The thread's start-up calls and futex for a single thread."""

from __future__ import annotations

import struct

import pytest

from fakes import AARCH64, KernelHarness
from kernel_model.clock import Clock
from kernel_model.linux_errno import Errno
from kernel_model.process import Deadlock

ARCH_SET_FS, ARCH_GET_FS = 0x1002, 0x1003
FUTEX_WAIT, FUTEX_WAKE, FUTEX_CMP_REQUEUE, FUTEX_WAKE_OP = 0, 1, 4, 5
FUTEX_LOCK_PI, FUTEX_UNLOCK_PI, FUTEX_TRYLOCK_PI, FUTEX_WAIT_BITSET = 6, 7, 8, 9
FUTEX_PRIVATE, FUTEX_CLOCK_REALTIME = 128, 256


def test_arch_prctl_moves_the_thread_pointer():
    kh = KernelHarness()
    assert kh.call("arch_prctl", ARCH_SET_FS, 0x7000_1234) == 0
    assert kh.cpu.thread_pointer == 0x7000_1234
    out = kh.buffer(8)
    assert kh.call("arch_prctl", ARCH_GET_FS, out) == 0
    assert struct.unpack("<Q", kh.read(out, 8))[0] == 0x7000_1234
    assert kh.errno("arch_prctl", ARCH_SET_FS, 0x7FFFFFFFF000) is Errno.EPERM  # not a user address
    assert kh.errno("arch_prctl", ARCH_GET_FS, 0x10) is Errno.EFAULT
    assert kh.errno("arch_prctl", 0x9999, 0) is Errno.EINVAL
    assert kh.call("arch_prctl", 0x1011, 0) == 1  # ARCH_GET_CPUID


def test_set_tid_address_and_the_robust_list():
    kh = KernelHarness()
    assert kh.call("set_tid_address", 0x1234) == kh.kernel.identity.pid
    assert kh.errno("set_robust_list", 0x5000, 23) is Errno.EINVAL
    assert kh.call("set_robust_list", 0x5000, 24) == 0
    head, length = kh.buffer(8), kh.buffer(8)
    assert kh.call("get_robust_list", 0, head, length) == 0
    assert struct.unpack("<QQ", kh.read(head, 8) + kh.read(length, 8)) == (0x5000, 24)
    assert kh.errno("get_robust_list", 4242, head, length) is Errno.ESRCH


def test_rseq_is_not_there_as_on_an_old_kernel():
    kh = KernelHarness()
    assert kh.errno("rseq", kh.buffer(32), 32, 0, 0x53053053) is Errno.ENOSYS
    assert kh.kernel.unimplemented == {}  # a deliberate answer, not a missing handler


def word(kh: KernelHarness, value: int) -> int:
    return kh.put(struct.pack("<I", value))


def test_futex_wait_and_wake_for_one_thread():
    kh = KernelHarness(clock=Clock(virtual=True))
    w = word(kh, 5)
    assert kh.errno("futex", w, FUTEX_WAIT | FUTEX_PRIVATE, 4, 0, 0, 0) is Errno.EAGAIN
    timeout = kh.put(struct.pack("<qq", 0, 2_000_000))
    before = kh.kernel.clock.now(1)
    assert kh.errno("futex", w, FUTEX_WAIT, 5, timeout, 0, 0) is Errno.ETIMEDOUT
    assert kh.kernel.clock.now(1) - before >= 2_000_000
    assert kh.call("futex", w, FUTEX_WAKE, 1, 0, 0, 0) == 0  # nobody waits
    with pytest.raises(Deadlock):
        kh.dispatch(_req(kh, "futex", w, FUTEX_WAIT, 5, 0, 0, 0))


@pytest.mark.parametrize(
    "op,val,val3,errno",
    [
        (99, 0, 0, Errno.ENOSYS),
        (FUTEX_WAKE | FUTEX_CLOCK_REALTIME, 1, 0, Errno.ENOSYS),
        (FUTEX_WAIT_BITSET, 5, 0, Errno.EINVAL),
        (FUTEX_CMP_REQUEUE, 1, 4, Errno.EAGAIN),
    ],
)
def test_futex_errors(op, val, val3, errno):
    kh = KernelHarness()
    w = word(kh, 5)
    assert kh.errno("futex", w, op, val, 0, w, val3) is errno


def test_futex_checks_alignment_timeout_and_address():
    kh = KernelHarness()
    w = word(kh, 5)
    assert kh.errno("futex", w + 1, FUTEX_WAKE, 1, 0, 0, 0) is Errno.EINVAL
    bad = kh.put(struct.pack("<qq", 0, -1))
    assert kh.errno("futex", w, FUTEX_WAIT, 5, bad, 0, 0) is Errno.EINVAL
    assert kh.errno("futex", 0x10, FUTEX_WAIT, 0, 0, 0, 0) is Errno.EFAULT


def test_futex_wake_op_changes_the_second_word():
    kh = KernelHarness()
    w1, w2 = word(kh, 0), word(kh, 10)
    # FUTEX_OP(FUTEX_OP_ADD, 5, FUTEX_OP_CMP_EQ, 0)
    encoded = (1 << 28) | (5 << 12)
    assert kh.call("futex", w1, FUTEX_WAKE_OP, 1, 1, w2, encoded) == 0
    assert struct.unpack("<I", kh.read(w2, 4))[0] == 15


def test_priority_inheritance_locks_for_one_thread():
    kh = KernelHarness()
    pid = kh.kernel.identity.pid
    w = word(kh, 0)
    assert kh.call("futex", w, FUTEX_LOCK_PI, 0, 0, 0, 0) == 0
    assert struct.unpack("<I", kh.read(w, 4))[0] == pid
    assert kh.errno("futex", w, FUTEX_LOCK_PI, 0, 0, 0, 0) is Errno.EDEADLK
    assert kh.call("futex", w, FUTEX_UNLOCK_PI, 0, 0, 0, 0) == 0
    assert kh.errno("futex", w, FUTEX_UNLOCK_PI, 0, 0, 0, 0) is Errno.EPERM
    other = word(kh, 4242)
    assert kh.errno("futex", other, FUTEX_TRYLOCK_PI, 0, 0, 0, 0) is Errno.EAGAIN


def test_arch_prctl_does_not_exist_on_aarch64():
    from sandbox.arch import get_arch
    from sandbox.arch.syscalls import syscall_table

    assert syscall_table(get_arch("aarch64")).number("arch_prctl") is None
    kh = KernelHarness(AARCH64)
    assert kh.call("set_tid_address", 0) == kh.kernel.identity.pid


def _req(kh, name, *args):
    from kernel_model.seam import SyscallRequest

    raw = tuple(a & 0xFFFFFFFFFFFFFFFF for a in args) + (0,) * (6 - len(args))
    return SyscallRequest(kh.kernel.arch.name, 0, name, raw, kh.memory)
