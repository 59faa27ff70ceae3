"""ELF files: recognise them (with a precise refusal for what cannot run) and load them.

Parsing uses ``pyelftools``; a file it cannot parse is reported as corrupt, never with a
traceback. Loading follows the kernel's ``load_elf_binary``: each PT_LOAD is mapped from its
page-aligned file offset with the segment's permissions, the tail of the last file page and
the rest of the segment (bss) are zero, a later segment replaces a page an earlier one shares,
and the break starts at the page after the highest segment. A program with PT_INTERP gets its
interpreter loaded too, from the guest's own filesystem (``--rootfs``).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from kernel_model.fsnodes import BytesHandle, Handle
from kernel_model.seam import PROT_EXEC, PROT_READ, PROT_WRITE
from sandbox.arch import ARCHES, Arch, arch_for_elf
from sandbox.errors import ExecFormatError
from sandbox.startup import ProgramImage

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile

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
    align: int = 0

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
    # the image the symbols are read from when first asked for (see symbols_of)
    symbol_source: bytes = field(default=b"", repr=False)

    @cached_property
    def symbols(self) -> dict[str, int]:
        """The image's function and object symbols by name (read when first asked for)."""
        return symbols_of(self.symbol_source) if self.symbol_source else {}

    @cached_property
    def symbol_spans(self) -> dict[str, tuple[int, int]]:
        """Each symbol's span, [start, end): its size, or else its section (read with the symbols)."""
        return spans_of(self.symbol_source) if self.symbol_source else {}

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
        supported = ", ".join(f"{a.name} ({a.bits}-bit)" for a in ARCHES.values())
        raise ExecFormatError(f"{name}: {kind}; supported: {supported}")
    order = ">" if big else "<"
    ehdr = struct.unpack_from(order + _EHDR[bits], data, 16)
    e_type, e_entry, e_phoff, e_phentsize, e_phnum = ehdr[0], ehdr[3], ehdr[4], ehdr[8], ehdr[9]
    if e_type not in (ET_EXEC, ET_DYN):
        raise ExecFormatError(f"{name}: ELF type {_TYPE_NAMES.get(e_type, e_type)} is not an executable")
    info = ElfInfo(arch=arch, elf_type=e_type, entry=e_entry, phoff=e_phoff, phentsize=e_phentsize, phnum=e_phnum,
                   segments=[], symbol_source=data)
    if info.phnum == 0:
        raise ExecFormatError(f"{name}: ELF file has no program headers")
    phdr_format = order + _PHDR[bits]
    if e_phentsize != struct.calcsize(phdr_format):
        # load_elf_binary refuses any other size too
        raise ExecFormatError(f"{name}: corrupt ELF file (program headers of {e_phentsize} bytes)")
    if info.phoff + info.phnum * info.phentsize > len(data):
        raise ExecFormatError(f"{name}: truncated ELF file (program headers past the end)")
    for n in range(e_phnum):
        ptype, flags, offset, vaddr, filesz, memsz, align = _phdr_fields(
            bits, struct.unpack_from(phdr_format, data, e_phoff + n * e_phentsize))
        if ptype == PT_LOAD:
            seg = Segment(vaddr, memsz, offset, filesz, flags, align)
            if seg.filesz > seg.memsz or seg.offset + seg.filesz > len(data):
                raise ExecFormatError(f"{name}: truncated or corrupt ELF file (segment at {seg.vaddr:#x})")
            info.segments.append(seg)
        elif ptype == PT_INTERP:
            raw = data[offset : offset + filesz]
            # load_elf_binary: a path that ends with its NUL, read up to the first NUL
            if len(raw) < 2 or len(raw) != filesz or raw[-1:] != b"\0":
                raise ExecFormatError(f"{name}: corrupt ELF file (PT_INTERP is not a NUL-terminated path)")
            info.interp = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        elif ptype == PT_PHDR:
            info.phdr_vaddr = vaddr
        elif ptype == PT_GNU_STACK:
            info.exec_stack = bool(flags & PF_X)
    if not info.segments:
        raise ExecFormatError(f"{name}: ELF file has no loadable segments")
    return info


