"""The tracing and teaching commands: trace, run --trace, explain, table, diff."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, sandbox_cli

HELLO = "examples/hello/hello.aarch64.s"


def trace_lines(stderr: bytes) -> list[str]:
    return stderr.decode().splitlines()


@pytest.mark.parametrize("command", [["trace"], ["run", "--trace"], ["run", "--trace=strace"]])
def test_trace_prints_strace_lines_on_stderr(command):
    r = sandbox_cli(*command, "--clear-env", HELLO)
    assert r.returncode == 0 and r.stdout == b"Hello world\n"
    lines = trace_lines(r.stderr)
    assert re.fullmatch(rf'execve\("{HELLO}", \["{HELLO}"\], 0x[0-9a-f]+ /\* 0 vars \*/\) = 0', lines[0])
    assert lines[1:] == ['write(1, "Hello world\\n", 12)'.ljust(39) + " = 12", "exit(0)".ljust(39) + " = ?",
                         "+++ exited with 0 +++"]


def test_the_exit_status_and_errors_are_the_guests():
    r = sandbox_cli("trace", "examples/write-errors/write-errors.x86_64.s")
    assert r.returncode == 9
    assert 'write(42, "oops\\n", 5)'.ljust(39) + " = -1 EBADF (Bad file descriptor)" in trace_lines(r.stderr)
    assert trace_lines(r.stderr)[-1] == "+++ exited with 9 +++"


def test_filter_string_limit_and_trace_file(tmp_path):
    out = tmp_path / "trace.txt"
    r = sandbox_cli("trace", "-s", "5", "-e", "trace=write", "-o", str(out), "examples/cat/cat.x86_64.s",
                    "examples/hello/README.md")
    assert r.returncode == 0 and r.stderr == b""
    lines = out.read_text().splitlines()
    assert lines[0].startswith('write(1, "# hel"..., ') and len(lines) == 2
    assert lines[-1] == "+++ exited with 0 +++"


def test_a_blocked_call_shows_while_it_waits_like_strace():
    # cat reads stdin: the read's first half is written before the guest blocks.
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "trace", "examples/cat/cat.aarch64.s"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.stderr is not None and proc.stdin is not None
    seen = b""
    while b"read(0, " not in seen:
        chunk = os.read(proc.stderr.fileno(), 4096)
        assert chunk, seen
        seen += chunk
    out, err = proc.communicate(input=b"hi\n", timeout=60)
    assert out == b"hi\n" and proc.returncode == 0
    assert (seen + err).decode().splitlines()[2] == 'read(0, "hi\\n", 65536)'.ljust(39) + " = 3"


def test_regs_and_json_views():
    r = sandbox_cli("trace", "--trace=regs", HELLO)
    assert trace_lines(r.stderr)[0] == \
        "svc #0 @0x400010  x8=64 (write)  x0=1 (fd)  x1=0x400020 (buf)  x2=12 (count)  ->  x0=12"
    r = sandbox_cli("run", "--trace=json", HELLO)
    objects = [json.loads(line) for line in trace_lines(r.stderr)]
    assert [o["name"] for o in objects] == ["write", "exit"]
    assert objects[0]["memory"] == {"buf": "Hello world\n"} and objects[0]["ret"] == 12


@pytest.mark.parametrize("args,message", [
    (["-e", "trace=nosuch", HELLO], "sandbox: -e trace=nosuch: invalid system call 'nosuch'"),
    (["-o", "/nonexistent/dir/t", HELLO], "sandbox: --trace-file /nonexistent/dir/t: No such file or directory"),
    (["-s", "-1", HELLO], "argument -s: must not be negative"),
    (["--trace=xml", HELLO], "--trace=xml: unknown trace format; expected strace, regs or json"),
])
def test_bad_trace_options_are_one_line(args, message):
    r = sandbox_cli("trace", *args)
    assert r.returncode == 2 and r.stdout == b""
    err = r.stderr.decode()
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def run_on_a_terminal(args: list[str], env_extra: dict[str, str]) -> bytes:
    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(ROOT), **env_extra)
    env.pop("NO_COLOR", None) if "NO_COLOR" not in env_extra else None
    proc = subprocess.run([sys.executable, "-m", "sandbox", *args], stdout=subprocess.DEVNULL, stderr=slave,
                          cwd=ROOT, env=env, timeout=60)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.returncode == 0
    return out


def test_colour_on_a_terminal_only():
    coloured = run_on_a_terminal(["trace", HELLO], {"TERM": "xterm"})
    assert b"\x1b[1mwrite\x1b[0m(" in coloured
    assert b"\x1b[" not in run_on_a_terminal(["trace", HELLO], {"TERM": "xterm", "NO_COLOR": "1"})
    assert b"\x1b[" not in sandbox_cli("trace", HELLO).stderr  # piped


# -- explain and table ---------------------------------------------------------------------------

def unistd_numbers(path: Path) -> dict[str, int]:
    """``__NR_name`` numbers from a kernel uapi header."""
    numbers = {}
    for m in re.finditer(r"#define __NR(?:3264)?_(\w+)\s+(\d+)", path.read_text()):
        numbers[m.group(1)] = int(m.group(2))
    return numbers


HEADERS = {
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "aarch64": Path("/usr/aarch64-linux-gnu/include/asm-generic/unistd.h"),
}


@pytest.mark.parametrize("arch,table,known", [
    ("x86_64", "x86_64", {"read": 0, "write": 1, "openat": 257, "exit_group": 231, "mmap": 9}),
    ("aarch64", "arm64", {"read": 63, "write": 64, "openat": 56, "exit_group": 94, "mmap": 222}),
])
def test_table_lists_every_call_with_the_kernels_numbers(arch, table, known):
    import system_calls

    r = sandbox_cli("table", arch)
    assert r.returncode == 0
    rows = {}
    for line in r.stdout.decode().splitlines()[1:-1]:
        nr, name, model = line.split()[:3]
        rows[name] = (int(nr), model)
    kernel = dict(system_calls.syscalls().load_arch_table(table))
    assert {n: nr for n, (nr, _) in rows.items()} == kernel
    assert all(rows[n][0] == nr for n, nr in known.items())
    assert rows["openat"][1] == "partial" and rows["write"][1] == "full" and rows["inotify_init1"][1] == "-"
    header = HEADERS[arch]
    if header.exists():  # the installed uapi headers: an independent copy of the kernel's numbers
        theirs = unistd_numbers(header)
        assert all(theirs[n] == nr for n, (nr, _) in rows.items() if n in theirs)
        assert len([n for n in rows if n in theirs]) > 250


@pytest.mark.parametrize("arch,name,number,regs", [
    ("x86_64", "write", 1, ["rdi   fd", "rsi   buf", "rdx   count"]),
    ("aarch64", "write", 64, ["x0    fd", "x1    buf", "x2    count"]),
    ("x86_64", "openat", 257, ["rdi   dirfd", "rsi   pathname", "rdx   flags", "r10   mode"]),
    ("aarch64", "mmap", 222, ["x0    addr", "x1    length", "x2    prot", "x3    flags", "x4    fd", "x5    offset"]),
])
def test_explain_a_call(arch, name, number, regs):
    r = sandbox_cli("explain", arch, name)
    assert r.returncode == 0
    text = r.stdout.decode()
    assert text.startswith(f"{name} on {arch}: number {number} (")
    for reg in regs:
        assert f"    {reg} " in text
    assert ("rcx" in text) == (arch == "x86_64")


def test_explain_an_arch_and_compare():
    text = sandbox_cli("explain", "x86_64").stdout.decode()
    assert "syscall" in text and "rdi rsi rdx r10 r8 r9" in text and "rcx (the return address)" in text
    text = sandbox_cli("explain", "arm64").stdout.decode()
    assert "svc #0" in text and "x0 x1 x2 x3 x4 x5" in text and "every register but x0" in text
    rows = [line.split() for line in sandbox_cli("explain", "--compare", "write").stdout.decode().splitlines()]
    assert rows[0] == ["write", "x86_64", "aarch64", "i386", "arm", "riscv64"]  # every supported arch
    assert ["number", "rax", "=", "1", "x8", "=", "64", "eax", "=", "4", "r7", "=", "4", "a7", "=", "64"] in rows
    assert ["fd", "rdi", "x0", "ebx", "r0", "a0"] in rows


@pytest.mark.parametrize("args,message", [
    (["explain", "aarch64", "open"], "'open' is not a system call on aarch64 (it exists on x86_64, i386, arm)"),
    (["explain", "sparc"], "unknown arch 'sparc'"),
    (["explain"], "explain needs an arch"),
    (["table", "mips"], "unknown arch 'mips'"),
    (["explain", "--compare", "nosuch"], "'nosuch' is not a system call on any supported arch"),
])
def test_explain_errors_are_one_line(args, message):
    r = sandbox_cli(*args)
    assert r.returncode == 2 and message in r.stderr.decode() and r.stderr.count(b"\n") == 1


def test_the_explained_stub_runs_as_printed(tmp_path):
    text = sandbox_cli("explain", "aarch64", "getpid").stdout.decode()
    stub = "\n".join(line[4:] for line in text.split("as a .s file):\n\n", 1)[1].splitlines())
    path = tmp_path / "getpid.aarch64.s"
    path.write_text(stub)
    r = sandbox_cli("trace", str(path))
    assert r.returncode == 0
    assert [line.split("(")[0] for line in trace_lines(r.stderr)[1:]] == ["getpid", "exit", "+++ exited with 0 +++"]


# -- diff ----------------------------------------------------------------------------------------

def test_diff_of_twins_is_empty_and_of_different_programs_is_shown():
    r = sandbox_cli("diff", "examples/cat/cat.x86_64.s", "examples/cat/cat.aarch64.s", "--", "examples/hello/README.md")
    assert r.returncode == 0 and r.stdout.decode().startswith("same system calls: 8 calls")
    r = sandbox_cli("diff", "examples/raw-syscall/raw-syscall.x86_64.s", "examples/raw-syscall/raw-syscall.aarch64.s")
    assert r.returncode == 1
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "--- examples/raw-syscall/raw-syscall.x86_64.s (x86_64)"
    assert '- write(1, "x86_64", 6) = 6' in lines and '+ write(1, "aarch64", 7) = 7' in lines
    r = sandbox_cli("diff", "examples/hello/hello.x86_64.s", "no-such-program")
    assert r.returncode == 2 and r.stderr.count(b"\n") == 1  # trouble, as diff(1) says it
