"""Sub-commands of the ``sandbox`` command line, one module each.

A module provides ``register(subparsers)``, which adds its parser and sets ``handler`` to a
function taking the parsed arguments and returning an exit status.
"""

from sandbox.commands import debug, diff, explain, gdbserver, run, trace

COMMANDS = [run, trace, debug, gdbserver, explain, diff]
