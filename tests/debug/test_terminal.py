"""``sandbox debug``'s commands, driven in this process: what each shows must agree with the
others and with what gdb shows on Linux (issue 17: "the debugger's small lies")."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.arch import ARCHES, get_arch
from sandbox.debug.expressions import SymbolTable
from sandbox.debug.terminal import TerminalDebugger

ROOT = Path(__file__).resolve().parents[2]
# arm and i386 assembly text needs Keystone (the built-in assembler knows only stubs there)
KEYSTONE = get_arch("arm").ks_arch is not None


def needs_assembler(arch: str) -> None:
    if arch in ("arm", "i386") and not KEYSTONE:
        pytest.skip("Keystone is not installed")


class Session:
    """A terminal debugger on a loaded program, its transcript captured."""

    def __init__(self, sb: Sandbox) -> None:
        self.out, self.err = io.StringIO(), io.StringIO()
        self.term = TerminalDebugger(sb, out=self.out, err=self.err)
        self.sb = sb

    def __call__(self, command: str) -> str:
        """What one command printed (stdout), failing on any error line."""
        start = self.out.tell()
        self.term.execute(command)
        assert self.err.getvalue() == "", self.err.getvalue()
        self.out.seek(start)
        text = self.out.read()
        self.out.seek(0, io.SEEK_END)
        return text

    def error(self, command: str) -> str:
        """The one error line a command printed."""
        before = len(self.err.getvalue())
        self.term.execute(command)
        err = self.err.getvalue()[before:]
        assert err.count("\n") == 1 and err.startswith("error: "), err
        return err[len("error: "):].strip()


def debug_file(path: str | Path, arch: str) -> Session:
    sb = Sandbox(arch)
    sb.load_file(str(path))
    return Session(sb)


def hello(arch: str) -> Session:
    needs_assembler(arch)
    return debug_file(ROOT / f"examples/hello/hello.{arch}.s", arch)


def marked(text: str) -> list[int]:
    """The addresses a listing marks with ``=>``."""
    return [int(m.group(1), 16) for m in re.finditer(r"^=> (0x[0-9a-f]+)", text, re.M)]


# -- 2. one pc at a syscall-entry stop ----------------------------------------------------------


@pytest.mark.parametrize("arch", list(ARCHES))
def test_at_a_syscall_entry_every_view_shows_the_pc_after_the_trap(arch):
    s = hello(arch)
    s("catch syscall write")
    stop = s("c")
    m = s.sb.machine
    trap = m.pending.pc
    pc = trap + get_arch(arch).trap.length  # what Linux reports to ptrace, and gdb shows
    assert m.pc == pc
    assert stop.startswith(f"Entering system call write (catchpoint 1), at {pc:#x} ")
    assert f"after the {get_arch(arch).trap.mnemonic} at {trap:#x}" in stop.splitlines()[0]
    listing = stop.splitlines()[1:5]
    assert listing[0].split()[0] == f"{trap:#x}" and marked("\n".join(listing)) == [pc]  # the trap, then =>
    assert marked(s("disas")) == [pc]
    assert s("where").startswith(f"pc {pc:#x} ")
    assert s("p $pc").startswith(f"{pc:#x} ")
    pc_reg = get_arch(arch).pc
    (reg_line,) = [line for line in s("info registers").splitlines() if line.split()[0] == pc_reg]
    assert int(reg_line.split()[1], 16) == pc
    assert s("x/2i $pc").startswith(f"{pc:#x}")
    assert s.sb.cont().pc == pc  # the return stop: the same pc


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_the_api_event_pc_is_the_register(arch):
    sb = Sandbox(arch)
    sb.load_file(str(ROOT / f"examples/hello/hello.{arch}.s"))
    sb.record()
    sb.catch_syscall("write")
    event = sb.cont()
    assert event.pc == sb.reg("pc") == event.syscall.pc + get_arch(arch).trap.length
    sb.cont()
    back = sb.reverse_continue()  # back to the entry: the same answer going backwards
    assert back.reason == "syscall-entry" and back.pc == sb.reg("pc") == event.pc


# -- 3. a symbol names only the addresses it covers ---------------------------------------------


@pytest.mark.parametrize("arch", ["x86_64", "aarch64", "riscv64"])
def test_a_stack_address_is_not_named_after_a_label(arch):
    s = hello(arch)
    sp = s.sb.reg("sp")
    line = s("x/4x $sp").splitlines()[0]
    assert line.startswith(f"{sp:#x}:"), line
    assert s("p $sp").strip() == f"{sp:#x} ({sp})"
    code = s.sb.machine.symbols["msg"]
    assert s(f"x/1xb {code + 4}").startswith(f"{code + 4:#x} <msg+4>:")


def test_past_the_end_of_the_code_no_label_is_named():
    s = hello("x86_64")
    end = s.sb.machine.symbols["msg"] + len("Hello world\n")  # the code's last byte is msg's last
    assert s(f"x/1xb {end - 1}").startswith(f"{end - 1:#x} <msg+11>:")
    assert s(f"x/1xb {end}").startswith(f"{end:#x}:")


def test_symbol_spans_size_or_section_then_mapping():
    regions = {0x1000: (0x1000, 0x2000)}
    table = SymbolTable(
        {"func": 0x1000, "sized": 0x1100, "gap_after": 0x1200, "loose": 0x5000},
        spans={"func": (0x1000, 0x1010), "sized": (0x1100, 0x1108), "gap_after": (0x1000, 0x2000)},
        region=lambda address: regions.get(address & ~0xFFF),
    )
    assert table.symbolize(0x100F) == "func+15" and table.symbolize(0x1010) == ""  # its size
    assert table.symbolize(0x1108) == "" and table.symbolize(0x1107) == "sized+7"
    assert table.symbolize(0x1FFF) == "gap_after+3583" and table.symbolize(0x2000) == ""  # its section
    assert table.symbolize(0x5000) == "loose" and table.symbolize(0x5001) == ""  # no mapping known there
    assert table.symbolize(0xFFF) == ""


def test_an_elf_symbol_is_bounded_by_its_section(tmp_path):
    from sandbox.assembler import assemble
    from sandbox.debug.symbolfile import elf_with_symbols

    arch = get_arch("x86_64")
    program = assemble(arch, (ROOT / "examples/hello/hello.x86_64.s").read_text())
    elf = tmp_path / "hello-with-symbols"
    elf.write_bytes(elf_with_symbols(arch, program))
    s = debug_file(elf, "x86_64")
    end = program.base + len(program.code)
    assert s(f"x/1xb {end - 1}").startswith(f"{end - 1:#x} <msg+11>:")
    assert s(f"x/1xb {end}").startswith(f"{end:#x}:")
    sp = s.sb.reg("sp")
    assert s("x/2x $sp").startswith(f"{sp:#x}:")


# -- 10. p/FMT, info frame, info fds after the end, labels, decimal counts ------------------------


@pytest.mark.parametrize("command, expected", [
    ("p/x $x0", "0x1"), ("p/d $x0", "1"), ("p/x 255", "0xff"), ("p/d -1", "-1"), ("p/x -1", "0xffffffffffffffff"),
    ("p/u -1", str((1 << 64) - 1)), ("p/o 8", "010"), ("p/t 5", "101"), ("p/c 65", "65 'A'"),
    ("p/z 1", "0x0000000000000001"), ("p/a msg", "0x400020 <msg>"),
])
def test_print_takes_gdbs_formats(command, expected):
    s = hello("aarch64")
    s("catch syscall write")
    s("c")
    assert s(command).strip() == expected


def test_an_unknown_print_format_is_one_line():
    s = hello("x86_64")
    assert "unknown print format 'q'" in s.error("p/q $rax")


def test_info_frame_shows_the_innermost_frame():
    s = hello("x86_64")
    s("catch syscall write")
    s("c")
    text = s("info frame")
    sp = s.sb.reg("sp")
    assert text.startswith(f"Stack level 0: pc 0x400018 <_start+24>, sp {sp:#x}")
    assert "in the system call write" in text and "not known" in text


@pytest.mark.parametrize("command", ["info what", "info"])
def test_a_bad_info_names_every_info_command(command):
    s = hello("x86_64")
    line = s.error(command)
    for what in ("registers", "breakpoints", "frame", "fds", "maps", "syscalls", "symbol"):
        assert what in line, line


def test_info_fds_after_the_exit_lists_none():
    s = hello("x86_64")
    assert " 1  w" in s("info fds")
    s("c")
    assert s.sb.machine.exit is not None
    text = s("info fds")
    assert "/dev/fd" not in text and "no open descriptors" in text


def test_a_label_at_starts_address_does_not_hide_start(tmp_path):
    path = tmp_path / "labels.x86_64.s"
    path.write_text("_start:\nl:\n    mov eax, 60\n    xor edi, edi\n    syscall\n")
    s = debug_file(path, "x86_64")
    assert s("where").startswith("pc 0x400000 <_start>;")
    assert s("p $pc").strip() == "0x400000 (4194304) <_start>"
    assert "<_start+5>" in s("disas") and "<l" not in s("disas")
    assert s("info symbol 0x400005").strip() == "_start + 5"


def test_system_calls_are_listed_in_decimal_with_addresses_in_hex():
    s = hello("x86_64")
    s("c")
    (line,) = [t for t in s("info syscalls").splitlines() if "write(" in t]
    assert line.endswith("write(fd=1, buf=0x400021, count=12) = 12"), line
    assert s("where").endswith("last system call: exit(status=0) = ?\n")
