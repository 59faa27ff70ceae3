"""Syscall records: what the guest asked, what it got back, as plain data.

The trap path only appends a tuple per call; records are built from those tuples the first
time someone looks, so keeping a full history costs almost nothing while the guest runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from kernel_model.linux_errno import Errno
from kernel_model.prototypes import prototype
from kernel_model.registry import CallingConvention
from sandbox.arch import Arch


@dataclass(frozen=True)
class SyscallRecord:
    """One system call as the guest made it and as the kernel answered it.

    ``args`` are the six raw argument registers; ``decoded`` maps each of the call's
    parameters (named as in the prototype table, :mod:`kernel_model.prototypes`) to its value
    as the kernel reads it (fd and int as signed 32-bit, pointers unsigned...), for every call,
    implemented or not (a 64-bit argument a 32-bit arch passes in two registers is one value).
    ``ret`` is the value written back to the return register: ``-errno`` for an error (``-9``
    for EBADF), the call's (non-negative) result otherwise, None when the call did not return
    (exit). ``errno`` is the error's name or None.
    ``captured`` is the memory behind the arguments as it was at the call (a path, the bytes
    ``read`` filled in), present when the run was traced (see :mod:`sandbox.trace`).
    """

    arch: str
    nr: int
    name: str
    args: tuple[int, ...]
    decoded: dict[str, int]
    ret: int | None
    errno: str | None
    pc: int
    note: str | None = None
    time: float = 0.0
    implemented: bool = field(default=True, compare=False)
    captured: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def failed(self) -> bool:
        """Whether the call returned an error."""
        return self.errno is not None

    @property
    def error_message(self) -> str | None:
        """The errno's text (``Bad file descriptor``) or None."""
        return Errno[self.errno].message if self.errno else None

    def arg(self, name_or_index: str | int) -> int:
        """One decoded argument by parameter name, or a raw argument by index."""
        if isinstance(name_or_index, int):
            return self.args[name_or_index]
        return self.decoded[name_or_index]

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:#x}" if v > 9 else f"{k}={v}" for k, v in self.decoded.items())
        result = "?" if self.ret is None else (f"-1 {self.errno}" if self.errno else str(self.ret))
        return f"{self.name}({args}) = {result}"


def to_signed(value: int, bits: int) -> int:
    """``value`` read as a ``bits``-wide two's complement number."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def calling_convention(arch: Arch) -> CallingConvention:
    """How ``arch`` places system call arguments in registers (64-bit ones on 32-bit arches)."""
    return CallingConvention.of(arch)


def build_records(arch: Arch, log: Iterable[tuple], captured: Mapping[int, Mapping[str, Any] | None] | None = None
                  ) -> list[SyscallRecord]:
    """Records from the engine's raw log entries (and, for a traced run, the memory each call's
    arguments pointed to, by log index)."""
    out = []
    memory = captured or {}
    convention = calling_convention(arch)
    for index, (pc, nr, name, args, value, err, note, t) in enumerate(log):
        decoded = prototype(name, arch.name).decode(args, convention)
        out.append(
            SyscallRecord(
                arch=arch.name, nr=nr, name=name, args=args, decoded=decoded,
                # A success is the value as the handler gave it (a 32-bit arch's high addresses
                # stay positive); an error is the negative errno.
                ret=None if value is None else (value if err is None else to_signed(value, arch.bits)),
                errno=err.name if err is not None else None, pc=pc, note=note, time=t,
                implemented=note != "unimplemented", captured=memory.get(index),
            )
        )
    return out
