"""``sandbox gdbserver --port N PROGRAM [ARGS...]`` (and ``sandbox run --gdb N``): wait for gdb.

The program is loaded and stopped at its first instruction; ``gdb-multiarch`` attaches with
``target remote :N``. When gdb detaches (or goes away) the program runs on to its end; when
gdb kills it, the status is 137 (SIGKILL), as a shell would show.
"""

from __future__ import annotations

import argparse
import os
import sys

from typing import TYPE_CHECKING

from sandbox.commands.options import add_guest_options, confine_for_cli, sandbox_from_args
from sandbox.debug import DEFAULT_HISTORY

if TYPE_CHECKING:
    from sandbox.api import Sandbox
    from sandbox.debug.gdbstub import ExecFile

_KILLED = 128 + 9


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``gdbserver`` sub-command."""
    p = sub.add_parser(
        "gdbserver",
        help="wait for gdb to attach (target remote :PORT) and debug a program",
        description="Load a program stopped at its first instruction and serve the gdb remote protocol on "
        "127.0.0.1:PORT for gdb-multiarch (target remote :PORT). Guest output goes to this terminal.",
    )
    add_gdb_port_option(p, "--port", required=True)
    add_history_option(p)
    add_guest_options(p)
    p.set_defaults(handler=handle)


def add_gdb_port_option(p: argparse.ArgumentParser, flag: str, required: bool = False) -> None:
    """The option naming the port gdb connects to (0: any free port, printed)."""
    p.add_argument(flag, type=int, metavar="PORT", required=required,
                   help="wait for gdb on 127.0.0.1:PORT before running (0 picks a free port and prints it)")


def add_history_option(p: argparse.ArgumentParser) -> None:
    """How many system calls reverse execution remembers."""
    p.add_argument("--history", type=int, default=DEFAULT_HISTORY, metavar="N",
                   help=f"system calls remembered for reverse execution (default {DEFAULT_HISTORY}; 0: none)")


def handle(args: argparse.Namespace) -> int:
    """Serve gdb for the program; the status is the guest's."""
    return serve_program(args, args.port)


def exec_file_for(sb: Sandbox, path: str) -> ExecFile | None:
    """What gdb reads as the program: the ELF itself, or for assembly an ELF with its labels."""
    from sandbox.assembler import assemble
    from sandbox.debug.gdbstub import ExecFile
    from sandbox.debug.symbolfile import elf_with_symbols
    from sandbox.program import read_program

    prog = read_program(path, sb.arch)
    name = os.path.abspath(path)
    if prog.kind == "elf":
        return ExecFile(name, prog.data)
    if prog.kind == "asm" and sb.arch.bits == 64:
        return ExecFile(name + ".elf", elf_with_symbols(sb.arch, assemble(sb.arch, prog.text)))
    return None


def serve_program(args: argparse.Namespace, port: int) -> int:
    """Load the program, wait for gdb on ``port``, serve it, and finish the run."""
    from sandbox.commands.run import report_end
    from sandbox.debug.gdbstub import GdbStub, listen, serve_once

    if port < 0 or port > 65535:
        from sandbox.errors import SandboxError

        raise SandboxError(f"port {port}: expected 0-65535")
    sb = sandbox_from_args(args)
    sb.load_file(args.program, [args.program, *args.args])
    history = getattr(args, "history", DEFAULT_HISTORY)
    if history > 0:
        sb.record(history)
    stub = GdbStub(sb.debugger, exec_file_for(sb, args.program),
                   log=sys.stderr if os.environ.get("SANDBOX_GDB_LOG") else None)
    server = listen(port)  # before the kernel wall, which allows no bind
    confine_for_cli(sb)
    actual = server.getsockname()[1]
    print(f"sandbox: {args.program} ({sb.arch.name}) is stopped at its first instruction; "
          f"waiting for gdb on 127.0.0.1:{actual}", file=sys.stderr)
    print(f"sandbox: connect with: gdb-multiarch -ex 'target remote :{actual}'", file=sys.stderr, flush=True)
    serve_once(server, stub)
    machine = sb.machine
    assert machine is not None
    if stub.killed and machine.exit is None:
        return _KILLED
    if machine.exit is None:
        sb.debugger.close()  # gdb detached or left: the program runs on, undisturbed
        sys.stdout.flush()
    result = sb.run() if machine.exit is None else sb.result()
    report_end(result, args.verbose)
    return result.exit_status
