"""Resource limits, sysinfo, the scheduler calls, prctl, groups, and the calls that would
make another process."""

from __future__ import annotations

import resource
import struct

import pytest

from fakes import KernelHarness
from kernel_model.linux_errno import Errno
from kernel_model.process import Identity

RLIMIT_STACK, RLIMIT_NOFILE, RLIMIT_AS, RLIMIT_CORE = 3, 7, 9, 4
INF = (1 << 64) - 1


def limit(kh: KernelHarness, resource: int) -> tuple[int, int]:
    out = kh.buffer(16)
    assert kh.call("prlimit64", 0, resource, 0, out) == 0
    return struct.unpack("<QQ", kh.read(out, 16))


def test_default_limits_are_a_login_shells():
    kh = KernelHarness(max_fds=256)
    assert limit(kh, RLIMIT_STACK) == (8 << 20, INF)
    assert limit(kh, RLIMIT_NOFILE) == (256, 256)  # the sandbox's own descriptor limit
    assert limit(kh, RLIMIT_AS) == (INF, INF)
    out = kh.buffer(16)
    assert kh.call("getrlimit", RLIMIT_CORE, out) == 0
    assert struct.unpack("<QQ", kh.read(out, 16)) == (0, INF)


def test_prlimit64_errors_in_linux_order():
    kh = KernelHarness()
    out = kh.buffer(16)
    assert kh.errno("prlimit64", 0, 16, 0, out) is Errno.EINVAL
    assert kh.errno("prlimit64", 4242, RLIMIT_STACK, 0, out) is Errno.ESRCH
    assert kh.errno("prlimit64", 0, RLIMIT_STACK, 0x10, 0) is Errno.EFAULT  # read before anything
    assert kh.errno("prlimit64", 0, RLIMIT_CORE, kh.put(struct.pack("<QQ", 2, 1)), 0) is Errno.EINVAL
    assert kh.errno("getrlimit", 99, out) is Errno.EINVAL


def test_an_unprivileged_process_cannot_raise_a_hard_limit():
    kh = KernelHarness(identity=Identity(uid=1000, gid=1000), max_fds=64)
    assert kh.errno("prlimit64", 0, RLIMIT_NOFILE, kh.put(struct.pack("<QQ", 64, 65)), 0) is Errno.EPERM
    root = KernelHarness(identity=Identity(uid=0, gid=0), max_fds=None)
    # without a limit of the sandbox's own, the host process's (as a shell passes it on)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = min(hard, 1 << 20) if hard != resource.RLIM_INFINITY else 1 << 20
    assert limit(root, RLIMIT_NOFILE) == (min(soft, hard), hard)
    # root may raise its hard limit up to fs.nr_open
    assert root.call("prlimit64", 0, RLIMIT_NOFILE, root.put(struct.pack("<QQ", 2048, 1 << 20)), 0) == 0
    assert root.errno("setrlimit", RLIMIT_NOFILE, root.put(struct.pack("<QQ", 1 << 21, 1 << 21))) is Errno.EPERM


def test_not_even_root_can_raise_the_sandboxs_own_limits():
    # The sandbox's limits are a ceiling, as a container's are to its root (no CAP_SYS_RESOURCE).
    root = KernelHarness(identity=Identity(uid=0, gid=0), max_fds=64, max_memory=64 << 20)
    assert root.errno("prlimit64", 0, RLIMIT_NOFILE, root.put(struct.pack("<QQ", 64, 128)), 0) is Errno.EPERM
    assert root.errno("prlimit64", 0, RLIMIT_AS, root.put(struct.pack("<QQ", INF, INF)), 0) is Errno.EPERM
    assert root.call("prlimit64", 0, RLIMIT_AS, root.put(struct.pack("<QQ", 32 << 20, 64 << 20)), 0) == 0
    assert limit(root, RLIMIT_AS) == (32 << 20, 64 << 20) and root.kernel.mm.limit == 32 << 20
    assert limit(root, RLIMIT_NOFILE) == (64, 64)


def test_rlimit_nofile_limits_descriptors():
    kh = KernelHarness(max_fds=64)
    assert kh.call("prlimit64", 0, RLIMIT_NOFILE, kh.put(struct.pack("<QQ", 5, 64)), 0) == 0
    assert kh.call("dup2", 1, 4) == 4
    assert kh.errno("dup2", 1, 5) is Errno.EBADF
    assert kh.errno("dup", 1) is None and kh.errno("dup", 1) is Errno.EMFILE


