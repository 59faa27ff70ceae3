"""``sandbox run PROGRAM [ARGS...]``: run a guest with the host's stdio; exit with its status."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from sandbox.commands.options import add_guest_options, confine_for_cli, sandbox_from_args
from sandbox.commands.trace import add_trace_options, run_traced
from sandbox.errors import SandboxError

if TYPE_CHECKING:
    from sandbox.api import RunResult


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``run`` sub-command."""
    p = sub.add_parser(
        "run",
        help="run a program and exit with its exit status",
        description="Run a program (ELF, .s assembly or .bin raw code) with the host's stdin, stdout and "
        "stderr, and exit with the guest's exit status.",
    )
    p.add_argument("--gdb", type=int, metavar="PORT",
                   help="stop at the first instruction and wait for gdb on 127.0.0.1:PORT (as sandbox gdbserver)")
    add_trace_options(p)
    add_guest_options(p)
    p.set_defaults(handler=handle)


def report_end(result: RunResult, verbose: bool) -> None:
    """Say on stderr how a guest that did not exit normally ended (one line, more with -v)."""
    from sandbox.limits import refusal_notes

    if result.fault is not None:
        print(f"sandbox: {result.fault.line()}", file=sys.stderr)
        if verbose:
            regs = result.fault.registers
            width = max(len(n) for n in regs) if regs else 0
            for name, value in regs.items():
                print(f"  {name:<{width}} {value:#018x}", file=sys.stderr)
    elif result.signal is not None and result.signal != "SIGPIPE":
        # Like a shell, say nothing about SIGPIPE: it is how `prog | head` ends normally.
        reason = result.reason or result.signal
        # "guest killed by SIGTERM (Terminated), sent by kill"; a deadlock says what it was.
        print(f"sandbox: {'guest killed by ' if reason.startswith('SIG') else ''}{reason}", file=sys.stderr)
    for line in refusal_notes(result):
        print(f"sandbox: {line}", file=sys.stderr)


def handle(args: argparse.Namespace) -> int:
    """Run the program; the exit status is the guest's."""
    if args.gdb is not None:
        if args.trace:
            raise SandboxError("--gdb and --trace cannot be combined: trace the program, or debug it")
        from sandbox.commands.gdbserver import serve_program

        return serve_program(args, args.gdb)
    if args.trace:
        return run_traced(args)
    sb = sandbox_from_args(args)
    sb.load_file(args.program, [args.program, *args.args])
    confine_for_cli(sb)
    sys.stdout.flush()
    result = sb.run()
    report_end(result, args.verbose)
    return result.exit_status
