"""The handler registry: system calls are plain functions registered by their ABI name.

A handler's parameters carry type annotations (``fd: Fd``, ``buf: Ptr``, ``count: Size``)
that say how each raw argument register is decoded. The decoding is worked out once, when a
kernel is built for an arch's register width, into a small invoker per handler; the trap path
then makes one call and no per-argument ``isinstance`` or annotation look-up.

Every handler says how complete it is; the README's syscall table is generated from here.
"""

from __future__ import annotations

import enum
import inspect
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, get_args, get_origin


class Width(enum.Enum):
    """How a raw register becomes a Python int."""

    S32 = "s32"  # int, fd, pid: the low 32 bits, signed
    U32 = "u32"  # unsigned int, mode_t, flags
    SWORD = "sword"  # long, off_t, ssize_t: the register's width, signed
    UWORD = "uword"  # pointers, size_t, unsigned long: the register, unsigned
    # loff_t: signed 64-bit. A 32-bit arch passes it in two registers, in the arch's byte
    # order and, on some ABIs (arm EABI), starting on an even register.
    LOFF = "loff"
    # A 64-bit position the call itself takes as two words, low then high (preadv's pos_l,
    # pos_h): two registers on a 32-bit arch whatever its ABI; the low one alone on 64-bit.
    LOHI = "lohi"


@dataclass(frozen=True)
class ArgKind:
    """The meaning of one argument: how to decode it and what C type it is."""

    name: str
    width: Width
    c_type: str
    is_pointer: bool = False

    def decoder(self, bits: int) -> Callable[[int], int] | None:
        """A function turning the raw register into the value, or None when it is the identity."""
        if self.width is Width.UWORD:
            return None  # registers are read unsigned and word-sized already
        if self.width is Width.U32:
            return _u32 if bits > 32 else None
        if self.width is Width.S32:
            return _s32
        if self.width in (Width.LOFF, Width.LOHI):
            return _s64
        return _s64 if bits == 64 else _s32

    @property
    def takes_two_words(self) -> bool:
        """Whether a 32-bit arch passes this argument in two registers."""
        return self.width in (Width.LOFF, Width.LOHI)


