"""A gcc-built static ELF for every arch (tests/programs/src/elf-layout.c): text, rodata, data
and bss where the linker put them, argv and the environment on the stack, the break after the
bss, and on arm the compiler's Thumb code called from ARM code. The same output as qemu-user."""

from __future__ import annotations

import pytest
from helpers import ROOT, qemu_for, run_under_qemu, sandbox_cli

from sandbox import ARCHES
from sandbox.elf import inspect_elf

PROGRAMS = ROOT / "tests" / "programs" / "bin"
ARGS = ["one", "two words"]


def expected(arch: str) -> bytes:
    path = f"tests/programs/bin/elf-layout.{arch}"
    lines = ["elf-layout", "data: ok", "data is writable", "bss is zero", "argc: 3", f"argv: {path}",
             "argv: one", "argv: two words", "argv ends with NULL", "environment: present", "break: after the bss",
             "code: thumb" if arch == "arm" else "code: arm or not arm"]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("arch", list(ARCHES))
def test_the_loader_gives_the_program_its_layout(arch):
    path = PROGRAMS / f"elf-layout.{arch}"
    info = inspect_elf(path.read_bytes(), str(path))
    assert info.arch.name == arch and len(info.segments) >= 2  # code, and data with bss after it
    r = sandbox_cli("run", f"tests/programs/bin/elf-layout.{arch}", *ARGS)
    assert (r.returncode, r.stderr) == (0, b"")
    assert r.stdout == expected(arch)


@pytest.mark.parametrize("arch", list(ARCHES))
def test_the_same_as_qemu_user(arch):
    if qemu_for(arch) is None:
        pytest.skip(f"qemu-user for {arch} is not installed")
    program = f"tests/programs/bin/elf-layout.{arch}"
    native = run_under_qemu(arch, ROOT / program, ARGS)
    ours = sandbox_cli("run", program, *ARGS)
    assert (ours.returncode, ours.stdout.replace(program.encode(), b"P")) == (
        native.returncode, native.stdout.replace(str(ROOT / program).encode(), b"P"))
