"""The shape of an arch's gdb target description: registers in gdb's order, grouped in features.

The gdb remote stub sends this as target description XML, and lays out the ``g``/``p``
packets by it. The contents (which features, which registers, which types) are arch data and
live in each arch's module.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GdbRegister:
    """One register as gdb sees it.

    ``source`` is the arch register it reads and writes (a name in ``Arch.registers``).
    ``role`` marks a register the stub makes up: ``"syscall"`` is Linux's ``orig_rax`` (the
    number of the system call the process is stopped in, -1 elsewhere).
    """

    name: str
    bits: int
    type: str
    source: str | None = None
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class GdbFeature:
    """A target description feature: its name, the types it defines (XML), and its registers."""

    name: str
    registers: tuple[GdbRegister, ...]
    types: str = ""


@dataclass(frozen=True)
class GdbTarget:
    """Everything gdb needs to know about an arch's registers."""

    architecture: str  # gdb's name: "i386:x86-64", "aarch64"
    features: tuple[GdbFeature, ...]
    osabi: str = "GNU/Linux"  # makes gdb use its Linux support (catch syscall, syscall names)

    @property
    def registers(self) -> tuple[GdbRegister, ...]:
        """Every register in gdb's numbering."""
        return tuple(r for f in self.features for r in f.registers)


def registers_like(names: list[str], bits: int, type_: str, **kw: str) -> tuple[GdbRegister, ...]:
    """Registers of one kind, each read from the arch register of the same name."""
    return tuple(GdbRegister(n, bits, type_, source=n, **kw) for n in names)  # type: ignore[arg-type]