# The ELF header after e_ident (e_type, e_machine, e_version, e_entry, e_phoff, e_shoff,
# e_flags, e_ehsize, e_phentsize, e_phnum, ...) and one program header, by class.
_EHDR = {32: "HHIIIIIHHHHHH", 64: "HHIQQQIHHHHHH"}
_PHDR = {32: "IIIIIIII", 64: "IIQQQQQQ"}
_TYPE_NAMES = {0: "ET_NONE", 1: "ET_REL", 4: "ET_CORE"}


def _phdr_fields(bits: int, raw: tuple[int, ...]) -> tuple[int, int, int, int, int, int, int]:
    """(p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz, p_align): Elf32_Phdr puts
    p_flags after the sizes, Elf64_Phdr right after p_type."""
    if bits == 64:
        ptype, flags, offset, vaddr, _paddr, filesz, memsz, align = raw
    else:
        ptype, offset, vaddr, _paddr, filesz, memsz, flags, align = raw
    return ptype, flags, offset, vaddr, filesz, memsz, align


def symbols_of(data: bytes) -> dict[str, int]:
    """The function and object symbols of an ELF image (its .symtab, then .dynsym), by name.

    Read with pyelftools, loaded only for this: only a debugger asks. The kernel runs a
    program whatever its section headers hold, so damaged ones just mean no symbols.
    """
    return _symbols_and_spans(data)[0]


def spans_of(data: bytes) -> dict[str, tuple[int, int]]:
    """Each symbol's span in an ELF image: its size, or else its section, as gdb bounds a
    minimal symbol (what a debugger names an address by)."""
    return _symbols_and_spans(data)[1]


def _symbols_and_spans(data: bytes) -> tuple[dict[str, int], dict[str, tuple[int, int]]]:
    from elftools.elf.elffile import ELFFile

    try:
        return _symbols(ELFFile(io.BytesIO(data)))
    except Exception:  # noqa: BLE001 - any failure of the section parser: a program without symbols
        return {}, {}


def _symbols(elf: "ELFFile") -> tuple[dict[str, int], dict[str, tuple[int, int]]]:
    """The symbols (global ones first, so that they name an address several symbols share)
    and each one's span: its size, or else its section, as gdb bounds a minimal symbol."""
    found = []
    for section_name in (".symtab", ".dynsym"):
        section = elf.get_section_by_name(section_name)
        if section is None or not hasattr(section, "iter_symbols"):
            continue
        for sym in section.iter_symbols():
            if sym.name and sym["st_value"] and sym["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE"):
                found.append(sym)
    found.sort(key=lambda sym: sym["st_info"]["bind"] != "STB_GLOBAL")  # stable: file order otherwise
    out: dict[str, int] = {}
    spans: dict[str, tuple[int, int]] = {}
    for sym in found:
        if sym.name in out:
            continue
        value, size, index = sym["st_value"], sym["st_size"], sym["st_shndx"]
        out[sym.name] = value
        if size:
            spans[sym.name] = (value, value + size)
        elif isinstance(index, int) and 0 < index < elf.num_sections():
            header = elf.get_section(index).header
            spans[sym.name] = (header.sh_addr, header.sh_addr + header.sh_size)
        else:
            spans[sym.name] = (value, value)  # nothing but the address itself
    return out, spans


class LazySymbols(Mapping[str, int]):
    """A loaded program's symbols at their addresses, read from its image when first used
    (a debugger, or a stub's labels): a run that never looks does not parse them."""

    def __init__(self, info: ElfInfo, bias: int) -> None:
        self._info = info
        self._bias = bias
        self._table: dict[str, int] | None = None

    def _loaded(self) -> dict[str, int]:
        if self._table is None:
            self._table = {name: self._bias + addr for name, addr in self._info.symbols.items()}
        return self._table

    def __getitem__(self, name: str) -> int:
        return self._loaded()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


