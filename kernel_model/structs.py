"""C struct layouts the kernel reads from and writes to guest memory, per arch.

Layouts that differ between arches (``struct stat`` is 144 bytes on x86_64 and 128 on
aarch64) are rows of one table, :data:`LAYOUTS`, keyed by the arch name. Layouts that only
depend on the word size (``timespec``, ``iovec``) are built from it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterable, Mapping

from kernel_model.seam import KernelArch


class StructLayout:
    """A C struct as a list of ``(field, struct-format)`` pairs; padding fields start with ``_``."""

    def __init__(self, name: str, fields: Iterable[tuple[str, str]], big_endian: bool = False) -> None:
        self.name = name
        self.fields = tuple(fields)
        self._struct = struct.Struct(("<" if not big_endian else ">") + "".join(f for _, f in self.fields))
        self.names = tuple(n for n, _ in self.fields)

    @property
    def size(self) -> int:
        """The struct's size in bytes."""
        return self._struct.size

    def pack(self, values: Mapping[str, object] | None = None, **kw: object) -> bytes:
        """Pack the named fields; a field not given is zero (an ``s`` field: empty bytes)."""
        merged = dict(values or {}, **kw)
        out = []
        for name, fmt in self.fields:
            v = merged.get(name)
            if v is None:
                v = b"" if fmt.endswith("s") else 0
            elif not fmt.endswith("s"):
                v = _wrap(int(v), fmt)  # type: ignore[arg-type]
            out.append(v)
        return self._struct.pack(*out)

    def fits(self, name: str, value: int) -> bool:
        """Whether ``value`` can be stored in the field ``name`` without being cut."""
        fmt = dict(self.fields)[name]
        bits = _BITS.get(fmt[-1])
        if bits is None:
            return True
        if fmt[-1].islower():
            return -(1 << (bits - 1)) <= value < (1 << (bits - 1))
        return 0 <= value < (1 << bits)

    def unpack(self, data: bytes) -> dict[str, int]:
        """The fields of ``data`` (exactly :attr:`size` bytes) by name, padding left out."""
        return {n: v for n, v in zip(self.names, self._struct.unpack(data)) if not n.startswith("_")}


_BITS = {"b": 8, "B": 8, "h": 16, "H": 16, "i": 32, "I": 32, "q": 64, "Q": 64}


def _wrap(value: int, fmt: str) -> int:
    # Values are Python ints of any size; C truncates to the field, so do the same.
    bits = _BITS.get(fmt[-1])
    if bits is None:
        return value
    value &= (1 << bits) - 1
    if fmt[-1].islower() and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


# struct stat, as each arch's kernel writes it for fstat/newfstatat/stat.
_STAT_X86_64 = [
    ("st_dev", "Q"), ("st_ino", "Q"), ("st_nlink", "Q"),
    ("st_mode", "I"), ("st_uid", "I"), ("st_gid", "I"), ("_pad0", "I"),
    ("st_rdev", "Q"), ("st_size", "q"), ("st_blksize", "q"), ("st_blocks", "q"),
    ("st_atime", "q"), ("st_atime_nsec", "Q"), ("st_mtime", "q"), ("st_mtime_nsec", "Q"),
    ("st_ctime", "q"), ("st_ctime_nsec", "Q"), ("_unused", "24s"),
]
# asm-generic/stat.h: aarch64, riscv64 and the other arches of the generic syscall table.
_STAT_GENERIC64 = [
    ("st_dev", "Q"), ("st_ino", "Q"), ("st_mode", "I"), ("st_nlink", "I"),
    ("st_uid", "I"), ("st_gid", "I"), ("st_rdev", "Q"), ("_pad1", "Q"),
    ("st_size", "q"), ("st_blksize", "i"), ("_pad2", "i"), ("st_blocks", "q"),
    ("st_atime", "q"), ("st_atime_nsec", "Q"), ("st_mtime", "q"), ("st_mtime_nsec", "Q"),
    ("st_ctime", "q"), ("st_ctime_nsec", "Q"), ("_unused", "8s"),
]

