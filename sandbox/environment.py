"""The environment a guest starts with: a small, known set, not everything the host has.

A host's environment holds what a guest has no business reading (tokens, keys, the paths of
the machine), and a guest can read all of it (``environ``, ``/proc/self/environ``). So the
command line gives the guest only :data:`KEPT` by default: a fixed ``PATH``, ``PWD`` (the guest's
working directory), and, where the host has them, the variables that say how to talk to the
user (``HOME``, ``USER``, ``LOGNAME``, ``TERM``, ``LANG``, ``LC_*``, ``TZ``). ``--env NAME``
passes one more host variable by name, ``--env NAME=VALUE`` sets one, ``--env-all`` passes them
all (what qemu-user does), ``--clear-env`` starts from nothing.
"""

from __future__ import annotations

import os
from typing import Iterable, Mapping

from sandbox.errors import SandboxError

# Debian's default PATH for a user: the guest's own directories, whatever the host's PATH is.
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
# The host variables a guest gets by default, when the host has them.
KEPT = ("HOME", "USER", "LOGNAME", "TERM", "LANG", "LANGUAGE", "TZ", "COLORTERM", "NO_COLOR")


def default_environment(host: Mapping[str, str] | None = None, cwd: str | None = None) -> dict[str, str]:
    """The guest's default environment: PATH, PWD, and the :data:`KEPT` and ``LC_*`` host variables."""
    host = os.environ if host is None else host
    env = {"PATH": DEFAULT_PATH}
    for name in sorted(host):
        if name in KEPT or name.startswith("LC_"):
            env[name] = host[name]
    env["PWD"] = os.path.realpath(cwd or os.getcwd())
    return env


def guest_environment(
    settings: Iterable[str], *, clear: bool = False, inherit_all: bool = False, host: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> dict[str, str]:
    """The environment from the command line's ``--env`` settings and its starting point.

    Each setting is ``NAME=VALUE`` (set it) or ``NAME`` (the host's value, if it has one).
    """
    host = os.environ if host is None else host
    if clear:
        env: dict[str, str] = {}
    elif inherit_all:
        env = dict(host)
    else:
        env = default_environment(host, cwd)
    for item in settings:
        name, sep, value = item.partition("=")
        if not name or "\0" in item:
            raise SandboxError(f"--env {item!r}: expected NAME=VALUE, or NAME to pass the host's")
        if sep:
            env[name] = value
        elif name in host:
            env[name] = host[name]
    return env
