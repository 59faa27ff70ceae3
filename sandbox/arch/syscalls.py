"""System call numbers and names, from the kernel's own tables in the ``system-calls`` package.

Nothing here is copied by hand: each arch names its table (``x86_64``, ``arm64``...), which is
loaded once and cached.
"""

from __future__ import annotations

from functools import lru_cache

import system_calls

from sandbox.arch.base import Arch


class SyscallTable:
    """Numbers and ABI names of one arch's system calls."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        db = system_calls.syscalls()
        self._by_name: dict[str, int] = dict(db.load_arch_table(table_name))
        self._by_number: dict[int, str] = {}
        for name, nr in sorted(self._by_name.items()):
            self._by_number.setdefault(nr, name)

    def number(self, name: str) -> int | None:
        """The number of ``name`` on this arch, or None when the arch has no such call."""
        return self._by_name.get(name)

    def name(self, number: int) -> str | None:
        """The ABI name of ``number``, or None for a number the table does not list."""
        return self._by_number.get(number)

    def by_number(self) -> dict[int, str]:
        """Every call, number to name."""
        return dict(self._by_number)

    def names(self) -> list[str]:
        """Every call name this arch has, sorted."""
        return sorted(self._by_name)


@lru_cache(maxsize=None)
def _table(table_name: str) -> SyscallTable:
    return SyscallTable(table_name)


def syscall_table(arch: Arch) -> SyscallTable:
    """The (cached) table for ``arch``."""
    return _table(arch.syscall_table)


def unknown_name(number: int) -> str:
    """The name shown for a number that no table lists."""
    return f"syscall_{number:#x}"
