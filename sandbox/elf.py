"""ELF files: recognise them (with a precise refusal for what cannot run) and load them.

Parsing uses ``pyelftools``; a file it cannot parse is reported as corrupt, never with a
traceback. Loading follows the kernel's ``load_elf_binary``: each PT_LOAD is mapped from its
page-aligned file offset with the segment's permissions, the tail of the last file page and
the rest of the segment (bss) are zero, a later segment replaces a page an earlier one shares,
and the break starts at the page after the highest segment.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from kernel_model.seam import PROT_EXEC, PROT_READ, PROT_WRITE
from sandbox.arch import ARCHES, Arch, arch_for_elf
from sandbox.errors import ExecFormatError
from sandbox.startup import ProgramImage

ET_EXEC, ET_DYN = 2, 3
PT_LOAD, PT_INTERP, PT_PHDR, PT_GNU_STACK = 1, 3, 6, 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4

_MACHINE_NAMES = {
    3: "i386", 8: "MIPS", 20: "PowerPC", 21: "PowerPC64", 22: "s390", 40: "ARM", 43: "SPARC v9",
    62: "x86_64", 183: "AArch64", 243: "RISC-V", 258: "LoongArch",
}


@dataclass
class Segment:
    """One PT_LOAD program header."""

    vaddr: int
    memsz: int
    offset: int
    filesz: int
    flags: int

    @property
    def prot(self) -> int:
        """The segment's permissions as PROT_* bits."""
        return (
            (PROT_READ if self.flags & PF_R else 0)
            | (PROT_WRITE if self.flags & PF_W else 0)
            | (PROT_EXEC if self.flags & PF_X else 0)
        )


@dataclass
class ElfInfo:
    """What the loader needs from an ELF file."""

    arch: Arch
    elf_type: int
    entry: int
    phoff: int
    phentsize: int
    phnum: int
    segments: list[Segment]
    interp: str | None = None
    phdr_vaddr: int | None = None
    exec_stack: bool = False
    symbols: dict[str, int] = field(default_factory=dict)

    @property
    def position_independent(self) -> bool:
        """Whether it is ET_DYN (PIE, static-pie, or an interpreter)."""
        return self.elf_type == ET_DYN


def is_elf(data: bytes) -> bool:
    """Whether ``data`` starts with the ELF magic."""
    return data[:4] == b"\x7fELF"


def inspect_elf(data: bytes, name: str = "program") -> ElfInfo:
    """Parse and check an ELF image; :class:`ExecFormatError` says precisely why it cannot run."""
    if not is_elf(data):
        raise ExecFormatError(f"{name}: not an ELF file")
    if len(data) < 16:
        raise ExecFormatError(f"{name}: truncated ELF file ({len(data)} bytes)")
    ei_class, ei_data = data[4], data[5]
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        raise ExecFormatError(f"{name}: corrupt ELF header (class {ei_class}, data encoding {ei_data})")
    bits = 32 if ei_class == 1 else 64
    big = ei_data == 2
    min_header = 52 if bits == 32 else 64
    if len(data) < min_header:
        raise ExecFormatError(f"{name}: truncated ELF file ({len(data)} bytes, the header alone is {min_header})")
    machine = int.from_bytes(data[18:20], "big" if big else "little")
    arch = arch_for_elf(machine, bits, big)
    if arch is None:
        kind = f"{bits}-bit {'big' if big else 'little'}-endian ELF for {_MACHINE_NAMES.get(machine, f'machine {machine}')}"
        raise ExecFormatError(f"{name}: {kind}; supported: {', '.join(ARCHES)} (64-bit little-endian)")
    try:
        elf = ELFFile(io.BytesIO(data))
        elf_type = {"ET_EXEC": ET_EXEC, "ET_DYN": ET_DYN}.get(elf.header.e_type)
        if elf_type is None:
            raise ExecFormatError(f"{name}: ELF type {elf.header.e_type} is not an executable")
        info = ElfInfo(
            arch=arch,
            elf_type=elf_type,
            entry=elf.header.e_entry,
            phoff=elf.header.e_phoff,
            phentsize=elf.header.e_phentsize,
            phnum=elf.header.e_phnum,
            segments=[],
        )
        if info.phnum == 0:
            raise ExecFormatError(f"{name}: ELF file has no program headers")
        if info.phoff + info.phnum * info.phentsize > len(data):
            raise ExecFormatError(f"{name}: truncated ELF file (program headers past the end)")
        for seg in elf.iter_segments():
            ptype = seg.header.p_type
            if ptype == "PT_LOAD":
                s = Segment(seg.header.p_vaddr, seg.header.p_memsz, seg.header.p_offset, seg.header.p_filesz, seg.header.p_flags)
                if s.filesz > s.memsz or s.offset + s.filesz > len(data):
                    raise ExecFormatError(f"{name}: truncated or corrupt ELF file (segment at {s.vaddr:#x})")
                info.segments.append(s)
            elif ptype == "PT_INTERP":
                info.interp = data[seg.header.p_offset : seg.header.p_offset + seg.header.p_filesz].rstrip(b"\0").decode(
                    "utf-8", "surrogateescape"
                )
            elif ptype == "PT_PHDR":
                info.phdr_vaddr = seg.header.p_vaddr
            elif ptype == "PT_GNU_STACK":
                info.exec_stack = bool(seg.header.p_flags & PF_X)
        if not info.segments:
            raise ExecFormatError(f"{name}: ELF file has no loadable segments")
        info.symbols = _symbols(elf)
    except ExecFormatError:
        raise
    except (ELFError, ValueError, KeyError, IndexError, OverflowError, AssertionError) as e:
        raise ExecFormatError(f"{name}: truncated or corrupt ELF file ({e})") from None
    except Exception as e:  # noqa: BLE001 - construct errors from pyelftools on damaged files
        if type(e).__module__.startswith("construct") or type(e).__name__.endswith("Error"):
            raise ExecFormatError(f"{name}: truncated or corrupt ELF file ({type(e).__name__})") from None
        raise
    return info


