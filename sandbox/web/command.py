"""``sandbox web [--port N] [--no-browser] PROGRAM [ARGS...]`` and ``sandbox web --compare A B``.

The first line on stdout is the page's address with its token; the browser is opened on it
unless ``--no-browser``. The server runs until Ctrl-C. This module imports nothing heavy at
start-up: the server and aiohttp are loaded only when the command runs.
"""

from __future__ import annotations

import argparse
import copy
import sys

from sandbox.commands.options import add_guest_options, sandbox_from_args
from sandbox.debug.session import DEFAULT_HISTORY
from sandbox.errors import SandboxError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``web`` sub-command."""
    p = sub.add_parser(
        "web",
        help="step through a program in the browser, watching each system call register by register",
        description="Serve a page on 127.0.0.1 that steps through a program (ELF, .s or .bin): the code around "
        "the pc, the registers with the arch's system call convention, a card for each system call (its "
        "prototype, decoded arguments, result and the memory it wrote), the trace so far and the output. "
        "The first line printed is the page's address with its token. With --compare, PROGRAM and the first "
        "ARG are the same program built for two arches, shown side by side.",
    )
    p.add_argument("--port", type=int, default=0, metavar="N", help="listen on 127.0.0.1:N (default: a free port)")
    p.add_argument("--no-browser", action="store_true", help="print the address only; do not open a browser")
    p.add_argument("--compare", action="store_true",
                   help="show PROGRAM and the first ARG (two builds of one program) side by side, advanced "
                   "system call by system call; the other ARGS go to both")
    p.add_argument("--stdin", metavar="FILE", help="the guest's stdin (default: empty)")
    p.add_argument("--history", type=int, default=DEFAULT_HISTORY, metavar="N",
                   help=f"system calls remembered for reverse execution (default {DEFAULT_HISTORY}; 0: no recording)")
    add_guest_options(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Load the program(s) and serve the page until interrupted."""
    try:
        import aiohttp  # noqa: F401 - only to say what is missing, in one line
    except ImportError:
        raise SandboxError("sandbox web needs the web extra: pip install 'syscall-sandbox[web]'") from None
    from sandbox.web.server import serve
    from sandbox.web.session import ProgramView, Session

    stdin = b""
    if args.stdin:
        try:
            with open(args.stdin, "rb") as f:
                stdin = f.read()
        except OSError as e:
            raise SandboxError(f"--stdin {args.stdin}: {e.strerror}") from None
    if args.history < 0:
        raise SandboxError("--history must be 0 or more")
    programs = [(args.program, list(args.args))]
    if args.compare:
        if not args.args:
            raise SandboxError("--compare needs two programs: sandbox web --compare PROGRAM_A PROGRAM_B [ARGS...]")
        rest = list(args.args[1:])
        programs = [(args.program, rest), (args.args[0], rest)]
    views = []
    for i, (path, rest) in enumerate(programs):
        one = copy.copy(args)
        one.program = path
        if i and args.arch:
            one.arch = None  # --arch describes PROGRAM; the second one's file says its own
        sb = sandbox_from_args(one, capture=True)
        views.append(ProgramView(sb, path, [path, *rest], stdin=stdin, history=args.history))

    def ready(url: str) -> None:
        print(url, flush=True)
        print(f"sandbox: serving {' and '.join(p for p, _ in programs)} (Ctrl-C stops)", file=sys.stderr, flush=True)
        if not args.no_browser:
            import threading
            import webbrowser

            threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()

    try:
        serve(Session(views), args.port, ready)
    except KeyboardInterrupt:
        print("sandbox: web view stopped", file=sys.stderr)
    return 0
