"""Arch descriptions: one frozen :class:`Arch` per supported arch, looked up by name or ELF header.

Each description is imported when its arch is first asked for, so that a run loads only its
guest's; the index below says where each one is and how to recognise its names and ELF
files (a test checks it against the descriptions themselves).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from sandbox.arch.base import Arch, Clobber, Fault, Trap
from sandbox.errors import UnknownArchError

# name -> (module, aliases, (ELF e_machine, ELF class bits, big-endian)), in the order shown
_INDEX: dict[str, tuple[str, tuple[str, ...], tuple[int, int, bool]]] = {
    "x86_64": ("sandbox.arch.x86_64", ("amd64", "x64", "x86-64"), (62, 64, False)),
    "aarch64": ("sandbox.arch.aarch64", ("arm64", "armv8"), (183, 64, False)),
    "i386": ("sandbox.arch.i386", ("x86", "i686", "i586", "ia32"), (3, 32, False)),
    "arm": ("sandbox.arch.arm", ("armv7", "armv7l", "armhf", "armel", "arm32", "aarch32"), (40, 32, False)),
    "riscv64": ("sandbox.arch.riscv64", ("riscv", "rv64", "rv64gc"), (243, 64, False)),
}
_BY_ALIAS = {alias: name for name, (_, aliases, _) in _INDEX.items() for alias in (name, *aliases)}
_BY_ELF = {elf: name for name, (_, _, elf) in _INDEX.items()}
_LOADED: dict[str, Arch] = {}


def _load(name: str) -> Arch:
    arch = _LOADED.get(name)
    if arch is None:
        arch = _LOADED[name] = importlib.import_module(_INDEX[name][0]).ARCH
    return arch


class _Arches(Mapping[str, Arch]):
    """Every supported arch by name; each description is imported when first looked at."""

    def __getitem__(self, name: str) -> Arch:
        if name not in _INDEX:
            raise KeyError(name)
        return _load(name)

    def __iter__(self) -> Iterator[str]:
        return iter(_INDEX)

    def __len__(self) -> int:
        return len(_INDEX)

    def __contains__(self, name: object) -> bool:
        return name in _INDEX

    def __repr__(self) -> str:
        return f"ARCHES({', '.join(_INDEX)})"


ARCHES: Mapping[str, Arch] = _Arches()


def get_arch(name: str | Arch) -> Arch:
    """The arch called ``name`` (or one of its aliases: ``arm64``, ``amd64``...)."""
    if isinstance(name, Arch):
        return name
    canonical = _BY_ALIAS.get(name.strip().lower())
    if canonical is None:
        raise UnknownArchError(f"unknown arch {name!r}; supported: {', '.join(ARCHES)}")
    return _load(canonical)


def arch_for_elf(machine: int, bits: int, big_endian: bool) -> Arch | None:
    """The arch an ELF header describes, or None when no supported arch matches."""
    name = _BY_ELF.get((machine, bits, big_endian))
    return _load(name) if name is not None else None


__all__ = ["ARCHES", "Arch", "Clobber", "Fault", "Trap", "arch_for_elf", "get_arch"]
