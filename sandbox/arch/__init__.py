"""Arch descriptions: one frozen :class:`Arch` per supported arch, looked up by name or ELF header."""

from __future__ import annotations

from sandbox.arch.aarch64 import ARCH as AARCH64
from sandbox.arch.arm import ARCH as ARM
from sandbox.arch.base import Arch, Clobber, Fault, Trap
from sandbox.arch.i386 import ARCH as I386
from sandbox.arch.riscv64 import ARCH as RISCV64
from sandbox.arch.x86_64 import ARCH as X86_64
from sandbox.errors import UnknownArchError

ARCHES: dict[str, Arch] = {a.name: a for a in (X86_64, AARCH64, I386, ARM, RISCV64)}

_BY_ALIAS = {alias: a for a in ARCHES.values() for alias in (a.name, *a.aliases)}


def get_arch(name: str | Arch) -> Arch:
    """The arch called ``name`` (or one of its aliases: ``arm64``, ``amd64``...)."""
    if isinstance(name, Arch):
        return name
    arch = _BY_ALIAS.get(name.strip().lower())
    if arch is None:
        raise UnknownArchError(f"unknown arch {name!r}; supported: {', '.join(ARCHES)}")
    return arch


def arch_for_elf(machine: int, bits: int, big_endian: bool) -> Arch | None:
    """The arch an ELF header describes, or None when no supported arch matches."""
    for arch in ARCHES.values():
        if arch.elf_machine == machine and arch.bits == bits and arch.big_endian == big_endian:
            return arch
    return None


__all__ = ["ARCHES", "Arch", "Clobber", "Fault", "Trap", "arch_for_elf", "get_arch"]
