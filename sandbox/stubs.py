"""Generated assembly that makes system calls: for ``Sandbox.syscall``, teaching, and test programs.

Integers go into the argument registers as immediates. ``bytes`` and ``str`` become data
after the code (NUL-terminated, so a path works as given) and their address is passed; a
``bytearray`` is an output buffer of that size whose contents are copied back after the call.
:class:`Words` is a block of machine words (an iovec array, a timespec) whose ``bytes`` items
are placed separately and replaced by their address.

Everything per arch comes from the arch description (``stub_immediate``, ``stub_address``,
``stub_data``, ``stub_pointer``, the trap mnemonic and the registers), so a new arch gets stubs
for free; the project's own assembler (:mod:`sandbox.stubasm`) assembles them on any host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Union

from sandbox.arch import Arch
from sandbox.arch.syscalls import syscall_table
from sandbox.errors import SandboxError


@dataclass(frozen=True)
class Words:
    """A block of machine words passed by address: ints as they are, ``bytes`` by address.

    ``Words(buf, 5, other, 3)`` is a two-element ``struct iovec`` array on any arch.
    """

    items: tuple[int | bytes, ...]

    def __init__(self, *items: int | bytes) -> None:
        object.__setattr__(self, "items", tuple(items))


StubArg = Union[int, bytes, bytearray, str, Words]


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


class _Program:
    """Code lines and data lines of a stub being built; labels are unique within it."""

    def __init__(self, arch: Arch) -> None:
        assert arch.stub_immediate and arch.stub_address and arch.stub_data
        self.arch = arch
        self.code: list[str] = []
        self.beyond_end: list[str] = []  # code after the stub_end label
        self.pointers: list[str] = []  # arm: words holding data addresses, near the code
        self.data: list[str] = []
        self.marker = arch.comment_markers[0]  # the arch's usual one, so GNU as reads the stub too

    def comment(self, text: str) -> str:
        return f"{self.marker} {text}"

    def place(self, label: str, value: bytes | bytearray | str | Words) -> None:
        """Put a data argument after the code under ``label``."""
        if isinstance(value, str):
            value = value.encode()
        if isinstance(value, Words):
            directive = {8: ".quad", 4: ".long"}[self.arch.word_size]
            words = []
            for j, item in enumerate(value.items):
                if isinstance(item, (bytes, bytearray)):
                    self.place(f"{label}_{j}", bytes(item))
                    words.append(f"{label}_{j}")
                else:
                    words.append(str(item & self.arch.word_mask))
            # Words hold addresses: keep them aligned like C would.
            self.data.append(f".balign {self.arch.word_size}")
            self.data.append(f"{label}: {directive} {', '.join(words)}")
            return
        data = bytes(value) + b"\0"
        if not any(data) and len(data) > 16:
            self.data.append(f"{label}: .zero {len(data)}")  # an empty buffer: no wall of zeros
        else:
            self.data.append(self.arch.stub_data(label, data))

    def call(self, index: int, name_or_number: str | int, args: Sequence[StubArg]) -> tuple[str, int, dict[int, tuple[str, int]]]:
        """The lines of one call; returns its name, number and output buffers."""
        arch = self.arch
        if len(args) > len(arch.arg_regs):
            raise SandboxError(f"a system call takes at most {len(arch.arg_regs)} arguments on {arch.name}")
        name, nr = syscall_number(arch, name_or_number)
        self.code.append(self.comment(f"{name}({', '.join(_show(a) for a in args)})"))
        buffers: dict[int, tuple[str, int]] = {}
        for i, (reg, value) in enumerate(zip(arch.arg_regs, args)):
            if isinstance(value, bool):
                value = int(value)
            if isinstance(value, int):
                self.code.append(arch.stub_immediate(reg, value & arch.word_mask))  # type: ignore[misc]
                continue
            if not isinstance(value, (bytes, bytearray, str, Words)):
                raise SandboxError(f"argument {i + 1} of {name}: expected int, bytes, bytearray, str or Words")
            label = f"arg{i}_data" if index == 0 else f"call{index}_arg{i}"
            self.code.append(arch.stub_address(reg, label))  # type: ignore[misc]
            if arch.stub_pointer is not None:
                self.pointers.append(f"{label}_addr: {arch.stub_pointer(label)}")
            self.place(label, value)
            if isinstance(value, bytearray):
                buffers[i] = (label, len(value))
        self.code.append(arch.stub_immediate(arch.number_reg, nr))  # type: ignore[misc]
        self.code.append(arch.trap.mnemonic)
        return name, nr, buffers

    def text(self) -> str:
        # arm's address words go first after the code: a pc-relative load reaches only 4 KiB
        pointers = [f".balign {self.arch.word_size}", *self.pointers] if self.pointers else []
        return "\n".join(self.code + ["stub_end:"] + self.beyond_end + pointers + self.data) + "\n"


def syscall_stub(arch: Arch, name_or_number: str | int, args: Sequence[StubArg], *, exit_after: bool = True,
                 exit_beyond_end: bool = False) -> Stub:
    """Assembly for ``name(*args)`` on ``arch``, then ``exit(0)`` unless ``exit_after`` is false.

    The stub ends with the label ``stub_end`` after the last instruction; with
    ``exit_beyond_end`` an ``exit(0)`` follows the label (where a forked child, which runs the
    rest of the stub too, ends while its parent stops at the label).
    """
    prog = _Program(arch)
    prog.code.append("_start:")
    name, nr, buffers = prog.call(0, name_or_number, args)
    if exit_after:
        prog.call(1, "exit", (0,))
    elif exit_beyond_end:
        body = prog.code
        prog.code = prog.beyond_end
        prog.call(1, "exit", (0,))
        prog.code = body
    return Stub(text=prog.text(), name=name, number=nr, buffers=buffers)


def calls_program(arch: Arch, calls: Sequence[tuple[str | int, Sequence[StubArg]]], *, title: str = "") -> str:
    """Assembly making each ``(name, args)`` call in turn; the last call should end the process.

    Used to build test programs that are the same sequence of calls on every arch.
    """
    prog = _Program(arch)
    if title:
        prog.code.extend(prog.comment(line) for line in title.splitlines())
    prog.code.append("_start:")
    for index, (name, args) in enumerate(calls):
        prog.call(index + 1, name, args)
    return prog.text()


def _show(value: StubArg) -> str:
    if isinstance(value, bytearray):
        return f"<{len(value)}-byte buffer>"
    if isinstance(value, (bytes, str)):
        data = value.encode() if isinstance(value, str) else value
        escaped = "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else
                          {10: "\\n", 9: "\\t", 34: '\\"', 92: "\\\\"}.get(b, f"\\x{b:02x}") for b in data)
        return f'"{escaped}"'
    if isinstance(value, Words):
        return "{" + ", ".join(_show(i) for i in value.items) + "}"  # type: ignore[arg-type]
    return str(value)
