"""The project's own assembler: a two-pass driver and, per arch, an instruction encoder.

Keystone assembles everything for the arches it knows, but it has no wheels for some hosts
(aarch64 Linux, Apple Silicon) and no RISC-V at all. This assembler covers what the sandbox
itself generates — system call stubs: load an immediate, load the address of data, trap, store
a result — for every arch, and all of RV64IM for riscv64, so stubs, ``Sandbox.syscall`` and the
pytest plugin work on any host with no Keystone.

The driver understands labels, ``name = expr`` / ``.set`` / ``.equ``, the data directives
(``.byte .short .hword .word .long .int .quad .dword .ascii .asciz .string .skip .space .zero
.align .balign .p2align``) and integer expressions over numbers and labels. Each instruction
is handed to the arch's :class:`Encoder`, which must give it a size in the first pass (when
forward labels are not known yet) that the second pass keeps.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Callable

from sandbox.arch.base import Arch
from sandbox.assembler import Assembled, prepare_statements
from sandbox.errors import AssemblyError


class UnknownSymbol(Exception):
    """An expression names a label that has no address yet (in the first pass)."""


@dataclass
class Context:
    """What an encoder can ask while encoding one statement."""

    address: int
    symbols: dict[str, int]
    final: bool  # the second pass: every label is known
    line: int = 0

    def value(self, text: str) -> int:
        """The value of an expression; 0 for an unknown label in the first pass."""
        try:
            return evaluate(text, self.symbols)
        except UnknownSymbol as e:
            if self.final:
                raise AssemblyError(f"line {self.line}: undefined symbol {e.args[0]!r}") from None
            return 0

    def constant(self, text: str) -> int:
        """The value of an expression that must be known in the first pass (it sets a size)."""
        try:
            return evaluate(text, self.symbols)
        except UnknownSymbol as e:
            raise AssemblyError(
                f"line {self.line}: {e.args[0]!r} must be defined before it is used here (it decides the instruction's size)"
            ) from None


class Encoder:
    """One arch's instructions. Subclasses fill :attr:`mnemonics` and the directive sizes."""

    arch_name = ""
    big_endian = False
    word_directive_size = 4  # `.word`: 2 bytes on x86, 4 on the RISC arches
    align_is_power_of_two = True  # `.align n`: 2**n bytes (arm, riscv) or n bytes (x86)
    supported = ""  # a short list of what is supported, for error messages
    complete = False  # whether it knows the whole instruction set (else: stub forms only)
    padding = b""  # a no-op: alignment in code is zeros to an instruction boundary, then no-ops (as GNU as)
    mnemonics: dict[str, Callable[[list[str], Context], bytes]] = {}

    def encode(self, mnemonic: str, operands: list[str], ctx: Context) -> bytes:
        """The machine code of one instruction."""
        fn = self.mnemonics.get(mnemonic)
        if fn is None:
            hint = "" if self.complete else (
                f" (it knows {self.supported}; for any {self.arch_name} code install Keystone:"
                " pip install 'syscall-sandbox[asm]')"
            )
            raise AssemblyError(
                f"line {ctx.line}: {mnemonic!r} is not an instruction the built-in {self.arch_name} assembler knows{hint}"
            )
        return fn(operands, ctx)

    def int_bytes(self, value: int, size: int) -> bytes:
        """``value`` as a ``size``-byte two's complement integer in the arch's byte order."""
        return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "big" if self.big_endian else "little")


_ENCODERS: dict[str, Encoder] = {}


def encoder_for(spec: str) -> Encoder:
    """The encoder named by an arch's ``encoder`` field (``"module:attribute"``), built once."""
    enc = _ENCODERS.get(spec)
    if enc is None:
        module, _, attr = spec.partition(":")
        enc = _ENCODERS[spec] = getattr(importlib.import_module(module), attr)()
    return enc


# -- expressions ---------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(0[xX][0-9a-fA-F]+|0[bB][01]+|\d+)|('(?:\\.|[^'])')|([A-Za-z_.$][\w.$]*)|(<<|>>|[-+*/%&|^~()]))")
_BINARY = [("|",), ("^",), ("&",), ("<<", ">>"), ("+", "-"), ("*", "/", "%")]


