"""``sandbox trace PROGRAM`` and ``sandbox run --trace``: every system call, as it happens.

The trace goes to stderr (or ``--trace-file``), like strace's: in the strace format by
default, ``--trace=regs`` for the register-level view, ``--trace=json`` for one JSON object
per call. ``-s N`` and ``-e trace=SET`` mean what they mean to strace.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING

from sandbox.commands.options import add_guest_options, confine_for_cli, sandbox_from_args
from sandbox.errors import SandboxError
from sandbox.trace import FORMATS

if TYPE_CHECKING:
    from sandbox.api import RunResult, Sandbox
    from sandbox.terminal import Palette
    from sandbox.trace import Tracer
    from sandbox.trace.capture import CString


def add_trace_options(parser: argparse.ArgumentParser, *, always: bool = False) -> None:
    """The tracing options; with ``always`` (``sandbox trace``) tracing is on by default."""
    # Each format is its own option string, so "--trace PROGRAM" never takes the program as the format.
    parser.add_argument("--trace", "--trace=strace", dest="trace", action="store_const", const="strace",
                        default="strace" if always else None,
                        help="print each system call on stderr as strace does (--trace=regs: registers, "
                        "--trace=json: one JSON object per call)")
    for name in FORMATS:
        if name != "strace":
            parser.add_argument(f"--trace={name}", dest="trace", action="store_const", const=name,
                                help=argparse.SUPPRESS)
    parser.add_argument("--trace-file", "-o", metavar="FILE", help="write the trace to FILE instead of stderr")
    parser.add_argument("-s", dest="string_limit", type=_positive, default=32, metavar="N",
                        help="show at most N bytes of each string or buffer (default 32)")
    parser.add_argument("-e", dest="filters", action="append", metavar="trace=SET",
                        help="which calls to show, as strace: trace=open,read  trace=%%file  trace=!write")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``trace`` sub-command."""
    p = sub.add_parser(
        "trace",
        help="run a program and print every system call it makes",
        description="Run a program and print each system call on stderr as strace does. The exit status is "
        "the guest's.",
    )
    add_trace_options(p, always=True)
    add_guest_options(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the program traced; the exit status is the guest's."""
    return run_traced(args)


class _TraceSink:
    """Where the trace goes: stderr, or a file opened before the guest starts."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.stream: IO[str] = sys.stderr
        self._owned = False
        if path:
            try:
                self.stream = open(path, "w", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
            except OSError as e:
                raise SandboxError(f"--trace-file {path}: {e.strerror}") from None
            self._owned = True

    def close(self) -> None:
        if self._owned:
            self.stream.close()


def start_tracing(args: argparse.Namespace, sb: Sandbox, stream: IO[str]) -> Tracer:
    """Attach a tracer for the options in ``args`` to the sandbox's loaded process."""
    from sandbox.terminal import Palette
    from sandbox.trace import Tracer, make_format
    from sandbox.trace.filter import TraceFilter

    machine = sb.machine
    assert machine is not None
    palette = Palette.for_stream(stream)
    fmt = make_format(args.trace, machine.arch, palette, lambda name: machine.running.reg(name))
    tracer = Tracer(
        machine, capture_memory=args.trace != "regs", string_limit=args.string_limit, sink=stream, format=fmt,
        filter=TraceFilter.parse(args.filters), keep=0,  # written as it happens, kept nowhere
    )
    return tracer.attach()


def execve_line(sb: Sandbox, argv: list[str], env: dict[str, str], palette: Palette) -> str:
    """The ``execve(...) = 0`` line strace starts with: the sandbox's loader did that exec."""
    from sandbox.trace.render import cstring

    machine = sb.machine
    assert machine is not None
    arch = machine.arch
    envp = machine.reg(arch.sp) + arch.word_size * (len(argv) + 2)  # argc, argv..., NULL, then envp
    shown = ", ".join(cstring(_limited(a.encode(), sb.string_limit)) for a in argv)
    count = f"{len(env)} var{'' if len(env) == 1 else 's'}"
    plain = f"execve({cstring(_limited(argv[0].encode(), 4096))}, [{shown}], {envp:#x} /* {count} */)"
    return palette("execve", "bold") + plain[len("execve"):].ljust(39 - len("execve")) + " = 0\n"


def _limited(data: bytes, limit: int) -> CString:
    from sandbox.trace.capture import CString

    return CString(data[:limit], complete=len(data) <= limit)


def run_traced(args: argparse.Namespace) -> int:
    """Run ``args.program`` with tracing on, as ``sandbox trace`` and ``sandbox run --trace`` do."""
    from sandbox.commands.run import report_end

    sb = sandbox_from_args(args)
    sink = _TraceSink(args.trace_file)
    try:
        argv = [args.program, *args.args]
        env = sb.env
        sb.load_file(args.program, argv)
        confine_for_cli(sb)
        tracer = start_tracing(args, sb, sink.stream)
        if args.trace == "strace" and tracer.filter.accepts("execve"):
            sink.stream.write(execve_line(sb, argv, env, tracer.format.palette))  # type: ignore[union-attr]
        sys.stdout.flush()
        result: RunResult = sb.run()
        tracer.finish(result.exit_status, result.signal, result.fault)
    finally:
        sink.close()
    report_end(result, args.verbose)
    return result.exit_status
