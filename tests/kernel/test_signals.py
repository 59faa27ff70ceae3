"""Signal dispositions, masks, pending signals, and what a delivered signal does."""

from __future__ import annotations

import struct

import pytest

from fakes import AARCH64, KernelHarness
from kernel_model.linux_errno import Errno
from kernel_model.seam import ProcessExit
from kernel_model.signals import HandlerNotSupported, SignalDelivery

SIGUSR1, SIGUSR2, SIGABRT, SIGKILL, SIGSTOP, SIGCHLD, SIGTERM = 10, 12, 6, 9, 19, 17, 15
SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2


def sigaction(kh: KernelHarness, handler: int, flags: int = 0, mask: int = 0) -> int:
    return kh.put(struct.pack("<QQQQ", handler, flags, 0x1234, mask))


def sigset(kh: KernelHarness, *signals: int) -> int:
    return kh.put(struct.pack("<Q", sum(1 << (s - 1) for s in signals)))


def test_rt_sigaction_stores_and_returns_the_old_action():
    kh = KernelHarness()
    old = kh.buffer(32)
    assert kh.call("rt_sigaction", SIGUSR1, sigaction(kh, 1, 0x04000000, 1 << 9), old, 8) == 0
    assert kh.call("rt_sigaction", SIGUSR1, 0, old, 8) == 0
    # the mask never holds SIGKILL/SIGSTOP; the rest comes back as it was set
    assert struct.unpack("<QQQQ", kh.read(old, 32)) == (1, 0x04000000, 0x1234, 1 << 9)
    act = sigaction(kh, 0, 0, (1 << (SIGKILL - 1)) | 1)
    kh.call("rt_sigaction", SIGUSR2, act, 0, 8)
    kh.call("rt_sigaction", SIGUSR2, 0, old, 8)
    assert struct.unpack("<Q", kh.read(old + 24, 8))[0] == 1


@pytest.mark.parametrize(
    "args,errno",
    [
        ((SIGKILL, "act", 0, 8), Errno.EINVAL),
        ((SIGSTOP, "act", 0, 8), Errno.EINVAL),
        ((0, 0, "old", 8), Errno.EINVAL),
        ((65, 0, "old", 8), Errno.EINVAL),
        ((SIGUSR1, 0, "old", 4), Errno.EINVAL),
        ((SIGUSR1, 0x10, 0, 8), Errno.EFAULT),
        ((SIGUSR1, 0, 0x10, 8), Errno.EFAULT),
    ],
)
def test_rt_sigaction_errors(args, errno):
    kh = KernelHarness()
    values = {"act": sigaction(kh, 1), "old": kh.buffer(32)}
    assert kh.errno("rt_sigaction", *(values.get(a, a) for a in args)) is errno


def test_reading_sigkill_action_is_allowed():
    kh = KernelHarness()
    assert kh.call("rt_sigaction", SIGKILL, 0, kh.buffer(32), 8) == 0


def test_procmask_block_unblock_setmask_and_errors():
    kh = KernelHarness()
    old = kh.buffer(8)
    assert kh.call("rt_sigprocmask", SIG_BLOCK, sigset(kh, SIGUSR1, SIGKILL), 0, 8) == 0
    kh.call("rt_sigprocmask", SIG_BLOCK, 0, old, 8)
    assert kh.read(old, 8) == struct.pack("<Q", 1 << (SIGUSR1 - 1))  # SIGKILL cannot be blocked
    kh.call("rt_sigprocmask", SIG_SETMASK, sigset(kh, SIGUSR2), old, 8)
    assert kh.read(old, 8) == struct.pack("<Q", 1 << (SIGUSR1 - 1))
    kh.call("rt_sigprocmask", SIG_UNBLOCK, sigset(kh, SIGUSR2), 0, 8)
    assert kh.kernel.signals.blocked == 0
    assert kh.errno("rt_sigprocmask", 7, sigset(kh, 1), 0, 8) is Errno.EINVAL
    assert kh.call("rt_sigprocmask", 7, 0, old, 8) == 0  # "how" only matters with a set
    assert kh.errno("rt_sigprocmask", SIG_BLOCK, 0, old, 16) is Errno.EINVAL
    assert kh.errno("rt_sigprocmask", SIG_BLOCK, 0x10, 0, 8) is Errno.EFAULT


