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
# Keystone builds its whole output in memory, slowly (megabytes a second) and without checking
# sizes: `.skip 0x7fffffff` or `.zero -1` would take the host's memory for minutes. So each
# size is worked out before Keystone sees it, and refused past this.
MAX_OUTPUT_BYTES = 16 << 20
_SIZED = {".skip", ".space", ".zero", ".fill", ".align", ".balign", ".p2align"}
_TOKEN = re.compile(r"\s*(?:(0[xX][0-9a-fA-F]+|0[bB][01]+|\d+)|([A-Za-z_.$][\w.$]*)|(<<|>>|[-+*/%&|^~()]))")
_NAME = re.compile(r"[A-Za-z_.$][\w.$]*")
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
    is_instruction: bool = False


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
        quote = escaped = False
        for ch in line:
            if quote and ch == "\\" and not escaped:
                escaped = True
                part.append(ch)
                continue
            if ch == '"' and not escaped:
                quote = not quote
            escaped = False
            if ch == ";" and not quote:
                s = "".join(part).strip()
                if s:
                    out.append((lineno, s))
                part = []
            else:
                part.append(ch)
        if quote:  # Keystone loops for ever on an unterminated string
            raise AssemblyError(f"line {lineno}: unterminated string")
        s = "".join(part).strip()
        if s:
            out.append((lineno, s))
    return out