class LazySpans(Mapping[str, tuple[int, int]]):
    """A loaded program's symbol spans at their addresses, read when first used, as its symbols."""

    def __init__(self, info: ElfInfo, bias: int) -> None:
        self._info = info
        self._bias = bias
        self._table: dict[str, tuple[int, int]] | None = None

    def _loaded(self) -> dict[str, tuple[int, int]]:
        if self._table is None:
            self._table = {name: (self._bias + lo, self._bias + hi) for name, (lo, hi) in self._info.symbol_spans.items()}
        return self._table

    def __getitem__(self, name: str) -> tuple[int, int]:
        return self._loaded()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


@dataclass
class LoadedImage:
    """Where one ELF file went: its load bias, the span it covers, and its entry point."""

    bias: int
    low: int
    high: int  # the end of the highest segment (not page-aligned): where the break starts
    entry: int


def _span(info: ElfInfo, page: int) -> tuple[int, int]:
    """The page-aligned [low, high) of the segments before any bias."""
    low = min(s.vaddr for s in info.segments if s.memsz) & ~(page - 1)
    high = max(s.vaddr + s.memsz for s in info.segments if s.memsz)
    return low, (high + page - 1) & ~(page - 1)


def _chosen_bias(machine: "Machine", info: ElfInfo) -> int:  # noqa: F821
    """Where mmap would put the whole image (top-down, aligned to its largest p_align)."""
    page = machine.memory.page_size
    low, high = _span(info, page)
    align = max([page] + [s.align for s in info.segments if s.align and s.align & (s.align - 1) == 0])
    base = machine.kernel.mm.find_free(high - low + align - page)
    base = (base + align - 1) & ~(align - 1)
    return base - low


def map_segments(
    machine: "Machine", info: ElfInfo, data: bytes, path: str, bias: int, file: Handle | None = None  # noqa: F821
) -> LoadedImage:
    """Map the PT_LOAD segments of an ELF image at ``bias``, the way ``load_elf_binary`` does.

    The file-backed pages of each segment are a private mapping of the file (named ``path`` in
    /proc/self/maps); the rest of the segment (bss beyond the last file page) is anonymous
    memory; the tail of the last file page past ``p_filesz`` is zero.
    """
    mm = machine.kernel.mm
    page = machine.memory.page_size
    st = file.stat() if file is not None else None
    ident = {"dev": st.dev, "ino": st.ino} if st is not None else {}
    high = 0
    low = None
    for seg in info.segments:
        if seg.memsz == 0:
            continue
        start = bias + seg.vaddr
        map_start = start & ~(page - 1)
        file_end = (start + seg.filesz + page - 1) & ~(page - 1) if seg.filesz else map_start
        map_end = (start + seg.memsz + page - 1) & ~(page - 1)
        file_start = seg.offset - (start - map_start)
        if file_start < 0 or (seg.offset - seg.vaddr) % page:
            raise ExecFormatError(f"{path}: corrupt ELF file (segment offset and address disagree)")
        if map_end > machine.arch.task_size or map_start < mm.mmap_floor or map_end <= map_start:
            raise ExecFormatError(f"{path}: ELF segment at {start:#x} is outside the address space")
        mm.unmap(map_start, map_end - map_start)  # MAP_FIXED: a later segment replaces shared pages
        if file_end > map_start:
            mm.map(map_start, file_end - map_start, seg.prot, name=path, offset=file_start, file=file, **ident)
            machine.memory.load(map_start, data[file_start : seg.offset + seg.filesz])
        if map_end > file_end:
            mm.map(file_end, map_end - file_end, seg.prot)
        low = map_start if low is None else min(low, map_start)
        high = max(high, start + seg.memsz)
    assert low is not None
    return LoadedImage(bias=bias, low=low, high=high, entry=bias + info.entry)