# struct statfs of the 64-bit arches (asm-generic's __statfs_word is a long there too).
_STATFS64 = [
    ("f_type", "q"), ("f_bsize", "q"), ("f_blocks", "Q"), ("f_bfree", "Q"), ("f_bavail", "Q"),
    ("f_files", "Q"), ("f_ffree", "Q"), ("f_fsid0", "i"), ("f_fsid1", "i"), ("f_namelen", "q"),
    ("f_frsize", "q"), ("f_flags", "q"), ("_spare", "32s"),
]
# ...and of the 32-bit arches (i386 and arm EABI): every word is 32 bits.
_STATFS32 = [
    ("f_type", "i"), ("f_bsize", "i"), ("f_blocks", "I"), ("f_bfree", "I"), ("f_bavail", "I"),
    ("f_files", "I"), ("f_ffree", "I"), ("f_fsid0", "i"), ("f_fsid1", "i"), ("f_namelen", "i"),
    ("f_frsize", "i"), ("f_flags", "i"), ("_spare", "16s"),
]
# riscv64 has no SA_RESTORER, so its kernel struct sigaction has no sa_restorer field.
_SIGACTION_NO_RESTORER = [("sa_handler", "Q"), ("sa_flags", "Q"), ("sa_mask", "Q")]
# The 32-bit arches' struct stat (i386 and arm agree): 16-bit ids, 32-bit sizes. st_size is
# unsigned in the header, but the kernel refuses sizes past MAX_NON_LFS (2 GiB - 1): signed.
_STAT_32 = [
    ("st_dev", "I"), ("st_ino", "I"), ("st_mode", "H"), ("st_nlink", "H"),
    ("st_uid", "H"), ("st_gid", "H"), ("st_rdev", "I"), ("st_size", "i"), ("st_blksize", "I"),
    ("st_blocks", "I"), ("st_atime", "I"), ("st_atime_nsec", "I"), ("st_mtime", "I"),
    ("st_mtime_nsec", "I"), ("st_ctime", "I"), ("st_ctime_nsec", "I"), ("_unused", "8s"),
]
# struct stat64 (stat64, fstat64, lstat64, fstatat64). i386 packs it (96 bytes); arm EABI
# aligns its 64-bit fields to 8 bytes (104 bytes). The low 32 bits of the inode number sit
# in st_ino_low (the headers' __st_ino) for old programs; the whole number is at the end.
_STAT64_I386 = [
    ("st_dev", "Q"), ("_pad0", "4s"), ("st_ino_low", "I"), ("st_mode", "I"), ("st_nlink", "I"),
    ("st_uid", "I"), ("st_gid", "I"), ("st_rdev", "Q"), ("_pad3", "4s"), ("st_size", "q"),
    ("st_blksize", "I"), ("st_blocks", "Q"), ("st_atime", "I"), ("st_atime_nsec", "I"),
    ("st_mtime", "I"), ("st_mtime_nsec", "I"), ("st_ctime", "I"), ("st_ctime_nsec", "I"), ("st_ino", "Q"),
]
_STAT64_ARM = [
    ("st_dev", "Q"), ("_pad0", "4s"), ("st_ino_low", "I"), ("st_mode", "I"), ("st_nlink", "I"),
    ("st_uid", "I"), ("st_gid", "I"), ("st_rdev", "Q"), ("_pad3", "4s"), ("_pad4", "4s"), ("st_size", "q"),
    ("st_blksize", "I"), ("_pad5", "4s"), ("st_blocks", "Q"), ("st_atime", "I"), ("st_atime_nsec", "I"),
    ("st_mtime", "I"), ("st_mtime_nsec", "I"), ("st_ctime", "I"), ("st_ctime_nsec", "I"), ("st_ino", "Q"),
]

LAYOUTS: dict[str, dict[str, list[tuple[str, str]]]] = {
    "x86_64": {"stat": _STAT_X86_64, "statfs": _STATFS64},
    "aarch64": {"stat": _STAT_GENERIC64, "statfs": _STATFS64},
    "riscv64": {"stat": _STAT_GENERIC64, "statfs": _STATFS64, "sigaction": _SIGACTION_NO_RESTORER},
    "i386": {"stat": _STAT_32, "stat64": _STAT64_I386, "statfs": _STATFS32},
    "arm": {"stat": _STAT_32, "stat64": _STAT64_ARM, "statfs": _STATFS32},
}

# struct statx is the same everywhere (it was designed that way).
_STATX_TIMESTAMP = [("sec", "q"), ("nsec", "I"), ("_reserved", "i")]
STATX_FIELDS = (
    [("stx_mask", "I"), ("stx_blksize", "I"), ("stx_attributes", "Q"), ("stx_nlink", "I"), ("stx_uid", "I"),
     ("stx_gid", "I"), ("stx_mode", "H"), ("_spare0", "H"), ("stx_ino", "Q"), ("stx_size", "Q"),
     ("stx_blocks", "Q"), ("stx_attributes_mask", "Q")]
    + [(f"stx_{t}_{f}", fmt) for t in ("atime", "btime", "ctime", "mtime") for f, fmt in _STATX_TIMESTAMP]
    + [("stx_rdev_major", "I"), ("stx_rdev_minor", "I"), ("stx_dev_major", "I"), ("stx_dev_minor", "I"),
       ("stx_mnt_id", "Q"), ("stx_dio_mem_align", "I"), ("stx_dio_offset_align", "I"), ("_spare3", "96s")]
)


