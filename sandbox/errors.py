"""Errors a user sees: each is one line of text and an exit status for the command line."""

from __future__ import annotations


class SandboxError(Exception):
    """A problem with what the user asked for (bad input, not a bug): one clear line.

    ``exit_status`` follows the shell's conventions: 127 for a program that is not there,
    126 for one that cannot be executed, 2 for a usage error.
    """

    exit_status = 2

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
    """Assembly text that Keystone (or the stub assembler) rejects."""


class ProgramNotFoundError(SandboxError):
    """The program file does not exist."""

    exit_status = 127


class ExecFormatError(SandboxError):
    """The file exists but is not something the sandbox can run (ENOEXEC's cases)."""

    exit_status = 126
