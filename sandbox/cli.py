"""The ``sandbox`` command line: one sub-command per module in :mod:`sandbox.commands`.

Every user-facing error is one line on stderr and a non-zero exit status; a guest's own exit
status becomes the command's.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Sequence

from sandbox.commands import COMMANDS
from sandbox.errors import SandboxError


# argparse's words for a value given to an option that takes none (``--trace=bogus``)
_IGNORED_VALUE = re.compile(r"argument (?P<options>\S+): ignored explicit argument (?P<value>'.*')$")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2, like the other errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {_clearer(message)} (see {self.prog} --help)\n")


def _clearer(message: str) -> str:
    """argparse's message, said in the user's terms where argparse's own words mislead."""
    m = _IGNORED_VALUE.match(message)
    if m is not None:
        option = m.group("options").split("/")[0]
        value = m.group("value")
        if option == "--trace":
            from sandbox.trace import FORMATS

            names = list(FORMATS)
            return (f"--trace={value[1:-1]}: unknown trace format; expected {', '.join(names[:-1])} or {names[-1]} "
                    f"(--trace alone is {names[0]})")
        return f"{option} takes no value (given {value})"
    return message


def build_parser() -> argparse.ArgumentParser:
    """The parser with every sub-command registered."""
    parser = _Parser(
        prog="sandbox",
        description="Run Linux machine code in an emulated CPU and serve its system calls from a model of the kernel.",
    )
    from sandbox import __version__

    parser.add_argument("--version", action="version", version=f"syscall-sandbox {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS:
        module.register(sub)
    from sandbox.web.command import register as register_web

    register_web(sub)  # sandbox web: its own package (the server is the optional web extra)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sandbox`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args) or 0)
    except SandboxError as e:
        if os.environ.get("SANDBOX_DEBUG"):
            import traceback

            traceback.print_exc()  # where a user-facing error came from, for whoever debugs
        print(f"sandbox: {e}" if e.prefixed else str(e), file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        print("sandbox: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (| head): not an error worth a message
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return 141
    except Exception as e:  # noqa: BLE001 - a bug: say so in one line unless asked for more
        if os.environ.get("SANDBOX_DEBUG"):
            raise
        print(f"sandbox: internal error: {type(e).__name__}: {e} (set SANDBOX_DEBUG=1 for the traceback)", file=sys.stderr)
        return 70


def entry() -> None:
    """Console-script wrapper: exit with :func:`main`'s status."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
