"""Options shared by the sub-commands that start a guest (run, trace, debug...)."""

from __future__ import annotations

import argparse
import os
import sys

from typing import TYPE_CHECKING

from sandbox.arch import ARCHES
from sandbox.errors import SandboxError
from sandbox.limits import add_limit_options, limits_from_args

if TYPE_CHECKING:
    from kernel_model.kernel import Mount
    from sandbox.api import Sandbox


def arch_names() -> str:
    """The supported arches for a help text or an error, from the arch registry:
    ``x86_64, aarch64, i386, arm, riscv64``."""
    return ", ".join(ARCHES)


def arch_help(what: str) -> str:
    """A help text for an arch argument: ``what``, then every supported arch and an alias of each."""
    aliases = ", ".join(a.aliases[0] for a in ARCHES.values() if a.aliases)
    return f"{what}: {arch_names()} (aliases such as {aliases} work too)"


def add_arch_option(parser: argparse.ArgumentParser) -> None:
    """``--arch``, for a .s or .bin file that does not name its arch."""
    parser.add_argument("--arch", metavar="ARCH", help=arch_help("the arch of a .s or .bin file that does not name it"))


MOUNT_FORMS = "HOST:GUEST, HOST:GUEST:rw, HOST:GUEST:ro, or DIR[:rw] (at its own absolute path)"


def add_mount_option(parser: argparse.ArgumentParser, who: str) -> None:
    """``--mount``, with every form it accepts."""
    parser.add_argument(
        "--mount", action="append", default=[], metavar="HOST:GUEST[:rw]",
        help=f"show a host directory to {who}, read-only unless :rw (repeatable): {MOUNT_FORMS}",
    )


def parse_mounts(specs: list[str]) -> list[Mount]:
    """The ``--mount`` options as mounts; SandboxError says what is wrong with a bad one."""
    from kernel_model.kernel import Mount

    mounts = []
    for spec in specs:
        try:
            mount = Mount.parse(spec)
        except ValueError as e:
            reason = str(e).split(": ", 1)[-1]  # after "bad mount 'SPEC'"
            reason = "" if reason.startswith("expected") else reason + "; "
            raise SandboxError(f"--mount {spec}: {reason}expected {MOUNT_FORMS}") from None
        if not os.path.exists(mount.host):
            # without a ':' the whole text is the host directory: say which forms there are
            forms = "" if ":" in spec else f"; expected {MOUNT_FORMS}"
            raise SandboxError(f"--mount {spec}: no directory {mount.host!r} on the host{forms}")
        if not os.path.isdir(mount.host):
            raise SandboxError(f"--mount {spec}: {mount.host!r} is a file; only a directory can be mounted")
        mounts.append(mount)
    return mounts


def add_guest_options(parser: argparse.ArgumentParser) -> None:
    """The options that describe the guest and its world."""
    add_arch_option(parser)
    add_mount_option(parser, "the guest")
    parser.add_argument("--cwd", metavar="DIR", help="host directory shown read-only as the guest's cwd (default: .)")
    parser.add_argument(
        "--rootfs", metavar="DIR",
        help="host directory shown read-only as the guest's / (under the other mounts); a dynamically "
        "linked program's interpreter and libraries come from it, as with qemu-user -L",
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME[=VALUE]",
        help="set a guest environment variable, or pass the host's NAME (the default is a small set: see README)",
    )
    env = parser.add_mutually_exclusive_group()
    env.add_argument("--clear-env", action="store_true", help="start from an empty environment")
    env.add_argument("--env-all", action="store_true", help="pass every host environment variable (as qemu-user does)")
    parser.add_argument("--seed", type=int, help="seed getrandom and /dev/urandom for a reproducible run")
    parser.add_argument("--virtual-time", action="store_true", help="a clock that starts at a fixed date and only moves when the guest sleeps")
    parser.add_argument("-v", "--verbose", action="store_true", help="with a crash, also print the registers")
    add_policy_options(parser)
    add_limit_options(parser)
    parser.add_argument("program", help="an ELF executable, an assembly file (.s) or raw code (.bin)")
    add_program_arguments(parser, "args", "arguments for the program")


def add_program_arguments(parser: argparse.ArgumentParser, dest: str, help: str) -> None:
    """The arguments after the program, passed on as they are (options too). They may be
    left out, which argparse does not know of a REMAINDER: it would list them as required."""
    action = parser.add_argument(dest, nargs=argparse.REMAINDER, help=help)
    action.required = False


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
        "--require-landlock", action="store_true",
        help="host mode: refuse to run unless the host kernel can enforce the whole policy too (Landlock)",
    )
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
    from kernel_model.policy import flag_call_rules, flag_path_rules

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
    """The environment the guest starts with (see :mod:`sandbox.environment`), plus --env."""
    from sandbox.environment import guest_environment as build

    return build(args.env, clear=args.clear_env, inherit_all=getattr(args, "env_all", False), cwd=args.cwd)


def confine_for_cli(sb: Sandbox) -> None:
    """Host mode: put up the kernel wall around this process now (the guest is loaded, nothing
    has run), saying in one line on stderr where it falls short of the policy."""
    if sb.kernel != "host":
        return
    report = sb.confine()
    line = report.line() if report is not None else None  # type: ignore[attr-defined]
    if line:
        print(f"sandbox: {line}", file=sys.stderr)


def sandbox_from_args(args: argparse.Namespace, *, capture: bool = False) -> Sandbox:
    """A Sandbox configured by the guest options, for the program named on the command line."""
    from sandbox.api import Sandbox

    mounts = parse_mounts(args.mount)
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
        wall="process", require_landlock=getattr(args, "require_landlock", False),
        # no command reads the run's records (a trace is written as it happens, a debugger
        # keeps its own log): a guest making millions of calls runs in constant memory
        max_records=0,
        **vars(limits),
    )
