"""An ELF file with a symbol table for a program that has none on disk (a ``.s`` stub).

gdb learns symbols (``break _start``, ``x/s msg``) from the executable; for an assembly file
the gdb stub offers this file instead, built from the assembled code and its labels: the
loadable image of :func:`sandbox.elfwriter.build_elf` plus section headers for ``.text``,
``.symtab``, ``.strtab`` and ``.shstrtab``.
"""

from __future__ import annotations

import struct

from sandbox.arch import Arch
from sandbox.assembler import Assembled
from sandbox.elfwriter import build_elf

_SHT_PROGBITS, _SHT_SYMTAB, _SHT_STRTAB = 1, 2, 3
_SHF_WRITE, _SHF_ALLOC, _SHF_EXECINSTR = 1, 2, 4
_STB_GLOBAL, _STT_FUNC = 1, 2
_CODE_OFFSET = 0x1000  # where build_elf puts the code in the file


def _strtab(names: list[str]) -> tuple[bytes, dict[str, int]]:
    data = bytearray(b"\0")
    offsets = {}
    for name in names:
        offsets[name] = len(data)
        data += name.encode() + b"\0"
    return bytes(data), offsets


def elf_with_symbols(arch: Arch, program: Assembled) -> bytes:
    """A static ELF64 holding ``program`` with its labels as symbols."""
    end = ">" if arch.big_endian else "<"
    image = bytearray(build_elf(arch, program))
    names = sorted(program.symbols, key=lambda n: (program.symbols[n], n))
    strtab, str_off = _strtab(names)
    shstrtab, sh_off = _strtab([".text", ".symtab", ".strtab", ".shstrtab"])
    symtab = bytearray(24)  # the null symbol
    for name in names:
        symtab += struct.pack(end + "IBBHQQ", str_off[name], (_STB_GLOBAL << 4) | _STT_FUNC, 0, 1,
                              program.symbols[name], 0)

    def align(n: int) -> None:
        image.extend(bytes(-len(image) % n))

    align(8)
    symtab_at = len(image)
    image += symtab
    strtab_at = len(image)
    image += strtab
    shstrtab_at = len(image)
    image += shstrtab
    align(8)
    shoff = len(image)

    def header(name: str, kind: int, flags: int, addr: int, offset: int, size: int, link: int = 0, info: int = 0,
               addralign: int = 1, entsize: int = 0) -> bytes:
        return struct.pack(end + "IIQQQQIIQQ", sh_off[name] if name else 0, kind, flags, addr, offset, size, link,
                           info, addralign, entsize)

    image += bytes(64)  # section 0
    image += header(".text", _SHT_PROGBITS, _SHF_ALLOC | _SHF_EXECINSTR | _SHF_WRITE, program.base,
                    _CODE_OFFSET, len(program.code), addralign=arch.insn_align)
    image += header(".symtab", _SHT_SYMTAB, 0, 0, symtab_at, len(symtab), link=3, info=1, addralign=8, entsize=24)
    image += header(".strtab", _SHT_STRTAB, 0, 0, strtab_at, len(strtab))
    image += header(".shstrtab", _SHT_STRTAB, 0, 0, shstrtab_at, len(shstrtab))
    # e_shoff, then e_shentsize, e_shnum, e_shstrndx
    struct.pack_into(end + "Q", image, 0x28, shoff)
    struct.pack_into(end + "HHH", image, 0x3A, 64, 5, 4)
    return bytes(image)
