"""``sandbox debug PROGRAM [ARGS...]``: the terminal debugger (see :mod:`sandbox.debug.terminal`)."""

from __future__ import annotations

import argparse
import sys

from sandbox.commands.options import add_guest_options, confine_for_cli, sandbox_from_args
from sandbox.debug import DEFAULT_HISTORY
from sandbox.errors import SandboxError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``debug`` sub-command."""
    p = sub.add_parser(
        "debug",
        help="step through a program in a terminal debugger",
        description="Load a program (ELF, .s or .bin) and stop at its first instruction. Commands as in gdb: "
        "si, ni, c, b LOCATION, catch syscall [NAME], watch LOCATION, info registers, x/NFU ADDRESS, disas, where, "
        "set $REG = VALUE, info fds, info maps, info threads, thread N, info inferiors, set follow-fork-mode, rsi, rc, "
        "q (help lists them all).",
    )
    p.add_argument("--commands", "-x", metavar="FILE", help="run the commands in FILE first (then read more from stdin)")
    p.add_argument("--stdin", metavar="FILE", help="the guest's stdin (default: empty; the terminal is the debugger's)")
    p.add_argument("--history", type=int, default=DEFAULT_HISTORY, metavar="N",
                   help=f"system calls remembered for reverse execution (default {DEFAULT_HISTORY}; 0: no recording)")
    add_guest_options(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the debugger; the status is 0 unless the program cannot be loaded."""
    from sandbox.debug.terminal import TerminalDebugger, split_command_file

    commands: list[str] = []
    if args.commands:
        try:
            with open(args.commands, encoding="utf-8") as f:
                commands = split_command_file(f.read())
        except OSError as e:
            raise SandboxError(f"--commands {args.commands}: {e.strerror}") from None
    stdin = b""
    if args.stdin:
        try:
            with open(args.stdin, "rb") as f:
                stdin = f.read()
        except OSError as e:
            raise SandboxError(f"--stdin {args.stdin}: {e.strerror}") from None
    sb = sandbox_from_args(args, capture=True)
    sb.load_file(args.program, [args.program, *args.args], stdin=stdin)
    confine_for_cli(sb)
    if args.history < 0:
        raise SandboxError("--history must be 0 or more")
    if args.history:
        sb.record(args.history)
    interactive = sys.stdin.isatty()
    term = TerminalDebugger(sb, echo=not interactive)
    term.start()
    if not term.run_lines(commands):
        return 0
    if interactive:
        try:
            import readline  # noqa: F401 - line editing and history for input()
        except ImportError:
            pass
        term.interact()
    else:
        term.run_lines(line for line in sys.stdin)
    return 0
