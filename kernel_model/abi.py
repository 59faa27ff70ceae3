"""Constants whose values differ between arches, as one table.

Handlers work with one canonical set of values (x86_64's, which is also asm-generic's for
most of them). A guest's flags are translated into that set on the way in and back out on the
way out, so no handler ever asks which arch it serves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Canonical open(2) flags (x86_64 / asm-generic values).
O_ACCMODE = 0o3
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2
O_CREAT = 0o100
O_EXCL = 0o200
O_NOCTTY = 0o400
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_NONBLOCK = 0o4000
O_DSYNC = 0o10000
O_ASYNC = 0o20000
O_DIRECT = 0o40000
O_LARGEFILE = 0o100000
O_DIRECTORY = 0o200000
O_NOFOLLOW = 0o400000
O_NOATIME = 0o1000000
O_CLOEXEC = 0o2000000
O_SYNC = 0o4010000
O_PATH = 0o10000000
O_TMPFILE = 0o20000000 | O_DIRECTORY

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_NO_AUTOMOUNT = 0x800
AT_EMPTY_PATH = 0x1000
AT_EACCESS = 0x200


@dataclass(frozen=True)
class AbiConstants:
    """How one arch's flag values differ from the canonical ones.

    ``open_flags`` maps a guest bit to the canonical bit it means, for the bits that differ.
    ``served_by`` names the model that serves a call whose name means something else on
    this arch (i386's ``mmap`` takes a pointer to its arguments: ``old_mmap``).
    """

    open_flags: dict[int, int] = field(default_factory=dict)
    # clone's last two registers: x86_64 has (child_tid, tls), the others (tls, child_tid)
    clone_tls_last: bool = False
    minsigstksz: int = 2048  # MINSIGSTKSZ: the smallest alternate signal stack sigaltstack takes
    served_by: dict[str, str] = field(default_factory=dict)

    def clone_tail(self, a4: int, a5: int) -> tuple[int, int]:
        """clone's fourth and fifth registers as (child_tid, tls), whatever their order here."""
        return (a4, a5) if self.clone_tls_last else (a5, a4)

    def open_flags_in(self, guest: int) -> int:
        """Guest open flags in canonical values."""
        if not self.open_flags:
            return guest
        out = guest
        for bit in self.open_flags:
            out &= ~bit
        for gbit, cbit in self.open_flags.items():
            if guest & gbit:
                out |= cbit
        return out

    def open_flags_out(self, canonical: int) -> int:
        """Canonical open flags in the guest's values (for ``fcntl(F_GETFL)``)."""
        if not self.open_flags:
            return canonical
        out = canonical
        for cbit in self.open_flags.values():
            out &= ~cbit
        for gbit, cbit in self.open_flags.items():
            if canonical & cbit:
                out |= gbit
        return out


# arm and aarch64 swap the O_DIRECTORY/O_NOFOLLOW and O_DIRECT/O_LARGEFILE pairs.
_ARM_OPEN_FLAGS = {
    0o40000: O_DIRECTORY,
    0o100000: O_NOFOLLOW,
    0o200000: O_DIRECT,
    0o400000: O_LARGEFILE,
}

# The 32-bit arches kept the 16-bit id calls under the plain names; the ...32 ones are full.
_ID16 = {
    "getuid": "getuid16", "geteuid": "geteuid16", "getgid": "getgid16", "getegid": "getegid16",
    "chown": "chown16", "lchown": "lchown16", "fchown": "fchown16",
    "getgroups": "getgroups16", "setgroups": "setgroups16",
    "getuid32": "getuid", "geteuid32": "geteuid", "getgid32": "getgid", "getegid32": "getegid",
    "chown32": "chown", "lchown32": "lchown", "fchown32": "fchown",
    "getgroups32": "getgroups", "setgroups32": "setgroups",
    "_newselect": "select", "ugetrlimit": "getrlimit",
}

ABI: dict[str, AbiConstants] = {
    "x86_64": AbiConstants(clone_tls_last=True),
    # i386's mmap and select take a pointer to their arguments; its getrlimit is the first one.
    "i386": AbiConstants(served_by={
        **_ID16, "mmap": "old_mmap", "select": "old_select", "getrlimit": "old_getrlimit",
        # TLS segments: the model is i386's (x86_64's set_thread_area is not modelled)
        "set_thread_area": "set_thread_area32", "get_thread_area": "get_thread_area32",
    }),
    "riscv64": AbiConstants(),
    "aarch64": AbiConstants(open_flags=_ARM_OPEN_FLAGS, minsigstksz=5120),
    "arm": AbiConstants(open_flags=_ARM_OPEN_FLAGS, served_by=_ID16),
}


def abi_for(arch_name: str) -> AbiConstants:
    """The constants table for an arch (the canonical one for an arch not listed)."""
    return ABI.get(arch_name, AbiConstants())