def test_a_default_signal_ends_the_process_with_128_plus_its_number():
    kh = KernelHarness()
    pid = kh.kernel.identity.pid
    ex = kh.exit_of("kill", pid, SIGTERM)
    assert ex.signal == SIGTERM and ex.wait_status == 143 and "sent by kill" in ex.reason
    assert kh.exit_of("tgkill", pid, pid, SIGABRT).wait_status == 134
    assert kh.exit_of("tkill", pid, SIGKILL).wait_status == 137


def test_ignored_and_default_ignored_signals_do_nothing():
    kh = KernelHarness()
    pid = kh.kernel.identity.pid
    assert kh.call("kill", pid, SIGCHLD) == 0  # default action: ignore
    kh.call("rt_sigaction", SIGTERM, sigaction(kh, 1), 0, 8)
    assert kh.call("kill", pid, SIGTERM) == 0
    assert kh.call("kill", pid, 0) == 0  # signal 0 only checks the process exists


def test_a_blocked_signal_waits_and_is_delivered_when_unblocked():
    # This is what abort() does: block everything, raise SIGABRT, then restore the mask.
    kh = KernelHarness()
    pid = kh.kernel.identity.pid
    kh.call("rt_sigprocmask", SIG_SETMASK, kh.put(struct.pack("<Q", (1 << 64) - 1)), 0, 8)
    assert kh.call("tgkill", pid, pid, SIGABRT) == 0
    pending = kh.buffer(8)
    assert kh.call("rt_sigpending", pending, 8) == 0
    assert kh.read(pending, 8) == struct.pack("<Q", 1 << (SIGABRT - 1))
    with pytest.raises(ProcessExit) as ex:
        kh.kernel.dispatch(_req(kh, "rt_sigprocmask", SIG_SETMASK, sigset(kh), 0, 8))
    assert ex.value.signal == SIGABRT and "rt_sigprocmask unblocked it" in ex.value.reason


def test_ignoring_a_pending_signal_discards_it():
    kh = KernelHarness()
    pid = kh.kernel.identity.pid
    kh.call("rt_sigprocmask", SIG_BLOCK, sigset(kh, SIGUSR1), 0, 8)
    kh.call("kill", pid, SIGUSR1)
    assert kh.kernel.signals.pending
    kh.call("rt_sigaction", SIGUSR1, sigaction(kh, 1), 0, 8)
    assert kh.kernel.signals.pending == 0
    assert kh.call("rt_sigprocmask", SIG_SETMASK, sigset(kh), 0, 8) == 0


def deliver(kh: KernelHarness, name: str, *args: int) -> SignalDelivery:
    with pytest.raises(SignalDelivery) as caught:
        kh.kernel.dispatch(_req(kh, name, *args))
    return caught.value


def test_a_handler_gets_the_signal_with_the_mask_in_force():
    kh = KernelHarness()
    pid = kh.kernel.identity.pid
    kh.call("rt_sigaction", SIGUSR1, sigaction(kh, 0x401000, 0x04000004, 1 << (SIGUSR2 - 1)), 0, 8)
    kh.call("rt_sigprocmask", SIG_BLOCK, sigset(kh, SIGTERM), 0, 8)
    d = deliver(kh, "kill", pid, SIGUSR1)
    assert (d.sig, d.action.handler, d.code, d.result, d.pid) == (SIGUSR1, 0x401000, 0, 0, pid)
    assert d.saved_mask == 1 << (SIGTERM - 1)  # what rt_sigreturn restores
    blocked = kh.kernel.signals.blocked
    assert blocked == (1 << (SIGTERM - 1)) | (1 << (SIGUSR1 - 1)) | (1 << (SIGUSR2 - 1))
    # while the handler runs, a second SIGUSR1 waits; when it returns, it is delivered
    assert kh.call("tgkill", pid, pid, SIGUSR1) == 0
    with pytest.raises(SignalDelivery) as again:
        kh.kernel.signals.after_handler(1 << (SIGTERM - 1), None)
    assert again.value.code == -6 and again.value.result is None  # SI_TKILL; registers stay as restored