def _s32(value: int) -> int:
    return ((value & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000


def _u32(value: int) -> int:
    return value & 0xFFFFFFFF


def _s64(value: int) -> int:
    return ((value & 0xFFFFFFFFFFFFFFFF) ^ 0x8000000000000000) - 0x8000000000000000


# The argument vocabulary. Each is an ``int`` to type checkers and carries its ArgKind.
Fd = Annotated[int, ArgKind("fd", Width.S32, "int")]
DirFd = Annotated[int, ArgKind("dirfd", Width.S32, "int")]
Int = Annotated[int, ArgKind("int", Width.S32, "int")]
UInt = Annotated[int, ArgKind("uint", Width.U32, "unsigned int")]
Pid = Annotated[int, ArgKind("pid", Width.S32, "pid_t")]
Mode = Annotated[int, ArgKind("mode", Width.U32, "mode_t")]
Long = Annotated[int, ArgKind("long", Width.SWORD, "long")]
ULong = Annotated[int, ArgKind("ulong", Width.UWORD, "unsigned long")]
Off = Annotated[int, ArgKind("off", Width.SWORD, "off_t")]
LOff = Annotated[int, ArgKind("loff", Width.LOFF, "loff_t")]
PosLoHi = Annotated[int, ArgKind("pos", Width.LOHI, "unsigned long pos_l, pos_h")]
Size = Annotated[int, ArgKind("size", Width.UWORD, "size_t")]
Ptr = Annotated[int, ArgKind("ptr", Width.UWORD, "void *", is_pointer=True)]
Path = Annotated[int, ArgKind("path", Width.UWORD, "const char *", is_pointer=True)]


class Completeness(enum.Enum):
    """How much of Linux's behaviour a handler models."""

    FULL = "full"
    PARTIAL = "partial"


@dataclass
class HandlerSpec:
    """One registered system call handler."""

    name: str
    func: Callable[..., int]
    params: tuple[tuple[str, ArgKind], ...]
    completeness: Completeness
    note: str = ""
    _invokers: dict[CallingConvention, Callable[..., int]] = field(default_factory=dict, repr=False)

    def invoker(self, convention: "int | CallingConvention") -> Callable[[Any, Any, tuple[int, ...]], int]:
        """``invoke(kernel, request, raw_args)`` with the decoding for a calling convention.

        ``convention`` is a :class:`CallingConvention`, or a register width for the default
        one of that width.
        """
        conv = convention if isinstance(convention, CallingConvention) else CallingConvention(convention)
        inv = self._invokers.get(conv)
        if inv is None:
            inv = self._invokers[conv] = _compile_invoker(self, conv)
        return inv

    def decode(self, raw_args: tuple[int, ...], convention: "int | CallingConvention") -> tuple[int, ...]:
        """The decoded argument values, as the handler receives them (for records and traces)."""
        conv = convention if isinstance(convention, CallingConvention) else CallingConvention(convention)
        out = []
        for kind, registers in argument_registers(self, conv):
            if len(registers) == 2:
                lo, hi = (raw_args[r] if r < len(raw_args) else 0 for r in registers)
                out.append(pair_value(lo, hi))
                continue
            raw = raw_args[registers[0]] if registers[0] < len(raw_args) else 0
            dec = kind.decoder(conv.bits)
            out.append(dec(raw) if dec else raw)
        return tuple(out)


@dataclass(frozen=True)
class CallingConvention:
    """How an arch's system call arguments sit in its registers, as far as decoding goes."""

    bits: int
    pair_aligned: bool = False  # a two-register argument starts on an even register
    big_endian: bool = False  # the high half of a register pair comes first

    @staticmethod
    def of(arch: Any) -> "CallingConvention":
        """The convention of an arch (a :class:`~kernel_model.seam.KernelArch` or a
        :class:`sandbox.arch.Arch`): the one the kernel decodes with and the tracer shows."""
        return _CONVENTIONS.setdefault(
            (arch.bits, arch.pair_aligned_args, arch.big_endian),
            CallingConvention(arch.bits, arch.pair_aligned_args, arch.big_endian),
        )


_CONVENTIONS: dict[tuple[int, bool, bool], CallingConvention] = {}
ARG_REGISTERS = 6


def argument_registers(spec: HandlerSpec, conv: CallingConvention) -> list[tuple[ArgKind, tuple[int, ...]]]:
    """For each parameter, its kind and the argument registers it is read from.

    A two-register argument's registers are given low half first.
    """
    kinds = [kind for _, kind in spec.params]
    return list(zip(kinds, place_arguments([k.width for k in kinds], conv)))


def place_arguments(widths: list[Width], conv: CallingConvention) -> list[tuple[int, ...]]:
    """The argument registers each argument of these widths is read from, in order.

    On a 32-bit arch a 64-bit argument takes a pair, low half first in the result: the next
    two registers, or (``pair_aligned``) the next even/odd pair; big-endian ABIs put the high
    half in the first register. A position given as two words (``LOHI``) is always low, high,
    and takes two registers on 64-bit arches too.
    """
    out: list[tuple[int, ...]] = []
    reg = 0
    for width in widths:
        if width is Width.LOHI:
            # two words on every arch; on a 64-bit one the first holds it all (pos_h is ignored)
            out.append((reg, reg + 1) if conv.bits == 32 else (reg,))
            reg += 2
        elif conv.bits == 32 and width is Width.LOFF:
            if conv.pair_aligned and reg % 2:
                reg += 1
            out.append((reg, reg + 1) if not conv.big_endian else (reg + 1, reg))
            reg += 2
        else:
            out.append((reg,))
            reg += 1
    return out


def pair_value(lo: int, hi: int) -> int:
    """The signed 64-bit value of a register pair's two halves."""
    return _s64(((hi & 0xFFFFFFFF) << 32) | (lo & 0xFFFFFFFF))


def _compile_invoker(spec: HandlerSpec, conv: CallingConvention) -> Callable[..., int]:
    # One generated function per handler and convention: positional pass-through for identity
    # decoders, a direct call for the others. It is generated from the spec's own parameter
    # list, never from guest input.
    namespace: dict[str, Any] = {"handler": spec.func, "pair": pair_value}
    parts = []
    placement = argument_registers(spec, conv)
    if any(r >= ARG_REGISTERS for _, registers in placement for r in registers):
        def beyond(k: Any, r: Any, a: tuple[int, ...]) -> int:
            raise NotImplementedError(f"{spec.name}: its arguments need more than {ARG_REGISTERS} registers on this arch")

        return beyond
    for i, (kind, registers) in enumerate(placement):
        if len(registers) == 2:
            parts.append(f"pair(a[{registers[0]}], a[{registers[1]}])")
            continue
        dec = kind.decoder(conv.bits)
        if dec is None:
            parts.append(f"a[{registers[0]}]")
        else:
            namespace[f"d{i}"] = dec
            parts.append(f"d{i}(a[{registers[0]}])")
    src = f"def invoke(k, r, a):\n    return handler(k, r{''.join(', ' + p for p in parts)})\n"
    exec(compile(src, f"<invoker {spec.name}/{conv.bits}>", "exec"), namespace)
    return namespace["invoke"]


REGISTRY: dict[str, HandlerSpec] = {}


def syscall(
    name: str, *, partial: str | None = None, registry: dict[str, HandlerSpec] | None = None
) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Register ``func`` as the handler for the system call ``name`` (its ABI name).

    The handler is called as ``func(kernel, request, *decoded_args)``; its parameters after the
    first two must be annotated with an argument kind (``Fd``, ``Ptr``...). ``partial`` marks
    the model as incomplete and says what is missing. ``registry`` is the table to register in
    (the kernel model's :data:`REGISTRY` unless another backend keeps its own).
    """
    table = REGISTRY if registry is None else registry

    def register(func: Callable[..., int]) -> Callable[..., int]:
        if name in table:
            raise ValueError(f"system call {name!r} registered twice")
        params = list(inspect.signature(func).parameters)[2:]
        decoded: list[tuple[str, ArgKind]] = []
        for pname in params:
            hint = func.__annotations__.get(pname)
            if isinstance(hint, str):  # postponed annotations: evaluate just this one
                hint = eval(hint, func.__globals__)  # noqa: S307 - the handler module's own text
            kind = None
            if get_origin(hint) is Annotated:
                kind = next((m for m in get_args(hint)[1:] if isinstance(m, ArgKind)), None)
            if kind is None:
                raise TypeError(f"{name}: parameter {pname!r} needs an argument kind annotation")
            decoded.append((pname, kind))
        if len(decoded) > ARG_REGISTERS:
            raise TypeError(f"{name}: a system call takes at most six arguments")
        table[name] = HandlerSpec(
            name=name,
            func=func,
            params=tuple(decoded),
            completeness=Completeness.PARTIAL if partial else Completeness.FULL,
            note=partial or "",
        )
        return func

    return register
