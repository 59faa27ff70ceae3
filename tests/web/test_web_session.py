"""The browser view's model, without a browser: controls, the call card, registers, memory,
the trace, the comparison of two arches, and source lines."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.arch import ARCHES, get_arch
from sandbox.web.session import ProgramView, Session
from sandbox.web.sourcemap import assembly_source_map, dwarf_source_map

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def view(arch: str, example: str = "hello", argv: list[str] | None = None, **kw) -> ProgramView:
    path = str(EXAMPLES / example / f"{example}.{arch}.s")
    return ProgramView(Sandbox(arch), path, argv or [path], **kw)


def pane(session: Session, i: int = 0) -> dict:
    return session.state()["panes"][i]


def register(state: dict, name: str) -> dict:
    return next(r for r in state["registers"] if r["name"] == name)


def args_of(card: dict) -> dict[str, dict]:
    return {a["name"]: a for a in card["args"]}


def test_stepping_to_the_write_shows_its_card_then_its_result_and_back():
    s = Session([view("aarch64")])
    for _ in range(4):
        s.perform("step")
    st = pane(s)
    card = st["card"]
    assert card["phase"] == "trap"
    assert card["number_line"] == "x8 = 64 (write)"
    assert card["decl"] == "ssize_t write(int fd, const void *buf, size_t count)"
    args = args_of(card)
    assert (args["fd"]["reg"], args["fd"]["text"]) == ("x0", "1")
    assert args["buf"]["reg"] == "x1" and args["buf"]["text"] == '"Hello world\\n"'
    assert args["buf"]["pointer"] == "0x400020" and args["buf"]["size"] == 12
    assert (args["count"]["reg"], args["count"]["text"]) == ("x2", "12")
    assert card["result"] is None
    # the registers carry the prototype's names while the call is at hand
    assert {r["label"] for r in register(st, "x0")["roles"]} == {"fd", "result"}
    assert register(st, "x1")["roles"][0]["label"] == "buf"
    assert register(st, "x8")["roles"][0]["role"] == "number"
    assert register(st, "x2")["changed"]  # the last step was mov x2, #12
    # the memory panel follows the buffer: its 12 bytes are marked
    memory = st["memory"]
    row = next(r for r in memory["rows"] if r["address"] == "0x400020")
    assert row["text"].startswith("Hello world") and row["focus"] == list(range(12))

    s.perform("step")  # the svc: served
    st = pane(s)
    assert st["card"]["phase"] == "return"
    assert st["card"]["result"]["value"] == 12 and st["card"]["result"]["errno"] is None
    assert register(st, "x0")["changed"] and register(st, "x0")["decimal"] == "12"
    assert st["stdout"]["text"] == "Hello world\n"
    assert st["trace"]["lines"] == ['write(1, "Hello world\\n", 12)           = 12']

    s.perform("reverse-step")
    st = pane(s)
    assert st["status"]["reverse"] and st["status"]["pc"] == "0x400010"
    assert register(st, "x0")["decimal"] == "1" and register(st, "x0")["changed"]
    assert st["stdout"]["text"] == "" and st["trace"]["total"] == 0
    assert st["card"]["phase"] == "trap"

    s.perform("continue")
    st = pane(s)
    assert st["status"]["ended"] and st["status"]["exit_status"] == 0
    assert st["status"]["text"] == "exited with status 0"
    assert st["stdout"]["text"] == "Hello world\n"
    assert st["trace"]["lines"][-1].startswith("exit(0)")
    assert st["trace"]["ending"] == "+++ exited with 0 +++"
    s.perform("step")  # nothing left to run: still the end
    assert pane(s)["status"]["ended"]


def test_x86_64_card_names_its_registers_and_what_syscall_clobbers():
    s = Session([view("x86_64")])
    s.perform("syscall")
    st = pane(s)
    card = st["card"]
    assert card["phase"] == "entry" and card["number_line"] == "rax = 1 (write)"
    assert [(a["reg"], a["name"]) for a in card["args"]] == [("rdi", "fd"), ("rsi", "buf"), ("rdx", "count")]
    assert [c["register"] for c in card["clobbers"]] == ["rcx", "r11"]
    # the convention's registers come first, in argument order
    named = sorted((r for r in st["registers"] if r["roles"]), key=lambda r: r["order"])
    assert [r["name"] for r in named][:7] == ["rax", "rdi", "rsi", "rdx", "r10", "r8", "r9"]
    s.perform("syscall")  # to its return
    st = pane(s)
    assert st["card"]["phase"] == "return" and st["card"]["result"]["value"] == 12
    assert register(st, "rcx")["changed"] and int(register(st, "rcx")["hex"], 16) == 0x400018
    assert any(role["role"] == "clobber" for role in register(st, "r11")["roles"])
    s.perform("syscall")
    assert pane(s)["card"]["name"] == "exit"
    s.perform("syscall")
    assert pane(s)["status"]["exit_status"] == 0


@pytest.mark.parametrize("arch", ["aarch64", "riscv64"])
def test_an_error_comes_back_as_minus_errno_with_its_meaning(arch):
    s = Session([view(arch, "write-errors")])
    s.perform("syscall")
    s.perform("syscall")
    result = pane(s)["card"]["result"]
    assert result["value"] == -9
    assert (result["errno"], result["message"]) == ("EBADF", "Bad file descriptor")
    assert result["text"] == "-1 EBADF (Bad file descriptor)"


def advance_to(s: Session, name: str, phase: str, limit: int = 40) -> dict:
    for _ in range(limit):
        card = pane(s)["card"]
        if card is not None and (card["name"], card["phase"]) == (name, phase):
            return pane(s)
        s.perform("syscall")
    raise AssertionError(f"no {phase} of {name} in {limit} steps")


def test_the_card_shows_what_read_wrote_to_memory():
    path = EXAMPLES / "hello" / "README.md"  # the guest sees the host's cwd, read-only
    data = path.read_bytes()
    s = Session([view("x86_64", "cat", ["cat", str(path.relative_to(ROOT))])])
    st = advance_to(s, "read", "return")
    card = st["card"]
    assert card["result"]["value"] == len(data)
    assert args_of(card)["buf"]["text"] == '"' + data[:64].decode().replace("\n", "\\n") + '"...'
    (change,) = card["changes"]
    assert change["param"] == "buf" and change["size"] == 256
    head = data[:256]
    assert change["changed"] == sum(1 for b in head if b != 0)
    assert change["text"] == "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in head)
    # memory follows what the call wrote, and marks those bytes
    first = next(r for r in st["memory"]["rows"] if r["changed"])
    assert first["address"] == change["address"] and first["changed"] == list(range(16))


def test_reverse_syscall_goes_back_to_the_previous_call_entry():
    s = Session([view("aarch64", "cat", ["cat", "examples/hello/README.md"])])
    advance_to(s, "read", "entry")
    before = pane(s)["trace"]["total"]
    s.perform("reverse-syscall")
    st = pane(s)
    assert st["status"]["reverse"] and st["card"]["phase"] == "entry"
    assert st["trace"]["total"] == before - 1


def test_breakpoints_stop_a_continue_and_survive_a_restart():
    v = view("aarch64")
    s = Session([v])
    assert v.toggle_breakpoint(0x400014)
    s.perform("continue")
    st = pane(s)
    assert st["status"]["reason"] == "breakpoint" and st["status"]["pc"] == "0x400014"
    assert next(r for r in st["code"] if r["address"] == "0x400014")["breakpoint"]
    s.perform("restart")
    st = pane(s)
    assert st["status"]["pc"] == "0x400000" and st["stdout"]["text"] == "" and st["breakpoints"] == ["0x400014"]
    s.perform("continue")
    assert pane(s)["status"]["pc"] == "0x400014"
    assert not v.toggle_breakpoint(0x400014)
    s.perform("continue")
    assert pane(s)["status"]["ended"]


def test_a_long_continue_records_only_what_reverse_can_reach(tmp_path):
    loop = tmp_path / "loop.x86_64.s"
    loop.write_text("_start: mov r12, 300\nagain: mov eax, 39\nsyscall\ndec r12\njnz again\nmov eax, 60\nxor edi, edi\nsyscall\n")
    v = ProgramView(Sandbox("x86_64"), str(loop), history=50)
    s = Session([v])
    s.perform("continue")
    st = pane(s)
    assert st["status"]["exit_status"] == 0 and st["trace"]["total"] == 301
    assert "recording started again" in st["recording"]["note"]
    assert st["trace"]["start"] == 1 and len(st["trace"]["lines"]) == 300  # the tail, and a count
    # a short continue is recorded whole: back to the previous call, then forward again
    s.perform("restart")
    v.toggle_breakpoint(v.sb.debugger.address("again") + 7)  # after the first syscall
    s.perform("continue")
    s.perform("reverse-syscall")
    assert pane(s)["card"]["phase"] == "entry" and pane(s)["card"]["name"] == "getpid"


def test_compare_lines_up_the_two_calls_and_marks_what_differs():
    s = Session([view("x86_64"), view("aarch64")])
    s.perform("syscall")
    state = s.state()
    assert state["compare"]
    rows = {r["what"]: r for r in state["diff"]["rows"]}
    assert state["diff"]["same_call"]
    assert rows["system call"]["a"] == rows["system call"]["b"] == "write" and not rows["system call"]["differs"]
    assert (rows["number"]["a"], rows["number"]["b"]) == ("rax = 1 (write)", "x8 = 64 (write)")
    assert rows["number"]["number_differs"] and rows["number"]["differs"]
    assert rows["fd"]["register_differs"] and not rows["fd"]["value_differs"]
    assert (rows["fd"]["a"], rows["fd"]["b"]) == ("rdi = 1", "x0 = 1")
    assert rows["count"]["a"] == "rdx = 12"
    s.perform("syscall")
    rows = {r["what"]: r for r in s.state()["diff"]["rows"]}
    assert (rows["result"]["a"], rows["result"]["b"]) == ("rax = 12", "x0 = 12")
    assert rows["result"]["register_differs"] and not rows["result"]["value_differs"]
    s.perform("syscall")
    rows = {r["what"]: r for r in s.state()["diff"]["rows"]}
    assert (rows["number"]["a"], rows["number"]["b"]) == ("rax = 60 (exit)", "x8 = 93 (exit)")


@pytest.mark.parametrize("arch", list(ARCHES))
def test_every_instruction_line_of_the_examples_is_mapped_to_its_source(arch):
    path = EXAMPLES / "cat" / f"cat.{arch}.s"
    text = path.read_text()
    smap = assembly_source_map(get_arch(arch), str(path), text)
    lines = text.splitlines()
    code_lines = [n for n, line in enumerate(lines, 1) if _is_instruction(line, get_arch(arch).comment_markers)]
    mapped = {line.line for line in smap.lines}
    assert set(code_lines) <= mapped
    for line in smap.lines:
        assert lines[line.line - 1].rstrip() == line.text
    s = Session([ProgramView(Sandbox(arch), str(path), ["cat", "examples/hello/README.md"])])
    code = pane(s)["code"]
    first = code[0]
    assert first["current"] and first["line"] == smap.at(first["value"]).line
    assert first["source"] == lines[first["line"] - 1].rstrip()


def _is_instruction(line: str, markers: tuple[str, ...]) -> bool:
    text = line
    for marker in markers:
        text = text.split(marker, 1)[0]
    text = text.strip()
    if ":" in text and not text.startswith("."):
        text = text.split(":", 1)[1].strip()  # a label before the instruction
    return bool(text) and not text.startswith(".") and "=" not in text


def test_data_lines_are_shown_as_data():
    s = Session([view("x86_64")])
    rows = pane(s)["code"]
    data = [r for r in rows if r["data"]]
    assert data and data[0]["text"] == '.ascii  "Hello world\\n"' and data[0]["address"] == "0x400021"
    assert data[0]["bytes"].startswith("48 65 6c 6c 6f")
    assert rows[-1] is data[-1]  # nothing past the program's own text


@pytest.mark.skipif(not shutil.which("riscv64-linux-gnu-as"), reason="needs GNU as for riscv64 (binutils-riscv64-linux-gnu)")
def test_an_elf_with_debug_info_shows_its_source_lines(tmp_path):
    src = tmp_path / "prog.s"
    src.write_text(".globl _start\n_start:\n  li a7, 172\n  ecall\n  li a0, 0\n  li a7, 93\n  ecall\n")
    obj, elf = tmp_path / "prog.o", tmp_path / "prog"
    subprocess.run(["riscv64-linux-gnu-as", "-g", "-o", str(obj), str(src)], check=True)
    subprocess.run(["riscv64-linux-gnu-ld", "-o", str(elf), str(obj)], check=True)
    smap = dwarf_source_map(elf.read_bytes(), str(elf))
    assert [line.line for line in smap.lines][:2] == [3, 4]
    s = Session([ProgramView(Sandbox("riscv64"), str(elf))])
    st = pane(s)
    assert st["source"]["kind"] == "debug info"
    first = st["code"][0]
    assert first["current"] and first["line"] == 3 and first["source"].strip() == "li a7, 172"
    s.perform("syscall")
    assert pane(s)["card"]["number_line"] == "a7 = 172 (getpid)"
