"""Linux values (what the guest passes, in the kernel model's canonical form) to the host's, by name.

The host's numbers come from Python's own modules (``os.O_APPEND``, ``time.CLOCK_BOOTTIME``,
``fcntl.F_WRLCK``), never from a table copied for one OS, so a host whose numbers differ
(macOS, the BSDs) gets its own. A Linux value the host has no name for is either dropped
(when it only asks for a hint the host may ignore) or refused with the errno Linux itself
gives for an unsupported request. Errors come back the same way: a host ``OSError`` becomes the
Linux errno of the same name (:func:`kernel_model.fsnodes.host_errno`).
"""

from __future__ import annotations

import os
import sys
import time

from kernel_model import abi
from kernel_model.linux_errno import Errno
from kernel_model.seam import KernelError

LINUX_HOST = sys.platform.startswith("linux")

# (canonical Linux bits, the host's name, what to do when the host has no such flag).
# Composite flags come first so their bits are taken before their parts.
_OPEN_FLAGS: tuple[tuple[int, str, Errno | None], ...] = (
    (abi.O_TMPFILE, "O_TMPFILE", Errno.EOPNOTSUPP),
    (abi.O_SYNC, "O_SYNC", None),
    (abi.O_PATH, "O_PATH", Errno.EINVAL),
    (abi.O_CREAT, "O_CREAT", Errno.EINVAL),
    (abi.O_EXCL, "O_EXCL", Errno.EINVAL),
    (abi.O_NOCTTY, "O_NOCTTY", None),
    (abi.O_TRUNC, "O_TRUNC", Errno.EINVAL),
    (abi.O_APPEND, "O_APPEND", Errno.EINVAL),
    (abi.O_NONBLOCK, "O_NONBLOCK", Errno.EINVAL),
    (abi.O_DSYNC, "O_DSYNC", None),
    (abi.O_DIRECT, "O_DIRECT", Errno.EINVAL),
    (abi.O_LARGEFILE, "O_LARGEFILE", None),
    (abi.O_DIRECTORY, "O_DIRECTORY", Errno.EINVAL),
    (abi.O_NOFOLLOW, "O_NOFOLLOW", Errno.EINVAL),
    (abi.O_NOATIME, "O_NOATIME", None),
    (abi.O_CLOEXEC, "O_CLOEXEC", None),
)
# O_ASYNC is never passed on: it would send SIGIO to the sandbox's own process.
_ACCESS_MODES = {abi.O_RDONLY: "O_RDONLY", abi.O_WRONLY: "O_WRONLY", abi.O_RDWR: "O_RDWR"}


def open_flags_to_host(flags: int) -> int:
    """Canonical Linux open flags as the host's; KernelError for one the host cannot honour."""
    acc = flags & abi.O_ACCMODE
    if acc in _ACCESS_MODES:
        host = getattr(os, _ACCESS_MODES[acc])
    else:  # 3: Linux's "no read or write, ioctl only" mode has no name anywhere
        host = os.O_RDWR | os.O_WRONLY
    rest = flags & ~abi.O_ACCMODE
    for bits, name, missing in _OPEN_FLAGS:
        if rest & bits != bits:
            continue
        rest &= ~bits
        value = getattr(os, name, None)
        if value is None:
            if missing is not None:
                raise KernelError(missing, f"the host has no {name}")
            continue
        host |= value
    return host


def host_umask(mask: int) -> "_Umask":
    """A context in which the host applies the guest's umask to what it creates."""
    return _Umask(mask)


class _Umask:
    def __init__(self, mask: int) -> None:
        self._mask = mask & 0o777
        self._saved = 0

    def __enter__(self) -> None:
        self._saved = os.umask(self._mask)

    def __exit__(self, *exc: object) -> None:
        os.umask(self._saved)


# -- clocks --------------------------------------------------------------------------------

_CLOCK_NAMES = {
    0: "CLOCK_REALTIME", 1: "CLOCK_MONOTONIC", 2: "CLOCK_PROCESS_CPUTIME_ID", 3: "CLOCK_THREAD_CPUTIME_ID",
    4: "CLOCK_MONOTONIC_RAW", 5: "CLOCK_REALTIME_COARSE", 6: "CLOCK_MONOTONIC_COARSE", 7: "CLOCK_BOOTTIME",
    8: "CLOCK_REALTIME_ALARM", 9: "CLOCK_BOOTTIME_ALARM", 11: "CLOCK_TAI",
}
# Linux clocks a host without them reads from the nearest clock it has.
_CLOCK_STANDINS = {
    "CLOCK_REALTIME_COARSE": "CLOCK_REALTIME", "CLOCK_REALTIME_ALARM": "CLOCK_REALTIME",
    "CLOCK_MONOTONIC_COARSE": "CLOCK_MONOTONIC", "CLOCK_MONOTONIC_RAW": "CLOCK_MONOTONIC",
    "CLOCK_BOOTTIME": "CLOCK_MONOTONIC", "CLOCK_BOOTTIME_ALARM": "CLOCK_MONOTONIC",
}


def clock_to_host(clock_id: int) -> int:
    """The host's id for a Linux clock; EINVAL for anything but the fixed clocks.

    Negative ids (another process's CPU clock, a clock behind a file descriptor) are refused:
    they would name host processes and host descriptors, not the guest's.
    """
    name = _CLOCK_NAMES.get(clock_id)
    if name is None:
        raise KernelError(Errno.EINVAL, f"clock {clock_id} is not one of the fixed clocks")
    if LINUX_HOST:
        return clock_id  # the host's numbers are Linux's
    value = getattr(time, name, None)
    if value is None:
        value = getattr(time, _CLOCK_STANDINS.get(name, ""), None)
    if value is None:
        raise KernelError(Errno.EINVAL, f"the host has no {name}")
    return value


# -- seeking -------------------------------------------------------------------------------

_WHENCE = {0: "SEEK_SET", 1: "SEEK_CUR", 2: "SEEK_END", 3: "SEEK_DATA", 4: "SEEK_HOLE"}


def whence_to_host(whence: int) -> int:
    """The host's ``lseek`` whence for Linux's (EINVAL when unknown to either)."""
    value = getattr(os, _WHENCE.get(whence, ""), None)
    if value is None:
        raise KernelError(Errno.EINVAL)
    return value


# -- getrandom -----------------------------------------------------------------------------

GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE = 1, 2, 4
_GRND = ((GRND_NONBLOCK, "GRND_NONBLOCK"), (GRND_RANDOM, "GRND_RANDOM"))


def getrandom_flags_to_host(flags: int) -> int:
    """getrandom flags as the host's (GRND_INSECURE only means "do not block": dropped)."""
    host = 0
    for bit, name in _GRND:
        if flags & bit:
            host |= getattr(os, name, 0)
    return host


# -- access(2) -----------------------------------------------------------------------------

_ACCESS_BITS = ((4, "R_OK"), (2, "W_OK"), (1, "X_OK"))


def access_mode_to_host(mode: int) -> int:
    """R_OK/W_OK/X_OK as the host's bits (F_OK is 0 everywhere)."""
    return sum(getattr(os, name) for bit, name in _ACCESS_BITS if mode & bit)
