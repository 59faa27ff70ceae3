"""Asking about files and filesystems in the newer and wider forms: ``statx``, ``statfs``
and ``fstatfs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_model.abi import AT_EMPTY_PATH, AT_NO_AUTOMOUNT, AT_SYMLINK_NOFOLLOW
from kernel_model.filesystems import PIPEFS_MAGIC, ST_VALID, FsStats
from kernel_model.fsnodes import StatInfo
from kernel_model.linux_errno import Errno
from kernel_model.paths import read_path, resolve_at, stat_at
from kernel_model.registry import DirFd, Fd, Int, Path, Ptr, UInt, syscall
from kernel_model.seam import KernelError, SyscallRequest
from kernel_model.vfs import GuestPath, split_path

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel

AT_STATX_SYNC_TYPE = 0x6000
STATX__RESERVED = 0x80000000
STATX_BASIC_STATS = 0x7FF  # type, mode, nlink, uid, gid, atime, mtime, ctime, ino, size, blocks


def dev_major(dev: int) -> int:
    """The major number of a Linux ``dev_t``."""
    return ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF)


def dev_minor(dev: int) -> int:
    """The minor number of a Linux ``dev_t``."""
    return (dev & 0xFF) | ((dev >> 12) & ~0xFF)


def pack_statx(k: "Kernel", st: StatInfo) -> bytes:
    """``st`` as a ``struct statx`` with the basic fields filled in."""
    times = {}
    for name, ns in (("atime", st.atime_ns), ("mtime", st.mtime_ns), ("ctime", st.ctime_ns)):
        times[f"stx_{name}_sec"], times[f"stx_{name}_nsec"] = divmod(ns, 10**9)
    return k.structs.statx.pack(
        stx_mask=STATX_BASIC_STATS, stx_blksize=st.blksize, stx_nlink=st.nlink, stx_uid=st.uid, stx_gid=st.gid,
        stx_mode=st.mode, stx_ino=st.ino, stx_size=st.size, stx_blocks=st.blocks,
        stx_rdev_major=dev_major(st.rdev), stx_rdev_minor=dev_minor(st.rdev),
        stx_dev_major=dev_major(st.dev), stx_dev_minor=dev_minor(st.dev), **times,
    )


@syscall("statx", partial="fills the basic fields (STATX_BASIC_STATS); no birth time, attributes or mount id")
def sys_statx(k: "Kernel", req: SyscallRequest, dirfd: DirFd, pathname: Path, flags: Int, mask: UInt, statxbuf: Ptr) -> int:
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE):
        raise KernelError(Errno.EINVAL)
    if flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE or mask & STATX__RESERVED:
        raise KernelError(Errno.EINVAL)
    st = stat_at(k, dirfd, pathname, flags)
    k.memory.write(statxbuf, pack_statx(k, st))
    return 0


def _pack_statfs(k: "Kernel", stats: FsStats) -> bytes:
    layout = k.structs.statfs
    if layout is None:
        raise KernelError(Errno.ENOSYS, f"no struct statfs layout for {k.arch.name}")
    return layout.pack(
        f_type=stats.magic, f_bsize=stats.bsize, f_blocks=stats.blocks, f_bfree=stats.bfree, f_bavail=stats.bavail,
        f_files=stats.files, f_ffree=stats.ffree, f_fsid0=stats.fsid[0], f_fsid1=stats.fsid[1],
        f_namelen=stats.namelen, f_frsize=stats.bsize, f_flags=stats.flags,
    )


def fs_stats(k: "Kernel", path: GuestPath) -> FsStats:
    """statfs(2)'s answer for the filesystem holding a resolved guest path."""
    fs, _ = k.ns.filesystem_of(path)
    if fs is None:
        return FsStats(0x858458F6, flags=ST_VALID | 1)  # a directory made of mount points: ramfs, read-only
    return fs.statfs()


@syscall("statfs")
def sys_statfs(k: "Kernel", req: SyscallRequest, pathname: Path, buf: Ptr) -> int:
    loc = resolve_at(k, -100, read_path(k, pathname))
    k.memory.write(buf, _pack_statfs(k, fs_stats(k, loc.path)))
    return 0


@syscall("fstatfs")
def sys_fstatfs(k: "Kernel", req: SyscallRequest, fd: Fd, buf: Ptr) -> int:
    of = k.fds.get(fd)
    if of.handle.proc_name() is not None or not of.path.startswith("/"):
        stats = FsStats(PIPEFS_MAGIC, flags=ST_VALID)
    else:
        stats = fs_stats(k, split_path(of.path))
    k.memory.write(buf, _pack_statfs(k, stats))
    return 0
