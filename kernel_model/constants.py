"""Symbolic names of the values system call arguments take: flags, enums, request codes.

One :class:`ValueNames` per kind of value (``open_flags``, ``prot``, ``clockid``...), listed in
the order strace prints them, so a flags argument renders as ``O_WRONLY|O_CREAT|O_TRUNC``.
Values that differ between arches are data: the open flags of arm and aarch64 come from
:mod:`kernel_model.abi`, other per-arch entries name the arches they apply to. The same tables
turn names back into numbers (``parse``), which is how the tests read qemu's ``-strace``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from kernel_model import abi
from kernel_model.linux_errno import Errno
from kernel_model.signals import SIGNALS

# An entry: (name, value) for every arch, or (name, value, arches) for only those arches.
Entry = tuple


@dataclass(frozen=True)
class ValueNames:
    """How one kind of value is named: an enum (one value) or flags (an OR of bits).

    ``parts`` names the values of the bits under ``part_mask`` (an access mode, a mapping
    type), printed first; ``zero`` is what a flags value of 0 prints as (``PROT_NONE``).
    ``remainder`` is how bits without a name print (``hex`` like strace, or ``dec``).
    """

    name: str
    entries: tuple[tuple[str, int], ...]
    flags: bool = True
    zero: str | None = None
    part_mask: int = 0
    parts: tuple[tuple[str, int], ...] = ()
    remainder: str = "hex"
    unknown_comment: bool = True  # an unnamed enum value prints as 0x5 /* SEEK_??? */, as strace does
    unknown: str = ""  # the comment's text, when not PREFIX_??? (strace writes RENAME_?? for one table)
    _by_value: dict[int, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name, value in self.entries:
            self._by_value.setdefault(value, name)

    def lookup(self, value: int) -> str | None:
        """The name of exactly ``value`` (enums), or None."""
        return self._by_value.get(value)

    def render(self, value: int) -> str:
        """``value`` in names: ``O_RDONLY|O_CLOEXEC``, ``SEEK_SET``; unknown parts as numbers."""
        if not self.flags:
            name = self._by_value.get(value)
            if name is not None:
                return name
            return self._unnamed(value)
        parts: list[str] = []
        rest = value
        if self.part_mask:
            part = rest & self.part_mask
            name = next((n for n, v in self.parts if v == part), None)
            if name is not None:
                parts.append(name)
                rest &= ~self.part_mask
        if rest == 0 and not parts:
            return self.zero if self.zero is not None else "0"
        for name, bits in self.entries:
            if bits and rest & bits == bits:
                parts.append(name)
                rest &= ~bits
        if rest and not parts:
            return self._unnamed(rest)  # nothing known at all: strace adds a comment
        if rest:
            parts.append(self._number(rest))
        return "|".join(parts)

    def _unnamed(self, value: int) -> str:
        if self.unknown_comment and self.remainder == "hex" and self.entries and value > 0:
            text = self.unknown or self.entries[0][0].lstrip("_").split("_", 1)[0] + "_???"
            return f"{self._number(value)} /* {text} */"
        return self._number(value)

    def _number(self, value: int) -> str:
        if self.remainder == "dec" or value < 0:
            return str(value)
        return f"{value:#x}" if value else "0"

    def parse(self, text: str) -> int:
        """The number a rendering like ``O_RDONLY|0x4000`` stands for (ValueError if a name is unknown)."""
        total = 0
        known = dict(self.entries) | dict(self.parts)
        if self.zero is not None:
            known.setdefault(self.zero, 0)
        text = text.split("/*", 1)[0].strip()
        if text in known:  # a name that itself holds a "|" (FUTEX_WAIT|FUTEX_CLOCK_REALTIME)
            return known[text]
        for part in text.split("|"):
            part = part.strip()
            if part in known:
                total |= known[part]
            else:
                total |= int(part, 0)
        return total

    def names(self) -> list[str]:
        """Every name this table knows."""
        return [n for n, _ in self.parts] + [n for n, _ in self.entries] + ([self.zero] if self.zero else [])


def _entries(raw: tuple[Entry, ...], arch: str) -> tuple[tuple[str, int], ...]:
    return tuple((e[0], e[1]) for e in raw if len(e) == 2 or arch in e[2])


_X86 = ("x86_64", "i386")
_ARM = ("aarch64", "arm")

# Each table: the entries in strace's order, and how it prints. Values are the generic
# (x86_64 / asm-generic) ones unless an entry names its arches.
_OPEN_FLAGS = (
    ("O_CREAT", abi.O_CREAT), ("O_EXCL", abi.O_EXCL), ("O_NOCTTY", abi.O_NOCTTY), ("O_TRUNC", abi.O_TRUNC),
    ("O_APPEND", abi.O_APPEND), ("O_NONBLOCK", abi.O_NONBLOCK), ("O_SYNC", abi.O_SYNC), ("O_DSYNC", abi.O_DSYNC),
    ("O_DIRECT", abi.O_DIRECT), ("O_LARGEFILE", abi.O_LARGEFILE), ("O_NOFOLLOW", abi.O_NOFOLLOW),
    ("O_NOATIME", abi.O_NOATIME), ("O_CLOEXEC", abi.O_CLOEXEC), ("O_PATH", abi.O_PATH),
    ("O_TMPFILE", abi.O_TMPFILE), ("O_DIRECTORY", abi.O_DIRECTORY), ("FASYNC", abi.O_ASYNC),
)
_ACCESS_MODES = (("O_RDONLY", 0), ("O_WRONLY", 1), ("O_RDWR", 2), ("O_ACCMODE", 3))

# futex's op: a command, with the private flag and (for the waits) the realtime clock.
_FUTEX_COMMANDS = ("WAIT", "WAKE", "FD", "REQUEUE", "CMP_REQUEUE", "WAKE_OP", "LOCK_PI", "UNLOCK_PI",
                   "TRYLOCK_PI", "WAIT_BITSET", "WAKE_BITSET", "WAIT_REQUEUE_PI", "CMP_REQUEUE_PI", "LOCK_PI2")
_FUTEX_OPS: tuple[tuple[str, int], ...] = (
    tuple((f"FUTEX_{c}", n) for n, c in enumerate(_FUTEX_COMMANDS))
    + tuple((f"FUTEX_{c}_PRIVATE" if c != "FD" else "FUTEX_FD|FUTEX_PRIVATE_FLAG", n | 128)
            for n, c in enumerate(_FUTEX_COMMANDS))
    + tuple((f"FUTEX_{c}{p}|FUTEX_CLOCK_REALTIME", n | 256 | (128 if p else 0))
            for n, c in enumerate(_FUTEX_COMMANDS) if c in ("WAIT", "WAIT_BITSET", "WAIT_REQUEUE_PI")
            for p in ("", "_PRIVATE"))
    # the two flags on their own, so that "FUTEX_PRIVATE_FLAG|FUTEX_WAKE" (qemu's way) parses
    + (("FUTEX_PRIVATE_FLAG", 128), ("FUTEX_CLOCK_REALTIME", 256))
)

_TABLES: dict[str, dict[str, object]] = {
    "prot": dict(entries=(
        ("PROT_READ", 1), ("PROT_WRITE", 2), ("PROT_EXEC", 4), ("PROT_SEM", 8),
        ("PROT_BTI", 0x10, ("aarch64",)), ("PROT_MTE", 0x20, ("aarch64",)),
        ("PROT_GROWSDOWN", 0x01000000), ("PROT_GROWSUP", 0x02000000)), zero="PROT_NONE"),
    "map_flags": dict(entries=(
        ("MAP_FIXED", 0x10), ("MAP_ANONYMOUS", 0x20), ("MAP_32BIT", 0x40, _X86), ("MAP_ABOVE4G", 0x80, _X86),
        ("MAP_NORESERVE", 0x4000), ("MAP_POPULATE", 0x8000), ("MAP_NONBLOCK", 0x10000),
        ("MAP_GROWSDOWN", 0x100), ("MAP_DENYWRITE", 0x800), ("MAP_EXECUTABLE", 0x1000), ("MAP_LOCKED", 0x2000),
        ("MAP_STACK", 0x20000), ("MAP_HUGETLB", 0x40000), ("MAP_SYNC", 0x80000),
        ("MAP_UNINITIALIZED", 0x4000000), ("MAP_FIXED_NOREPLACE", 0x100000)),
        part_mask=0xF, parts=(("MAP_FILE", 0), ("MAP_SHARED", 1), ("MAP_PRIVATE", 2), ("MAP_SHARED_VALIDATE", 3), ("MAP_DROPPABLE", 8))),
    "at_flags": dict(entries=(
        ("AT_SYMLINK_NOFOLLOW", 0x100), ("AT_REMOVEDIR", 0x200), ("AT_SYMLINK_FOLLOW", 0x400),
        ("AT_NO_AUTOMOUNT", 0x800), ("AT_EMPTY_PATH", 0x1000), ("AT_RECURSIVE", 0x8000))),
    "faccessat_flags": dict(entries=(
        ("AT_SYMLINK_NOFOLLOW", 0x100), ("AT_EACCESS", 0x200), ("AT_EMPTY_PATH", 0x1000))),
    # statx's flags: how to sync (a two-bit field, AT_STATX_SYNC_AS_STAT when 0), then AT_ flags
    "statx_flags": dict(entries=(
        ("AT_STATX_FORCE_SYNC", 0x2000), ("AT_STATX_DONT_SYNC", 0x4000), ("AT_SYMLINK_NOFOLLOW", 0x100),
        ("AT_REMOVEDIR", 0x200), ("AT_SYMLINK_FOLLOW", 0x400), ("AT_NO_AUTOMOUNT", 0x800), ("AT_EMPTY_PATH", 0x1000),
        ("AT_RECURSIVE", 0x8000)), part_mask=0x6000,
        parts=(("AT_STATX_SYNC_AS_STAT", 0), ("AT_STATX_FORCE_SYNC", 0x2000), ("AT_STATX_DONT_SYNC", 0x4000))),
    "access_mode": dict(entries=(("R_OK", 4), ("W_OK", 2), ("X_OK", 1)), zero="F_OK"),
    "whence": dict(flags=False, entries=(
        ("SEEK_SET", 0), ("SEEK_CUR", 1), ("SEEK_END", 2), ("SEEK_DATA", 3), ("SEEK_HOLE", 4))),
    "fcntl_cmd": dict(flags=False, entries=(
        ("F_DUPFD", 0), ("F_GETFD", 1), ("F_SETFD", 2), ("F_GETFL", 3), ("F_SETFL", 4), ("F_GETLK", 5),
        ("F_SETLK", 6), ("F_SETLKW", 7), ("F_SETOWN", 8), ("F_GETOWN", 9), ("F_SETSIG", 10), ("F_GETSIG", 11),
        ("F_GETLK64", 12, ("i386", "arm")), ("F_SETLK64", 13, ("i386", "arm")), ("F_SETLKW64", 14, ("i386", "arm")),
        ("F_SETOWN_EX", 15), ("F_GETOWN_EX", 16), ("F_GETOWNER_UIDS", 17),
        ("F_OFD_GETLK", 36), ("F_OFD_SETLK", 37), ("F_OFD_SETLKW", 38), ("F_SETLEASE", 1024),
        ("F_GETLEASE", 1025), ("F_NOTIFY", 1026), ("F_DUPFD_QUERY", 1027), ("F_CREATED_QUERY", 1028),
        ("F_DUPFD_CLOEXEC", 1030), ("F_SETPIPE_SZ", 1031), ("F_GETPIPE_SZ", 1032), ("F_ADD_SEALS", 1033),
        ("F_GET_SEALS", 1034), ("F_GET_RW_HINT", 1035), ("F_SET_RW_HINT", 1036),
        ("F_GET_FILE_RW_HINT", 1037), ("F_SET_FILE_RW_HINT", 1038))),
    "fd_flags": dict(entries=(("FD_CLOEXEC", 1),)),
    "ioctl_request": dict(flags=False, entries=(
        ("TCGETS", 0x5401), ("TCSETS", 0x5402), ("TCSETSW", 0x5403), ("TCSETSF", 0x5404), ("TCGETA", 0x5405),
        ("TCSETA", 0x5406), ("TCSETAW", 0x5407), ("TCSETAF", 0x5408), ("TCSBRK", 0x5409), ("TCXONC", 0x540A),
        ("TCFLSH", 0x540B), ("TIOCEXCL", 0x540C), ("TIOCNXCL", 0x540D), ("TIOCSCTTY", 0x540E),
        ("TIOCGPGRP", 0x540F), ("TIOCSPGRP", 0x5410), ("TIOCOUTQ", 0x5411), ("TIOCSTI", 0x5412),
        ("TIOCGWINSZ", 0x5413), ("TIOCSWINSZ", 0x5414), ("TIOCMGET", 0x5415), ("TIOCMBIS", 0x5416),
        ("TIOCMBIC", 0x5417), ("TIOCMSET", 0x5418), ("TIOCGSOFTCAR", 0x5419), ("TIOCSSOFTCAR", 0x541A),
        ("FIONREAD", 0x541B), ("TIOCLINUX", 0x541C), ("TIOCCONS", 0x541D), ("TIOCGSERIAL", 0x541E),
        ("TIOCSSERIAL", 0x541F), ("TIOCPKT", 0x5420), ("FIONBIO", 0x5421), ("TIOCNOTTY", 0x5422),
        ("TIOCSETD", 0x5423), ("TIOCGETD", 0x5424), ("TCSBRKP", 0x5425), ("TIOCSBRK", 0x5427),
        ("TIOCCBRK", 0x5428), ("TIOCGSID", 0x5429), ("TCGETS2", 0x802C542A), ("TCSETS2", 0x402C542B),
        ("TIOCGPTN", 0x80045430), ("TIOCSPTLCK", 0x40045431), ("TIOCGDEV", 0x80045432),
        ("TIOCGPTPEER", 0x5441), ("FIONCLEX", 0x5450), ("FIOCLEX", 0x5451), ("FIOASYNC", 0x5452),
        ("TIOCSERCONFIG", 0x5453), ("TIOCSERGWILD", 0x5454), ("TIOCSERSWILD", 0x5455),
        ("TIOCGLCKTRMIOS", 0x5456), ("TIOCSLCKTRMIOS", 0x5457), ("TIOCSERGSTRUCT", 0x5458),
        ("TIOCSERGETLSR", 0x5459), ("FIOQSIZE", 0x5460), ("TIOCGICOUNT", 0x545D), ("FIGETBSZ", 2),
        ("FIBMAP", 1), ("FICLONE", 0x40049409), ("FS_IOC_GETFLAGS", 0x80086601), ("FS_IOC_SETFLAGS", 0x40086602))),
    "ioctl_dir": dict(entries=(("_IOC_READ", 2), ("_IOC_WRITE", 1)), zero="_IOC_NONE"),
    "madvise": dict(flags=False, entries=(
        ("MADV_NORMAL", 0), ("MADV_RANDOM", 1), ("MADV_SEQUENTIAL", 2), ("MADV_WILLNEED", 3),
        ("MADV_DONTNEED", 4), ("MADV_FREE", 8), ("MADV_REMOVE", 9), ("MADV_DONTFORK", 10), ("MADV_DOFORK", 11),
        ("MADV_MERGEABLE", 12), ("MADV_UNMERGEABLE", 13), ("MADV_HUGEPAGE", 14), ("MADV_NOHUGEPAGE", 15),
        ("MADV_DONTDUMP", 16), ("MADV_DODUMP", 17), ("MADV_WIPEONFORK", 18), ("MADV_KEEPONFORK", 19),
        ("MADV_COLD", 20), ("MADV_PAGEOUT", 21), ("MADV_POPULATE_READ", 22), ("MADV_POPULATE_WRITE", 23),
        ("MADV_DONTNEED_LOCKED", 24), ("MADV_COLLAPSE", 25), ("MADV_HWPOISON", 100), ("MADV_SOFT_OFFLINE", 101))),
    "clockid": dict(flags=False, entries=(
        ("CLOCK_REALTIME", 0), ("CLOCK_MONOTONIC", 1), ("CLOCK_PROCESS_CPUTIME_ID", 2),
        ("CLOCK_THREAD_CPUTIME_ID", 3), ("CLOCK_MONOTONIC_RAW", 4), ("CLOCK_REALTIME_COARSE", 5),
        ("CLOCK_MONOTONIC_COARSE", 6), ("CLOCK_BOOTTIME", 7), ("CLOCK_REALTIME_ALARM", 8),
        ("CLOCK_BOOTTIME_ALARM", 9), ("CLOCK_SGI_CYCLE", 10), ("CLOCK_TAI", 11))),
    "timer_flags": dict(entries=(("TIMER_ABSTIME", 1),)),
    "rename_flags": dict(entries=(("RENAME_NOREPLACE", 1), ("RENAME_EXCHANGE", 2), ("RENAME_WHITEOUT", 4)),
                         unknown="RENAME_??"),
    "getrandom_flags": dict(entries=(("GRND_NONBLOCK", 1), ("GRND_RANDOM", 2), ("GRND_INSECURE", 4))),
    "sig_how": dict(flags=False, entries=(("SIG_BLOCK", 0), ("SIG_UNBLOCK", 1), ("SIG_SETMASK", 2))),
    "sa_flags": dict(entries=(
        ("SA_RESTORER", 0x04000000), ("SA_ONSTACK", 0x08000000), ("SA_RESTART", 0x10000000),
        ("SA_INTERRUPT", 0x20000000), ("SA_NODEFER", 0x40000000), ("SA_RESETHAND", 0x80000000),
        ("SA_SIGINFO", 4), ("SA_NOCLDSTOP", 1), ("SA_NOCLDWAIT", 2))),
    "arch_prctl_code": dict(flags=False, entries=(
        ("ARCH_SET_GS", 0x1001), ("ARCH_SET_FS", 0x1002), ("ARCH_GET_FS", 0x1003), ("ARCH_GET_GS", 0x1004),
        ("ARCH_GET_CPUID", 0x1011), ("ARCH_SET_CPUID", 0x1012), ("ARCH_GET_XCOMP_SUPP", 0x1021),
        ("ARCH_GET_XCOMP_PERM", 0x1022), ("ARCH_REQ_XCOMP_PERM", 0x1023), ("ARCH_MAP_VDSO_X32", 0x2001),
        ("ARCH_MAP_VDSO_32", 0x2002), ("ARCH_MAP_VDSO_64", 0x2003), ("ARCH_SHSTK_ENABLE", 0x5001),
        ("ARCH_SHSTK_DISABLE", 0x5002), ("ARCH_SHSTK_LOCK", 0x5003), ("ARCH_SHSTK_STATUS", 0x5005))),
    "rlimit_resource": dict(flags=False, entries=(
        ("RLIMIT_CPU", 0), ("RLIMIT_FSIZE", 1), ("RLIMIT_DATA", 2), ("RLIMIT_STACK", 3), ("RLIMIT_CORE", 4),
        ("RLIMIT_RSS", 5), ("RLIMIT_NPROC", 6), ("RLIMIT_NOFILE", 7), ("RLIMIT_MEMLOCK", 8), ("RLIMIT_AS", 9),
        ("RLIMIT_LOCKS", 10), ("RLIMIT_SIGPENDING", 11), ("RLIMIT_MSGQUEUE", 12), ("RLIMIT_NICE", 13),
        ("RLIMIT_RTPRIO", 14), ("RLIMIT_RTTIME", 15))),
    "futex_cmd": dict(flags=False, entries=_FUTEX_OPS),
    "futex_bitset": dict(flags=False, entries=(("FUTEX_BITSET_MATCH_ANY", 0xFFFFFFFF),), unknown_comment=False),
    "futex_wake_op": dict(flags=False, entries=(
        ("FUTEX_OP_SET", 0), ("FUTEX_OP_ADD", 1), ("FUTEX_OP_OR", 2), ("FUTEX_OP_ANDN", 3), ("FUTEX_OP_XOR", 4))),
    "futex_wake_cmp": dict(flags=False, entries=(
        ("FUTEX_OP_CMP_EQ", 0), ("FUTEX_OP_CMP_NE", 1), ("FUTEX_OP_CMP_LT", 2), ("FUTEX_OP_CMP_LE", 3),
        ("FUTEX_OP_CMP_GT", 4), ("FUTEX_OP_CMP_GE", 5))),
    "clone_flags": dict(entries=(
        ("CLONE_VM", 0x100), ("CLONE_FS", 0x200), ("CLONE_FILES", 0x400), ("CLONE_SIGHAND", 0x800),
        ("CLONE_PIDFD", 0x1000), ("CLONE_PTRACE", 0x2000), ("CLONE_VFORK", 0x4000), ("CLONE_PARENT", 0x8000),
        ("CLONE_THREAD", 0x10000), ("CLONE_NEWNS", 0x20000), ("CLONE_SYSVSEM", 0x40000),
        ("CLONE_SETTLS", 0x80000), ("CLONE_PARENT_SETTID", 0x100000), ("CLONE_CHILD_CLEARTID", 0x200000),
        ("CLONE_DETACHED", 0x400000), ("CLONE_UNTRACED", 0x800000), ("CLONE_CHILD_SETTID", 0x1000000),
        ("CLONE_NEWCGROUP", 0x2000000), ("CLONE_NEWUTS", 0x4000000), ("CLONE_NEWIPC", 0x8000000),
        ("CLONE_NEWUSER", 0x10000000), ("CLONE_NEWPID", 0x20000000), ("CLONE_NEWNET", 0x40000000),
        ("CLONE_IO", 0x80000000))),
    "wait_options": dict(entries=(
        ("WNOHANG", 1), ("WUNTRACED", 2), ("WEXITED", 4), ("WCONTINUED", 8), ("WNOWAIT", 0x1000000),
        ("__WNOTHREAD", 0x20000000), ("__WALL", 0x40000000), ("__WCLONE", 0x80000000))),
    "mremap_flags": dict(entries=(("MREMAP_MAYMOVE", 1), ("MREMAP_FIXED", 2), ("MREMAP_DONTUNMAP", 4))),
    "msync_flags": dict(entries=(("MS_ASYNC", 1), ("MS_INVALIDATE", 2), ("MS_SYNC", 4))),
    "mlock_flags": dict(entries=(("MLOCK_ONFAULT", 1),)),
    "mlockall_flags": dict(entries=(("MCL_CURRENT", 1), ("MCL_FUTURE", 2), ("MCL_ONFAULT", 4))),
    "flock_op": dict(entries=(("LOCK_SH", 1), ("LOCK_EX", 2), ("LOCK_NB", 4), ("LOCK_UN", 8))),
    "prctl_option": dict(flags=False, entries=(
        ("PR_SET_PDEATHSIG", 1), ("PR_GET_PDEATHSIG", 2), ("PR_GET_DUMPABLE", 3), ("PR_SET_DUMPABLE", 4),
        ("PR_GET_KEEPCAPS", 7), ("PR_SET_KEEPCAPS", 8), ("PR_GET_TIMING", 13), ("PR_SET_TIMING", 14),
        ("PR_SET_NAME", 15), ("PR_GET_NAME", 16), ("PR_GET_SECCOMP", 21), ("PR_SET_SECCOMP", 22),
        ("PR_CAPBSET_READ", 23), ("PR_CAPBSET_DROP", 24), ("PR_GET_TSC", 25), ("PR_SET_TSC", 26),
        ("PR_GET_SECUREBITS", 27), ("PR_SET_SECUREBITS", 28), ("PR_SET_TIMERSLACK", 29),
        ("PR_GET_TIMERSLACK", 30), ("PR_SET_MM", 35), ("PR_SET_CHILD_SUBREAPER", 36),
        ("PR_GET_CHILD_SUBREAPER", 37), ("PR_SET_NO_NEW_PRIVS", 38), ("PR_GET_NO_NEW_PRIVS", 39),
        ("PR_GET_TID_ADDRESS", 40), ("PR_SET_THP_DISABLE", 41), ("PR_GET_THP_DISABLE", 42),
        ("PR_CAP_AMBIENT", 47), ("PR_SVE_SET_VL", 50), ("PR_SVE_GET_VL", 51), ("PR_GET_SPECULATION_CTRL", 52),
        ("PR_SET_SPECULATION_CTRL", 53), ("PR_PAC_RESET_KEYS", 54), ("PR_SET_TAGGED_ADDR_CTRL", 55),
        ("PR_GET_TAGGED_ADDR_CTRL", 56), ("PR_SET_IO_FLUSHER", 57), ("PR_GET_IO_FLUSHER", 58),
        ("PR_SET_SYSCALL_USER_DISPATCH", 59), ("PR_SCHED_CORE", 62), ("PR_SET_VMA", 0x53564D41))),
    "socket_family": dict(flags=False, remainder="dec", entries=(
        ("AF_UNSPEC", 0), ("AF_UNIX", 1), ("AF_INET", 2), ("AF_AX25", 3), ("AF_IPX", 4), ("AF_APPLETALK", 5),
        ("AF_INET6", 10), ("AF_KEY", 15), ("AF_NETLINK", 16), ("AF_PACKET", 17), ("AF_BLUETOOTH", 31),
        ("AF_ALG", 38), ("AF_VSOCK", 40))),
    "socket_type": dict(entries=(("SOCK_NONBLOCK", 0o4000), ("SOCK_CLOEXEC", 0o2000000)), part_mask=0xF,
                        parts=(("SOCK_STREAM", 1), ("SOCK_DGRAM", 2), ("SOCK_RAW", 3), ("SOCK_RDM", 4),
                               ("SOCK_SEQPACKET", 5), ("SOCK_DCCP", 6), ("SOCK_PACKET", 10))),
    "shutdown_how": dict(flags=False, entries=(("SHUT_RD", 0), ("SHUT_WR", 1), ("SHUT_RDWR", 2))),
    "epoll_op": dict(flags=False, entries=(("EPOLL_CTL_ADD", 1), ("EPOLL_CTL_DEL", 2), ("EPOLL_CTL_MOD", 3))),
    "cloexec_flags": dict(entries=(("O_NONBLOCK", abi.O_NONBLOCK), ("O_CLOEXEC", abi.O_CLOEXEC))),
    "efd_flags": dict(entries=(("EFD_SEMAPHORE", 1), ("EFD_NONBLOCK", abi.O_NONBLOCK), ("EFD_CLOEXEC", abi.O_CLOEXEC))),
    "sfd_flags": dict(entries=(("SFD_NONBLOCK", abi.O_NONBLOCK), ("SFD_CLOEXEC", abi.O_CLOEXEC))),
    "tfd_flags": dict(entries=(("TFD_TIMER_ABSTIME", 1), ("TFD_TIMER_CANCEL_ON_SET", 2),
                               ("TFD_NONBLOCK", abi.O_NONBLOCK), ("TFD_CLOEXEC", abi.O_CLOEXEC))),
    "epoll_flags": dict(entries=(("EPOLL_CLOEXEC", abi.O_CLOEXEC),)),
    "inotify_flags": dict(entries=(("IN_NONBLOCK", abi.O_NONBLOCK), ("IN_CLOEXEC", abi.O_CLOEXEC))),
    "mfd_flags": dict(entries=(("MFD_CLOEXEC", 1), ("MFD_ALLOW_SEALING", 2), ("MFD_HUGETLB", 4),
                               ("MFD_NOEXEC_SEAL", 8), ("MFD_EXEC", 0x10))),
    "statx_mask": dict(entries=(
        ("STATX_ALL", 0xFFF), ("STATX_BASIC_STATS", 0x7FF), ("STATX_TYPE", 1), ("STATX_MODE", 2), ("STATX_NLINK", 4),
        ("STATX_UID", 8), ("STATX_GID", 0x10), ("STATX_ATIME", 0x20), ("STATX_MTIME", 0x40), ("STATX_CTIME", 0x80),
        ("STATX_INO", 0x100), ("STATX_SIZE", 0x200), ("STATX_BLOCKS", 0x400), ("STATX_BTIME", 0x800),
        ("STATX_MNT_ID", 0x1000), ("STATX_DIOALIGN", 0x2000), ("STATX_MNT_ID_UNIQUE", 0x4000),
        ("STATX_SUBVOL", 0x8000), ("STATX_WRITE_ATOMIC", 0x10000))),
    "statx_attributes": dict(entries=(
        ("STATX_ATTR_COMPRESSED", 0x4), ("STATX_ATTR_IMMUTABLE", 0x10), ("STATX_ATTR_APPEND", 0x20),
        ("STATX_ATTR_NODUMP", 0x40), ("STATX_ATTR_ENCRYPTED", 0x800), ("STATX_ATTR_AUTOMOUNT", 0x1000),
        ("STATX_ATTR_MOUNT_ROOT", 0x2000), ("STATX_ATTR_VERITY", 0x100000), ("STATX_ATTR_DAX", 0x200000),
        ("STATX_ATTR_WRITE_ATOMIC", 0x400000))),
    "statfs_flags": dict(entries=(
        ("ST_RDONLY", 1), ("ST_NOSUID", 2), ("ST_NODEV", 4), ("ST_NOEXEC", 8), ("ST_SYNCHRONOUS", 0x10),
        ("ST_VALID", 0x20), ("ST_MANDLOCK", 0x40), ("ST_NOATIME", 0x400), ("ST_NODIRATIME", 0x800),
        ("ST_RELATIME", 0x1000), ("ST_NOSYMFOLLOW", 0x2000))),
    "fs_magic": dict(flags=False, entries=(
        ("ADFS_SUPER_MAGIC", 0xADF5), ("AFFS_SUPER_MAGIC", 0xADFF), ("AFS_SUPER_MAGIC", 0x5346414F),
        ("ANON_INODE_FS_MAGIC", 0x09041934), ("AUTOFS_SUPER_MAGIC", 0x0187), ("BDEVFS_MAGIC", 0x62646576),
        ("BINFMTFS_MAGIC", 0x42494E4D), ("BPF_FS_MAGIC", 0xCAFE4A11), ("BTRFS_SUPER_MAGIC", 0x9123683E),
        ("CGROUP_SUPER_MAGIC", 0x27E0EB), ("CGROUP2_SUPER_MAGIC", 0x63677270), ("CONFIGFS_MAGIC", 0x62656570),
        ("DEBUGFS_MAGIC", 0x64626720), ("DEVPTS_SUPER_MAGIC", 0x1CD1), ("ECRYPTFS_SUPER_MAGIC", 0xF15F),
        ("EFIVARFS_MAGIC", 0xDE5E81E4), ("EXT2_SUPER_MAGIC", 0xEF53), ("F2FS_SUPER_MAGIC", 0xF2F52010),
        ("FUSE_SUPER_MAGIC", 0x65735546), ("HUGETLBFS_MAGIC", 0x958458F6), ("ISOFS_SUPER_MAGIC", 0x9660),
        ("MQUEUE_MAGIC", 0x19800202), ("MSDOS_SUPER_MAGIC", 0x4D44), ("NFS_SUPER_MAGIC", 0x6969),
        ("NSFS_MAGIC", 0x6E736673), ("OVERLAYFS_SUPER_MAGIC", 0x794C7630), ("PIPEFS_MAGIC", 0x50495045),
        ("PROC_SUPER_MAGIC", 0x9FA0), ("PSTOREFS_MAGIC", 0x6165676C), ("RAMFS_MAGIC", 0x858458F6),
        ("SECURITYFS_MAGIC", 0x73636673), ("SELINUX_MAGIC", 0xF97CFF8C), ("SMB_SUPER_MAGIC", 0x517B),
        ("SOCKFS_MAGIC", 0x534F434B), ("SQUASHFS_MAGIC", 0x73717368), ("SYSFS_MAGIC", 0x62656572),
        ("TMPFS_MAGIC", 0x01021994), ("TRACEFS_MAGIC", 0x74726163), ("V9FS_MAGIC", 0x01021997),
        ("XFS_SUPER_MAGIC", 0x58465342))),
    "ss_flags": dict(entries=(("SS_ONSTACK", 1), ("SS_DISABLE", 2), ("SS_AUTODISARM", 0x80000000))),
    "st_mode_type": dict(flags=False, entries=(
        ("S_IFSOCK", 0o140000), ("S_IFLNK", 0o120000), ("S_IFREG", 0o100000), ("S_IFBLK", 0o060000),
        ("S_IFDIR", 0o040000), ("S_IFCHR", 0o020000), ("S_IFIFO", 0o010000))),
    "dirent_type": dict(flags=False, entries=(
        ("DT_UNKNOWN", 0), ("DT_FIFO", 1), ("DT_CHR", 2), ("DT_DIR", 4), ("DT_BLK", 6), ("DT_REG", 8),
        ("DT_LNK", 10), ("DT_SOCK", 12), ("DT_WHT", 14))),
    "suid_dump": dict(flags=False, entries=(("SUID_DUMP_DISABLE", 0), ("SUID_DUMP_USER", 1), ("SUID_DUMP_ROOT", 2))),
    "personality": dict(flags=False, entries=(("PER_LINUX", 0), ("PER_LINUX32", 8))),
    "sched_policy": dict(flags=False, entries=(
        ("SCHED_OTHER", 0), ("SCHED_FIFO", 1), ("SCHED_RR", 2), ("SCHED_BATCH", 3), ("SCHED_IDLE", 5),
        ("SCHED_DEADLINE", 6))),
    "which_prio": dict(flags=False, entries=(("PRIO_PROCESS", 0), ("PRIO_PGRP", 1), ("PRIO_USER", 2))),
    "itimer_which": dict(flags=False, entries=(("ITIMER_REAL", 0), ("ITIMER_VIRTUAL", 1), ("ITIMER_PROF", 2))),
    "rusage_who": dict(flags=False, entries=(("RUSAGE_SELF", 0), ("RUSAGE_CHILDREN", -1), ("RUSAGE_THREAD", 1))),
    "idtype": dict(flags=False, entries=(("P_ALL", 0), ("P_PID", 1), ("P_PGID", 2), ("P_PIDFD", 3))),
    "membarrier_cmd": dict(flags=False, entries=(
        ("MEMBARRIER_CMD_QUERY", 0), ("MEMBARRIER_CMD_GLOBAL", 1), ("MEMBARRIER_CMD_GLOBAL_EXPEDITED", 2),
        ("MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED", 4), ("MEMBARRIER_CMD_PRIVATE_EXPEDITED", 8),
        ("MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED", 16))),
    "close_range_flags": dict(entries=(("CLOSE_RANGE_UNSHARE", 2), ("CLOSE_RANGE_CLOEXEC", 4))),
    "splice_flags": dict(entries=(("SPLICE_F_MOVE", 1), ("SPLICE_F_NONBLOCK", 2), ("SPLICE_F_MORE", 4),
                                  ("SPLICE_F_GIFT", 8))),
    "fadvise_advice": dict(flags=False, entries=(
        ("POSIX_FADV_NORMAL", 0), ("POSIX_FADV_RANDOM", 1), ("POSIX_FADV_SEQUENTIAL", 2),
        ("POSIX_FADV_WILLNEED", 3), ("POSIX_FADV_DONTNEED", 4), ("POSIX_FADV_NOREUSE", 5))),
    "fallocate_mode": dict(entries=(("FALLOC_FL_KEEP_SIZE", 1), ("FALLOC_FL_PUNCH_HOLE", 2),
                                    ("FALLOC_FL_COLLAPSE_RANGE", 8), ("FALLOC_FL_ZERO_RANGE", 0x10),
                                    ("FALLOC_FL_INSERT_RANGE", 0x20), ("FALLOC_FL_UNSHARE_RANGE", 0x40))),
    "poll_events": dict(entries=(
        ("POLLIN", 1), ("POLLPRI", 2), ("POLLOUT", 4), ("POLLERR", 8), ("POLLHUP", 0x10), ("POLLNVAL", 0x20),
        ("POLLRDNORM", 0x40), ("POLLRDBAND", 0x80), ("POLLWRNORM", 0x100), ("POLLWRBAND", 0x200),
        ("POLLMSG", 0x400), ("POLLREMOVE", 0x1000), ("POLLRDHUP", 0x2000))),
    "rseq_flags": dict(entries=(("RSEQ_FLAG_UNREGISTER", 1),)),
    "riscv_flush_icache_flags": dict(entries=(("SYS_RISCV_FLUSH_ICACHE_LOCAL", 1),)),
    "mount_flags": dict(entries=(
        ("MS_RDONLY", 1), ("MS_NOSUID", 2), ("MS_NODEV", 4), ("MS_NOEXEC", 8), ("MS_SYNCHRONOUS", 0x10),
        ("MS_REMOUNT", 0x20), ("MS_MANDLOCK", 0x40), ("MS_DIRSYNC", 0x80), ("MS_NOSYMFOLLOW", 0x100),
        ("MS_NOATIME", 0x400), ("MS_NODIRATIME", 0x800), ("MS_BIND", 0x1000), ("MS_MOVE", 0x2000),
        ("MS_REC", 0x4000), ("MS_SILENT", 0x8000), ("MS_POSIXACL", 0x10000), ("MS_UNBINDABLE", 0x20000),
        ("MS_PRIVATE", 0x40000), ("MS_SLAVE", 0x80000), ("MS_SHARED", 0x100000), ("MS_RELATIME", 0x200000),
        ("MS_KERNMOUNT", 0x400000), ("MS_I_VERSION", 0x800000), ("MS_STRICTATIME", 0x1000000),
        ("MS_LAZYTIME", 0x2000000))),
    "umount_flags": dict(entries=(("MNT_FORCE", 1), ("MNT_DETACH", 2), ("MNT_EXPIRE", 4),
                                  ("UMOUNT_NOFOLLOW", 8))),
}


@lru_cache(maxsize=None)
def value_names(table: str, arch: str) -> ValueNames:
    """The names of ``table``'s values on ``arch`` (KeyError for a table nobody defined)."""
    if table == "open_flags":
        # arm/aarch64 move four bits; their names are the same, so translate the values.
        abi_c = abi.abi_for(arch)
        entries = tuple((n, abi_c.open_flags_out(v)) for n, v in _OPEN_FLAGS)
        return ValueNames("open_flags", entries, part_mask=abi.O_ACCMODE, parts=_ACCESS_MODES)
    if table == "open_mode_flags":
        # the same flags without the access mode, as dup3 and pipe2 show them
        abi_c = abi.abi_for(arch)
        return ValueNames("open_mode_flags", tuple((n, abi_c.open_flags_out(v)) for n, v in _OPEN_FLAGS))
    if table == "errno":
        return ValueNames("errno", tuple((e.name, int(e)) for e in Errno), flags=False, remainder="dec",
                          unknown_comment=False)
    if table == "signal":
        return ValueNames("signal", tuple(SIGNALS.items()), flags=False, remainder="dec", unknown_comment=False)
    spec = dict(_TABLES[table])
    entries = _entries(spec.pop("entries"), arch)  # type: ignore[arg-type]
    return ValueNames(table, entries, **spec)  # type: ignore[arg-type]


def table_names() -> list[str]:
    """Every table :func:`value_names` knows."""
    return sorted([*_TABLES, "open_flags", "open_mode_flags", "errno", "signal"])