def _symbols(elf: ELFFile) -> dict[str, int]:
    out: dict[str, int] = {}
    for section_name in (".symtab", ".dynsym"):
        section = elf.get_section_by_name(section_name)
        if section is None or not hasattr(section, "iter_symbols"):
            continue
        for sym in section.iter_symbols():
            if sym.name and sym["st_value"] and sym["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE"):
                out.setdefault(sym.name, sym["st_value"])
    return out


def load_elf_image(machine: "Machine", info: ElfInfo, data: bytes, path: str, bias: int) -> tuple[int, int]:  # noqa: F821
    """Map the PT_LOAD segments at ``bias``; return (lowest mapped address, end of the highest)."""
    mm = machine.kernel.mm
    page = machine.memory.page_size
    low = None
    high = 0
    for seg in info.segments:
        if seg.memsz == 0:
            continue
        start = bias + seg.vaddr
        map_start = start & ~(page - 1)
        map_end = (start + seg.memsz + page - 1) & ~(page - 1)
        file_start = seg.offset - (start - map_start)
        if file_start < 0:
            raise ExecFormatError(f"{path}: corrupt ELF file (segment offset and address disagree)")
        if map_end > machine.arch.task_size or map_start < mm.mmap_floor:
            raise ExecFormatError(f"{path}: ELF segment at {start:#x} is outside the address space")
        mm.unmap(map_start, map_end - map_start)  # MAP_FIXED: a later segment replaces shared pages
        mm.map(map_start, map_end - map_start, seg.prot, name=path, offset=file_start)
        contents = data[file_start : seg.offset + seg.filesz]
        machine.memory.load(map_start, contents)
        low = map_start if low is None else min(low, map_start)
        high = max(high, start + seg.memsz)
    assert low is not None
    return low, high


def load_elf(machine: "Machine", data: bytes, path: str, info: ElfInfo | None = None) -> ProgramImage:  # noqa: F821
    """Load a static executable (ET_EXEC or static-pie ET_DYN) and place the break after it."""
    info = info or inspect_elf(data, path)
    if info.interp is not None:
        raise ExecFormatError(
            f"{path}: dynamically linked (interpreter {info.interp}); run it with --rootfs DIR "
            "so the interpreter and libraries can be found"
        )
    bias = machine.arch.pie_base if info.position_independent else 0
    low, high = load_elf_image(machine, info, data, path, bias)
    page = machine.memory.page_size
    brk = (high + page - 1) & ~(page - 1)
    machine.kernel.mm.set_brk(brk)
    phdr = bias + info.phdr_vaddr if info.phdr_vaddr is not None else _phdr_address(info, bias)
    machine.symbols = {name: bias + addr for name, addr in info.symbols.items()}
    return ProgramImage(
        entry=bias + info.entry, program_entry=bias + info.entry, phdr=phdr, phent=info.phentsize,
        phnum=info.phnum, brk=brk, symbols=machine.symbols,
    )


def _phdr_address(info: ElfInfo, bias: int) -> int:
    # Without PT_PHDR: the headers are wherever the segment holding file offset e_phoff maps them.
    for seg in info.segments:
        if seg.offset <= info.phoff < seg.offset + seg.filesz:
            return bias + seg.vaddr + (info.phoff - seg.offset)
    return 0
