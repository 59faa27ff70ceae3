"""Real ``gdb-multiarch`` in batch mode against ``sandbox gdbserver``, on both arches.

Skipped when gdb-multiarch is not installed; ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from helpers import EXAMPLES, ROOT

GDB = shutil.which("gdb-multiarch")
pytestmark = pytest.mark.skipif(GDB is None, reason="gdb-multiarch is not installed")
ARCHES = ["x86_64", "aarch64"]
REGS = {"x86_64": ("rip", "rdi", "rsi", "rdx"), "aarch64": ("pc", "x0", "x1", "x2")}
NUMBER = {"x86_64": "rax", "aarch64": "x8"}
WRITE_NR = {"x86_64": 1, "aarch64": 64}
CAT_INPUT = "examples/hello/README.md"


def gdb_session(program: str, commands: list[str], *args: str, timeout: float = 90,
                serve: tuple[str, ...] = ("gdbserver", "--port", "0")) -> tuple[str, int, str]:
    """Start the stub on a free port, run gdb's commands against it; gdb's output, the stub's
    exit status and what the guest printed."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    server = subprocess.Popen(
        [sys.executable, "-m", "sandbox", *serve, program, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env,
    )
    try:
        assert server.stderr is not None
        first = server.stderr.readline().decode()
        m = re.search(r"waiting for gdb on 127\.0\.0\.1:(\d+)", first)
        assert m, first + server.stderr.read().decode()
        argv = [GDB, "-nx", "-batch", "-ex", "set pagination off", "-ex", "set confirm off",
                "-ex", f"target remote :{m.group(1)}"]
        for command in commands:
            argv += ["-ex", command]
        gdb = subprocess.run(argv, capture_output=True, timeout=timeout, cwd=ROOT)
        guest_out, rest = server.communicate(timeout=timeout)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    out = gdb.stdout.decode() + gdb.stderr.decode()
    assert "Traceback" not in rest.decode(), rest.decode()
    return out, server.returncode, guest_out.decode()


def register_value(out: str, name: str) -> int:
    m = re.search(rf"^{name}\s+(0x[0-9a-f]+)", out, re.M)
    assert m, f"no {name} in:\n{out}"
    return int(m.group(1), 16)


@pytest.mark.parametrize("arch", ARCHES)
def test_gdb_steps_hello_and_catches_its_write(arch):
    pc, a0, a1, a2 = REGS[arch]
    out, status, guest = gdb_session(str(EXAMPLES / f"hello/hello.{arch}.s"), [
        "break *_start", "stepi", f"info registers {pc}", "x/s &msg", "catch syscall write", "continue",
        f"info registers {NUMBER[arch]} {a0} {a1} {a2}", "continue", "continue",
    ])
    assert "Breakpoint 1 at 0x400000" in out
    assert register_value(out, pc) == (0x400005 if arch == "x86_64" else 0x400004)  # one instruction on
    assert re.search(r'<msg>:\s+"Hello world\\n"', out), out
    assert f"Catchpoint 2 (syscall 'write' [{WRITE_NR[arch]}])" in out
    assert "Catchpoint 2 (call to syscall write)" in out
    assert register_value(out, NUMBER[arch]) == WRITE_NR[arch]
    assert register_value(out, a0) == 1 and register_value(out, a2) == 12
    assert register_value(out, a1) == 0x400000 + (0x21 if arch == "x86_64" else 0x20)  # msg
    assert "Catchpoint 2 (returned from syscall write)" in out
    assert "[Inferior 1 (process 1000) exited normally]" in out
    assert (status, guest) == (0, "Hello world\n")


@pytest.mark.parametrize("arch", ARCHES)
def test_gdb_reverse_steps_and_continues_through_cat(arch):
    pc = REGS[arch][0]
    out, status, guest = gdb_session(str(EXAMPLES / f"cat/cat.{arch}.s"), [
        "break *write_more", "continue", f"info registers {pc}", "reverse-stepi", f"info registers {pc}",
        "catch syscall read", "reverse-continue", "reverse-continue", "monitor fds", "monitor syscalls",
        "continue", "kill",
    ], CAT_INPUT)
    at_bp = register_value(out, pc)
    assert "Breakpoint 1, " in out and "in write_more ()" in out
    back = [int(v, 16) for v in re.findall(rf"^{pc}\s+(0x[0-9a-f]+)", out, re.M)]
    assert back[0] == at_bp and back[1] < at_bp  # one instruction back
    assert "Catchpoint 2 (returned from syscall read)" in out  # going back, the return comes first
    assert "Catchpoint 2 (call to syscall read)" in out
    # monitor fds: offset back to 0 (O_LARGEFILE, 0o100000, is set by open on 64-bit arches, as on Linux)
    assert re.search(r"^\s+3\s+r\s+0\s+0o100000\s+\S*README\.md", out, re.M), out
    assert "openat(dirfd=AT_FDCWD" in out and "read(fd=3" not in out.split("monitor syscalls")[-1]
    assert "[Inferior 1 (process 1000) killed]" in out
    assert status == 137 and guest == ""


