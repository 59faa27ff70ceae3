"""Wrap assembled code in a minimal static ELF executable.

One PT_LOAD segment, readable, writable and executable, holding the code at its address, and
the entry at ``_start``: the same memory picture the sandbox gives a stub, so the file runs the
same natively, under ``qemu-user`` (the tests' oracle), or under a debugger. The file's class
(ELF32 or ELF64), byte order, machine and flags are the arch's.
"""

from __future__ import annotations

import struct

from sandbox.arch import Arch
from sandbox.assembler import Assembled

# (ELF header size, program header size, header format, program header format) per class
_LAYOUT = {
    64: (64, 56, "HHIQQQIHHHHHH", "IIQQQQQQ"),
    32: (52, 32, "HHIIIIIHHHHHH", "IIIIIIII"),
}


def build_elf(arch: Arch, program: Assembled, *, thumb: bool = False) -> bytes:
    """A static executable holding ``program``; ``thumb`` marks an arm entry point as Thumb code."""
    ehdr_size, phdr_size, ehdr_fmt, phdr_fmt = _LAYOUT[arch.bits]
    end = ">" if arch.big_endian else "<"
    page = 0x1000
    # The file's first page holds the headers; the code starts at the next page boundary so
    # that file offset and address agree modulo the page size, as the loader requires.
    code_offset = page
    load_addr = program.base - code_offset
    if load_addr < 0 or program.base % page:
        raise ValueError("the code base must be page-aligned and at least one page up")
    ident = b"\x7fELF" + bytes([2 if arch.bits == 64 else 1, 2 if arch.big_endian else 1, 1, 0]) + bytes(8)
    ehdr = ident + struct.pack(
        end + ehdr_fmt,
        2,  # ET_EXEC
        arch.elf_machine,
        1,  # EV_CURRENT
        program.entry | (1 if thumb else 0),
        ehdr_size,  # e_phoff
        0,  # e_shoff
        arch.elf_flags,
        ehdr_size,
        phdr_size,
        1,  # e_phnum
        64 if arch.bits == 64 else 40,  # e_shentsize
        0,
        0,
    )
    size = code_offset + len(program.code)
    if arch.bits == 64:
        # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
        phdr = struct.pack(end + phdr_fmt, 1, 7, 0, load_addr, load_addr, size, size, page)
    else:
        # p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align
        phdr = struct.pack(end + phdr_fmt, 1, 0, load_addr, load_addr, size, size, 7, page)
    header = ehdr + phdr
    return header + bytes(code_offset - len(header)) + program.code
