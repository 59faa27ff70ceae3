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

LAYOUTS: dict[str, dict[str, list[tuple[str, str]]]] = {
    "x86_64": {"stat": _STAT_X86_64},
    "aarch64": {"stat": _STAT_GENERIC64},
    "riscv64": {"stat": _STAT_GENERIC64},
}


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
    word: str  # struct format of one C long / pointer
    endian: str  # "<" or ">", to prefix ad-hoc struct formats


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
        word=ulong,
        endian=">" if be else "<",
    )
    _CACHE[arch] = sset
    return sset
