"""Addresses as a debugger user writes them, and addresses as a debugger shows them.

An address expression is a sum of terms: a number (``0x401000``, ``4198400``), a symbol
(``_start``, ``msg``), or a register (``$pc``, ``$rsp``, ``$x1``), joined by ``+`` and ``-``;
a leading ``*`` (gdb's ``b *0x401000``) is allowed and means the same.
"""

from __future__ import annotations

import bisect
import re
from typing import Callable, Mapping

from sandbox.errors import SandboxError

_TOKEN = re.compile(r"\s*([+-])?\s*([^\s+-]+)")


class ExpressionError(SandboxError):
    """An address expression that does not name anything."""


def parse_number(text: str) -> int | None:
    """``text`` as an integer (decimal, ``0x`` hex, ``0o`` octal, ``0b`` binary, with a sign), or None."""
    try:
        return int(text.strip(), 0)
    except ValueError:
        return None


Span = tuple[int, int]
"""``[start, end)``: the addresses a symbol can name (its size, or else its section)."""


class SymbolTable:
    """The program's symbols: name to address, and an address to the symbol it falls in.

    An address is named after the nearest symbol at or below it only when it lies inside that
    symbol's span: its size, or else its section (``spans``); for a symbol without one, the
    memory mapping that holds it (``region``). So a stack address is never ``msg+281474972509904``.
    Of several names at one address the first given wins (the loaders give a program's global
    names first, an assembly file's labels in the order they are defined).
    """

    def __init__(self, symbols: dict[str, int], spans: Mapping[str, Span] | None = None,
                 region: Callable[[int], Span | None] | None = None) -> None:
        self.by_name = dict(symbols)
        self._spans = dict(spans or {})
        self._region = region
        first: dict[int, list[str]] = {}
        for name, addr in symbols.items():
            if not name.startswith("."):  # .L local labels never name an address
                first.setdefault(addr, []).append(name)
        self._addresses = sorted(first)
        self._names = [first[a] for a in self._addresses]

    def __contains__(self, name: str) -> bool:
        return name in self.by_name

    def lookup(self, name: str) -> int | None:
        """The address of ``name``, or None."""
        return self.by_name.get(name)

    def symbolize(self, address: int) -> str:
        """``_start+16`` for an address 16 bytes into ``_start``; "" where no symbol's span reaches."""
        i = bisect.bisect_right(self._addresses, address) - 1
        if i < 0:
            return ""
        base = self._addresses[i]
        names = self._names[i]
        offset = address - base
        if not offset:
            return names[0]
        for name in names:
            span = self._spans.get(name) or (self._region(base) if self._region is not None else None)
            if span is not None and span[0] <= address < span[1]:
                return f"{name}+{offset}"
        return ""


def evaluate(expr: str, symbols: SymbolTable, register: Callable[[str], int]) -> int:
    """The value of an address expression; ExpressionError names what it could not resolve."""
    text = expr.strip()
    if text.startswith("*"):
        text = text[1:].strip()
    if not text:
        raise ExpressionError("an address is needed (a number, a symbol or $register)")
    total = 0
    pos = 0
    first = True
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or (m.group(1) is None and not first):
            raise ExpressionError(f"cannot read {expr!r} as an address")
        sign, term = m.group(1), m.group(2)
        value = _term(term, symbols, register)
        total += -value if sign == "-" else value
        pos = m.end()
        first = False
    return total


def _term(term: str, symbols: SymbolTable, register: Callable[[str], int]) -> int:
    number = parse_number(term)
    if number is not None:
        return number
    if term.startswith("$"):
        try:
            return register(term[1:])
        except KeyError:
            raise ExpressionError(f"no register {term}") from None
    address = symbols.lookup(term)
    if address is None:
        raise ExpressionError(f"no symbol {term!r} in the program")
    return address
