"""``sandbox explain ARCH [SYSCALL]``, ``sandbox explain --compare SYSCALL`` and ``sandbox table ARCH``."""

from __future__ import annotations

import argparse
import sys

from sandbox.arch import get_arch
from sandbox.commands.options import arch_help, arch_names
from sandbox.errors import SandboxError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``explain`` and ``table`` sub-commands."""
    p = sub.add_parser(
        "explain",
        help="how system calls work on an arch, or one call: its number, registers and a stub",
        description="Print an arch's system call convention; with a call name, its number, its prototype with "
        "each argument's register, and a ready-to-run assembly stub. --compare shows one call on every arch.",
    )
    p.add_argument("arch", nargs="?", help=arch_help("the arch"))
    p.add_argument("syscall", nargs="?", help="a system call name (write, openat...)")
    p.add_argument("--compare", metavar="SYSCALL", help="show SYSCALL side by side on every supported arch")
    p.set_defaults(handler=handle_explain)

    t = sub.add_parser(
        "table",
        help="every system call of an arch, with numbers, marking those the kernel model implements",
        description="List the arch's system calls from the kernel's table, by number, with whether the kernel "
        "model implements each and its prototype.",
    )
    t.add_argument("arch", help=arch_help("the arch"))
    t.set_defaults(handler=handle_table)


def handle_explain(args: argparse.Namespace) -> int:
    """Print the explanation asked for."""
    from sandbox.arch import get_arch
    from sandbox.teaching import compare_rows, convention, explain_call
    from sandbox.terminal import Palette

    palette = Palette.for_stream(sys.stdout)
    if args.compare:
        if args.syscall:
            raise SandboxError("explain --compare takes one call name and no arch")
        name = args.compare
        if args.arch:  # "explain --compare write" parses write as --compare's; a stray arch is an error
            raise SandboxError("explain --compare SYSCALL compares every arch; leave the arch out")
        rows = compare_rows(name)
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for n, row in enumerate(rows):
            text = "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
            print(palette(text, "bold") if n == 0 else text)
        return 0
    if not args.arch:
        raise SandboxError(f"explain needs an arch ({arch_names()}), or --compare SYSCALL")
    arch = get_arch(args.arch)
    if args.syscall:
        for line in explain_call(arch, args.syscall).lines(palette):
            print(line)
        return 0
    print(palette(f"System calls on {arch.name}", "bold"))
    rows = convention(arch)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    print(f"\n  sandbox explain {arch.name} SYSCALL: one call; sandbox table {arch.name}: every call")
    return 0


def handle_table(args: argparse.Namespace) -> int:
    """Print the arch's table of calls."""
    from sandbox.arch import get_arch
    from sandbox.teaching import table_rows
    from sandbox.terminal import Palette

    arch = get_arch(args.arch)
    palette = Palette.for_stream(sys.stdout)
    rows = table_rows(arch)
    name_w = max(len(r[1]) for r in rows)
    print(palette(f"{'NR':>4}  {'NAME':<{name_w}}  {'MODEL':<7}  PROTOTYPE", "bold"))
    for nr, name, status, decl in rows:
        mark = palette(f"{status:<7}", "green" if status == "full" else "yellow" if status == "partial" else "dim")
        print(f"{nr:>4}  {name:<{name_w}}  {mark}  {decl}")
    full = sum(1 for r in rows if r[2] == "full")
    partial = sum(1 for r in rows if r[2] == "partial")
    print(f"{len(rows)} system calls on {arch.name}; the kernel model implements {full + partial} "
          f"({full} fully, {partial} partly); the others return -ENOSYS")
    return 0
