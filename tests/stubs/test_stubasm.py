"""The built-in assembler: the same bytes as Keystone and GNU as, checked by Capstone and by running."""

from __future__ import annotations

import shutil
import subprocess

import capstone
import pytest
import unicorn
from hypothesis import given, settings
from hypothesis import strategies as st
from unicorn import riscv_const

from sandbox import ARCHES, Sandbox, get_arch
from sandbox.arch.riscv_encoder import li_sequence
from sandbox.assembler import assemble
from sandbox.errors import AssemblyError
from sandbox.stubasm import assemble as builtin_assemble
from sandbox.stubasm import evaluate, parse_string
from sandbox.stubs import syscall_stub

KEYSTONE_ARCHES = [a for a in ARCHES if a != "riscv64"]
words = st.integers(min_value=0, max_value=(1 << 64) - 1)


def _stub_text(arch_name: str, values: list[int]) -> str:
    arch = get_arch(arch_name)
    stub = syscall_stub(arch, "openat", (values[0], b"/tmp/x\n", values[1], bytearray(7), values[2]))
    store = arch.stub_store(arch.ret_reg, "result")
    pointer = f"\nresult_addr: {arch.stub_pointer('result')}" if arch.stub_pointer else ""
    return stub.text.replace("stub_end:", store + "\nstub_end:") + pointer + "\nresult: .quad 0\n"


@pytest.mark.parametrize("arch", KEYSTONE_ARCHES)
@settings(max_examples=25, deadline=None)
@given(values=st.lists(words, min_size=3, max_size=3))
def test_stub_forms_assemble_to_keystones_bytes(arch, values):
    a = get_arch(arch)
    if a.ks_arch is None:
        pytest.skip("Keystone is not installed")
    text = _stub_text(arch, values)
    ours = builtin_assemble(a, text, a.code_base)
    theirs = assemble(a, text, a.code_base)
    assert ours.code == theirs.code
    assert ours.symbols == theirs.symbols


@pytest.mark.parametrize("arch", list(ARCHES))
def test_stub_forms_disassemble_to_what_was_written(arch):
    a = get_arch(arch)
    text = _stub_text(arch, [0x1234, 0xFFFFFFFFFFFFFF9C & a.word_mask, 7])
    code = builtin_assemble(a, text, a.code_base)
    end = code.symbols["stub_end"] - a.code_base
    cs = capstone.Cs(a.cs_arch, a.cs_mode)
    listing = [f"{i.mnemonic} {i.op_str}".strip() for i in cs.disasm(code.code[:end], a.code_base)]
    assert len(listing) >= 5
    assert listing.count(a.trap.mnemonic) == 2  # the call and exit(0)
    assert len(b"".join(bytes(i.bytes) for i in cs.disasm(code.code[:end], a.code_base))) == end


@pytest.mark.parametrize("arch", list(ARCHES))
def test_stubs_assemble_anywhere_in_the_address_space(arch):
    a = get_arch(arch)
    text = _stub_text(arch, [1, 2, 3])
    high = a.mmap_top - 0x10000
    low, far = builtin_assemble(a, text, a.code_base), builtin_assemble(a, text, high)
    assert len(low.code) == len(far.code)
    assert far.symbols["result"] - high == low.symbols["result"] - a.code_base


# GNU as's riscv64 output for each line, as Capstone shows it (branches relative to the pc).
RISCV = [
    ("addi a0, a0, 1", "addi a0, a0, 1"),
    ("li a0, 1", "addi a0, zero, 1"),
    ("mv a1, a0", "mv a1, a0"),
    ("add a0, a0, a1", "add a0, a0, a1"),
    ("sub t0, t1, t2", "sub t0, t1, t2"),
    ("mul a0, a1, a2", "mul a0, a1, a2"),
    ("divu s1, s2, s3", "divu s1, s2, s3"),
    ("addw a0, a1, a2", "addw a0, a1, a2"),
    ("slli a0, a0, 63", "slli a0, a0, 0x3f"),
    ("srai a0, a0, 3", "srai a0, a0, 3"),
    ("ld a0, 8(sp)", "ld a0, 8(sp)"),
    ("sd ra, -8(sp)", "sd ra, -8(sp)"),
    ("lbu t0, 0(a1)", "lbu t0, 0(a1)"),
    ("sb t0, 1(a1)", "sb t0, 1(a1)"),
    ("ecall", "ecall"),
    ("ret", "ret"),
    ("nop", "nop"),
    ("lui t0, 1", "lui t0, 1"),
    ("jalr t0, 4(a1)", "jalr t0, a1, 4"),
]


@pytest.mark.parametrize("line,expected", RISCV)
def test_riscv_instructions_disassemble_as_written(line, expected):
    a = get_arch("riscv64")
    code = builtin_assemble(a, line, 0x1000).code
    insn = next(capstone.Cs(a.cs_arch, capstone.CS_MODE_RISCV64).disasm(code, 0x1000))
    assert f"{insn.mnemonic} {insn.op_str}".strip() == expected
    assert len(code) == 4


