"""The ELF loader and the initial stack, with ELF files made here byte by byte."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from kernel_model.seam import PROT_EXEC, PROT_READ, PROT_WRITE
from sandbox import Sandbox
from sandbox.assembler import assemble
from sandbox.arch import get_arch
from sandbox.errors import ExecFormatError
from sandbox.startup import (
    AT_BASE, AT_ENTRY, AT_EXECFN, AT_HWCAP2, AT_NULL, AT_PAGESZ, AT_PHDR, AT_PHNUM, AT_PLATFORM, AT_RANDOM,
)

PT_LOAD, PT_INTERP, PT_GNU_STACK = 1, 3, 0x6474E551
EXIT = {
    "x86_64": "mov eax, 60; mov edi, {status}; syscall",
    "aarch64": "mov x8, #93; mov x0, #{status}; svc #0",
}


def elf(arch_name: str, segments: list[dict], *, entry: int, et_dyn: bool = False, interp: str | None = None,
        exec_stack: bool | None = None) -> bytes:
    """An ELF64 file: ``segments`` are dicts of vaddr, data, memsz, flags (file offset = vaddr % page
    + a page per segment), plus PT_INTERP / PT_GNU_STACK when asked."""
    arch = get_arch(arch_name)
    phdrs = []
    page = 0x1000
    extra = (1 if interp else 0) + (1 if exec_stack is not None else 0)
    header_size = 64 + 56 * (len(segments) + extra)
    offset = page
    placed = []
    for seg in segments:
        offset = (offset + page - 1) & ~(page - 1)
        offset += seg["vaddr"] % page
        placed.append(offset)
        offset += len(seg["data"])
    interp_at = offset
    blob = bytearray(header_size)
    for seg, at in zip(segments, placed):
        blob += bytes(at - len(blob))
        blob += seg["data"]
    if interp:
        blob += bytes(interp_at - len(blob)) + interp.encode() + b"\0"
    for seg, at in zip(segments, placed):
        phdrs.append(struct.pack("<IIQQQQQQ", PT_LOAD, seg["flags"], at, seg["vaddr"], seg["vaddr"],
                                 len(seg["data"]), seg.get("memsz", len(seg["data"])), page))
    if interp:
        phdrs.append(struct.pack("<IIQQQQQQ", PT_INTERP, 4, interp_at, 0, 0, len(interp) + 1, len(interp) + 1, 1))
    if exec_stack is not None:
        phdrs.append(struct.pack("<IIQQQQQQ", PT_GNU_STACK, 6 | (1 if exec_stack else 0), 0, 0, 0, 0, 0, 16))
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 3 if et_dyn else 2, arch.elf_machine, 1, entry, 64, 0, 0, 64, 56,
                               len(phdrs), 64, 0, 0)
    blob[: header_size] = ehdr + b"".join(phdrs)
    return bytes(blob)


def code(arch: str, status: int) -> bytes:
    return assemble(get_arch(arch), EXIT[arch].format(status=status), 0).code


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def auxv(sb: Sandbox) -> list[tuple[int, int]]:
    """The auxiliary vector on the initial stack: after argc, argv[], NULL, envp[], NULL."""
    m = sb.machine

    def word(address: int) -> int:
        return struct.unpack("<Q", m.memory.peek(address, 8))[0]

    sp = m.reg(m.arch.sp)
    pos = sp + 8 * (word(sp) + 2)
    while word(pos):
        pos += 8
    pos += 8
    out = []
    while True:
        key, value = word(pos), word(pos + 8)
        out.append((key, value))
        pos += 16
        if key == AT_NULL:
            return out


def cstr(sb: Sandbox, address: int) -> bytes:
    return sb.machine.memory.read_cstr(address, 256)


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_a_static_pie_goes_where_mmap_would_put_it(arch, tmp_path):
    path = write(tmp_path, "pie", elf(arch, [{"vaddr": 0x1000, "data": code(arch, 7), "flags": 5}], entry=0x1000, et_dyn=True))
    sb = Sandbox(arch)
    machine = sb.load_file(path)
    a = get_arch(arch)
    text = next(v for v in machine.kernel.mm.vmas if v.name == path)
    assert a.mmap_top - 0x100000 < text.start < a.mmap_top  # top-down, like mmap
    assert text.prot == PROT_READ | PROT_EXEC
    assert machine.kernel.mm.brk_start == a.pie_base  # moved out of the mmap area, as Linux does
    assert dict(auxv(sb))[AT_ENTRY] == text.start
    assert sb.run().exit_status == 7


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_a_pie_with_an_interpreter_loads_both(arch, tmp_path):
    rootfs = tmp_path / "rootfs"
    interp = elf(arch, [{"vaddr": 0, "data": code(arch, 42), "flags": 5}], entry=0, et_dyn=True)
    write(rootfs, "lib/ld-test.so.1", interp)
    prog = elf(arch, [{"vaddr": 0x1000, "data": code(arch, 1), "flags": 5}], entry=0x1000, et_dyn=True,
               interp="/lib/ld-test.so.1")
    path = write(tmp_path, "prog", prog)
    sb = Sandbox(arch, rootfs=str(rootfs))
    machine = sb.load_file(path, ["prog"])
    a = get_arch(arch)
    aux = dict(auxv(sb))
    assert aux[AT_ENTRY] == a.pie_base + 0x1000  # the program at ELF_ET_DYN_BASE
    ld = next(v for v in machine.kernel.mm.vmas if v.name == "/lib/ld-test.so.1")
    assert aux[AT_BASE] == ld.start and machine.pc == ld.start  # the interpreter runs first
    assert aux[AT_PHNUM] == 2
    assert sb.run().exit_status == 42  # the interpreter's code ran


def test_the_interpreter_must_suit_the_program(tmp_path):
    rootfs = tmp_path / "rootfs"
    write(rootfs, "lib/ld.so", elf("aarch64", [{"vaddr": 0, "data": code("aarch64", 1), "flags": 5}], entry=0, et_dyn=True))
    prog = write(tmp_path, "prog", elf("x86_64", [{"vaddr": 0x401000, "data": code("x86_64", 1), "flags": 5}],
                                       entry=0x401000, interp="/lib/ld.so"))
    with pytest.raises(ExecFormatError, match="aarch64 ELF file, not x86_64"):
        Sandbox("x86_64", rootfs=str(rootfs)).load_file(prog)


@pytest.mark.parametrize("exec_stack,prot", [(None, PROT_READ | PROT_WRITE), (False, PROT_READ | PROT_WRITE),
                                             (True, PROT_READ | PROT_WRITE | PROT_EXEC)])
def test_pt_gnu_stack_decides_whether_the_stack_is_executable(exec_stack, prot, tmp_path):
    path = write(tmp_path, "p", elf("x86_64", [{"vaddr": 0x401000, "data": code("x86_64", 0), "flags": 5}],
                                    entry=0x401000, exec_stack=exec_stack))
    machine = Sandbox("x86_64").load_file(path)
    assert next(v for v in machine.kernel.mm.vmas if v.name == "[stack]").prot == prot


def test_bss_is_zero_and_the_break_follows_the_highest_segment(tmp_path):
    # A data segment whose file bytes go on past p_filesz: those bytes must not show.
    data = b"D" * 0x10 + b"junk-after-filesz"
    segs = [
        {"vaddr": 0x401000, "data": code("x86_64", 0), "flags": 5},
        {"vaddr": 0x402ff0, "data": data, "memsz": 0x3000, "flags": 6},
    ]
    raw = bytearray(elf("x86_64", segs, entry=0x401000))
    raw[0x40 + 56 + 32 : 0x40 + 56 + 40] = struct.pack("<Q", 0x10)  # second p_filesz: 16 bytes
    path = write(tmp_path, "p", bytes(raw))
    machine = Sandbox("x86_64").load_file(path)
    assert machine.memory.peek(0x402FF0, 0x20) == b"D" * 0x10 + bytes(0x10)
    assert machine.memory.peek(0x405FEF, 1) == b"\0"
    assert machine.kernel.mm.brk_start == 0x406000
    names = [(v.start, v.end, v.name) for v in machine.kernel.mm.vmas if v.start < 0x500000]
    # the file-backed page is named after the file; the rest of the bss is anonymous
    assert names == [(0x401000, 0x402000, path), (0x402000, 0x403000, path), (0x403000, 0x406000, "")]


def test_the_initial_stack_is_laid_out_as_linux_does(tmp_path):
    path = write(tmp_path, "p", elf("aarch64", [{"vaddr": 0x401000, "data": code("aarch64", 0), "flags": 5}],
                                    entry=0x401000))
    sb = Sandbox("aarch64", env={"A": "1", "LONGER": "two"})
    machine = sb.load_file(path, ["./p", "arg"])
    sp = machine.reg("sp")
    assert sp % 16 == 0
    words = struct.unpack("<7Q", machine.memory.peek(sp, 56))
    assert words[0] == 2 and words[3] == 0 and words[6] == 0  # argc, argv[2], NULL, envp[2], NULL
    assert cstr(sb, words[1]) == b"./p" and cstr(sb, words[2]) == b"arg"
    assert [cstr(sb, words[4]), cstr(sb, words[5])] == [b"A=1", b"LONGER=two"]
    aux = auxv(sb)
    keys = [k for k, _ in aux]
    assert keys[:3] == [16, AT_PAGESZ, 17]  # AT_HWCAP, AT_PAGESZ, AT_CLKTCK: the kernel's order
    assert keys[-4:] == [AT_HWCAP2, AT_EXECFN, AT_PLATFORM, AT_NULL]
    values = dict(aux)
    assert values[AT_PAGESZ] == 4096
    assert cstr(sb, values[AT_EXECFN]) == b"./p" and cstr(sb, values[AT_PLATFORM]) == b"aarch64"
    assert len(machine.memory.peek(values[AT_RANDOM], 16)) == 16
    # the strings sit at the top of the stack, argv's then envp's, then the file name
    assert words[1] < words[2] < words[4] < values[AT_EXECFN] < get_arch("aarch64").stack_top
    mm = machine.kernel.mm
    assert machine.memory.peek(mm.arg_start, mm.arg_end - mm.arg_start) == b"./p\0arg\0"


def test_a_truncated_copy_of_a_real_program_is_refused(tmp_path):
    real = (Path(__file__).resolve().parents[1] / "programs" / "bin" / "libc-demo-static.x86_64").read_bytes()
    for size in (10, 63, 200, len(real) // 2):
        path = write(tmp_path, f"cut{size}", real[:size])
        with pytest.raises(ExecFormatError, match="truncated"):
            Sandbox("x86_64").load_file(path)


def test_at_phdr_of_a_real_program_is_where_its_headers_are_mapped():
    from elftools.elf.elffile import ELFFile

    path = Path(__file__).resolve().parents[1] / "programs" / "bin" / "libc-demo-static.aarch64"
    with open(path, "rb") as f:
        phdr_seg = next(s for s in ELFFile(f).iter_segments() if s["p_type"] == "PT_LOAD" and s["p_offset"] == 0)
    sb = Sandbox("aarch64")
    sb.load_file(str(path))
    assert dict(auxv(sb))[AT_PHDR] == phdr_seg["p_vaddr"] + 64
