"""The register-level view of each call, for learning what carries what on each arch::

    svc #0 @0x400080  x8=64 (write)  x0=1 (fd)  x1=0x4000a0 (buf)  x2=12 (count)  ->  x0=12

Built only from the arch description (trap instruction, number register, argument registers,
return register, clobbered registers) and the prototype table (argument names), so every arch
gets it without code of its own.
"""

from __future__ import annotations

from typing import Callable

from kernel_model.constants import value_names
from kernel_model.linux_errno import Errno
from kernel_model.prototypes import Param, prototype
from sandbox.arch import Arch
from sandbox.records import SyscallRecord
from sandbox.terminal import Palette
from sandbox.trace.strace import ending

_HEX_KINDS = frozenset({"hex", "ptr", "hexoff"})


class RegsFormat:
    """Renders records as register-level lines.

    ``read_register`` (a live machine's ``reg``) lets the line show the values the trap left
    in the clobbered registers; without it only their names are shown.
    """

    name = "regs"
    reads_registers = True  # the clobbered registers, as the trap left them

    def __init__(self, arch: Arch, palette: Palette | None = None,
                 read_register: Callable[[str], int] | None = None) -> None:
        self.arch = arch
        self.palette = palette or Palette(False)
        self.read_register = read_register

    def entry(self, record: SyscallRecord) -> str:
        """The trap, the number and the arguments, as the registers held them."""
        arch = self.arch
        proto = prototype(record.name, arch.name)
        p = self.palette
        parts = [f"{arch.trap.mnemonic} @{record.pc:#x}",
                 f"{arch.number_reg}={record.nr} ({p(record.name, 'bold')})"]
        params = proto.params if proto.known else proto.params[:0]
        for reg, param in zip(arch.arg_regs, params):
            value = record.decoded.get(param.name, 0)
            parts.append(f"{reg}={self.value(param, value)} ({param.name})")
        return "  ".join(parts)

    def value(self, param: Param, value: int) -> str:
        """One argument register's value: hex for addresses and flags, decimal otherwise."""
        if param.is_pointer or param.kind in _HEX_KINDS or _is_flags(param.kind, self.arch.name):
            return f"{value & self.arch.word_mask:#x}"
        return str(value)

    def exit(self, record: SyscallRecord) -> str:
        """The result register (and what the trap clobbered), with the newline."""
        arch = self.arch
        p = self.palette
        if record.ret is None:
            return "  ->  (does not return)\n"
        text = f"  ->  {arch.ret_reg}={record.ret}"
        if record.errno is not None:
            what = f"-{record.errno}: {Errno[record.errno].message}"
            if not record.implemented:
                what += ", not implemented by the model"
            text += " " + p(f"({what})", "red" if record.implemented else "yellow")
        elif record.ret < -4095 or record.ret > 0xFFFF:
            text += f" ({record.ret & arch.word_mask:#x})"
        if arch.clobbers:
            if self.read_register is not None:
                clobbered = " ".join(f"{c.register}={self.read_register(c.register):#x}" for c in arch.clobbers)
            else:
                clobbered = ", ".join(c.register for c in arch.clobbers)
            text += "  " + p(f"[{clobbered} clobbered]", "dim")
        return text + "\n"

    def line(self, record: SyscallRecord) -> str:
        """The whole line for one call (no newline)."""
        return (self.entry(record) + self.exit(record)).rstrip("\n")

    def finish(self, exit_status: int, signal: str | None, signal_line: str | None) -> str:
        """How the process ended, in strace's words."""
        return ending(self.palette, exit_status, signal, signal_line)


def _is_flags(kind: str, arch: str) -> bool:
    try:
        return value_names(kind, arch).flags
    except KeyError:
        return False
