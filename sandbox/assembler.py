"""Assembly text to machine code with Keystone, made safe and precise.

Keystone is powerful but brittle: some directives crash it (``.text`` segfaults the process),
some silently produce nothing (``.section .data``, a ``//`` comment on aarch64), and an
error says what went wrong but not where. So the text is cleaned first: comments are removed,
section and symbol-visibility directives (which mean nothing in a flat stub) are dropped,
directives Keystone cannot be trusted with are refused with the line they are on, and every
statement goes on its own line so a statement Keystone drops is noticed and named.

Labels are collected, and their addresses read back by assembling ``.quad label`` after the
program, so a stub has a symbol table like an ELF file has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from sandbox.arch import Arch
from sandbox.errors import AssemblyError

# Directives that only place code in sections or name symbols; a stub is one flat blob.
_IGNORED = {
    ".text", ".data", ".rodata", ".bss", ".section", ".globl", ".global", ".type", ".size", ".file",
    ".ident", ".previous", ".local", ".weak", ".hidden", ".arch", ".cpu", ".code64", ".intel_syntax",
    ".att_syntax", ".noprefix", ".end", ".option", ".attribute", ".syntax", ".arm", ".code32",
}
# Directives passed on to Keystone, known to behave.
_DATA = {
    ".ascii", ".asciz", ".string", ".byte", ".short", ".hword", ".2byte", ".word", ".4byte", ".long",
    ".int", ".quad", ".8byte", ".xword", ".dword", ".skip", ".space", ".zero", ".fill", ".align",
    ".balign", ".p2align",
}
_LABEL = re.compile(r"^\s*([A-Za-z_.$][\w.$]*)\s*:(?!:)")
_ASSIGN = re.compile(r"^\s*\.(?:set|equ)\s+([A-Za-z_.$][\w.$]*)\s*,\s*(.+)$")
_ASSIGN_EQ = re.compile(r"^\s*([A-Za-z_.$][\w.$]*)\s*=\s*(.+)$")


@dataclass
class Assembled:
    """Machine code with where it goes and the addresses of its labels."""

    code: bytes
    base: int
    symbols: dict[str, int] = field(default_factory=dict)

    @property
    def entry(self) -> int:
        """Where execution starts: ``_start`` if the text defines it, else the first byte."""
        return self.symbols.get("_start", self.base)


@dataclass
class _Statement:
    line: int
    text: str
    is_label: bool = False


def _strip_comments(text: str, markers: tuple[str, ...]) -> list[tuple[int, str]]:
    """Each source line without comments, keeping string literals intact."""
    out = []
    in_block = False
    for lineno, line in enumerate(text.splitlines(), 1):
        kept = []
        i = 0
        quote = None
        while i < len(line):
            ch = line[i]
            if in_block:
                if line.startswith("*/", i):
                    in_block = False
                    i += 2
                else:
                    i += 1
                continue
            if quote:
                kept.append(ch)
                if ch == "\\" and i + 1 < len(line):
                    kept.append(line[i + 1])
                    i += 2
                    continue
                if ch == quote:
                    quote = None
                i += 1
                continue
            if ch in "\"'":
                quote = ch if ch == '"' else None
                kept.append(ch)
                i += 1
                continue
            if line.startswith("/*", i):
                in_block = True
                i += 2
                continue
            if any(line.startswith(m, i) for m in markers):
                break
            kept.append(ch)
            i += 1
        stripped = "".join(kept).strip()
        # GAS on aarch64 also reads '#' at the very start of a line as a comment
        if stripped.startswith("#") and "#" not in markers:
            stripped = ""
        out.append((lineno, stripped))
    return out


def _split_statements(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    out = []
    for lineno, line in lines:
        part = []
        quote = False
        for ch in line + ";":
            if ch == '"':
                quote = not quote
            if ch == ";" and not quote:
                s = "".join(part).strip()
                if s:
                    out.append((lineno, s))
                part = []
            else:
                part.append(ch)
    return out


def prepare_statements(arch: Arch, text: str) -> tuple[list[_Statement], list[str], bool]:
    """Clean statements, the label names, and whether the x86 text is AT&T syntax."""
    statements: list[_Statement] = []
    labels: list[str] = []
    att = bool(re.search(r"^\s*\.att_syntax", text, re.M))
    for lineno, stmt in _split_statements(_strip_comments(text, arch.comment_markers)):
        while True:
            m = _LABEL.match(stmt)
            if not m:
                break
            if m.group(1) in labels:
                raise AssemblyError(f"line {lineno}: label {m.group(1)!r} defined twice")
            labels.append(m.group(1))
            statements.append(_Statement(lineno, f"{m.group(1)}:", is_label=True))
            stmt = stmt[m.end():].strip()
        if not stmt:
            continue
        assign = _ASSIGN.match(stmt) or _ASSIGN_EQ.match(stmt)
        if assign:
            statements.append(_Statement(lineno, f"{assign.group(1)} = {assign.group(2).strip()}"))
            continue
        if stmt.startswith("."):
            directive = stmt.split(None, 1)[0].lower()
            if directive in _IGNORED or directive.startswith(".cfi_"):
                continue
            if directive not in _DATA:
                raise AssemblyError(f"line {lineno}: unsupported directive {directive}")
        statements.append(_Statement(lineno, stmt))
    return statements, labels, att


@lru_cache(maxsize=None)
def _engine(ks_arch: int, ks_mode: int, att: bool) -> "keystone.Ks":  # noqa: F821
    import keystone

    ks = keystone.Ks(ks_arch, ks_mode)
    if att:
        ks.syntax = keystone.KS_OPT_SYNTAX_ATT
    return ks


def assemble(arch: Arch, text: str, base: int | None = None) -> Assembled:
    """Assemble ``text`` for ``arch`` at ``base`` (the arch's code base by default).

    Raises :class:`AssemblyError` with the line number for anything Keystone rejects or drops.
    Without Keystone (or for an arch it lacks, riscv64) the project's own assembler
    (:mod:`sandbox.stubasm`) is used; it knows the instructions stubs are made of.
    """
    if arch.ks_arch is None or arch.ks_mode is None:
        if arch.encoder is None:
            raise AssemblyError(f"Keystone cannot assemble {arch.name}; give machine code instead")
        from sandbox import stubasm

        return stubasm.assemble(arch, text, base)
    import keystone

    base = arch.code_base if base is None else base
    statements, labels, att = prepare_statements(arch, text)
    if not any(not s.is_label for s in statements):
        raise AssemblyError("no instructions to assemble")
    ks = _engine(arch.ks_arch, arch.ks_mode, att)
    body = "\n".join(s.text for s in statements)
    # Read each label's address back with a word-sized data directive after the program
    # (`.quad` cannot hold a 32-bit arch's relocation; `.long` cannot hold a 64-bit address).
    width = arch.word_size
    directive = ".quad" if width == 8 else ".long"
    probe = "".join(f"\n{directive} {name}" for name in labels)
    try:
        encoding, count = ks.asm(body + probe, base)
    except keystone.KsError as e:
        raise AssemblyError(_locate(arch, att, statements, labels, str(e))) from None
    expected = len(statements) + len(labels)
    if not encoding or count < expected:
        raise AssemblyError(_locate(arch, att, statements, labels, "statement not understood"))
    raw = bytes(encoding)
    code = raw[: len(raw) - width * len(labels)]
    tail = raw[len(code):]
    order = "big" if arch.big_endian else "little"
    symbols = {name: int.from_bytes(tail[width * i : width * i + width], order) for i, name in enumerate(labels)}
    return Assembled(code, base, symbols)


def _locate(arch: Arch, att: bool, statements: list[_Statement], labels: list[str], message: str) -> str:
    """Find the first statement Keystone rejects or drops on its own, for the error message.

    Each statement is tried alone. One that only fails because it names a label is tried
    again with a resolver that knows the labels (Keystone's resolver path has bugs of its
    own with some immediates, so it is used only where needed).
    """
    import keystone

    plain = keystone.Ks(arch.ks_arch, arch.ks_mode)
    resolving = keystone.Ks(arch.ks_arch, arch.ks_mode)
    if att:
        plain.syntax = resolving.syntax = keystone.KS_OPT_SYNTAX_ATT
    known = set(labels) | {s.text.split("=")[0].strip() for s in statements if "=" in s.text and not s.is_label}
    missing: list[str] = []

    def resolve(symbol: bytes, value: object) -> bool:
        name = symbol.decode(errors="replace")
        if name in known:
            value[0] = arch.code_base  # type: ignore[index]
            return True
        missing.append(name)
        return False

    resolving.sym_resolver = resolve
    assignments = "\n".join(s.text for s in statements if not s.is_label and "=" in s.text)
    prefix = assignments + "\n" if assignments else ""
    for s in statements:
        if s.is_label or "=" in s.text:
            continue
        try:
            encoding, _ = plain.asm(prefix + s.text, arch.code_base)
        except keystone.KsError as e:
            if e.errno != keystone.KS_ERR_ASM_SYMBOL_MISSING:
                return f"line {s.line}: {_describe(str(e))} in `{s.text}`"
            missing.clear()
            try:
                encoding, _ = resolving.asm(prefix + s.text, arch.code_base)
            except keystone.KsError as e2:
                if missing:
                    return f"line {s.line}: undefined symbol {missing[0]!r} in `{s.text}`"
                return f"line {s.line}: {_describe(str(e2))} in `{s.text}`"
        if not encoding and not s.text.startswith("."):
            return f"line {s.line}: not understood by the {arch.name} assembler: `{s.text}`"
    return _describe(message)


def _describe(keystone_message: str) -> str:
    # "Invalid operand (KS_ERR_ASM_INVALIDOPERAND)" -> "invalid operand"
    text = re.sub(r"\s*\(KS_ERR_[A-Z_]+\)", "", keystone_message).strip()
    if text.lower() == "unknown error":
        text = "invalid instruction or operand (for example an immediate the encoding cannot hold)"
    return text[:1].lower() + text[1:] if text else "assembly failed"