def evaluate(text: str, symbols: dict[str, int]) -> int:
    """An integer expression as GNU as reads it: numbers, 'c', labels, + - * / % << >> & | ^ ~ ( )."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise AssemblyError(f"cannot read the expression {text!r}")
        number, char, name, op = m.groups()
        if number is not None:
            tokens.append(("num", number))
        elif char is not None:
            tokens.append(("num", str(ord(_unescape(char[1:-1])))))
        elif name is not None:
            tokens.append(("sym", name))
        else:
            tokens.append(("op", op))
        pos = m.end()
    if not tokens:
        raise AssemblyError("empty expression")
    parser = _ExprParser(tokens, symbols, text)
    value = parser.parse(0)
    if parser.i != len(tokens):
        raise AssemblyError(f"cannot read the expression {text!r}")
    return value


class _ExprParser:
    def __init__(self, tokens: list[tuple[str, str]], symbols: dict[str, int], text: str) -> None:
        self.tokens = tokens
        self.symbols = symbols
        self.text = text
        self.i = 0

    def parse(self, level: int) -> int:
        if level == len(_BINARY):
            return self.unary()
        value = self.parse(level + 1)
        while self.i < len(self.tokens) and self.tokens[self.i] in [("op", o) for o in _BINARY[level]]:
            op = self.tokens[self.i][1]
            self.i += 1
            rhs = self.parse(level + 1)
            if op in "/%" and rhs == 0:
                raise AssemblyError(f"division by zero in {self.text!r}")
            value = {
                "|": lambda a, b: a | b, "^": lambda a, b: a ^ b, "&": lambda a, b: a & b,
                "<<": lambda a, b: a << b, ">>": lambda a, b: a >> b, "+": lambda a, b: a + b,
                "-": lambda a, b: a - b, "*": lambda a, b: a * b,
                "/": lambda a, b: int(a / b), "%": lambda a, b: a - b * int(a / b),
            }[op](value, rhs)
        return value

    def unary(self) -> int:
        if self.i >= len(self.tokens):
            raise AssemblyError(f"incomplete expression {self.text!r}")
        kind, text = self.tokens[self.i]
        self.i += 1
        if kind == "op" and text in "-+~":
            v = self.unary()
            return -v if text == "-" else (~v if text == "~" else v)
        if kind == "op" and text == "(":
            v = self.parse(0)
            if self.i >= len(self.tokens) or self.tokens[self.i] != ("op", ")"):
                raise AssemblyError(f"missing ')' in {self.text!r}")
            self.i += 1
            return v
        if kind == "num":
            return int(text, 0) if not (len(text) > 1 and text[0] == "0" and text[1].isdigit()) else int(text, 8)
        if kind == "sym":
            if text not in self.symbols:
                raise UnknownSymbol(text)
            return self.symbols[text]
        raise AssemblyError(f"cannot read the expression {self.text!r}")


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unescape(text: str) -> str:
    return parse_string('"' + text + '"').decode("latin-1")


def parse_string(literal: str) -> bytes:
    """The bytes of a double-quoted GNU as string literal, escapes decoded."""
    literal = literal.strip()
    if len(literal) < 2 or literal[0] != '"' or literal[-1] != '"':
        raise AssemblyError(f"expected a string in double quotes, got {literal!r}")
    body = literal[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        i += 1
        if i >= len(body):
            raise AssemblyError(f"a string ends with a backslash: {literal!r}")
        ch = body[i]
        if ch == "x":
            m = re.match(r"[0-9a-fA-F]{1,2}", body[i + 1 :])
            if not m:
                raise AssemblyError(f"bad \\x escape in {literal!r}")
            out.append(int(m.group(), 16))
            i += 1 + len(m.group())
        elif ch in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i:])
            assert m
            out.append(int(m.group(), 8) & 0xFF)
            i += len(m.group())
        elif ch in _ESCAPES:
            out += _ESCAPES[ch].encode()
            i += 1
        else:
            out += ch.encode()
            i += 1
    return bytes(out)


def split_operands(text: str) -> list[str]:
    """Operands separated by commas outside brackets, parentheses and quotes."""
    out, depth, quote, cur = [], 0, False, []
    for ch in text:
        if ch == '"':
            quote = not quote
        if not quote:
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
            elif ch == "," and depth == 0:
                out.append("".join(cur).strip())
                cur = []
                continue
        cur.append(ch)
    last = "".join(cur).strip()
    if last or out:
        out.append(last)
    return out


# -- the driver ----------------------------------------------------------------------------

_DATA_SIZES = {".byte": 1, ".short": 2, ".hword": 2, ".2byte": 2, ".long": 4, ".int": 4, ".4byte": 4,
               ".quad": 8, ".8byte": 8, ".xword": 8, ".dword": 8}


def assemble(arch: Arch, text: str, base: int | None = None) -> Assembled:
    """Assemble ``text`` for ``arch`` at ``base`` with the built-in encoder."""
    if arch.encoder is None:
        raise AssemblyError(f"no built-in assembler for {arch.name}")
    enc = encoder_for(arch.encoder)
    base = arch.code_base if base is None else base
    statements, labels, _ = prepare_statements(arch, text)
    if not any(not s.is_label for s in statements):
        raise AssemblyError("no instructions to assemble")
    symbols: dict[str, int] = {}
    sizes = [0] * len(statements)
    out = bytearray()
    for final in (False, True):
        address = base
        out = bytearray()
        for index, s in enumerate(statements):
            if s.is_label:
                symbols[s.text[:-1]] = address
                continue
            try:
                chunk = _statement(enc, s.text, Context(address, symbols, final, s.line), symbols)
            except AssemblyError as e:
                if e.line is not None:
                    raise
                raise AssemblyError(f"{e.reason} in `{s.text}`", line=s.line) from None
            if not final:
                sizes[index] = len(chunk)
            elif len(chunk) != sizes[index]:
                raise AssemblyError(f"line {s.line}: `{s.text}` changed size between passes")
            out += chunk
            address += len(chunk)
    return Assembled(bytes(out), base, {k: v for k, v in symbols.items() if k in labels})


def _statement(enc: Encoder, text: str, ctx: Context, symbols: dict[str, int]) -> bytes:
    assign = re.match(r"^([A-Za-z_.$][\w.$]*)\s*=\s*(.+)$", text)
    if assign:
        try:
            symbols[assign.group(1)] = evaluate(assign.group(2), symbols)
        except UnknownSymbol as e:
            if ctx.final:
                raise AssemblyError(f"line {ctx.line}: undefined symbol {e.args[0]!r}") from None
        return b""
    head, _, rest = text.partition(" ")
    head = head.lower()
    if head.startswith("."):
        return _directive(enc, head, rest.strip(), ctx)
    return enc.encode(head, split_operands(rest), ctx)


def _directive(enc: Encoder, name: str, rest: str, ctx: Context) -> bytes:
    if name in (".ascii", ".asciz", ".string"):
        out = b""
        for literal in split_operands(rest):
            out += parse_string(literal) + (b"\0" if name != ".ascii" else b"")
        return out
    size = enc.word_directive_size if name == ".word" else _DATA_SIZES.get(name)
    if size is not None:
        return b"".join(enc.int_bytes(ctx.value(v), size) for v in split_operands(rest))
    if name in (".skip", ".space", ".zero"):
        args = split_operands(rest)
        count = ctx.constant(args[0])
        fill = ctx.constant(args[1]) & 0xFF if len(args) > 1 else 0
        if count < 0:
            raise AssemblyError(f"line {ctx.line}: negative size in {name}")
        return bytes([fill]) * count
    if name in (".align", ".balign", ".p2align"):
        args = split_operands(rest)
        n = ctx.constant(args[0])
        power = name == ".p2align" or (name == ".align" and enc.align_is_power_of_two)
        boundary = 1 << n if power else n
        if boundary <= 0 or boundary & (boundary - 1):
            raise AssemblyError(f"line {ctx.line}: alignment {boundary} is not a power of two")
        pad = (-ctx.address) % boundary
        if len(args) > 1:
            return bytes([ctx.constant(args[1]) & 0xFF]) * pad
        if not enc.padding:
            return bytes(pad)
        zeros = min(pad, (-ctx.address) % len(enc.padding))
        return bytes(zeros) + enc.padding * ((pad - zeros) // len(enc.padding)) + bytes((pad - zeros) % len(enc.padding))
    raise AssemblyError(f"line {ctx.line}: the built-in assembler does not support {name}")
