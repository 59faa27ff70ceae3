"""One program per arch that makes every conformance check's call and reports what came back.

Each check becomes the arch's stub for one call: arguments into registers (a 64-bit argument
into a register pair on 32-bit arches, aligned where the ABI says), the trap, then a store
of the return register into the check's report slot. After the last check the program writes
its report and all its data (where the calls wrote their output) to stdout in one ``write``
and calls ``exit_group(0)``. The same ELF file runs in the sandbox and under qemu-user, so
both sides see the same addresses, and their outputs can be compared byte for byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Callable, Union

from kernel_model import abi as canonical
from kernel_model.abi import abi_for
from sandbox.arch import Arch
from sandbox.arch.syscalls import syscall_table
from sandbox.elfwriter import build_elf
from sandbox.stubasm import assemble

SLOT = 8  # each report slot: 8 bytes on every arch (a 32-bit arch stores into the low half)


@dataclass(frozen=True)
class Out:
    """An output buffer of ``size`` bytes (starting as ``init``, zeros after it);
    ``ignore(arch)`` gives byte ranges not compared."""

    size: int
    ignore: Callable[[Arch], list[tuple[int, int]]] | None = None
    init: bytes = b""


@dataclass(frozen=True)
class WordBytes:
    """The size of ``count`` machine words: 8 bytes a word on 64-bit arches, 4 on 32-bit."""

    count: int


@dataclass(frozen=True)
class Ret:
    """What an earlier check returned (its name), passed as an argument: a pid, a tid."""

    check: str


@dataclass(frozen=True)
class L:
    """A 64-bit argument (loff_t): one register on 64-bit arches, a register pair on 32-bit."""

    value: int


@dataclass(frozen=True)
class LoHi:
    """A position passed as two words, low then high (preadv's pos_l, pos_h)."""

    value: int


@dataclass(frozen=True)
class Words:
    """Machine words in memory, passed by address: ints, or data (bytes/Out) by address."""

    items: tuple

    def __init__(self, *items: object) -> None:
        object.__setattr__(self, "items", items)


@dataclass(frozen=True)
class Quads:
    """64-bit integers in memory, passed by address (a __kernel_timespec)."""

    items: tuple[int, ...]

    def __init__(self, *items: int) -> None:
        object.__setattr__(self, "items", items)


@dataclass(frozen=True)
class OpenFlags:
    """open(2) flags by name (``"O_RDONLY|O_DIRECTORY"``), in the arch's own values."""

    names: str

    def value(self, arch: Arch) -> int:
        """The flags for ``arch``."""
        bits = 0
        for name in self.names.split("|"):
            bits |= getattr(canonical, name.strip())
        return abi_for(arch.name).open_flags_out(bits)


Arg = Union[int, bytes, Out, Ret, WordBytes, L, LoHi, Words, Quads, OpenFlags]


@dataclass(frozen=True)
class Check:
    """One call with given arguments and what Linux answers.

    ``expect`` is ``"ok"`` (succeeds; qemu must return the same value), ``"ok-any"``
    (succeeds; the value is the machine's own, a pid or a time, so only success is compared),
    an errno name, or an exact value (open flags in the arch's values). ``only``/``not_on`` restrict it to some arches (the
    call must exist on the arch too). ``qemu_differs`` says why qemu-user's answer is not
    Linux's, for the few calls where it is not.
    """

    name: str
    call: str
    args: tuple[Arg, ...] = ()
    expect: str | int | OpenFlags = "ok"
    only: tuple[str, ...] = ()
    not_on: tuple[str, ...] = ()
    qemu_differs: str = ""
    qemu_differs_on: tuple[str, ...] = ()  # the arches whose qemu differs (empty: all)
    valid: bool | None = None  # the arguments are good ones (None: when ``expect`` is a success)

    @property
    def good_arguments(self) -> bool:
        """Whether this check gives the call valid arguments (an error can still be the answer)."""
        if self.valid is not None:
            return self.valid
        return self.expect in ("ok", "ok-any") or not isinstance(self.expect, str)

    def qemu_is_linux_on(self, arch: Arch) -> bool:
        """Whether qemu-user's answer to this check is Linux's on ``arch``."""
        return not self.qemu_differs or bool(self.qemu_differs_on) and arch.name not in self.qemu_differs_on

    def runs_on(self, arch: Arch) -> bool:
        """Whether this check is part of ``arch``'s program."""
        if self.only and arch.name not in self.only or arch.name in self.not_on:
            return False
        return syscall_table(arch).number(self.call) is not None


@dataclass
class Program:
    """An arch's conformance program and where each check's results are in its output."""

    arch: Arch
    checks: list[Check]
    elf: bytes
    report_size: int
    data_size: int
    outputs: dict[int, list[tuple[int, Out]]] = field(default_factory=dict)  # check index -> (offset, Out)

    @property
    def output_size(self) -> int:
        """Bytes of the final write: the report slots, then the data."""
        return self.report_size + self.data_size


class _Builder:
    def __init__(self, arch: Arch) -> None:
        self.arch = arch
        self.code: list[str] = ["_start:"]
        self.data: list[str] = []
        self.data_size = 0
        self.pointers: list[str] = []
        self.outputs: dict[int, list[tuple[int, Out]]] = {}
        self.counter = 0
        self.names: dict[str, int] = {}  # check name -> index, for Ret
        self.aliases: list[str] = []

    def label(self) -> str:
        self.counter += 1
        return f"d{self.counter}"

    def place(self, raw: bytes | None, size: int) -> tuple[str, int]:
        """Put ``raw`` (or ``size`` zero bytes) in the data, 8-byte aligned: (label, offset)."""
        label = self.label()
        offset = self.data_size
        body = raw if raw is not None else bytes(size)
        self.data.append(f"{label}: .byte {', '.join(str(b) for b in body) or '0'}")
        length = max(len(body), 1)
        pad = (-length) % 8
        if pad:
            self.data.append(f".skip {pad}")
        self.data_size += length + pad
        return label, offset

    def place_words(self, index: int, items: tuple, width: int) -> str:
        directive = {8: ".quad", 4: ".long"}[width]
        parts = []
        for item in items:
            if isinstance(item, int):
                parts.append(str(item & ((1 << (8 * width)) - 1)))
            else:
                parts.append(self.data_item(index, item))
        label = self.label()
        self.data.append(f"{label}: {directive} {', '.join(parts)}")
        size = width * len(items)
        pad = (-size) % 8
        if pad:
            self.data.append(f".skip {pad}")
        self.data_size += size + pad
        return label

    def data_item(self, index: int, item: object) -> str:
        if isinstance(item, bytes):
            return self.place(item + b"\0", 0)[0]
        if isinstance(item, Out):
            label, offset = self.place(item.init + bytes(item.size - len(item.init)), item.size)
            self.outputs.setdefault(index, []).append((offset, item))
            return label
        if isinstance(item, Words):
            return self.place_words(index, item.items, self.arch.word_size)
        if isinstance(item, Quads):
            return self.place_words(index, item.items, 8)
        raise TypeError(f"cannot place {item!r}")

    def registers(self, index: int, args: tuple[Arg, ...]) -> list[tuple[str, int | str | Ret]]:
        """The (register, value, label or earlier result) assignments for ``args``."""
        a = self.arch
        values: list[int | str | Ret] = []
        for arg in args:
            if isinstance(arg, Ret):
                values.append(arg)
            elif isinstance(arg, WordBytes):
                values.append(arg.count * a.word_size)
            elif isinstance(arg, OpenFlags):
                values.append(arg.value(a))
            elif isinstance(arg, int):
                values.append(arg)
            elif isinstance(arg, L) and a.bits == 64:
                values.append(arg.value)
            elif isinstance(arg, (L, LoHi)):
                v = arg.value & 0xFFFFFFFFFFFFFFFF
                lo, hi = v & 0xFFFFFFFF, v >> 32
                if a.bits == 64:  # LoHi on 64-bit: the whole value, then an ignored high word
                    lo, hi = v, 0
                if isinstance(arg, L):
                    if a.pair_aligned_args and len(values) % 2:
                        values.append(0)
                    if a.big_endian:
                        lo, hi = hi, lo
                values += [lo, hi]
            else:
                values.append(self.data_item(index, arg))
        if len(values) > len(a.arg_regs):
            raise ValueError(f"check #{index}: {len(values)} argument registers needed on {a.name}")
        return list(zip(a.arg_regs, values))

    def add(self, index: int, check: Check) -> None:
        a = self.arch
        nr = syscall_table(a).number(check.call)
        assert nr is not None
        marker = a.comment_markers[0]
        self.code.append(f"{marker} check {index}: {check.name}")
        labels = []
        for reg, value in self.registers(index, check.args):
            if isinstance(value, Ret):
                # A name of this check's own for the earlier slot, so that arm's pool of
                # addresses after this check does not define a label another pool has.
                slot = f"c{index}_{reg}_from"
                self.aliases.append(f"{slot} = r{self.names[value.check]}")
                self.code.append(a.stub_load(reg, slot))
                labels.append(slot)
            elif isinstance(value, str):
                self.code.append(a.stub_address(reg, value))
                labels.append(value)
            else:
                self.code.append(a.stub_immediate(reg, value & a.word_mask))
        self.code.append(a.stub_immediate(a.number_reg, nr))
        self.code.append(a.trap.mnemonic)
        self.code.append(a.stub_store(a.ret_reg, f"r{index}"))
        labels.append(f"r{index}")
        self.pool(index, labels)
        self.names[check.name] = index

    def pool(self, index: int, labels: list[str]) -> None:
        # arm loads addresses from words near the code: put them right after this check's
        # code and jump over them.
        a = self.arch
        if a.stub_pointer is None:
            return
        self.code.append(a.stub_jump(f"c{index}_end"))
        self.code.append(f".balign {a.word_size}, 0")
        self.code += [f"{label}_addr: {a.stub_pointer(label)}" for label in dict.fromkeys(labels)]
        self.code.append(f"c{index}_end:")

    def finish(self, count: int) -> tuple[str, int]:
        a = self.arch
        table = syscall_table(a)
        report = count * SLOT
        total = report + self.data_size
        assert a.stub_address is not None
        self.code.append(a.stub_immediate(a.arg_regs[0], 1))
        self.code.append(a.stub_address(a.arg_regs[1], "out_start"))
        self.code.append(a.stub_immediate(a.arg_regs[2], total))
        self.code.append(a.stub_immediate(a.number_reg, table.number("write")))
        self.code.append(a.trap.mnemonic)
        self.code.append(a.stub_immediate(a.arg_regs[0], 0))
        self.code.append(a.stub_immediate(a.number_reg, table.number("exit_group")))
        self.code.append(a.trap.mnemonic)
        if a.stub_pointer is not None:
            self.code.append(f".balign {a.word_size}, 0")
            self.code.append(f"out_start_addr: {a.stub_pointer('out_start')}")
        slots = [f"r{i}: .quad 0" for i in range(count)]
        text = "\n".join(self.code + [".balign 16, 0", "out_start:"] + slots + self.data + self.aliases) + "\n"
        return text, report


def build_program(arch: Arch, checks: list[Check]) -> Program:
    """The conformance program for ``arch`` (only the checks that run there), as an ELF file."""
    mine = [c for c in checks if c.runs_on(arch)]
    builder = _Builder(arch)
    for index, check in enumerate(mine):
        builder.add(index, check)
    text, report = builder.finish(len(mine))
    code = assemble(arch, text, arch.code_base)
    return Program(arch, mine, build_elf(arch, code), report, builder.data_size, builder.outputs)


@dataclass
class Outcome:
    """What one run of a program produced, per check."""

    returns: list[int]  # each check's return register, as a signed value
    outputs: dict[int, list[bytes]]  # check index -> contents of its output buffers
    stdout: bytes  # what the checks themselves wrote to stdout (before the report)
    exit_status: int


def parse_output(program: Program, stdout: bytes, exit_status: int) -> Outcome | None:
    """Split a run's stdout into the checks' results; None if the run did not finish."""
    size = program.output_size
    if len(stdout) < size:
        return None
    head, tail = stdout[: len(stdout) - size], stdout[len(stdout) - size :]
    order = "big" if program.arch.big_endian else "little"
    bits = program.arch.bits
    returns = []
    for i in range(len(program.checks)):
        slot = tail[i * SLOT : (i + 1) * SLOT]
        raw = int.from_bytes(slot[:4] if bits == 32 else slot, order)  # a 32-bit store fills the first 4 bytes
        returns.append(raw - (1 << bits) if raw >> (bits - 1) else raw)
    data = tail[program.report_size :]
    outputs = {i: [data[off : off + out.size] for off, out in bufs] for i, bufs in program.outputs.items()}
    return Outcome(returns, outputs, head, exit_status)


def masked(data: bytes, ranges: list[tuple[int, int]]) -> bytes:
    """``data`` with the given (offset, length) ranges zeroed."""
    out = bytearray(data)
    for offset, length in ranges:
        out[offset : offset + length] = bytes(len(out[offset : offset + length]))
    return bytes(out)


def field_ranges(layout: object, names: tuple[str, ...]) -> list[tuple[int, int]]:
    """Byte ranges of the named fields of a kernel_model StructLayout."""
    out, pos = [], 0
    for name, fmt in layout.fields:  # type: ignore[attr-defined]
        size = struct.calcsize("<" + fmt)
        if name in names:
            out.append((pos, size))
        pos += size
    return out