def test_sa_nodefer_and_sa_resethand():
    kh = KernelHarness()
    pid = kh.kernel.identity.pid
    kh.call("rt_sigaction", SIGUSR1, sigaction(kh, 0x401000, 0x40000000 | 0x80000000), 0, 8)
    deliver(kh, "kill", pid, SIGUSR1)
    assert kh.kernel.signals.blocked == 0  # SA_NODEFER: the signal itself is not blocked
    assert kh.kernel.signals.action(SIGUSR1).handler == 0  # SA_RESETHAND: back to SIG_DFL
    assert kh.exit_of("kill", pid, SIGUSR1).signal == SIGUSR1


def test_sigpipe_to_a_handler_keeps_the_writes_epipe():
    kh = KernelHarness()
    fds = kh.buffer(8)
    kh.call("pipe2", fds, 0)
    r, w = struct.unpack("<ii", kh.read(fds, 8))
    kh.call("close", r)
    kh.call("rt_sigaction", 13, sigaction(kh, 0x401000), 0, 8)
    d = deliver(kh, "write", w, kh.put(b"x"), 1)
    assert d.sig == 13 and d.result == -int(Errno.EPIPE)


def test_a_cpu_without_signal_frames_ends_the_process_and_says_why():
    ex = HandlerNotSupported(SIGUSR1, 0x401000)
    assert ex.signal == SIGUSR1 and "0x401000" in ex.reason


def test_kill_and_tgkill_errors():
    kh = KernelHarness()
    pid = kh.kernel.identity.pid
    assert kh.errno("kill", 99999, 0) is Errno.ESRCH
    assert kh.errno("kill", -1, 0) is Errno.ESRCH  # nobody else to signal
    assert kh.errno("kill", pid, 65) is Errno.EINVAL
    assert kh.errno("kill", pid, -1) is Errno.EINVAL
    assert kh.errno("tgkill", 0, pid, 0) is Errno.EINVAL
    assert kh.errno("tgkill", pid, pid + 1, 0) is Errno.ESRCH
    assert kh.errno("tgkill", pid, pid, 99) is Errno.EINVAL
    assert kh.errno("tkill", 0, 0) is Errno.EINVAL
    assert kh.call("kill", 0, 0) == 0 and kh.call("kill", -pid, 0) == 0  # its own process group


@pytest.mark.parametrize("arch,minimum", [(None, 2048), (AARCH64, 5120)])
def test_sigaltstack_bookkeeping(arch, minimum):
    kh = KernelHarness(arch) if arch else KernelHarness()
    old = kh.buffer(24)
    assert kh.call("sigaltstack", 0, old) == 0
    assert struct.unpack("<QiiQ", kh.read(old, 24)) == (0, 2, 0, 0)  # SS_DISABLE
    assert kh.errno("sigaltstack", kh.put(struct.pack("<QiiQ", 0x5000, 0, 0, minimum - 1)), 0) is Errno.ENOMEM
    assert kh.errno("sigaltstack", kh.put(struct.pack("<QiiQ", 0x5000, 7, 0, minimum)), 0) is Errno.EINVAL
    assert kh.call("sigaltstack", kh.put(struct.pack("<QiiQ", 0x5000, 0, 0, minimum)), 0) == 0
    kh.call("sigaltstack", 0, old)
    assert struct.unpack("<QiiQ", kh.read(old, 24)) == (0x5000, 0, 0, minimum)
    kh.cpu.stack_pointer = 0x5000 + 100  # a handler running on it
    kh.call("sigaltstack", 0, old)
    assert struct.unpack("<QiiQ", kh.read(old, 24))[1] == 1  # SS_ONSTACK
    assert kh.errno("sigaltstack", kh.put(struct.pack("<QiiQ", 0, 2, 0, 0)), 0) is Errno.EPERM
    kh.cpu.stack_pointer = 0x7FFFFFFF0000
    assert kh.call("sigaltstack", kh.put(struct.pack("<QiiQ", 0, 2, 0, 0)), old) == 0
    assert kh.errno("sigaltstack", 0x10, 0) is Errno.EFAULT


def _req(kh, name, *args):
    from kernel_model.seam import SyscallRequest

    raw = tuple(a & 0xFFFFFFFFFFFFFFFF for a in args) + (0,) * (6 - len(args))
    return SyscallRequest(kh.kernel.arch.name, 0, name, raw, kh.memory)
