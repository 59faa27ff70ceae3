"""The calls only 32-bit arches have (i386, arm): the stat64 family, _llseek, mmap2 and the
old i386 mmap and select, the 64-bit-time (``*_time64``) clock calls, fcntl64, ftruncate64,
truncate64, old_getrlimit, the 16-bit and 32-bit id calls (getuid, chown, getgroups...),
i386's thread-local storage (``set_thread_area``), and arm's private ``set_tls``/``get_tls``/
``cacheflush``.

Each is a thin wrapper over the common model: only the argument and struct layouts differ.
Where a name means something else on one arch than on others (i386's ``mmap`` is
``old_mmap``; ``getuid`` is 16-bit on i386 and arm), :mod:`kernel_model.abi` says which model
serves it.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from kernel_model.abi import AT_FDCWD, AT_SYMLINK_NOFOLLOW
from kernel_model.attrs import sys_chown, sys_fchown, sys_lchown, sys_truncate
from kernel_model.clock import clock_getres, clock_gettime, clock_nanosleep, timespec_ns
from kernel_model.files import F_GETLK, F_SETLK, F_SETLKW, pack_stat, record_lock, seek, sys_fcntl, sys_ftruncate
from kernel_model.limits import RLIM_NLIMITS
from kernel_model.linux_errno import Errno
from kernel_model.mm import do_mmap
from kernel_model.paths import stat_at
from kernel_model.poll import sys_select
from kernel_model.process import NGROUPS_MAX, groups_to_list
from kernel_model.registry import DirFd, Fd, Int, LOff, Path, Ptr, Size, UInt, ULong, syscall
from kernel_model.seam import KernelError, SyscallRequest

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel
    from kernel_model.seam import CpuControl

MMAP2_UNIT = 4096  # mmap2's offset counts 4096-byte units whatever the page size
OVERFLOW_UID = 65534  # what a 16-bit id call returns for an id it cannot hold
F_GETLK64, F_SETLK64, F_SETLKW64 = 12, 13, 14


def _s32(value: int) -> int:
    return ((value & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000


# -- memory --------------------------------------------------------------------------------


@syscall("mmap2")
def sys_mmap2(k: "Kernel", req: SyscallRequest, addr: Ptr, length: Size, prot: Int, flags: Int, fd: Fd, pgoffset: ULong) -> int:
    return do_mmap(k, addr, length, prot, flags, fd, pgoffset * MMAP2_UNIT)


@syscall("old_mmap")
def sys_old_mmap(k: "Kernel", req: SyscallRequest, args: Ptr) -> int:
    # i386's mmap: a pointer to the six arguments (struct mmap_arg_struct, six longs).
    fmt = k.structs.endian + k.structs.word * 6
    addr, length, prot, flags, fd, offset = struct.unpack(fmt, k.memory.read(args, struct.calcsize(fmt)))
    if offset & (k.mm.page - 1):
        raise KernelError(Errno.EINVAL)
    return do_mmap(k, addr, length, _s32(prot), _s32(flags), _s32(fd), offset)


# -- files ---------------------------------------------------------------------------------


def _stat64(k: "Kernel", statbuf: int, st: object) -> int:
    assert k.structs.stat64 is not None, f"{k.arch.name} has no struct stat64"
    k.memory.write(statbuf, pack_stat(k, st, k.structs.stat64))  # type: ignore[arg-type]
    return 0


@syscall("fstat64")
def sys_fstat64(k: "Kernel", req: SyscallRequest, fd: Fd, statbuf: Ptr) -> int:
    return _stat64(k, statbuf, k.fds.get(fd).handle.stat())


@syscall("stat64")
def sys_stat64(k: "Kernel", req: SyscallRequest, pathname: Path, statbuf: Ptr) -> int:
    return _stat64(k, statbuf, stat_at(k, AT_FDCWD, pathname, 0))


@syscall("lstat64")
def sys_lstat64(k: "Kernel", req: SyscallRequest, pathname: Path, statbuf: Ptr) -> int:
    return _stat64(k, statbuf, stat_at(k, AT_FDCWD, pathname, AT_SYMLINK_NOFOLLOW))


@syscall("fstatat64")
def sys_fstatat64(k: "Kernel", req: SyscallRequest, dirfd: DirFd, pathname: Path, statbuf: Ptr, flags: Int) -> int:
    return _stat64(k, statbuf, stat_at(k, dirfd, pathname, flags))


@syscall("_llseek")
def sys_llseek(
    k: "Kernel", req: SyscallRequest, fd: Fd, offset_high: ULong, offset_low: ULong, result: Ptr, whence: UInt
) -> int:
    offset = (((offset_high & 0xFFFFFFFF) << 32 | (offset_low & 0xFFFFFFFF)) ^ (1 << 63)) - (1 << 63)
    new = seek(k, fd, offset, whence)
    # The position has moved even if the result cannot be stored (EFAULT), as in Linux.
    k.memory.write(result, new.to_bytes(8, "big" if k.arch.big_endian else "little", signed=True))
    return 0


@syscall("ftruncate64")
def sys_ftruncate64(k: "Kernel", req: SyscallRequest, fd: Fd, length: LOff) -> int:
    return sys_ftruncate(k, req, fd, length)


@syscall("truncate64")
def sys_truncate64(k: "Kernel", req: SyscallRequest, path: Path, length: LOff) -> int:
    return sys_truncate(k, req, path, length)


@syscall("fcntl64")
def sys_fcntl64(k: "Kernel", req: SyscallRequest, fd: Fd, cmd: UInt, arg: ULong) -> int:
    # The 64-bit lock commands (and the OFD ones) take struct flock64, whose 64-bit fields are
    # aligned as the ABI aligns a long long: to 8 on arm EABI (the ABI that pairs registers
    # evenly), to 4 on i386.
    plain = {F_GETLK64: F_GETLK, F_SETLK64: F_SETLK, F_SETLKW64: F_SETLKW}.get(cmd)
    if plain is not None or cmd in (36, 37, 38):
        layout = "hh4xqqi4x" if k.arch.pair_aligned_args else "hhqqi"
        return record_lock(k, k.fds.get(fd), plain if plain is not None else cmd, arg, layout)
    return sys_fcntl(k, req, fd, cmd, arg)


# -- time with a 64-bit tv_sec ----------------------------------------------------------------


def read_timespec64(k: "Kernel", ptr: int) -> int:
    """A ``struct __kernel_timespec`` (64-bit tv_sec, the *_time64 calls') as nanoseconds."""
    layout = k.structs.timespec64
    assert layout is not None
    ts = layout.unpack(k.memory.read(ptr, layout.size))
    nsec = ts["tv_nsec"]
    if k.arch.bits == 32:
        nsec = _s32(nsec)  # a 32-bit kernel keeps only the low half of tv_nsec
    return timespec_ns(ts["tv_sec"], nsec)


@syscall("clock_gettime64")
def sys_clock_gettime64(k: "Kernel", req: SyscallRequest, clockid: Int, tp: Ptr) -> int:
    return clock_gettime(k, clockid, tp, k.structs.timespec64)


@syscall("clock_getres_time64")
def sys_clock_getres_time64(k: "Kernel", req: SyscallRequest, clockid: Int, res: Ptr) -> int:
    return clock_getres(k, clockid, res, k.structs.timespec64)


@syscall("clock_nanosleep_time64")
def sys_clock_nanosleep_time64(
    k: "Kernel", req: SyscallRequest, clockid: Int, flags: Int, request: Ptr, remain: Ptr
) -> int:
    return clock_nanosleep(k, clockid, flags, lambda: read_timespec64(k, request))


# -- identity: 16-bit and 32-bit ids -------------------------------------------------------------


def _uid16(value: int) -> int:
    return OVERFLOW_UID if value & ~0xFFFF else value


@syscall("getuid16")
def sys_getuid16(k: "Kernel", req: SyscallRequest) -> int:
    return _uid16(k.identity.uid)


@syscall("geteuid16")
def sys_geteuid16(k: "Kernel", req: SyscallRequest) -> int:
    return _uid16(k.identity.effective_uid)


@syscall("getgid16")
def sys_getgid16(k: "Kernel", req: SyscallRequest) -> int:
    return _uid16(k.identity.gid)


@syscall("getegid16")
def sys_getegid16(k: "Kernel", req: SyscallRequest) -> int:
    return _uid16(k.identity.effective_gid)


def _uid_from16(value: int) -> int:
    # low2highuid: the 16-bit -1 (0xffff) still means "unchanged"
    value &= 0xFFFF
    return 0xFFFFFFFF if value == 0xFFFF else value


@syscall("chown16")
def sys_chown16(k: "Kernel", req: SyscallRequest, pathname: Path, owner: UInt, group: UInt) -> int:
    return sys_chown(k, req, pathname, _uid_from16(owner), _uid_from16(group))


@syscall("lchown16")
def sys_lchown16(k: "Kernel", req: SyscallRequest, pathname: Path, owner: UInt, group: UInt) -> int:
    return sys_lchown(k, req, pathname, _uid_from16(owner), _uid_from16(group))


@syscall("fchown16")
def sys_fchown16(k: "Kernel", req: SyscallRequest, fd: Fd, owner: UInt, group: UInt) -> int:
    return sys_fchown(k, req, fd, _uid_from16(owner), _uid_from16(group))


@syscall("getgroups16")
def sys_getgroups16(k: "Kernel", req: SyscallRequest, size: Int, list: Ptr) -> int:
    groups = groups_to_list(k, size)
    if groups is not None:
        k.memory.write(list, b"".join(_uid16(g).to_bytes(2, k.structs.byteorder) for g in groups))
    return len(k.identity.groups)


@syscall("setgroups16")
def sys_setgroups16(k: "Kernel", req: SyscallRequest, size: Int, list: Ptr) -> int:
    if not 0 <= size <= NGROUPS_MAX:
        raise KernelError(Errno.EINVAL)
    k.memory.read(list, 2 * size)
    raise KernelError(Errno.EPERM)  # as setgroups: the sandboxed process has no CAP_SETGID


# -- i386's old calls that take a pointer to their arguments, and old_getrlimit --------------------


@syscall("old_select")
def sys_old_select(k: "Kernel", req: SyscallRequest, args: Ptr) -> int:
    # struct sel_arg_struct: n, inp, outp, exp, tvp (five longs)
    fmt = k.structs.endian + k.structs.word * 5
    n, inp, outp, exp, tvp = struct.unpack(fmt, k.memory.read(args, struct.calcsize(fmt)))
    return sys_select(k, req, _s32(n), inp, outp, exp, tvp)


@syscall("old_getrlimit")
def sys_old_getrlimit(k: "Kernel", req: SyscallRequest, resource: UInt, rlim: Ptr) -> int:
    # The first getrlimit: limits above 2 GiB - 1 (infinity too) read as 0x7fffffff.
    if resource >= RLIM_NLIMITS:
        raise KernelError(Errno.EINVAL)
    soft, hard = k.limits.get(resource)
    k.memory.write(rlim, k.structs.rlimit.pack(rlim_cur=min(soft, 0x7FFFFFFF), rlim_max=min(hard, 0x7FFFFFFF)))
    return 0


# -- i386's thread-local storage: segment descriptors ----------------------------------------------

GDT_ENTRY_TLS_MIN, GDT_ENTRY_TLS_ENTRIES = 6, 3
# struct user_desc's flag bits, after entry_number, base_addr and limit
SEG_32BIT, CONTENTS_SHIFT, READ_EXEC_ONLY, LIMIT_IN_PAGES, SEG_NOT_PRESENT, USEABLE = 1, 1, 8, 16, 32, 64


def _user_desc(k: "Kernel", ptr: int) -> tuple[int, int, int, int]:
    fmt = k.structs.endian + "IIII"
    return struct.unpack(fmt, k.memory.read(ptr, 16))


def _descriptor(base: int, limit: int, flags: int) -> bytes:
    """The GDT descriptor Linux's fill_ldt makes from a user_desc (zeros for an empty one)."""
    contents = (flags >> CONTENTS_SHIFT) & 3
    empty = (base == 0 and limit == 0 and contents == 0 and flags & READ_EXEC_ONLY and not flags & SEG_32BIT
             and not flags & LIMIT_IN_PAGES and flags & SEG_NOT_PRESENT and not flags & USEABLE)
    if empty or (base == 0 and limit == 0 and flags & 0x7F == 0):
        return bytes(8)
    type_ = ((0 if flags & READ_EXEC_ONLY else 1) << 1) | (contents << 2) | 1  # accessed, so it maps read-only
    access = type_ | 0x10 | (3 << 5) | (0 if flags & SEG_NOT_PRESENT else 0x80)  # S=1, DPL 3, present
    granularity = ((limit >> 16) & 0xF) | (0x10 if flags & USEABLE else 0) | (0x40 if flags & SEG_32BIT else 0) \
        | (0x80 if flags & LIMIT_IN_PAGES else 0)
    return struct.pack("<HHBBBB", limit & 0xFFFF, base & 0xFFFF, (base >> 16) & 0xFF, access, granularity, base >> 24)


def _tls_cpu(req: SyscallRequest) -> "CpuControl":
    if req.cpu is None:
        raise KernelError(Errno.ENOSYS, "no CPU to hold the descriptor table")
    return req.cpu


def clone_tls(k: "Kernel", u_info: int) -> tuple[int, bytes]:
    """i386 clone's CLONE_SETTLS: the GDT entry and descriptor the new task starts with, from
    the user_desc at ``u_info`` (its entry must be one of the TLS slots: no allocation here)."""
    entry, base, limit, flags = _user_desc(k, u_info)
    if not GDT_ENTRY_TLS_MIN <= entry < GDT_ENTRY_TLS_MIN + GDT_ENTRY_TLS_ENTRIES:
        raise KernelError(Errno.EINVAL)
    descriptor = _descriptor(base, limit, flags)
    if descriptor != bytes(8) and (not flags & SEG_32BIT or (flags >> CONTENTS_SHIFT) & 3 > 1):
        raise KernelError(Errno.EINVAL)
    return entry, descriptor


@syscall("set_thread_area32")
def sys_set_thread_area32(k: "Kernel", req: SyscallRequest, u_info: Ptr) -> int:
    entry, base, limit, flags = _user_desc(k, u_info)
    cpu = _tls_cpu(req)
    if entry == 0xFFFFFFFF:
        # the first free TLS slot, told back to the caller
        free = [i for i in range(GDT_ENTRY_TLS_MIN, GDT_ENTRY_TLS_MIN + GDT_ENTRY_TLS_ENTRIES)
                if cpu.get_segment_descriptor(i) == bytes(8)]
        if not free:
            raise KernelError(Errno.ESRCH)
        entry = free[0]
        k.memory.write(u_info, entry.to_bytes(4, k.structs.byteorder))
    if not GDT_ENTRY_TLS_MIN <= entry < GDT_ENTRY_TLS_MIN + GDT_ENTRY_TLS_ENTRIES:
        raise KernelError(Errno.EINVAL)
    descriptor = _descriptor(base, limit, flags)
    if descriptor != bytes(8) and (not flags & SEG_32BIT or (flags >> CONTENTS_SHIFT) & 3 > 1):
        raise KernelError(Errno.EINVAL)  # tls_desc_okay: 32-bit data or stack segments only
    cpu.set_segment_descriptor(entry, descriptor)
    return 0


@syscall("get_thread_area32")
def sys_get_thread_area32(k: "Kernel", req: SyscallRequest, u_info: Ptr) -> int:
    entry = int.from_bytes(k.memory.read(u_info, 4), k.structs.byteorder)
    if not GDT_ENTRY_TLS_MIN <= entry < GDT_ENTRY_TLS_MIN + GDT_ENTRY_TLS_ENTRIES:
        raise KernelError(Errno.EINVAL)
    d = _tls_cpu(req).get_segment_descriptor(entry)
    limit0, base0, base1, access, granularity, base2 = struct.unpack("<HHBBBB", d)
    base = base0 | base1 << 16 | base2 << 24
    limit = limit0 | (granularity & 0xF) << 16
    type_ = access & 0xF
    flags = ((SEG_32BIT if granularity & 0x40 else 0) | ((type_ >> 2) & 3) << CONTENTS_SHIFT
             | (0 if type_ & 2 else READ_EXEC_ONLY) | (LIMIT_IN_PAGES if granularity & 0x80 else 0)
             | (0 if access & 0x80 else SEG_NOT_PRESENT) | (USEABLE if granularity & 0x10 else 0))
    k.memory.write(u_info, struct.pack(k.structs.endian + "IIII", entry, base, limit, flags))
    return 0


# -- arm's private calls ----------------------------------------------------------------------


@syscall("set_tls")
def sys_set_tls(k: "Kernel", req: SyscallRequest, tls: ULong) -> int:
    if req.cpu is None:
        raise KernelError(Errno.ENOSYS, "no CPU to set the thread register of")
    req.cpu.set_thread_pointer(tls)
    return 0


@syscall("get_tls")
def sys_get_tls(k: "Kernel", req: SyscallRequest) -> int:
    if req.cpu is None:
        raise KernelError(Errno.ENOSYS, "no CPU to read the thread register of")
    return req.cpu.get_thread_pointer()


@syscall("cacheflush")
def sys_cacheflush(k: "Kernel", req: SyscallRequest, start: ULong, end: ULong, flags: Int) -> int:
    # An emulated CPU has no stale instruction cache; the checks are arm's.
    if end < start or flags:
        raise KernelError(Errno.EINVAL)
    if k.mm.find(start) is None:
        raise KernelError(Errno.EINVAL)
    return 0


@syscall("riscv_flush_icache")
def sys_riscv_flush_icache(k: "Kernel", req: SyscallRequest, start: ULong, end: ULong, flags: ULong) -> int:
    if flags & ~1:  # SYS_RISCV_FLUSH_ICACHE_LOCAL is the only flag
        raise KernelError(Errno.EINVAL)
    return 0