WATCH = {
    "x86_64": "lea rbx, [rip + counter]; mov rcx, 2; loop: add qword ptr [rbx], 1; dec rcx; jnz loop;"
    " mov eax, 60; xor edi, edi; syscall; counter: .quad 0",
    "aarch64": "adr x1, counter; mov x2, #2; loop: ldr x0, [x1]; add x0, x0, #1; str x0, [x1]; subs x2, x2, #1;"
    " b.ne loop; mov x8, #93; mov x0, #0; svc #0; counter: .quad 0",
}


@pytest.mark.parametrize("arch", ARCHES)
def test_gdb_watchpoint(arch, tmp_path):
    program = tmp_path / f"watch.{arch}.s"
    program.write_text(WATCH[arch].replace("; ", "\n"))
    out, status, _ = gdb_session(str(program), [
        "watch *(long *)&counter", "continue", "continue", "continue",
    ])
    assert "Hardware watchpoint 1: *(long *)&counter" in out
    assert re.search(r"Old value = 0\s+New value = 1", out) and re.search(r"Old value = 1\s+New value = 2", out)
    assert "exited normally" in out and status == 0


def test_run_with_gdb_and_detach_lets_the_program_finish():
    out, status, guest = gdb_session(str(EXAMPLES / "hello/hello.x86_64.s"), ["stepi", "detach"],
                                     serve=("run", "--gdb", "0"))
    assert "Detaching from program" in out or "detached" in out
    assert (status, guest) == (0, "Hello world\n")


@pytest.mark.parametrize("arch", ARCHES)
def test_gdb_and_the_stub_agree_on_the_pc_at_a_syscall_entry(arch):
    # Linux reports the address after the trap at a syscall-entry stop; so must every view.
    pc_name = REGS[arch][0]
    after_trap = 0x400018 if arch == "x86_64" else 0x400014
    out, status, _ = gdb_session(str(EXAMPLES / f"hello/hello.{arch}.s"), [
        "catch syscall write", "continue", f"info registers {pc_name}", "x/i $pc", "monitor where", "kill",
    ])
    assert re.search(rf"Catchpoint 1 \(call to syscall write\), 0x0*{after_trap:x} in _start", out), out
    assert register_value(out, pc_name) == after_trap
    assert re.search(rf"=> 0x{after_trap:x} <_start\+\d+>:", out), out
    assert f"pc {after_trap:#x} <_start+" in out and "in the system call write (entered, not yet served)" in out


# -- threads and processes ------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHES)
def test_gdb_info_threads_on_a_two_thread_program(arch, tmp_path):
    from task_programs import THREADS

    program = tmp_path / f"threads.{arch}.s"
    program.write_text(THREADS[arch])
    pc = REGS[arch][0]
    out, status, guest = gdb_session(str(program), [
        "break thread", "continue", "info threads", "thread 1", f"info registers {pc}", "continue",
    ])
    assert "[New Thread 1000.1001]" in out and "Thread 2 hit Breakpoint 1, " in out
    assert re.search(r"^\*\s+2\s+Thread 1000\.1001 \(runnable\)\s+0x0*[0-9a-f]+ in thread \(\)", out, re.M), out
    assert re.search(r"^\s+1\s+Thread 1000\.1000 \(waiting in futex \(for the futex at 0x[0-9a-f]+\)\)\s+"
                     r"0x0*[0-9a-f]+ in wait \(\)", out, re.M), out
    assert "[Switching to thread 1 (Thread 1000.1000)]" in out
    assert re.search(rf"^{pc}\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <wait\+\d+>", out, re.M), out
    assert "[Inferior 1 (process 1000) exited normally]" in out
    assert (status, guest) == (0, "thread\nmain\n")


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("mode", ["parent", "child"])
def test_gdb_follows_a_fork(arch, mode, tmp_path):
    from task_programs import FORK

    program = tmp_path / f"fork.{arch}.s"
    program.write_text(FORK[arch])
    out, status, guest = gdb_session(str(program), [
        f"set follow-fork-mode {mode}", "break parent", "break child", "continue", "info inferiors", "continue",
    ])
    if mode == "parent":
        assert "[Detaching after fork from child process 1001]" in out
        assert "Breakpoint 1, " in out and " in parent ()" in out and "child ()" not in out.split("continue")[-1]
        assert "[Inferior 1 (process 1000) exited normally]" in out
    else:
        assert "[Attaching after Thread 1000.1000 fork to child Thread 1001.1001]" in out
        assert "[Detaching after fork from parent process 1000]" in out
        assert "Thread 2.1 hit Breakpoint 2, " in out and " in child ()" in out
        assert "[Inferior 2 (process 1001) exited with code 03]" in out
    assert "internal-error" not in out
    assert (status, guest) == (0, "child\nparent\n")  # a detached process runs on to its end
