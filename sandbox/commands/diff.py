"""``sandbox diff A B``: run two programs and show where their system calls differ.

Both run traced with the same options, a fixed random seed and the virtual clock, so that
nothing but the programs themselves makes them differ. The exit status is 0 when the call
sequences agree, 1 when they differ (like diff(1)), 2 for bad input.
"""

from __future__ import annotations

import argparse
import os
import sys

from typing import TYPE_CHECKING

from sandbox.commands.options import (
    add_arch_option, add_mount_option, add_program_arguments, guest_environment, parse_mounts,
)
from sandbox.errors import SandboxError

if TYPE_CHECKING:
    from sandbox.trace.filter import TraceFilter
    from sandbox.tracediff import TraceSide


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``diff`` sub-command."""
    p = sub.add_parser(
        "diff",
        help="run two programs and show where their system call sequences differ",
        description="Run programs A and B (for instance the same source built for two arches) and compare their "
        "system calls by name, decoded arguments and result, with addresses normalised. Exit status: 0 the "
        "same, 1 different, 2 trouble.",
    )
    add_arch_option(p)
    add_mount_option(p, "both guests")
    p.add_argument("--cwd", metavar="DIR", help="host directory shown read-only as the guests' cwd (default: .)")
    p.add_argument("--env", action="append", default=[], metavar="NAME[=VALUE]",
                   help="set a guest environment variable, or pass the host's NAME")
    env = p.add_mutually_exclusive_group()
    env.add_argument("--clear-env", action="store_true", help="start from an empty environment")
    env.add_argument("--env-all", action="store_true", help="pass every host environment variable")
    p.add_argument("--stdin", metavar="FILE", help="give both guests this file as stdin (default: nothing)")
    p.add_argument("-s", dest="string_limit", type=int, default=32, metavar="N",
                   help="compare at most N bytes of each string or buffer (default 32)")
    p.add_argument("-e", dest="filters", action="append", metavar="trace=SET", help="compare only these calls")
    p.add_argument("-U", "--context", type=int, default=2, metavar="N", help="lines of context (default 2)")
    p.add_argument("a", metavar="A", help="the first program")
    p.add_argument("b", metavar="B", help="the second program")
    add_program_arguments(p, "args", "arguments for both programs (after --)")
    p.set_defaults(handler=handle)


def _run_side(path: str, args: argparse.Namespace, stdin: bytes, flt: TraceFilter) -> TraceSide:
    from sandbox.api import Sandbox
    from sandbox.program import read_program
    from sandbox.trace.strace import StraceFormat
    from sandbox.trace.tracer import signal_info
    from sandbox.tracediff import TraceSide

    prog = read_program(path, args.arch)
    sb = Sandbox(prog.arch, stdin=stdin, cwd=args.cwd, mounts=parse_mounts(args.mount), env=guest_environment(args),
                 seed=0, virtual_time=True, trace=True, string_limit=args.string_limit)
    extra = args.args[1:] if args.args[:1] == ["--"] else args.args
    result = sb.run_file(path, [path, *extra])
    fmt = StraceFormat(prog.arch.name)
    ending = fmt.finish(result.exit_status, result.signal, signal_info(None, result.signal, result.fault)).strip()
    label = f"{path} ({prog.arch.name})"
    return TraceSide.of(label, result.syscalls, prog.arch.name, ending.splitlines()[-1], flt)


def handle(args: argparse.Namespace) -> int:
    """Run both programs and print the differences: 0 the same, 1 different, 2 trouble."""
    try:
        return _compare(args)
    except SandboxError as e:
        # diff(1)'s statuses: any trouble (a missing program is 127 to run) is 2 here.
        e.exit_status = 2
        raise


def _compare(args: argparse.Namespace) -> int:
    from sandbox.terminal import Palette
    from sandbox.trace.filter import TraceFilter
    from sandbox.tracediff import differences

    if args.cwd and not os.path.isdir(args.cwd):
        raise SandboxError(f"--cwd {args.cwd}: not a directory")
    stdin = b""
    if args.stdin:
        try:
            with open(args.stdin, "rb") as f:
                stdin = f.read()
        except OSError as e:
            raise SandboxError(f"--stdin {args.stdin}: {e.strerror}") from None
    flt = TraceFilter.parse(args.filters)
    a = _run_side(args.a, args, stdin, flt)
    b = _run_side(args.b, args, stdin, flt)
    diff = differences(a, b, args.context)
    palette = Palette.for_stream(sys.stdout)
    if not diff:
        print(f"same system calls: {len(a.lines) - 1} calls, {a.lines[-1]}")
        return 0
    for line in diff:
        if line.startswith(("--- ", "+++ ")):
            print(palette(line, "bold"))
        else:
            print(palette(line, {"-": "red", "+": "green", "@": "cyan"}.get(line[:1], "")) if line[:1] in "-+@" else line)
    return 1