def load_program(
    machine: "Machine",  # noqa: F821 - sandbox.engine.Machine; imported lazily to avoid a cycle
    data: bytes,
    path: str,
    info: ElfInfo | None = None,
    *,
    guest_path: str | None = None,
    file: Handle | None = None,
) -> ProgramImage:
    """Load an executable as ``execve`` does: the program, then its interpreter if it names one.

    ET_EXEC goes where its headers say; a PIE (ET_DYN with PT_INTERP) at the arch's
    ELF_ET_DYN_BASE; an ET_DYN without an interpreter (static-pie, or ld.so run directly)
    wherever mmap puts it. The interpreter is opened through the guest's own filesystem (so
    from ``--rootfs``) and placed by mmap, and AT_BASE says where. The break starts after the
    program's highest segment.
    """
    info = info or inspect_elf(data, path)
    shown = guest_path or path
    interp = _open_interpreter(machine, info, path) if info.interp is not None else None
    if not info.position_independent:
        bias = 0
    elif info.interp is not None:
        bias = machine.arch.pie_base
    else:
        bias = _chosen_bias(machine, info)
    prog = map_segments(machine, info, data, shown, bias, file)
    page = machine.memory.page_size
    brk = (prog.high + page - 1) & ~(page - 1)
    if info.position_independent and info.interp is None:
        # A loader run directly would have its break in the mmap area, where it soon meets
        # other mappings; Linux moves it to ELF_ET_DYN_BASE, and so does this.
        brk = machine.arch.pie_base
    machine.kernel.mm.set_brk(brk)
    machine.symbols = LazySymbols(info, bias)
    machine.symbol_spans = LazySpans(info, bias)
    phdr = bias + info.phdr_vaddr if info.phdr_vaddr is not None else _phdr_address(info, bias)
    entry, interp_base = prog.entry, 0
    if interp is not None:
        interp_info, interp_data, interp_path, interp_file = interp
        loaded = map_segments(machine, interp_info, interp_data, interp_path, _chosen_bias(machine, interp_info), interp_file)
        entry, interp_base = loaded.entry, loaded.bias
    return ProgramImage(
        entry=entry, program_entry=prog.entry, phdr=phdr, phent=info.phentsize, phnum=info.phnum,
        interp_base=interp_base, brk=brk, symbols=machine.symbols, exec_stack=info.exec_stack,
    )


def _open_interpreter(machine: "Machine", info: ElfInfo, path: str) -> tuple[ElfInfo, bytes, str, Handle]:  # noqa: F821
    """Read and check the interpreter named by PT_INTERP, from the guest's view of the files."""
    from kernel_model.seam import KernelError

    name = info.interp or ""
    try:
        of = machine.kernel.open_file(name)
    except KernelError as e:
        if machine.kernel.config.rootfs is None:
            raise ExecFormatError(
                f"{path}: dynamically linked (interpreter {name}); run it with --rootfs DIR "
                "so the interpreter and libraries can be found"
            ) from None
        raise ExecFormatError(
            f"{path}: its interpreter {name} is not in the rootfs {machine.kernel.config.rootfs} ({e.errno.message})"
        ) from None
    try:
        st = of.handle.stat()
        data = of.handle.pread(st.size, 0)
    except KernelError as e:
        raise ExecFormatError(f"{path}: cannot read its interpreter {name} ({e.errno.message})") from None
    finally:
        of.release()
    interp = inspect_elf(data, f"interpreter {name}")
    if interp.arch is not info.arch:
        raise ExecFormatError(f"{path}: its interpreter {name} is a {interp.arch.name} ELF file, not {info.arch.name}")
    if interp.interp is not None or not interp.position_independent:
        raise ExecFormatError(f"{path}: its interpreter {name} is not a shared object that can load programs")
    return interp, data, of.path, BytesHandle(data, st)


def _phdr_address(info: ElfInfo, bias: int) -> int:
    # Without PT_PHDR: the headers are wherever the segment holding file offset e_phoff maps
    # them; when no segment holds them, Linux still adds the load bias to 0.
    for seg in info.segments:
        if seg.offset <= info.phoff < seg.offset + seg.filesz:
            return bias + seg.vaddr + (info.phoff - seg.offset)
    return bias