class _ConstantExpression:
    """A GAS constant expression (numbers, names given numbers by ``.equ``, C operators),
    evaluated without Python's eval and with every value kept within 64 bits."""

    _BINARY = {
        "|": (1, lambda a, b: a | b), "^": (2, lambda a, b: a ^ b), "&": (3, lambda a, b: a & b),
        "<<": (4, lambda a, b: a << b), ">>": (4, lambda a, b: a >> b),
        "+": (5, lambda a, b: a + b), "-": (5, lambda a, b: a - b),
        "*": (6, lambda a, b: a * b), "/": (6, lambda a, b: a // b), "%": (6, lambda a, b: a % b),
    }

    def __init__(self, text: str, names: dict[str, int]) -> None:
        self.names = names
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ValueError(text)
            number, name, op = m.groups()
            self.tokens.append(("n", number) if number else ("name", name) if name else ("op", op))
            pos = m.end()
        self.pos = 0

    def value(self) -> int:
        """The expression's value; ValueError when it is not a constant this can work out."""
        result = self._binary(0)
        if self.pos != len(self.tokens):
            raise ValueError("trailing tokens")
        return result

    def _binary(self, min_level: int) -> int:
        left = self._unary()
        while self.pos < len(self.tokens):
            kind, text = self.tokens[self.pos]
            if kind != "op" or text not in self._BINARY or self._BINARY[text][0] < min_level:
                break
            level, fn = self._BINARY[text]
            self.pos += 1
            right = self._binary(level + 1)
            if text in ("<<", ">>") and not 0 <= right < 64 or text in ("/", "%") and right == 0:
                raise ValueError("shift or division out of range")
            left = self._checked(fn(left, right))
        return left

    def _unary(self) -> int:
        if self.pos >= len(self.tokens):
            raise ValueError("missing operand")
        kind, text = self.tokens[self.pos]
        self.pos += 1
        if kind == "op" and text in "-~+(":
            if text == "(":
                inner = self._binary(0)
                if self.pos >= len(self.tokens) or self.tokens[self.pos] != ("op", ")"):
                    raise ValueError("unbalanced parentheses")
                self.pos += 1
                return inner
            operand = self._unary()
            return self._checked(-operand if text == "-" else ~operand if text == "~" else operand)
        if kind == "n":
            base = 16 if text[:2] in ("0x", "0X") else 2 if text[:2] in ("0b", "0B") else 8 if len(text) > 1 and text[0] == "0" else 10
            return self._checked(int(text[2:] if base in (16, 2) else text, base))
        if kind == "name" and text in self.names:
            return self.names[text]
        raise ValueError(f"not a constant: {text}")

    @staticmethod
    def _checked(value: int) -> int:
        if not -(1 << 64) < value < (1 << 64):
            raise ValueError("more than 64 bits")
        return value


def _well_formed(expression: str) -> bool:
    """Whether ``expression`` is numbers and names joined by C operators with balanced
    parentheses (what an assignment may hold; Keystone loops for ever on some other text)."""
    try:
        tokens = _ConstantExpression(expression, {}).tokens
    except ValueError:
        return False
    depth = 0
    want_operand = True
    for kind, text in tokens:
        if want_operand:
            if kind in ("n", "name"):
                want_operand = False
            elif text == "(":
                depth += 1
            elif text not in ("-", "~", "+"):
                return False
        elif text == ")" and depth:
            depth -= 1
        elif kind == "op" and text in _ConstantExpression._BINARY:
            want_operand = True
        else:
            return False
    return bool(tokens) and not want_operand and depth == 0


def _split_arguments(text: str) -> list[str]:
    return [a.strip() for a in text.split(",")] if text.strip() else []


def _bytes_of(arch: Arch, directive: str, args: list[str], names: dict[str, int]) -> int:
    """How many bytes a sizing directive makes at most (ValueError for a size not constant)."""
    if not args:
        raise ValueError("no size")
    first = _ConstantExpression(args[0], names).value()
    if first < 0:
        raise ValueError("negative size")
    if directive == ".fill":
        size = _ConstantExpression(args[1], names).value() if len(args) > 1 else 1
        if size < 0:
            raise ValueError("negative size")
        return first * min(size, 8)
    if directive == ".p2align" or (directive == ".align" and arch.align_is_log2):
        return (1 << first) - 1 if first < 64 else 1 << 64
    if directive in (".align", ".balign"):
        return max(first - 1, 0)
    return first


def _check_sizes(arch: Arch, statements: list["_Statement"]) -> None:
    """Refuse output Keystone would take too long or too much memory to make (see MAX_OUTPUT_BYTES)."""
    names: dict[str, int] = {}
    total = 0
    for s in statements:
        if s.is_label:
            continue
        if "=" in s.text and not s.text.startswith("."):
            name, _, expr = s.text.partition("=")
            try:
                names[name.strip()] = _ConstantExpression(expr, names).value()
            except ValueError:
                names.pop(name.strip(), None)
            continue
        directive, _, rest = s.text.partition(" ")
        directive = directive.lower()
        if directive not in _SIZED:
            continue
        try:
            made = _bytes_of(arch, directive, _split_arguments(rest), names)
        except ValueError:
            raise AssemblyError(
                f"line {s.line}: the size in `{s.text}` must be a constant that is not negative "
                "(numbers, and names given numbers with .equ)"
            ) from None
        total += made
        if made > MAX_OUTPUT_BYTES or total > MAX_OUTPUT_BYTES:
            raise AssemblyError(
                f"line {s.line}: `{s.text}` makes the code bigger than the assembler allows "
                f"({MAX_OUTPUT_BYTES >> 20} MiB); map big buffers with mmap instead"
            )


def prepare_statements(arch: Arch, text: str) -> tuple[list[_Statement], list[str], bool]:
    """Clean statements, the label names, and whether the x86 text is AT&T syntax."""
    statements: list[_Statement] = []
    labels: list[str] = []
    att = bool(re.search(r"^\s*\.att_syntax", text, re.M))
    for lineno, stmt in _split_statements(_strip_comments(text, arch.comment_markers)):
        stmt = _ascii_only(lineno, stmt)
        while True:
            m = _LABEL.match(stmt)
            if not m:
                break
            if m.group(1) in labels:
                raise AssemblyError(f"line {lineno}: label {m.group(1)!r} defined twice")
            _check_name(lineno, m.group(1))
            labels.append(m.group(1))
            statements.append(_Statement(lineno, f"{m.group(1)}:", is_label=True))
            stmt = stmt[m.end():].strip()
        if not stmt:
            continue
        assign = _ASSIGN.match(stmt) or _ASSIGN_EQ.match(stmt)
        if assign:
            _check_name(lineno, assign.group(1))
            if not _well_formed(assign.group(2)):
                raise AssemblyError(f"line {lineno}: `{stmt[:60]}` does not give {assign.group(1)} an expression")
            statements.append(_Statement(lineno, f"{assign.group(1)} = {assign.group(2).strip()}"))
            continue
        if not _STATEMENT_START.match(stmt):
            # Keystone loops for ever on a statement that starts with `=`, `:`, a digit...
            raise AssemblyError(f"line {lineno}: expected an instruction, a directive or a label at `{stmt[:40]}`")
        directive = ""
        if stmt.startswith("."):
            directive = stmt.split(None, 1)[0].lower()
            if directive in _IGNORED or directive.startswith(".cfi_"):
                continue
            if directive not in _DATA:
                raise AssemblyError(f"line {lineno}: unsupported directive {directive}")
        _check_literals(lineno, directive if stmt.startswith(".") else "", stmt)
        if directive in _VALUES:
            _check_values(lineno, directive, stmt[len(directive):])
        statements.append(_Statement(lineno, stmt, is_instruction=not directive))
    _check_sizes(arch, statements)
    return _aligned_instructions(arch, statements), labels, att


def _check_name(lineno: int, name: str) -> None:
    """Refuse a label or an assigned name Keystone loops for ever on: ``.`` and ``$`` (the
    location counter; ``$$`` too) and names such as ``.1`` (a dot and a digit start a number)."""
    if name == "." or not name.strip("$") or re.match(r"\.\d", name):
        raise AssemblyError(f"line {lineno}: {name!r} is not a name a label or an assignment can define")


def _aligned_instructions(arch: Arch, statements: list[_Statement]) -> list[_Statement]:
    """Instructions after data start at the arch's instruction alignment, as GAS aligns them.

    On aarch64 an instruction after a 1-byte ``.byte`` would be misaligned, and a branch
    there makes Keystone (LLVM) abort the whole process ("fixup not sufficiently aligned").
    The padding goes before the labels that precede the instruction, so they name it. A label
    after data that an instruction other than ``adr`` refers to (a branch, a literal load,
    which GAS would refuse as misaligned) is aligned too, for the same reason.
    """
    if arch.insn_align <= 1:
        return statements
    targets: set[str] = set()
    for s in statements:
        if s.is_instruction:
            mnemonic, _, operands = s.text.partition(" ")
            if mnemonic.lower() not in ("adr", "adrp"):
                targets.update(_NAME.findall(operands))
    out: list[_Statement] = []
    after_data = False
    pending_labels: list[_Statement] = []
    for s in statements:
        if s.is_label:
            pending_labels.append(s)
            continue
        if after_data and (s.is_instruction or any(label.text[:-1] in targets for label in pending_labels)):
            out.append(_Statement(s.line, f".balign {arch.insn_align}"))
            after_data = False
        out.extend(pending_labels)
        pending_labels = []
        out.append(s)
        if not s.is_instruction and s.text.split(None, 1)[0].lower() in _DATA:
            after_data = True
    out.extend(pending_labels)
    return out


_STATEMENT_START = re.compile(r"[A-Za-z_.][\w.]*(?:\s|$)")
_STRING_DIRECTIVES = {".ascii", ".asciz", ".string"}
_STRINGS = re.compile(r'^"(?:[^"\\]|\\.)*"(?:\s*,\s*"(?:[^"\\]|\\.)*")*$')
_CHARACTER = re.compile(r"'(?:\\.|[^\\'])'")


_VALUES = _DATA - _STRING_DIRECTIVES - _SIZED  # .byte, .word, .quad...
_LOCAL_LABEL_REF = re.compile(r"\b\d+[bf]\b")


def _check_values(lineno: int, directive: str, operands: str) -> None:
    """Refuse a data directive whose operands are not expressions separated by commas:
    Keystone crashes the process on some (``.word 0 .text``)."""
    text = _LOCAL_LABEL_REF.sub("L", _CHARACTER.sub("0", operands))
    if text.strip() and not all(_well_formed(value) for value in text.split(",")):
        raise AssemblyError(f"line {lineno}: {directive} takes expressions separated by commas")


def _check_literals(lineno: int, directive: str, stmt: str) -> None:
    """Refuse malformed string and character literals: Keystone loops for ever on some
    (``.ascii 'a``, ``.word '``)."""
    if directive in _STRING_DIRECTIVES:
        operands = stmt[len(directive):].strip()
        if not _STRINGS.match(operands):
            raise AssemblyError(f"line {lineno}: {directive} takes double-quoted strings, separated by commas")
        return
    pos = 0
    while True:
        quote = stmt.find("'", pos)
        # A backslash belongs in a string or a character constant only (elsewhere GAS reads
        # it in macros, which are refused); Keystone loops for ever on some (``.word a\b``).
        if "\\" in stmt[pos:quote if quote >= 0 else len(stmt)]:
            raise AssemblyError(f"line {lineno}: a backslash outside a string or a character constant")
        if quote < 0:
            return
        if '"' in stmt[pos:quote]:
            raise AssemblyError(f"line {lineno}: a string is only allowed in .ascii, .asciz and .string")
        m = _CHARACTER.match(stmt, quote)
        if not m:
            raise AssemblyError(f"line {lineno}: a character constant is one character in single quotes ('a')")
        pos = m.end()


def _ascii_only(lineno: int, stmt: str) -> str:
    """Keystone reads ASCII without NULs: characters beyond it, and NUL, are escapes inside a
    string literal (UTF-8, as GAS stores them) and an error anywhere else."""
    if stmt.isascii() and "\0" not in stmt:
        return stmt
    out = []
    quoted = False
    escaped = False
    for ch in stmt:
        # (a NUL would end the C string Keystone reads, in the middle of a literal: it hangs)
        if quoted and (not ch.isascii() or ch == "\0"):
            out.append("".join(f"\\{b:03o}" for b in ch.encode("utf-8", "surrogatepass")))
            continue
        if not ch.isascii() or ch == "\0":
            raise AssemblyError(f"line {lineno}: character {ch!r} outside a string")
        if quoted and ch == "\\" and not escaped:
            escaped = True
            out.append(ch)
            continue
        if ch == '"' and not escaped:
            quoted = not quoted
        escaped = False
        out.append(ch)
    return "".join(out)


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
