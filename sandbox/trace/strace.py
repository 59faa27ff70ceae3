"""The strace format: ``openat(AT_FDCWD, "data.txt", O_RDONLY) = 3``, one line per call.

Like strace, a live trace writes a call in two parts: at entry, the name and the arguments
the kernel reads (so a blocking ``read(0, `` shows while it waits, and a ``write`` to the same
terminal appears inside its own line), and at exit the arguments the call filled in and the
result, aligned at column 40 (counted from the start of the line, a ``[pid  1001] `` prefix
included, as strace -f counts it). The end of the process is ``+++ exited with 0 +++`` or a
``--- SIGSEGV {...} ---`` line and ``+++ killed by SIGSEGV +++``.

A few calls strace shows with named arguments (``clone(child_stack=NULL, flags=SIGCHLD)``):
the renderer's :meth:`~sandbox.trace.render.Renderer.named_parts` says which are printed at
entry, and the rest follow at exit, each after its ", ".
"""

from __future__ import annotations

from sandbox.records import SyscallRecord
from sandbox.terminal import Palette
from sandbox.trace.render import Renderer

COLUMN = 40  # where strace puts "= " when the call is shorter


class StraceFormat:
    """Renders records as strace lines (``-s`` is the capture's string limit, applied when read)."""

    name = "strace"
    reads_registers = False  # everything it shows is in the record
    indents = True  # entry/exit/resumed take the width of the prefix the tracer writes first

    def __init__(self, arch: str, bits: int = 64, palette: Palette | None = None) -> None:
        self.renderer = Renderer(arch, bits)
        self.palette = palette or Palette(False)
        # each begun line's argument count and column, by record (several tasks may each have
        # one begun: their lines are cut and resumed, as strace -f writes them)
        self._begun: dict[int, tuple[int, int]] = {}

    def line(self, record: SyscallRecord, indent: int = 0) -> str:
        """The whole line for one call (no newline); ``indent``: the width of what precedes it."""
        named = self.renderer.named_parts(record)
        args = named[0] + named[1] if named is not None else self.renderer.args(record)
        return self._tail(self._head(record, args), indent + len(self._plain_head(record, args)), record)

    def entry(self, record: SyscallRecord, indent: int = 0) -> str:
        """What strace prints when the call enters: the name and the input arguments, and the
        separator when more arguments will follow (``read(0, ``)."""
        named = self.renderer.named_parts(record)
        if named is not None:
            plain = record.name + "(" + ", ".join(named[0])
            self._begun[id(record)] = (-1, indent + len(plain))  # the rest, at exit, brings its ", "
        else:
            args = self.renderer.args(record, entry_only=True)
            plain = record.name + "(" + ", ".join(args)
            if args and len(args) < self.renderer.shown_count(record):
                plain += ", "
            self._begun[id(record)] = (len(args), indent + len(plain))
        if not self.palette.enabled:
            return plain
        return self.palette(record.name, "bold") + plain[len(record.name):]

    def exit(self, record: SyscallRecord, indent: int = 0) -> str:
        """The rest of the line once the call returned, with the newline."""
        count, column = self._begun.pop(id(record), (0, indent))
        text = self._rest(record, count) + ")"
        return self._tail(text, column + len(text), record) + "\n"

    def resumed(self, record: SyscallRecord, indent: int = 0) -> str:
        """The rest of a line another task's cut: ``<... read resumed>"hi\\n", 4096) = 3``."""
        count, _ = self._begun.pop(id(record), (0, 0))
        head = f"<... {record.name} resumed>"
        text = self._rest(record, count) + ")"
        return self._tail(head + text, indent + len(head) + len(text), record) + "\n"

    def _rest(self, record: SyscallRecord, count: int) -> str:
        """The arguments after the first ``count`` (-1: those a named call adds at exit)."""
        if count < 0:
            named = self.renderer.named_parts(record)
            return "".join(", " + part for part in named[1]) if named is not None else ""
        rest = self.renderer.args(record, start=count) if count < self.renderer.shown_count(record) else ()
        return ", ".join(rest)

    def _plain_head(self, record: SyscallRecord, args: list[str], closed: bool = True) -> str:
        return f"{record.name}(" + ", ".join(args) + (")" if closed else "")

    def _head(self, record: SyscallRecord, args: list[str], closed: bool = True) -> str:
        return self.palette(record.name, "bold") + "(" + ", ".join(args) + (")" if closed else "")

    def _tail(self, text: str, column: int, record: SyscallRecord) -> str:
        pad = " " * max(COLUMN - 1 - column, 0)
        result = self.renderer.result(record)
        if record.errno is not None:
            result = self.palette(result, "yellow" if not record.implemented else "red")
        return f"{text}{pad} = {result}"

    def finish(self, exit_status: int, signal: str | None, signal_line: str | None) -> str:
        """The closing lines: ``+++ exited with N +++`` or the signal and ``+++ killed by SIG +++``."""
        return ending(self.palette, exit_status, signal, signal_line)


def ending(palette: Palette, exit_status: int, signal: str | None, signal_line: str | None) -> str:
    """How the process ended, in strace's words (each line ends with a newline)."""
    if signal is None:
        return palette(f"+++ exited with {exit_status} +++", "dim") + "\n"
    lines = f"--- {signal_line} ---\n" if signal_line else ""
    return lines + palette(f"+++ killed by {signal} +++", "dim") + "\n"
