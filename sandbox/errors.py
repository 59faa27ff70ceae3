"""Errors a user sees: each is one line of text and an exit status for the command line."""

from __future__ import annotations

import re


class SandboxError(Exception):
    """A problem with what the user asked for (bad input, not a bug): one clear line.

    ``exit_status`` follows the shell's conventions: 127 for a program that is not there,
    126 for one that cannot be executed, 2 for a usage error.
    """

    exit_status = 2
    prefixed = True  # the command line says "sandbox: " before the message

    def __init__(self, message: str, exit_status: int | None = None) -> None:
        # One line, whatever the file names and strings in it hold, and not a screenful.
        message = message.replace("\r", "\\r").replace("\n", "\\n")
        if len(message) > 400:
            message = message[:300] + " [...] " + message[-93:]
        super().__init__(message)
        if exit_status is not None:
            self.exit_status = exit_status


class UnknownArchError(SandboxError):
    """The arch name is not one the sandbox supports."""


class AssemblyError(SandboxError):
    """Assembly text that Keystone (or the stub assembler) rejects.

    ``line`` is the line the problem is on, when known (the message then starts ``line N:``),
    and ``reason`` the message without it. :meth:`in_file` says it as compilers do, for
    editors to jump to: ``hello.s:2: invalid operand in `mov rax, rbx, rcx```.
    """

    _LINE = re.compile(r"line (\d+): ")

    def __init__(self, message: str, exit_status: int | None = None, *, line: int | None = None) -> None:
        m = self._LINE.match(message) if line is None else None
        if m is not None:
            line, message = int(m.group(1)), message[m.end():]
        self.line = line
        self.reason = message
        super().__init__(f"line {line}: {message}" if line is not None else message, exit_status)

    def in_file(self, path: str) -> "SandboxError":
        """The same error, located in ``path``: ``FILE:LINE: message`` (or ``FILE: message``)."""
        where = f"{path}:{self.line}" if self.line is not None else path
        return LocatedError(f"{where}: {self.reason}", self.exit_status)


class LocatedError(SandboxError):
    """An error in a file the user gave, said as compilers say it (``FILE:LINE: message``),
    without the ``sandbox:`` in front, so that editors and ``grep -n`` users can follow it."""

    prefixed = False


class ProgramNotFoundError(SandboxError):
    """The program file does not exist."""

    exit_status = 127


class ExecFormatError(SandboxError):
    """The file exists but is not something the sandbox can run (ENOEXEC's cases)."""

    exit_status = 126
