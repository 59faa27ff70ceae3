"""The assembler's defences: input that would make Keystone hang, abort the process or take
the host's memory is refused with one line that says where, and what GAS accepts still works.

Each refused input here was found by tests/robustness/test_fuzz_inputs.py; given to
Keystone, it hangs it for ever, kills the Python process, or allocates gigabytes.
"""

from __future__ import annotations

import pytest

from sandbox import Sandbox, get_arch
from sandbox.assembler import MAX_OUTPUT_BYTES, assemble
from sandbox.errors import AssemblyError

ARCHES = ["x86_64", "aarch64"]
ALL_ARCHES = ["x86_64", "aarch64", "i386", "arm", "riscv64"]

REFUSED = [
    # sizes Keystone would try to make (minutes of work and gigabytes of memory)
    (".skip 0x7fffffff", "bigger than the assembler allows"),
    (".zero -1", "must be a constant that is not negative"),
    (".fill 0x10000000, 8, 1", "bigger than the assembler allows"),
    (".p2align 40", "bigger than the assembler allows"),
    (".balign 0x40000000", "bigger than the assembler allows"),
    ("nop\n.skip 1<<62", "line 2"),
    (".equ N, 1 << 30\n.skip N", "bigger than the assembler allows"),
    ("a: .skip a", "must be a constant"),
    (".skip 8 << 20\n.skip 8 << 20\n.skip 1", "line 3"),
    # statements Keystone loops on
    ("=x", "expected an instruction, a directive or a label"),
    ("1e100", "expected an instruction"),
    ("nop\n-", "line 2"),
    ("mov =    eax, 1", "does not give mov an expression"),
    ("c=_f1!", "does not give c an expression"),
    ("x = 1 +", "does not give x an expression"),
    (".ascii \"unterminated", "unterminated string"),
    (".ascii 'a", ".ascii takes double-quoted strings"),
    (".word '", "a character constant is one character"),
    (".word a\\b", "a backslash outside a string"),
    (".word 0 .text", ".word takes expressions separated by commas"),  # killed the process
    ("nop\n.1: nop", "line 2: '.1' is not a name"),  # hung Keystone
    ("$=m", "'$' is not a name"),  # hung Keystone
    ("$: nop", "'$' is not a name"),  # hung Keystone
    ("$$: nop", "'$$' is not a name"),  # hung Keystone
    (".equ $, 1", "'$' is not a name"),
    (". = 4", "'.' is not a name"),
    (".quad 1, , 2", ".quad takes expressions"),
    ("nop\n.word mo\\v r1, r6", "line 2"),
    # text Keystone cannot read
    ("mov r\u00e9x, 1", "character '\u00e9' outside a string"),
    ("\u00e9: nop", "outside a string"),
]


@pytest.mark.parametrize("arch", ALL_ARCHES)
@pytest.mark.parametrize("text, words", REFUSED, ids=[r[0][:24] for r in REFUSED])
def test_dangerous_input_is_refused_in_one_line(arch, text, words):
    with pytest.raises(AssemblyError) as refused:
        assemble(get_arch(arch), text)
    message = str(refused.value)
    assert words in message and "\n" not in message


def test_the_alignment_of_align_follows_each_arch():
    # x86 .align counts bytes, aarch64's counts powers of two (GAS's meaning on each)
    assert len(assemble(get_arch("x86_64"), "nop; .align 4096; nop").code) == 4097
    assert len(assemble(get_arch("aarch64"), "nop; .align 12; nop").code) == 4100
    for arch in ("aarch64", "arm", "riscv64"):  # GAS's .align is a power of two there
        with pytest.raises(AssemblyError, match="bigger"):
            assemble(get_arch(arch), ".align 30")
        with pytest.raises(AssemblyError, match="bigger"):
            assemble(get_arch(arch), ".align 63\n.align 63\nnop")  # once made Keystone eat gigabytes


@pytest.mark.parametrize("arch", ["x86_64", "aarch64", "i386", "arm"])  # riscv64's built-in assembler has no .fill
def test_constant_sizes_are_understood(arch):
    code = assemble(get_arch(arch), "N = 64\n.equ M, N * 2\n.skip (M + 8) >> 1\n.fill 3, 2, 0x4142\n.byte 'a'").code
    assert code == bytes(68) + b"BA" * 3 + b"a"
    assert len(assemble(get_arch(arch), f".skip {MAX_OUTPUT_BYTES}").code) == MAX_OUTPUT_BYTES


@pytest.mark.parametrize("arch", ARCHES)
def test_strings_keep_escaped_quotes_semicolons_and_utf8(arch):
    sb = Sandbox(arch)
    write = {
        "x86_64": "mov eax, 1; mov edi, 1; lea rsi, [rip+m]; mov edx, 8; syscall; mov eax, 60; xor edi, edi; syscall",
        "aarch64": "mov x8, #64; mov x0, #1; adr x1, m; mov x2, #8; svc #0; mov x8, #93; mov x0, #0; svc #0",
    }[arch]
    r = sb.run_asm(write + '; m: .ascii "a\\"b;c\u00e9\\n"')
    assert r.stdout == 'a"b;c\u00e9\n'.encode()


def test_an_aarch64_instruction_after_data_is_aligned_with_its_label():
    asm = assemble(get_arch("aarch64"), '.ascii "abc"\nl: nop\nm: b l')
    assert asm.symbols == {"l": 0x400004, "m": 0x400008}
    assert asm.code[:4] == b"abc\0" and asm.code[8:] == bytes.fromhex("ffffff17")  # b l, one back
    # a branch after one byte of data: LLVM aborted the process ("fixup not sufficiently aligned")
    r = Sandbox("aarch64").run_asm(".byte 1\n_start: b go\ngo: mov x8, #93\nmov x0, #3\nsvc #0")
    assert r.exit_status == 3


@pytest.mark.parametrize("arch", ["aarch64", "arm"])
def test_a_branch_to_a_label_after_data_is_aligned_and_adr_labels_are_not(arch):
    # LLVM aborted the process on a branch to a label at a misaligned address after data
    # ("fixup not sufficiently aligned"); a label only adr refers to keeps its place.
    branch = {"aarch64": "bl", "arm": "bl"}[arch]
    reg = {"aarch64": "x1", "arm": "r1"}[arch]
    asm = assemble(get_arch(arch), f'adr {reg}, m\n{branch} t\n.ascii "abc"\nm: .ascii "de"\nt: .ascii "f"\n')
    assert asm.symbols["m"] == 0x400000 + 8 + 3
    assert asm.symbols["t"] == 0x400000 + 16


@pytest.mark.parametrize("arch", ["x86_64", "aarch64", "i386", "arm"])
def test_a_nul_character_in_a_string_is_kept_and_refused_elsewhere(arch):
    # Keystone reads C strings: a raw NUL inside a literal cut it short and hung Keystone.
    assert assemble(get_arch(arch), '.ascii "a\0b"\n.byte 1').code == b"a\0b\x01"
    with pytest.raises(AssemblyError, match=r"line 2: character '\\x00' outside a string"):
        assemble(get_arch(arch), "nop\nnop\0")