def test_rlimit_as_limits_mappings():
    kh = KernelHarness()
    used = kh.kernel.mm.mapped_bytes
    assert kh.call("setrlimit", RLIMIT_AS, kh.put(struct.pack("<QQ", used + 8192, INF))) == 0
    assert kh.call("mmap", 0, 8192, 3, 0x22, -1, 0) > 0
    assert kh.errno("mmap", 0, 4096, 3, 0x22, -1, 0) is Errno.ENOMEM


def test_sysinfo_describes_the_sandbox():
    kh = KernelHarness(max_memory=1 << 30)
    buf = kh.buffer(112)
    assert kh.call("sysinfo", buf) == 0
    raw = kh.read(buf, 112)
    totalram, freeram = struct.unpack_from("<QQ", raw, 32)
    procs, = struct.unpack_from("<H", raw, 80)
    mem_unit, = struct.unpack_from("<I", raw, 104)
    assert (totalram, procs, mem_unit) == (1 << 30, 1, 1) and 0 < freeram < totalram
    assert kh.errno("sysinfo", 0) is Errno.EFAULT


def test_sched_getaffinity_reports_the_sandboxs_cpus():
    kh = KernelHarness(cpus=3)
    mask = kh.buffer(128)
    assert kh.call("sched_getaffinity", 0, 128, mask) == 8
    assert kh.read(mask, 8) == struct.pack("<Q", 0b111)
    assert kh.errno("sched_getaffinity", 0, 7, mask) is Errno.EINVAL
    assert kh.errno("sched_getaffinity", 0, 4, mask) is Errno.EINVAL
    assert kh.errno("sched_getaffinity", 4242, 8, mask) is Errno.ESRCH
    assert kh.call("sched_setaffinity", 0, 8, kh.put(struct.pack("<Q", 0b10))) == 0
    assert kh.errno("sched_setaffinity", 0, 8, kh.put(struct.pack("<Q", 0b1000))) is Errno.EINVAL
    assert kh.call("sched_yield") == 0


def test_prctl_names_the_process():
    kh = KernelHarness()
    assert kh.call("prctl", 15, kh.put("a-much-longer-name-than-fits")) == 0
    out = kh.buffer(16)
    assert kh.call("prctl", 16, out) == 0
    assert kh.read(out, 16) == b"a-much-longer-n\0"
    assert kh.call("prctl", 4, 0) == 0 and kh.call("prctl", 3) == 0  # PR_SET/GET_DUMPABLE
    assert kh.errno("prctl", 4, 2) is Errno.EINVAL
    assert kh.errno("prctl", 0x7FFF) is Errno.EINVAL


def test_groups_and_sessions():
    kh = KernelHarness(identity=Identity(pid=50, uid=1000, gid=1000, groups=(1000, 27)))
    out = kh.buffer(16)
    assert kh.call("getgroups", 0, 0) == 2
    assert kh.call("getgroups", 4, out) == 2
    assert struct.unpack("<II", kh.read(out, 8)) == (1000, 27)
    assert kh.errno("getgroups", 1, out) is Errno.EINVAL
    assert kh.errno("setgroups", 1, out) is Errno.EPERM
    # it leads its own group, in the session of whoever started it (its parent, 999), as a
    # shell's job does: not a session leader, so setpgid(0, 0) works and setsid fails
    assert kh.call("getpgid", 0) == 50 and kh.call("getsid", 50) == 999
    assert kh.call("setpgid", 0, 0) == 0
    assert kh.errno("getpgid", 51) is Errno.ESRCH
    assert kh.errno("setsid") is Errno.EPERM


def test_a_new_process_past_the_process_limit_is_eagain():
    kh = KernelHarness(max_processes=2)
    assert kh.call("fork") == 1001
    assert kh.errno("fork") is Errno.EAGAIN  # two live processes: the limit


def test_there_are_no_children_to_wait_for():
    kh = KernelHarness()
    assert kh.errno("wait4", -1, 0, 0, 0) is Errno.ECHILD
    assert kh.errno("wait4", -1, 0, 0x100, 0) is Errno.EINVAL
    assert kh.errno("waitid", 0, 0, kh.buffer(128), 4, 0) is Errno.ECHILD
