"""Process start-up as Linux does it: the stack mapping and the initial stack contents.

The layout follows the kernel's ``create_elf_tables``: from the top of the stack down, an
end marker, the program's file name (AT_EXECFN), the environment strings, the argument
strings, then (16-byte aligned) the platform string, 16 random bytes (AT_RANDOM), then,
16-byte aligned at the stack pointer: argc, argv[], NULL, envp[], NULL, and the auxiliary
vector in the kernel's order, ending with AT_NULL.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from kernel_model.seam import PROT_EXEC, PROT_READ, PROT_WRITE
from sandbox.arch import Arch

STACK_SIZE = 8 * 1024 * 1024  # RLIMIT_STACK's usual soft limit

AT_NULL = 0
AT_PHDR = 3
AT_PHENT = 4
AT_PHNUM = 5
AT_PAGESZ = 6
AT_BASE = 7
AT_FLAGS = 8
AT_ENTRY = 9
AT_UID = 11
AT_EUID = 12
AT_GID = 13
AT_EGID = 14
AT_PLATFORM = 15
AT_HWCAP = 16
AT_CLKTCK = 17
AT_SECURE = 23
AT_RANDOM = 25
AT_HWCAP2 = 26
AT_EXECFN = 31
AT_MINSIGSTKSZ = 51

AUX_NAMES = {
    AT_NULL: "AT_NULL", AT_PHDR: "AT_PHDR", AT_PHENT: "AT_PHENT", AT_PHNUM: "AT_PHNUM", AT_PAGESZ: "AT_PAGESZ",
    AT_BASE: "AT_BASE", AT_FLAGS: "AT_FLAGS", AT_ENTRY: "AT_ENTRY", AT_UID: "AT_UID", AT_EUID: "AT_EUID",
    AT_GID: "AT_GID", AT_EGID: "AT_EGID", AT_PLATFORM: "AT_PLATFORM", AT_HWCAP: "AT_HWCAP",
    AT_CLKTCK: "AT_CLKTCK", AT_SECURE: "AT_SECURE", AT_RANDOM: "AT_RANDOM", AT_HWCAP2: "AT_HWCAP2",
    AT_EXECFN: "AT_EXECFN", AT_MINSIGSTKSZ: "AT_MINSIGSTKSZ",
}


@dataclass
class ProgramImage:
    """What a loader produced: where to start and what the auxiliary vector says about it."""

    entry: int  # where the first instruction runs (the interpreter's entry for a dynamic program)
    program_entry: int  # AT_ENTRY: the program's own entry point
    phdr: int = 0
    phent: int = 0
    phnum: int = 0
    interp_base: int = 0
    brk: int = 0
    symbols: Mapping[str, int] = field(default_factory=dict)
    exec_stack: bool = False  # PT_GNU_STACK asked for an executable stack


@dataclass
class InitialStack:
    """What was written: the stack pointer and where each piece went (for tests and the debugger)."""

    sp: int
    argv: list[int]
    envp: list[int]
    auxv: list[tuple[int, int]]
    random: int
    execfn: int


def build_stack(
    machine: "Machine",  # noqa: F821 - sandbox.engine.Machine; imported lazily to avoid a cycle
    image: ProgramImage,
    argv: list[bytes],
    envp: list[bytes],
    execfn: bytes,
) -> InitialStack:
    """Map the stack and lay out argc/argv/envp/auxv on it; set the stack pointer."""
    arch: Arch = machine.arch
    kernel = machine.kernel
    top = arch.stack_top
    prot = PROT_READ | PROT_WRITE | (PROT_EXEC if image.exec_stack else 0)
    kernel.mm.map(top - STACK_SIZE, STACK_SIZE, prot, name="[stack]")
    word = arch.word_size
    end = ">" if arch.big_endian else "<"
    wfmt = "Q" if word == 8 else "I"

    pos = top - word  # the end marker: a NULL word at the very top

    def push_bytes(data: bytes) -> int:
        nonlocal pos
        pos -= len(data)
        machine.memory.load(pos, data)
        return pos

    execfn_at = push_bytes(execfn + b"\0")
    env_end = pos
    env_at = [push_bytes(e + b"\0") for e in reversed(envp)][::-1]
    arg_end = pos
    arg_at = [push_bytes(a + b"\0") for a in reversed(argv)][::-1]
    kernel.mm.arg_start, kernel.mm.arg_end = pos, arg_end
    kernel.mm.env_start, kernel.mm.env_end = arg_end, env_end
    pos &= ~15  # arch_align_stack (with no randomisation)
    platform_at = push_bytes(arch.platform.encode() + b"\0") if arch.platform else 0
    random_at = push_bytes(kernel.random_bytes(16))

    ident = kernel.identity
    auxv: list[tuple[int, int]] = [
        (AT_HWCAP, arch.hwcap),
        (AT_PAGESZ, machine.memory.page_size),
        (AT_CLKTCK, 100),
        (AT_PHDR, image.phdr),
        (AT_PHENT, image.phent),
        (AT_PHNUM, image.phnum),
        (AT_BASE, image.interp_base),
        (AT_FLAGS, 0),
        (AT_ENTRY, image.program_entry),
        (AT_UID, ident.uid),
        (AT_EUID, ident.effective_uid),
        (AT_GID, ident.gid),
        (AT_EGID, ident.effective_gid),
        (AT_SECURE, 0),
        (AT_RANDOM, random_at),
    ]
    auxv.append((AT_HWCAP2, arch.hwcap2))  # both arches define ELF_HWCAP2, so it is always there
    auxv.append((AT_EXECFN, execfn_at))
    if platform_at:
        auxv.append((AT_PLATFORM, platform_at))
    auxv.append((AT_NULL, 0))

    words = [len(argv), *arg_at, 0, *env_at, 0]
    for key, value in auxv:
        words += [key, value]
    sp = (pos - len(words) * word) & ~15
    machine.memory.load(sp, struct.pack(end + wfmt * len(words), *words))
    machine.set_reg(arch.sp, sp)
    return InitialStack(sp, arg_at, env_at, auxv, random_at, execfn_at)
