"""Which source line each instruction came from: for an assembly file, and for an ELF with
DWARF line information (``gcc -g``, ``as -g``).

For assembly the assembler is asked, not imitated: the text is assembled a second time with a
label in front of every line that holds an instruction, and the labels' addresses are where
each line's code starts. The second assembly must give exactly the same bytes as the first
(labels emit nothing); if it does not, there is no map rather than a wrong one.
"""

from __future__ import annotations

import io
import os
import re
from bisect import bisect_right
from dataclasses import dataclass, field

from sandbox.arch import Arch
from sandbox.errors import SandboxError

_PROBE = "__sandbox_line_{}"
_PROBE_NAME = re.compile(r"^__sandbox_line_(\d+)$")
_MAX_SOURCE_BYTES = 4 << 20  # a source file bigger than this is not shown


@dataclass
class SourceLine:
    """One line of a source file: where it is and what it says."""

    path: str
    line: int
    text: str
    is_code: bool = True  # False: a data directive's line (.ascii, .quad...)


@dataclass
class SourceMap:
    """Addresses to source lines: ``starts`` are the addresses where a line's code begins."""

    starts: list[int] = field(default_factory=list)
    lines: list[SourceLine] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)  # one past the last byte each line covers

    def at(self, address: int) -> SourceLine | None:
        """The line whose code holds ``address`` (None outside every line's code)."""
        i = bisect_right(self.starts, address) - 1
        if i < 0 or address >= self.ends[i]:
            return None
        return self.lines[i]

    def exact(self, address: int) -> SourceLine | None:
        """The line whose code starts exactly at ``address``."""
        i = bisect_right(self.starts, address) - 1
        return self.lines[i] if i >= 0 and self.starts[i] == address else None

    def __len__(self) -> int:
        return len(self.starts)


def _build(entries: list[tuple[int, SourceLine]], limit: int) -> SourceMap:
    """A map from (address, line) pairs; each line's code runs to the next start (or ``limit``)."""
    entries.sort(key=lambda e: e[0])
    out = SourceMap()
    for i, (address, line) in enumerate(entries):
        if out.starts and out.starts[-1] == address:
            out.lines[-1] = line  # two lines at one address (a label line, then the code): the code's
            continue
        out.starts.append(address)
        out.lines.append(line)
    for i, start in enumerate(out.starts):
        out.ends.append(out.starts[i + 1] if i + 1 < len(out.starts) else limit)
    return out


def assembly_source_map(arch: Arch, path: str, text: str) -> SourceMap:
    """The line of ``text`` (the file at ``path``) each instruction address comes from."""
    from sandbox.assembler import assemble, prepare_statements

    try:
        statements, _, _ = prepare_statements(arch, text)
        plain = assemble(arch, text)
    except SandboxError:
        return SourceMap()
    # Data lines are probed too, so that the view can show data as data, not as instructions.
    kinds: dict[int, bool] = {}
    for s in statements:
        if not s.is_label and "=" not in s.text and not s.text.startswith((".balign", ".p2align", ".align")):
            kinds[s.line] = kinds.get(s.line, False) or s.is_instruction
    code_lines = sorted(kinds)
    source = text.splitlines()
    probed = list(source)
    for n in code_lines:
        probed[n - 1] = f"{_PROBE.format(n)}: {probed[n - 1]}"
    try:
        marked = assemble(arch, "\n".join(probed) + "\n")
    except SandboxError:
        return SourceMap()
    if marked.code != plain.code or marked.base != plain.base:
        return SourceMap()
    entries = []
    for name, address in marked.symbols.items():
        m = _PROBE_NAME.match(name)
        if m:
            n = int(m.group(1))
            entries.append((address, SourceLine(path, n, source[n - 1].rstrip(), kinds[n])))
    return _build(entries, plain.base + len(plain.code))


def strip_probes(symbols: dict[str, int]) -> dict[str, int]:
    """Symbols without the probe labels (should any reach a symbol table)."""
    return {k: v for k, v in symbols.items() if not _PROBE_NAME.match(k)}


def dwarf_source_map(elf_bytes: bytes, program_path: str, bias: int = 0) -> SourceMap:
    """The line table of an ELF's DWARF debug information (empty when it has none).

    Source files are looked for where the compiler said (absolute, or under the compilation
    directory) and then beside the program; a line whose file cannot be read is still mapped,
    with no text.
    """
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(elf_bytes))
        if not elf.has_dwarf_info():
            return SourceMap()
        dwarf = elf.get_dwarf_info()
        entries: list[tuple[int, SourceLine]] = []
        texts: dict[str, list[str] | None] = {}
        highest = 0
        for cu in dwarf.iter_CUs():
            program = dwarf.line_program_for_CU(cu)
            if program is None:
                continue
            top = cu.get_top_DIE()
            comp_dir = _attr_text(top, "DW_AT_comp_dir")
            names = _file_names(program, comp_dir)
            for entry in program.get_entries():
                state = entry.state
                if state is None:
                    continue
                address = state.address + bias
                highest = max(highest, address)
                if state.end_sequence:
                    continue
                name = names.get(state.file, "")
                if name not in texts:
                    texts[name] = _read_source(name, program_path)
                content = texts[name]
                text = content[state.line - 1].rstrip() if content and 0 < state.line <= len(content) else ""
                entries.append((address, SourceLine(name, state.line, text)))
    except (ELFError, KeyError, ValueError, IndexError, AttributeError, OSError):
        return SourceMap()
    return _build(entries, highest + 1)


def _attr_text(die: object, name: str) -> str:
    attrs = getattr(die, "attributes", {})
    value = attrs.get(name)
    if value is None:
        return ""
    raw = value.value
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _file_names(program: object, comp_dir: str) -> dict[int, str]:
    """The line program's file table by index (DWARF 5 counts from 0, earlier versions from 1)."""
    header = program.header  # type: ignore[attr-defined]
    dirs = [d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in header["include_directory"]]
    version = header["version"]
    first = 0 if version >= 5 else 1
    out = {}
    for i, entry in enumerate(header["file_entry"]):
        name = entry.name.decode("utf-8", "replace") if isinstance(entry.name, bytes) else str(entry.name)
        d = entry.dir_index
        if version >= 5:
            directory = dirs[d] if d < len(dirs) else ""
        else:
            directory = dirs[d - 1] if 0 < d <= len(dirs) else ""
        if not os.path.isabs(directory):
            directory = os.path.join(comp_dir, directory)
        out[i + first] = os.path.normpath(os.path.join(directory, name))
    return out


def _read_source(name: str, program_path: str) -> list[str] | None:
    for candidate in (name, os.path.join(os.path.dirname(program_path), os.path.basename(name))):
        try:
            if candidate and os.path.getsize(candidate) <= _MAX_SOURCE_BYTES:
                with open(candidate, encoding="utf-8", errors="replace") as f:
                    return f.read().splitlines()
        except OSError:
            continue
    return None
