"""``sandbox debug`` driven by a command file: the transcript shows each syscall's register card."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import EXAMPLES, ROOT, sandbox_cli

ARCHES = ["x86_64", "aarch64"]
CAT_INPUT = "examples/hello/README.md"
NUMBER_REG = {"x86_64": "rax", "aarch64": "x8"}
ARG_REGS = {"x86_64": ["rdi", "rsi", "rdx", "r10", "r8", "r9"], "aarch64": ["x0", "x1", "x2", "x3", "x4", "x5"]}
NUMBERS = {
    "x86_64": {"write": 1, "exit": 60, "mmap": 9, "openat": 257, "read": 0, "close": 3, "munmap": 11, "exit_group": 231},
    "aarch64": {"write": 64, "exit": 93, "mmap": 222, "openat": 56, "read": 63, "close": 57, "munmap": 215,
                "exit_group": 94},
}


def debug(tmp_path, arch: str, example: str, commands: list[str], *args: str):
    script = tmp_path / "commands.txt"
    script.write_text("\n".join(commands) + "\n")
    r = sandbox_cli("debug", "--commands", str(script), str(EXAMPLES / example / f"{example}.{arch}.s"), *args)
    assert "Traceback" not in r.stderr.decode(), r.stderr.decode()
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def card_head(arch: str, name: str) -> str:
    return f"{name} ({arch} system call {NUMBERS[arch][name]}), number in {NUMBER_REG[arch]}"


def arg_line(arch: str, index: int, name: str, value: str) -> str:
    return f"  {ARG_REGS[arch][index]:<4} {name}"


@pytest.mark.parametrize("arch", ARCHES)
def test_stepping_hello_shows_the_card_at_each_syscall(arch, tmp_path):
    status, out, err = debug(tmp_path, arch, "hello", ["si"] * 8 + ["q"])
    assert status == 0 and err == ""
    # the card is shown when the pc reaches each syscall instruction
    write_card = out.index(card_head(arch, "write"))
    exit_card = out.index(card_head(arch, "exit"))
    assert write_card < out.index("Hello world\n") < exit_card
    lines = out[write_card:].splitlines()
    assert lines[1].split() == [ARG_REGS[arch][0], "fd", "1"]
    assert lines[2].split()[:2] == [ARG_REGS[arch][1], "buf"] and lines[2].endswith('"Hello world\\n"')
    assert lines[3].split() == [ARG_REGS[arch][2], "count", "12"]
    assert lines[4].startswith(f"  result in {'rax' if arch == 'x86_64' else 'x0'}")
    assert out[exit_card:].splitlines()[1].split() == [ARG_REGS[arch][0], "status", "0"]
    assert "[the process exited with status 0]" in out


@pytest.mark.parametrize("arch", ARCHES)
def test_cat_stopped_at_every_syscall(arch, tmp_path):
    status, out, err = debug(
        tmp_path, arch, "cat", ["catch syscall"] + ["c"] * 16 + ["info fds", "q"], CAT_INPUT
    )
    assert status == 0 and err == ""
    calls = ["mmap", "openat", "read", "write", "read", "close", "munmap", "exit_group"]
    entries = [line.split()[3].rstrip(",") for line in out.splitlines() if line.startswith("Entering system call")]
    assert entries == calls
    returns = [line.split()[4] for line in out.splitlines() if line.startswith("Returned from system call")]
    assert returns == calls[:-1]
    for name in calls:
        assert card_head(arch, name) in out
    openat = out[out.index(card_head(arch, "openat")):].splitlines()
    assert openat[1].split() == [ARG_REGS[arch][0], "dirfd", "AT_FDCWD"]
    assert openat[2].split()[:2] == [ARG_REGS[arch][1], "pathname"] and openat[2].endswith(f'"{CAT_INPUT}"')
    size = len((EXAMPLES / "hello/README.md").read_bytes())
    assert f"  returned {size} in {'rax' if arch == 'x86_64' else 'x0'}" in out
    assert "  returned 3 in" in out  # openat's descriptor
    assert out.count("[the process exited with status 0]") == 1


@pytest.mark.parametrize("arch", ARCHES)
def test_breakpoints_inspection_and_reverse(arch, tmp_path):
    status, out, err = debug(tmp_path, arch, "hello", [
        "b _start", "catch syscall write", "c", "x/s msg", "x/4xb msg", "info registers " + NUMBER_REG[arch],
        "where", "info maps", "si", "rsi", "rc", "disas _start 2", "c", "c", "c", "q",
    ])
    assert status == 0 and err == ""
    assert "Breakpoint 1 at 0x400000 <_start>" in out
    assert "Entering system call write (catchpoint 2)" in out
    assert '<msg>:  "Hello world\\n"' in out
    assert "0x48  0x65  0x6c  0x6c" in out
    assert f"{NUMBER_REG[arch]}  0x{NUMBERS[arch]['write']:016x}  {NUMBERS[arch]['write']}" in out
    assert "in the system call write (entered, not yet served); no system call made yet" in out
    assert "[stack]" in out
    assert "(backwards) Breakpoint 1, 0x400000 <_start>" in out
    assert out.count("Hello world\n") == 1  # the guest's output, shown once though written twice
    assert out.count("Entering system call write") == 2
    assert "[the process exited with status 0]" in out


@pytest.mark.parametrize("command,message", [
    ("frobnicate", "unknown command 'frobnicate'"),
    ("b nowhere", "no symbol 'nowhere' in the program"),
    ("x/4xg 0", "cannot access memory at 0x0"),
    ("info registers bogus", "no register 'bogus'"),
    ("catch syscall nosuch", "has no system call named 'nosuch'"),
    ("x/4q $sp", "unknown x format 'q'"),
    ("set $rax", "set needs a register and a value"),
    ("si zero", "expected a positive count"),
])
def test_a_bad_command_is_one_line_and_the_session_goes_on(command, message, tmp_path):
    status, out, err = debug(tmp_path, "x86_64", "hello", [command, "si", "q"])
    assert status == 0
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert "(sandbox) si" in out and "=> 0x400005" in out


def test_stdin_commands_and_set_register(tmp_path):
    r = sandbox_cli("debug", str(EXAMPLES / "hello/hello.x86_64.s"),
                    stdin=b"until _start+22\nset $rdx = 5\ninfo registers rdx\nc\n")
    out = r.stdout.decode()
    assert r.returncode == 0 and "rdx = 0x5" in out
    assert "(sandbox) c\nHello\n[the process exited with status 0]" in out


def test_a_missing_program_is_one_line():
    r = sandbox_cli("debug", "nope.s")
    assert r.returncode == 127 and r.stderr.decode().count("\n") == 1


@pytest.mark.parametrize("arch", ARCHES)
def test_watch_snapshot_and_restore_commands(arch, tmp_path):
    program = tmp_path / f"count.{arch}.s"
    program.write_text({
        "x86_64": "lea rbx, [rip + counter]\nmov rcx, 2\nloop: add qword ptr [rbx], 1\ndec rcx\njnz loop\n"
        "mov eax, 60\nxor edi, edi\nsyscall\ncounter: .quad 0\n",
        "aarch64": "adr x1, counter\nmov x2, #2\nloop: ldr x0, [x1]\nadd x0, x0, #1\nstr x0, [x1]\n"
        "subs x2, x2, #1\nb.ne loop\nmov x8, #93\nmov x0, #0\nsvc #0\ncounter: .quad 0\n",
    }[arch])
    script = tmp_path / "commands.txt"
    script.write_text("watch counter 8\nsnapshot\nc\nc\nx/gx counter\nrestore 1\nx/gx counter\nc\nq\n")
    r = sandbox_cli("debug", "--commands", str(script), str(program))
    out = r.stdout.decode()
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert out.count("Watchpoint 1 (counter) written by the instruction at") == 3
    assert "old 0000000000000000, new 0100000000000000" in out
    assert "old 0100000000000000, new 0200000000000000" in out
    assert "<counter>:  0x0000000000000002" in out and "<counter>:  0x0000000000000000" in out
    assert "Restored snapshot 1" in out


def test_ctrl_c_stops_a_running_guest_not_the_debugger(tmp_path):
    program = tmp_path / "spin.x86_64.s"
    program.write_text("spin: jmp spin\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "debug", str(program)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b"c\n")
        proc.stdin.flush()
        while b"(sandbox) c" not in proc.stdout.readline():
            pass
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(b"where\nq\n", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert b"Interrupted at 0x400000 <spin>" in out and b"(sandbox) where\npc 0x400000 <spin>" in out


@pytest.mark.parametrize("arch", ARCHES)
def test_ctrl_c_interrupts_a_continue_and_the_session_goes_on(arch, tmp_path):
    # A guest looping without system calls holds Python's signal handling off inside
    # Unicorn: the watchdog must stop it so that Ctrl-C is an interruption, as in gdb.
    source = tmp_path / f"spin.{arch}.s"
    source.write_text({"x86_64": "l: jmp l\n", "aarch64": "l: b l\n"}[arch])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "debug", str(source)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    assert p.stdin is not None and p.stdout is not None
    try:
        p.stdin.write(b"continue\n")
        p.stdin.flush()
        seen = b""
        while b"(sandbox) " not in seen:  # the prompt before "continue" is answered
            seen += p.stdout.read1(4096)
        time.sleep(0.3)  # the guest is in its loop
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(b"stepi\nquit\n", timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    out = (seen + out).decode()
    assert p.returncode == 0, err.decode()
    assert "Interrupted at 0x400000 <l>" in out
    assert out.count("=> 0x400000 <l>") >= 3  # at the start, at the interruption, after stepi
    assert "Traceback" not in err.decode()
