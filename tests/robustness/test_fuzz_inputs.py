"""Fuzzing what a user (or an attacker) hands the sandbox: ELF files and assembly text.

Inputs are real programs (the test programs, ELF files built from the examples, busybox
when fetched) and the examples' sources, mutated by hypothesis: header fields set to edge
values, bytes flipped, files cut short; lines dropped, repeated, swapped, or replaced by
dangerous directives and odd characters. Every input must either run, within limits so that
it ends, or be refused with one clear line (a SandboxError), and never raise anything else,
hang, or crash the process (Keystone segfaults on some directives; sandbox/assembler.py
refuses those up front, and this fuzzes that defence).

CI runs a bounded number of inputs; a long campaign is

    SANDBOX_FUZZ_INPUTS=5000 python -m pytest tests/robustness/test_fuzz_inputs.py -s

which prints how many inputs each target tried and how they ended.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox import Sandbox, SandboxError, get_arch
from sandbox.assembler import assemble
from sandbox.elfwriter import build_elf
from sandbox.program import read_program

INPUTS = int(os.environ.get("SANDBOX_FUZZ_INPUTS", "300"))
# The bounded run (CI's) tries the same inputs every time, so that it passes or fails the
# same way on every machine; a campaign (SANDBOX_FUZZ_INPUTS set) explores new ones each run.
DERANDOMIZE = "SANDBOX_FUZZ_INPUTS" not in os.environ
ROOT = Path(__file__).resolve().parents[2]
# Enough for any seed program to get going, small enough that nothing runs for long.
LIMITS = dict(timeout=2.0, max_insns=1_000_000, max_memory=256 << 20, max_fds=64, max_output=64 << 10)
ROOTFS = {"x86_64": "/", "aarch64": "/usr/aarch64-linux-gnu"}
OUTCOMES: dict[str, Counter[str]] = {"elf": Counter(), "asm": Counter()}
# The last test reports what the others did in this process: under pytest-xdist they must
# all run on one worker, in file order (the project's configuration distributes by file).


def _elf_seeds() -> list[tuple[str, bytes, list[str]]]:
    seeds = []
    for path in sorted((ROOT / "tests" / "programs" / "bin").iterdir()):
        argv = ["demo", "args", "x"] if path.name.startswith("libc-demo") else [path.name]
        seeds.append((path.name, path.read_bytes(), argv))
    for source in sorted((ROOT / "examples").glob("*/*.s")):
        prog = read_program(str(source))
        seeds.append((source.name, build_elf(prog.arch, assemble(prog.arch, prog.text)), [source.stem]))
    for arch in ("x86_64", "aarch64"):
        busybox = ROOT / ".cache" / "busybox" / f"busybox.{arch}"
        if busybox.is_file():
            seeds.append((busybox.name, busybox.read_bytes(), ["true"]))
    return seeds


ELF_SEEDS = _elf_seeds()
ASM_SEEDS = [(p.name, p.read_text()) for p in sorted((ROOT / "examples").glob("*/*.s"))]

# Where the fields of an ELF64 header, program header and section header are: (offset, size).
EHDR_FIELDS = [(4, 1), (5, 1), (16, 2), (18, 2), (24, 8), (32, 8), (40, 8), (52, 2), (54, 2), (56, 2), (58, 2), (60, 2), (62, 2)]
PHDR_FIELDS = [(0, 4), (4, 4), (8, 8), (16, 8), (32, 8), (40, 8), (48, 8)]
SHDR_FIELDS = [(4, 4), (24, 8), (32, 8), (40, 4), (44, 4), (56, 8)]
EDGES = [0, 1, 2, 3, 7, 0x38, 0x40, 0xFFF, 0x1000, 0x1001, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 32, 1 << 47,
         (1 << 47) - 0x1000, 1 << 63, (1 << 64) - 1, (1 << 64) - 0x1000]

_elf_mutation = st.one_of(
    st.tuples(st.just("ehdr"), st.sampled_from(EHDR_FIELDS), st.sampled_from(EDGES) | st.integers(0, (1 << 64) - 1)),
    st.tuples(st.just("phdr"), st.integers(0, 12), st.sampled_from(PHDR_FIELDS), st.sampled_from(EDGES) | st.integers(0, 1 << 40)),
    st.tuples(st.just("shdr"), st.integers(0, 40), st.sampled_from(SHDR_FIELDS), st.sampled_from(EDGES) | st.integers(0, 1 << 40)),
    st.tuples(st.just("byte"), st.integers(0, 8191), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 1 << 16)),
    st.tuples(st.just("insert"), st.integers(0, 8191), st.binary(min_size=1, max_size=64)),
)


def mutate_elf(data: bytes, mutations: list[tuple]) -> bytes:
    """``data`` with each mutation applied (positions past the end are left alone)."""
    out = bytearray(data)
    for m in mutations:
        if m[0] == "ehdr":
            (offset, size), value = m[1], m[2]
            _put(out, offset, size, value)
        elif m[0] in ("phdr", "shdr"):
            index, (offset, size), value = m[1], m[2], m[3]
            table, entry = (32, 56) if m[0] == "phdr" else (40, 64)
            if len(out) >= table + 8:
                base = int.from_bytes(out[table : table + 8], "little") + index * entry
                _put(out, base + offset, size, value)
        elif m[0] == "byte":
            if m[1] < len(out):
                out[m[1]] = m[2]
        elif m[0] == "cut":
            del out[m[1]:]
        else:
            out[m[1]:m[1]] = m[2]
    return bytes(out)


def _put(out: bytearray, offset: int, size: int, value: int) -> None:
    if 0 <= offset and offset + size <= len(out):
        out[offset : offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def run_or_refuse(target: str, run) -> None:  # type: ignore[no-untyped-def]
    """Call ``run``: it returns a RunResult, or raises a one-line SandboxError; count which."""
    try:
        result = run()
    except SandboxError as e:
        message = str(e)
        assert message and "\n" not in message, repr(message)
        OUTCOMES[target][f"refused ({type(e).__name__})"] += 1
        return
    assert 0 <= result.exit_status <= 255
    if result.fault is not None:
        assert "\n" not in result.fault.line()
    OUTCOMES[target][f"ran, {result.limit or result.signal or 'exited'}"] += 1


def _settings(n: int):  # type: ignore[no-untyped-def]
    return settings(
        max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE
    )


@_settings(INPUTS)
@given(seed=st.sampled_from(ELF_SEEDS), mutations=st.lists(_elf_mutation, min_size=1, max_size=6))
def test_mutated_elf_files_run_or_are_refused_in_one_line(seed, mutations, tmp_path_factory):
    name, data, argv = seed
    path = tmp_path_factory.getbasetemp() / f"fuzz-{name.removesuffix('.s')}"
    path.write_bytes(mutate_elf(data, mutations))

    def run():  # type: ignore[no-untyped-def]
        prog = read_program(str(path))
        rootfs = ROOTFS[prog.arch.name] if prog.elf is not None and prog.elf.interp else None
        if rootfs is not None and not os.path.isdir(rootfs):
            rootfs = None
        sb = Sandbox(prog.arch, seed=0, virtual_time=True, rootfs=rootfs, **LIMITS)
        return sb.run_file(str(path), argv)

    run_or_refuse("elf", run)


# -- assembly text -------------------------------------------------------------------------

DANGEROUS_LINES = [
    ".text", ".data", ".section .rodata", ".section .data, \"aw\"", ".org 0x100000", ".incbin \"/etc/passwd\"",
    ".rept 1000000", ".endr", ".macro m", ".endm", ".if 1", ".endif", ".include \"x.s\"", ".code32", ".code16",
    ".arch armv8-a", ".skip 0x7fffffff", ".zero -1", ".fill 0x10000000, 8, 1", ".p2align 62", ".align 63",
    ".balign 0x40000000", ".skip N", "N = 1 << 40", ".equ N, -1", ".skip (1 << 20) * (1 << 20)", ".quad 1 << 64",
    ".byte 256", ".ascii \"\\777\"", ".asciz \"unterminated", ".string", ".word", ".quad", ".set", "=",
    "label:", "label: label:", "1:", "1b", "jmp 1b", "b 1f", ".L0:", "$x: nop", "a::", "_start:", "x = x",
    "mov rax, [rip + label]", "adr x0, label", "ldr x0, =label", "ldr x0, =0x123456789abcdef", "nop; nop; nop",
    "svc #0", "syscall", "int 0x80", "hlt", "ud2", ".word 0", "brk #0", "mov x0, #0x10000", "add x0, x0, #4096",
    "/* unterminated comment", "*/", "# comment", "// comment", "; ;", "\"", "'", "\\", "\t", "\x00", "é", "\U0001F600",
    "a" * 300, "mov " + "x0, " * 50 + "x0", ".byte " + ", ".join(["1"] * 200),
    # each of these once hung Keystone or killed the process (see tests/stubs/test_assembler_defences.py)
    "=x", "1e100", ":16ef", "mov =    eax, 1", "c=_f1!", ".word '", ".ascii 'a", ".byte 1\nb l\nl: nop",
    ".ascii \"a\\\"b\"", "x = 1 +", "\u00e9: nop", ".word a\\b", ".word 1\\2", ".word 0 .text", ".byte 1 nop", ".1: nop", ".2:balign 4", ".ascii \"a\x00b\"", "$=m", "$: nop", "$$: nop",
]
_line = st.sampled_from(DANGEROUS_LINES) | st.text(
    st.sampled_from(list("abcdefmovxrs0123456789 ,.:;#[]+-*/=\"'\\$%!@_\t") + ["\x00", "é", "\n"]), max_size=40
)
_asm_mutation = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 200)),
    st.tuples(st.just("repeat"), st.integers(0, 200), st.integers(1, 4)),
    st.tuples(st.just("swap"), st.integers(0, 200), st.integers(0, 200)),
    st.tuples(st.just("insert"), st.integers(0, 200), _line),
    st.tuples(st.just("chars"), st.integers(0, 200), st.integers(0, 80), _line),
)


def mutate_asm(text: str, mutations: list[tuple]) -> str:
    """``text`` with line-level and character-level mutations applied."""
    lines = text.splitlines()
    for m in mutations:
        n = len(lines)
        if m[0] == "delete" and n:
            del lines[m[1] % n]
        elif m[0] == "repeat" and n:
            lines[m[1] % n:m[1] % n] = [lines[m[1] % n]] * m[2]
        elif m[0] == "swap" and n:
            i, j = m[1] % n, m[2] % n
            lines[i], lines[j] = lines[j], lines[i]
        elif m[0] == "insert":
            lines.insert(m[1] % (n + 1), m[2])
        elif m[0] == "chars" and n:
            line = lines[m[1] % n]
            cut = m[2] % (len(line) + 1)
            lines[m[1] % n] = line[:cut] + m[3] + line[cut:]
    return "\n".join(lines)


@_settings(INPUTS * 2)
@given(seed=st.sampled_from(ASM_SEEDS), mutations=st.lists(_asm_mutation, min_size=1, max_size=6))
def test_mutated_assembly_runs_or_is_refused_in_one_line(seed, mutations):
    name, text = seed
    arch = get_arch(name.split(".")[-2])
    source = mutate_asm(text, mutations)
    run_or_refuse("asm", lambda: Sandbox(arch, seed=0, virtual_time=True, **LIMITS).run_asm(source))


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
@pytest.mark.parametrize("line", DANGEROUS_LINES)
def test_each_dangerous_line_alone_is_run_or_refused(arch, line):
    run_or_refuse("asm", lambda: Sandbox(arch, seed=0, virtual_time=True, **LIMITS).run_asm(line))


def test_mutations_do_what_they_say():
    data = bytes(range(256)) * 32
    assert mutate_elf(data, [("cut", 10)]) == data[:10]
    assert mutate_elf(data, [("ehdr", (24, 8), 0x1122)])[24:32] == struct.pack("<Q", 0x1122)
    assert mutate_asm("a\nb\nc", [("swap", 0, 2), ("delete", 1)]) == "c\na"


def test_report_how_many_inputs_were_tried():
    # Runs last in this module (pytest keeps file order): the counts of what happened.
    total = {target: sum(c.values()) for target, c in OUTCOMES.items()}
    print(f"\nfuzz: {total['elf']} ELF inputs {dict(OUTCOMES['elf'])}")
    print(f"fuzz: {total['asm']} assembly inputs {dict(OUTCOMES['asm'])}")
    assert total["elf"] > 0 and total["asm"] > 0
