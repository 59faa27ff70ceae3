"""Wrap assembled code in a minimal static ELF executable.

One PT_LOAD segment, readable, writable and executable, holding the code at its address, and
the entry at ``_start``: the same memory picture the sandbox gives a stub, so the file runs the
same natively, under ``qemu-user`` (the tests' oracle), or under a debugger.
"""

from __future__ import annotations

import struct

from sandbox.arch import Arch
from sandbox.assembler import Assembled

_EHDR_SIZE = 64
_PHDR_SIZE = 56


def build_elf(arch: Arch, program: Assembled) -> bytes:
    """A static ELF64 executable holding ``program`` (64-bit arches)."""
    if arch.bits != 64:
        raise ValueError(f"the ELF writer makes 64-bit files; {arch.name} is {arch.bits}-bit")
    end = ">" if arch.big_endian else "<"
    page = 0x1000
    # The file's first page holds the headers; the code starts at the next page boundary so
    # that file offset and address agree modulo the page size, as the loader requires.
    code_offset = page
    load_addr = program.base - code_offset
    if load_addr < 0 or program.base % page:
        raise ValueError("the code base must be page-aligned and at least one page up")
    ident = b"\x7fELF" + bytes([2, 2 if arch.big_endian else 1, 1, 0]) + bytes(8)
    ehdr = ident + struct.pack(
        end + "HHIQQQIHHHHHH",
        2,  # ET_EXEC
        arch.elf_machine,
        1,  # EV_CURRENT
        program.entry,
        _EHDR_SIZE,  # e_phoff
        0,  # e_shoff
        0,  # e_flags
        _EHDR_SIZE,
        _PHDR_SIZE,
        1,  # e_phnum
        64,  # e_shentsize
        0,
        0,
    )
    size = code_offset + len(program.code)
    phdr = struct.pack(
        end + "IIQQQQQQ",
        1,  # PT_LOAD
        7,  # PF_R | PF_W | PF_X
        0,  # p_offset: the segment starts with the headers, like a normal executable's text
        load_addr,
        load_addr,
        size,
        size,
        page,
    )
    header = ehdr + phdr
    return header + bytes(code_offset - len(header)) + program.code
