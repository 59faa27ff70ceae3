"""Options shared by the sub-commands that start a guest (run, trace, debug...)."""

from __future__ import annotations

import argparse
import os

from typing import TYPE_CHECKING

from sandbox.arch import ARCHES
from sandbox.errors import SandboxError
from sandbox.limits import add_limit_options, limits_from_args

if TYPE_CHECKING:
    from sandbox.api import Sandbox


def add_guest_options(parser: argparse.ArgumentParser) -> None:
    """The options that describe the guest and its world."""
    parser.add_argument("--arch", help=f"the guest arch when the file does not say it ({', '.join(ARCHES)})")
    parser.add_argument(
        "--mount", action="append", default=[], metavar="HOST:GUEST[:rw]",
        help="show a host directory to the guest (read-only unless :rw); repeatable",
    )
    parser.add_argument("--cwd", metavar="DIR", help="host directory shown read-only as the guest's cwd (default: .)")
    parser.add_argument(
        "--rootfs", metavar="DIR",
        help="host directory shown read-only as the guest's / (under the other mounts); a dynamically "
        "linked program's interpreter and libraries come from it, as with qemu-user -L",
    )
    parser.add_argument("--env", action="append", default=[], metavar="K=V", help="set a guest environment variable")
    parser.add_argument("--clear-env", action="store_true", help="start from an empty environment, not sandbox's own")
    parser.add_argument("--seed", type=int, help="seed getrandom and /dev/urandom for a reproducible run")
    parser.add_argument("--virtual-time", action="store_true", help="a clock that starts at a fixed date and only moves when the guest sleeps")
    parser.add_argument("-v", "--verbose", action="store_true", help="with a crash, also print the registers")
    add_policy_options(parser)
    add_limit_options(parser)
    parser.add_argument("program", help="an ELF executable, an assembly file (.s) or raw code (.bin)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the program")


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    """Which kernel serves the guest, and the policy it runs under."""
    group = parser.add_argument_group("kernel and policy (see the README's \"Running against the real host\")")
    group.add_argument(
        "--kernel", choices=("model", "host"),
        help="model: the Python model of Linux serves every call (the default); host: file, clock and "
        "machine calls go to the real host, in the directories the policy grants",
    )
    group.add_argument("--policy", metavar="FILE", help="a TOML policy: calls allowed, denied or forwarded; paths granted")
    group.add_argument(
        "--forward", action="append", default=[], metavar="NAME[,NAME...]",
        help="send these calls to the host even with the model (repeatable)",
    )
    group.add_argument(
        "--allow-read", action="append", default=[], metavar="DIR",
        help="grant a host directory read-only, at its own path (repeatable)",
    )
    group.add_argument(
        "--allow-write", action="append", default=[], metavar="DIR",
        help="grant a host directory read-write, at its own path (repeatable)",
    )
    group.add_argument(
        "--deny", action="append", default=[], metavar="NAME[=ERRNO][,...]",
        help="refuse these calls with ERRNO (EPERM unless given); repeatable",
    )


def guest_policy(args: argparse.Namespace) -> tuple[object, str | None]:
    """The policy the options describe (None: the kernel model's default world) and the kernel."""
    flags = (args.allow_read, args.allow_write, args.deny)
    if not args.policy and not any(flags):
        return None, args.kernel  # the common case: no policy module to load
    from kernel_model.host import PolicyError, default_policy, load_policy
    from kernel_model.host.policy import flag_call_rules, flag_path_rules

    try:
        policy = load_policy(args.policy) if args.policy else None
        kernel = args.kernel or (policy.kernel if policy is not None else None)
        flags = (args.allow_read, args.allow_write, args.deny)
        if any(flags):
            if policy is None:  # the flags widen (or narrow) the default world
                policy = default_policy(args.cwd, tmp=(kernel or "model") == "model")
            policy = policy.with_paths(
                flag_path_rules(args.allow_read, "ro", "--allow-read") + flag_path_rules(args.allow_write, "rw", "--allow-write")
            ).with_calls(flag_call_rules(args.deny, "deny", "--deny"))
    except PolicyError as e:
        raise SandboxError(str(e)) from None
    return policy, kernel


def guest_environment(args: argparse.Namespace) -> dict[str, str]:
    """The environment the guest starts with: sandbox's own (as qemu-user does) or empty, plus --env."""
    env = {} if args.clear_env else dict(os.environ)
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SandboxError(f"--env {item!r}: expected K=V")
        env[key] = value
    return env


def sandbox_from_args(args: argparse.Namespace, *, capture: bool = False) -> Sandbox:
    """A Sandbox configured by the guest options, for the program named on the command line."""
    from kernel_model.kernel import Mount
    from sandbox.api import Sandbox

    mounts = []
    for spec in args.mount:
        try:
            mount = Mount.parse(spec)
        except ValueError as e:
            raise SandboxError(str(e)) from None
        if not os.path.isdir(mount.host):
            raise SandboxError(f"--mount {spec}: {mount.host} is not a directory")
        mounts.append(mount)
    if args.cwd and not os.path.isdir(args.cwd):
        raise SandboxError(f"--cwd {args.cwd}: not a directory")
    if args.rootfs and not os.path.isdir(args.rootfs):
        raise SandboxError(f"--rootfs {args.rootfs}: not a directory")
    from sandbox.program import read_program

    prog = read_program(args.program, args.arch)
    policy, kernel = guest_policy(args)
    limits = limits_from_args(args)
    return Sandbox(
        prog.arch, capture=capture, cwd=args.cwd, mounts=mounts, env=guest_environment(args),
        seed=args.seed, virtual_time=args.virtual_time, rootfs=args.rootfs,
        string_limit=getattr(args, "string_limit", 32),
        kernel=kernel, policy=policy, forward=args.forward,  # type: ignore[arg-type]
        # no command reads the run's records (a trace is written as it happens, a debugger
        # keeps its own log): a guest making millions of calls runs in constant memory
        max_records=0,
        **vars(limits),
    )