RISCV_PROGRAM = """
_start:
  li a0, 1
  li a1, -2048
  li a2, 0x12345678
  li a3, 0xffffffffffffff9c
  li a4, 0x123456789abcdef0
  li a5, 0x80000000
  li a6, 0x12345000
  la a1, msg
  lla t0, msg
  call fn
  tail fn
  beqz a0, _start
  bnez a0, _start
  bgt a0, a1, fn
  bleu a0, a1, fn
  blez a0, fn
  j _start
  jal fn
  ld a0, 8(sp)
  sd a0, -8(sp)
  lw t1, msg
  sw t1, msg, t2
  mv a0, a1
  not a0, a1
  neg a0, a1
  negw a0, a1
  sext.w a0, a1
  seqz a0, a1
  snez a0, a1
  sltz a0, a1
  sgtz a0, a1
  ret
  jr a0
  jalr a1
  jalr t0, 4(a1)
  mulw a0, a1, a2
  remu a0, a1, a2
  sraiw a0, a1, 3
  srai a0, a1, 63
  lui a0, %hi(msg)
  addi a0, a0, %lo(msg)
  ecall
  ebreak
  fence
fn: nop
msg: .ascii "hi\\n"
.balign 8
"""


@pytest.mark.skipif(shutil.which("riscv64-linux-gnu-as") is None, reason="GNU as for riscv64 is not installed")
def test_riscv_program_matches_gnu_as_byte_for_byte(tmp_path):
    src = tmp_path / "p.s"
    src.write_text(".option norelax\n.option nopic\n" + RISCV_PROGRAM)
    run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True, cwd=tmp_path)  # noqa: E731
    run("riscv64-linux-gnu-as", "-march=rv64im", "-o", "p.o", "p.s")
    run("riscv64-linux-gnu-ld", "-Ttext=0x400000", "--no-relax", "-e", "_start", "-o", "p.elf", "p.o")
    run("riscv64-linux-gnu-objcopy", "-O", "binary", "-j", ".text", "p.elf", "p.bin")
    gnu = (tmp_path / "p.bin").read_bytes()
    ours = builtin_assemble(get_arch("riscv64"), src.read_text(), 0x400000).code
    assert ours == gnu


@settings(max_examples=300, deadline=None)
@given(value=words)
def test_riscv_li_loads_any_64_bit_value(value):
    a = get_arch("riscv64")
    code = builtin_assemble(a, f"li a0, {value:#x}", 0x1000).code
    assert len(code) // 4 == len(li_sequence(value)) <= 8
    uc = unicorn.Uc(unicorn.UC_ARCH_RISCV, unicorn.UC_MODE_RISCV64)
    uc.mem_map(0x1000, 0x1000)
    uc.mem_write(0x1000, code)
    uc.reg_write(riscv_const.UC_RISCV_REG_A0, 0x5A5A)
    uc.emu_start(0x1000, 0x1000 + len(code))
    assert uc.reg_read(riscv_const.UC_RISCV_REG_A0) == value


def test_riscv64_examples_and_stubs_need_no_keystone():
    sb = Sandbox("riscv64")
    r = sb.run_asm("la a1, msg; li a0, 1; li a2, 3; li a7, 64; ecall; li a0, 0; li a7, 93; ecall; msg: .ascii \"ok\\n\"")
    assert (r.exit_status, r.stdout) == (0, b"ok\n")


def test_expressions_and_strings():
    syms = {"a": 0x1000, "b": 0x1010}
    assert evaluate("b - a + 2 * (3 << 1)", syms) == 0x1C
    assert evaluate("~0 & 0xff", syms) == 0xFF
    assert evaluate("-7 / 2", syms) == -3 and evaluate("010", syms) == 8 and evaluate("'A'", syms) == 65
    assert parse_string(r'"a\n\t\x41\101\\\""') == b'a\n\tAA\\"'


def test_data_directives_and_alignment():
    a = get_arch("riscv64")
    code = builtin_assemble(a, "nop; .byte 1, 2; .balign 4; .hword 0x1234; .word 0x11223344; .quad end\n"
                               ".asciz \"x\"; .skip 2, 0xff; end:", 0x1000)
    assert code.code[4:8] == b"\x01\x02\x00\x00"
    assert code.code[8:14] == b"\x34\x12\x44\x33\x22\x11"
    assert int.from_bytes(code.code[14:22], "little") == code.symbols["end"] == 0x1000 + 26
    assert code.code[22:26] == b"x\x00\xff\xff"


@pytest.mark.parametrize(
    "arch,text,message",
    [
        ("riscv64", "addi a0, a0, 5000", "does not fit a 12-bit"),
        ("riscv64", "j nowhere", "undefined symbol 'nowhere'"),
        ("riscv64", "frobnicate a0", "'frobnicate' is not an instruction the built-in riscv64 assembler knows"),
        ("riscv64", "addi a0, a9, 1", "'a9' is not a riscv64 register"),
        ("riscv64", "beqz a0, far; .skip 8192; far: nop", "out of reach"),
        ("riscv64", "li a0, later; later: nop", "must be defined before"),
        ("x86_64", "push rax", "'push' is not an instruction the built-in x86_64 assembler knows"),
        ("arm", "movw r0, #0x12345", "does not fit a 16-bit immediate"),
    ],
)
def test_errors_name_the_line_and_the_problem(arch, text, message):
    with pytest.raises(AssemblyError, match=message):
        builtin_assemble(get_arch(arch), text)


def test_builtin_assembler_line_numbers():
    with pytest.raises(AssemblyError, match="line 3"):
        builtin_assemble(get_arch("riscv64"), "nop\nnop\naddi a0, a0, 99999\n")
