"""Comparing two programs at the kernel boundary: where their system call sequences differ.

Each call is compared by name, decoded arguments and result, as strace shows them, with
addresses normalised (an address is where something happens to be, not what the program
asked for): every hex number outside a quoted string becomes ``0x…``. So the same program
built for x86_64 and aarch64 compares equal wherever it asks the kernel for the same thing.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from sandbox.records import SyscallRecord
from sandbox.trace.filter import TraceFilter
from sandbox.trace.strace import StraceFormat

_HEX = re.compile(r"0x[0-9a-fA-F]+")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def normalise(line: str) -> str:
    """``line`` with every hex number outside quoted strings replaced by ``0x…``."""
    out = []
    pos = 0
    for m in _QUOTED.finditer(line):
        out.append(_HEX.sub("0x…", line[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_HEX.sub("0x…", line[pos:]))
    return "".join(out)


@dataclass
class TraceSide:
    """One program's calls, as strace lines, and how it ended."""

    label: str
    lines: list[str]

    @staticmethod
    def of(label: str, records: list[SyscallRecord], arch: str, ending: str,
           filter: TraceFilter | None = None) -> "TraceSide":
        """The side for ``records`` (made on ``arch``) ending with ``ending`` (``+++ exited with 0 +++``)."""
        fmt = StraceFormat(arch)
        flt = filter or TraceFilter()
        lines = [_squeeze(fmt.line(r)) for r in records if flt.accepts(r.name)]
        return TraceSide(label, lines + [ending])


def _squeeze(line: str) -> str:
    # strace pads to column 40 before "= "; the padding is not part of the call.
    head, sep, tail = line.rpartition(" = ")
    return head.rstrip() + sep + tail if sep else line


def differences(a: TraceSide, b: TraceSide, context: int = 2) -> list[str]:
    """A unified diff of the two sides (empty when they agree), showing each side's own lines."""
    keys_a = [normalise(x) for x in a.lines]
    keys_b = [normalise(x) for x in b.lines]
    matcher = difflib.SequenceMatcher(a=keys_a, b=keys_b, autojunk=False)
    if matcher.ratio() == 1.0 and keys_a == keys_b:
        return []
    out = [f"--- {a.label}", f"+++ {b.label}"]
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        out.append(f"@@ calls {first[1] + 1}-{last[2]} / {first[3] + 1}-{last[4]} @@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += ["  " + line for line in a.lines[i1:i2]]
                continue
            out += ["- " + line for line in a.lines[i1:i2]]
            out += ["+ " + line for line in b.lines[j1:j2]]
    return out
