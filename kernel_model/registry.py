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
        return _s64 if bits == 64 else _s32


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
    _invokers: dict[int, Callable[..., int]] = field(default_factory=dict, repr=False)

    def invoker(self, bits: int) -> Callable[[Any, Any, tuple[int, ...]], int]:
        """``invoke(kernel, request, raw_args)`` with the decoding for ``bits``-wide registers."""
        inv = self._invokers.get(bits)
        if inv is None:
            inv = self._invokers[bits] = _compile_invoker(self, bits)
        return inv

    def decode(self, raw_args: tuple[int, ...], bits: int) -> tuple[int, ...]:
        """The decoded argument values, as the handler receives them (for records and traces)."""
        out = []
        for (_, kind), raw in zip(self.params, raw_args):
            dec = kind.decoder(bits)
            out.append(dec(raw) if dec else raw)
        return tuple(out)


def _compile_invoker(spec: HandlerSpec, bits: int) -> Callable[..., int]:
    # One generated function per handler and width: positional pass-through for identity
    # decoders, a direct call for the others. It is generated from the spec's own parameter
    # list, never from guest input.
    namespace: dict[str, Any] = {"handler": spec.func}
    parts = []
    for i, (_, kind) in enumerate(spec.params):
        dec = kind.decoder(bits)
        if dec is None:
            parts.append(f"a[{i}]")
        else:
            namespace[f"d{i}"] = dec
            parts.append(f"d{i}(a[{i}])")
    src = f"def invoke(k, r, a):\n    return handler(k, r{''.join(', ' + p for p in parts)})\n"
    exec(compile(src, f"<invoker {spec.name}/{bits}>", "exec"), namespace)
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
        if len(decoded) > 6:
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
