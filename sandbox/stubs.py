"""Generated assembly that makes one system call: for ``Sandbox.syscall`` and for teaching.

Integers go into the argument registers as immediates. ``bytes`` and ``str`` become data
after the code (NUL-terminated, so a path works as given) and their address is passed; a
``bytearray`` is an output buffer of that size whose contents are copied back after the call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.arch import Arch
from sandbox.arch.syscalls import syscall_table
from sandbox.errors import SandboxError

StubArg = int | bytes | bytearray | str


@dataclass
class Stub:
    """A stub's text and, for each buffer argument, its label and size."""

    text: str
    name: str
    number: int
    buffers: dict[int, tuple[str, int]] = field(default_factory=dict)  # arg index -> (label, size)


def syscall_number(arch: Arch, name_or_number: str | int) -> tuple[str, int]:
    """The (name, number) of a call on ``arch``; a clear error for a name the arch lacks."""
    table = syscall_table(arch)
    if isinstance(name_or_number, int):
        return table.name(name_or_number) or f"syscall_{name_or_number}", name_or_number
    nr = table.number(name_or_number)
    if nr is None:
        raise SandboxError(f"{name_or_number!r} is not a system call on {arch.name}")
    return name_or_number, nr


def syscall_stub(arch: Arch, name_or_number: str | int, args: tuple[StubArg, ...], *, exit_after: bool = True) -> Stub:
    """Assembly for ``name(*args)`` on ``arch``, then ``exit(0)`` unless ``exit_after`` is false.

    The stub ends with the label ``stub_end`` after the last instruction.
    """
    if len(args) > len(arch.arg_regs):
        raise SandboxError(f"a system call takes at most {len(arch.arg_regs)} arguments on {arch.name}")
    assert arch.stub_immediate and arch.stub_address and arch.stub_data
    name, nr = syscall_number(arch, name_or_number)
    lines = [f"_start:  // {name}({', '.join(_show(a) for a in args)})" if "//" in arch.comment_markers
             else f"_start:  # {name}({', '.join(_show(a) for a in args)})"]
    data: list[str] = []
    buffers: dict[int, tuple[str, int]] = {}
    for i, (reg, value) in enumerate(zip(arch.arg_regs, args)):
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, int):
            lines.append(arch.stub_immediate(reg, value & arch.word_mask))
            continue
        if isinstance(value, str):
            value = value.encode()
        if not isinstance(value, (bytes, bytearray)):
            raise SandboxError(f"argument {i + 1} of {name}: expected int, bytes, bytearray or str")
        label = f"arg{i}_data"
        lines.append(arch.stub_address(reg, label))
        payload = bytes(value) + b"\0"
        if isinstance(value, bytearray):
            buffers[i] = (label, len(value))
        data.append(arch.stub_data(label, payload))
    lines.append(arch.stub_immediate(arch.number_reg, nr))
    lines.append(arch.trap.mnemonic)
    if exit_after:
        _, exit_nr = syscall_number(arch, "exit")
        lines.append(arch.stub_immediate(arch.arg_regs[0], 0))
        lines.append(arch.stub_immediate(arch.number_reg, exit_nr))
        lines.append(arch.trap.mnemonic)
    lines.append("stub_end:")
    text = "\n".join(lines + data) + "\n"
    return Stub(text=text, name=name, number=nr, buffers=buffers)


def _show(value: StubArg) -> str:
    if isinstance(value, bytearray):
        return f"<{len(value)}-byte buffer>"
    if isinstance(value, (bytes, str)):
        return repr(value)
    return str(value)