@dataclass(frozen=True)
class StructSet:
    """The layouts for one guest arch."""

    stat: StructLayout
    timespec: StructLayout
    timeval: StructLayout
    iovec: StructLayout
    utsname: StructLayout
    winsize: StructLayout
    termios: StructLayout
    sigaction: StructLayout
    stack_t: StructLayout
    sysinfo: StructLayout
    rlimit: StructLayout
    rlimit64: StructLayout
    pollfd: StructLayout
    statx: StructLayout
    statfs: StructLayout | None  # None: the arch's row does not give one
    word: str  # struct format of one C long / pointer
    endian: str  # "<" or ">", to prefix ad-hoc struct formats
    # The 32-bit arches' own layouts: struct stat64, and the 64-bit time of the *_time64 calls.
    stat64: StructLayout | None = None
    timespec64: StructLayout | None = None

    @property
    def byteorder(self) -> str:
        """``"little"`` or ``"big"``, for ``int.from_bytes``."""
        return "big" if self.endian == ">" else "little"


_CACHE: dict[KernelArch, StructSet] = {}


def structs_for(arch: KernelArch) -> StructSet:
    """The struct layouts for ``arch`` (built once per arch)."""
    cached = _CACHE.get(arch)
    if cached is not None:
        return cached
    try:
        table = LAYOUTS[arch.name]
    except KeyError:
        raise KeyError(f"the kernel model has no struct layouts for arch {arch.name!r}") from None
    be = arch.big_endian
    long_, ulong = ("q", "Q") if arch.bits == 64 else ("i", "I")
    sset = StructSet(
        stat=StructLayout("stat", table["stat"], be),
        timespec=StructLayout("timespec", [("tv_sec", long_), ("tv_nsec", long_)], be),
        timeval=StructLayout("timeval", [("tv_sec", long_), ("tv_usec", long_)], be),
        iovec=StructLayout("iovec", [("iov_base", ulong), ("iov_len", ulong)], be),
        utsname=StructLayout(
            "utsname",
            [(f, "65s") for f in ("sysname", "nodename", "release", "version", "machine", "domainname")],
            be,
        ),
        winsize=StructLayout(
            "winsize", [("ws_row", "H"), ("ws_col", "H"), ("ws_xpixel", "H"), ("ws_ypixel", "H")], be
        ),
        # The kernel's struct termios (TCGETS), not glibc's larger one.
        termios=StructLayout(
            "termios",
            [("c_iflag", "I"), ("c_oflag", "I"), ("c_cflag", "I"), ("c_lflag", "I"),
             ("c_line", "B"), ("c_cc", "19s")],
            be,
        ),
        sigaction=StructLayout(
            "sigaction",
            table.get("sigaction")
            or [("sa_handler", ulong), ("sa_flags", ulong), ("sa_restorer", ulong), ("sa_mask", "Q")],
            be,
        ),
        stack_t=StructLayout(
            "stack_t",
            [("ss_sp", ulong), ("ss_flags", "i")] + ([("_pad", "i")] if arch.bits == 64 else []) + [("ss_size", ulong)],
            be,
        ),
        sysinfo=StructLayout(
            "sysinfo",
            [("uptime", long_), ("load1", ulong), ("load5", ulong), ("load15", ulong)]
            + [(f, ulong) for f in ("totalram", "freeram", "sharedram", "bufferram", "totalswap", "freeswap")]
            + [("procs", "H"), ("_pad", "H")] + ([("_pad2", "I")] if arch.bits == 64 else [])
            + [("totalhigh", ulong), ("freehigh", ulong), ("mem_unit", "I")]
            + [("_f", f"{20 - 2 * arch.word_size - 4}s")] + ([("_pad3", "I")] if arch.bits == 64 else []),
            be,
        ),
        rlimit=StructLayout("rlimit", [("rlim_cur", ulong), ("rlim_max", ulong)], be),
        rlimit64=StructLayout("rlimit64", [("rlim_cur", "Q"), ("rlim_max", "Q")], be),
        pollfd=StructLayout("pollfd", [("fd", "i"), ("events", "h"), ("revents", "h")], be),
        statx=StructLayout("statx", STATX_FIELDS, be),
        statfs=StructLayout("statfs", table["statfs"], be) if "statfs" in table else None,
        word=ulong,
        endian=">" if be else "<",
        stat64=StructLayout("stat64", table["stat64"], be) if "stat64" in table else None,
        timespec64=StructLayout("__kernel_timespec", [("tv_sec", "q"), ("tv_nsec", "q")], be),
    )
    _CACHE[arch] = sset
    return sset
