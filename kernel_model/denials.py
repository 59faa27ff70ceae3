"""Refusals made while one system call is served, so its record can say which rule refused it."""

from __future__ import annotations

from kernel_model.linux_errno import Errno
from kernel_model.seam import KernelError


class DenialLog:
    """The refusals of the call being served, each as ``what: rule`` text.

    The backend clears it before each call and copies what it holds into the call's note.
    Filesystems and handlers call :meth:`deny`, which returns the error to raise. A refusal
    can be swallowed on the way (a missing name is how a path walk ends), which is why it is
    logged here rather than only carried by the exception.
    """

    __slots__ = ("entries", "last_read_only")

    def __init__(self) -> None:
        self.entries: list[str] = []
        # (what, rule) of the last read-only grant a path of this call landed on: a write the
        # model refuses there with EROFS before reaching the grant is still put down to it.
        self.last_read_only: tuple[str, str] | None = None

    def begin(self) -> None:
        """Start a new call."""
        if self.entries:
            self.entries = []
        self.last_read_only = None

    def deny(self, errno: Errno, what: str, rule: str) -> KernelError:
        """Record a refusal of ``what`` by ``rule``; return the KernelError to raise."""
        text = f"{what}: {rule}"
        if text not in self.entries:
            self.entries.append(text)
        return KernelError(errno, f"denied {text}")

    def note(self, errno: Errno | None) -> str | None:
        """The note for the call's record: every refusal, prefixed by ``denied``."""
        if not self.entries and errno is Errno.EROFS and self.last_read_only is not None:
            what, rule = self.last_read_only
            self.entries.append(f"{what}: {rule}")
        if not self.entries:
            return None
        return "denied " + "; ".join(self.entries)
