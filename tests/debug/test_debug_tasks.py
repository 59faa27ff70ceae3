"""The debugger with several tasks: threads and forked processes, in ``sandbox debug`` and in
the gdb stub (packet by packet), and reverse execution's refusal past a fork."""

from __future__ import annotations

import io
import re
import socket

import pytest

from sandbox import Sandbox
from sandbox.debug.gdbstub import Connection, GdbStub
from sandbox.debug.terminal import TerminalDebugger
from task_programs import FORK, FORK_EXEC, THREADS, hello_elf

ARCHES = ["x86_64", "aarch64"]
PC = {"x86_64": "rip", "aarch64": "pc"}
RET = {"x86_64": "rax", "aarch64": "x0"}


class Session:
    """A terminal debugger on an assembly program, its transcript captured."""

    def __init__(self, arch: str, text: str, *, record: bool = False, mounts: tuple[str, ...] = ()) -> None:
        self.sb = Sandbox(arch, mounts=list(mounts))
        self.sb.load_asm(text)
        if record:
            self.sb.record()
        self.out, self.err = io.StringIO(), io.StringIO()
        self.term = TerminalDebugger(self.sb, out=self.out, err=self.err)
        self.dbg = self.sb.debugger

    def __call__(self, command: str) -> str:
        start = self.out.tell()
        errors = len(self.err.getvalue())
        self.term.execute(command)
        assert self.err.getvalue()[errors:] == "", self.err.getvalue()
        self.out.seek(start)
        text = self.out.read()
        self.out.seek(0, io.SEEK_END)
        return text

    def error(self, command: str) -> str:
        before = len(self.err.getvalue())
        self.term.execute(command)
        err = self.err.getvalue()[before:]
        assert err.count("\n") == 1 and err.startswith("error: "), err
        return err[len("error: "):].strip()

    def symbol(self, name: str) -> int:
        return self.sb.machine.symbols[name]


def rows(text: str) -> dict[str, str]:
    """The rows of ``info threads`` / ``info inferiors`` by their first column (the number)."""
    out = {}
    for line in text.splitlines()[1:]:
        cells = line[2:].split()
        out[cells[0]] = line
    return out


# -- sandbox debug: threads ---------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHES)
def test_info_threads_lists_every_task_and_marks_the_one_that_stopped(arch):
    s = Session(arch, THREADS[arch])
    assert "1   pid 1000" in s("info threads")
    s("b thread")
    stop = s("c")
    assert "[New thread 1001 of pid 1000]" in stop
    assert f"[pid 1000 thread 1001] Breakpoint 1, {s.symbol('thread'):#x} <thread>" in stop
    table = rows(s("info threads"))
    assert set(table) == {"1", "2"}
    assert table["2"].startswith("* 2") and "pid 1000 thread 1001" in table["2"] and "<thread>" in table["2"]
    assert table["1"].startswith("  1") and "waiting in futex (for the futex at " in table["1"]
    assert "<wait+" in table["1"]


@pytest.mark.parametrize("arch", ARCHES)
def test_thread_n_reads_that_threads_registers_and_stack(arch):
    s = Session(arch, THREADS[arch])
    s("b thread")
    s("c")
    thread_sp = s.sb.reg("sp")
    assert thread_sp == s.symbol("stack_top")  # the stack clone gave it
    text = s("thread 1")
    assert text.startswith("[Switching to thread 1 (pid 1000)]")
    pc = s.sb.reg("pc")
    assert s.symbol("wait") < pc < s.symbol("joined")  # after the futex call's trap, in the wait loop
    assert f"=> {pc:#x} <wait+" in text
    (line,) = [t for t in s(f"info registers {PC[arch]}").splitlines()]
    assert int(line.split()[1], 16) == pc
    assert s.sb.reg("sp") != thread_sp
    assert "waiting in the system call futex" in s("where")
    assert s("thread").strip() == "[Current thread is 1 (pid 1000)]"
    s("thread 2")
    assert s.sb.reg("pc") == s.symbol("thread") and s.sb.reg("sp") == thread_sp
    assert "no thread 7" in s.error("thread 7")


@pytest.mark.parametrize("arch", ARCHES)
def test_stepping_a_waiting_thread_runs_the_others_until_its_call_returns(arch):
    s = Session(arch, THREADS[arch])
    s("b thread")
    s("c")
    s("thread 1")
    pc = s.sb.reg("pc")
    text = s("si")  # thread 2 goes past its breakpoint (it resumes from it), writes and exits
    assert "thread\n" in text and "[thread 1001 of pid 1000 exited]" in text and "Breakpoint" not in text
    assert s.sb.reg("pc") == pc  # the futex call was the instruction: it returned, nothing more ran
    assert [t.name() for t in s.dbg.tasks()] == ["pid 1000"]
    assert s("info syscalls").splitlines()[-1].endswith("= 0")  # FUTEX_WAIT, woken by the thread's exit
    assert s("c").endswith("[the process exited with status 0]\n")
    assert s.sb.stdout == b"thread\nmain\n"


@pytest.mark.parametrize("arch", ARCHES)
def test_stepi_over_a_sleep_is_one_instruction(arch):
    sleep = {
        "x86_64": "lea rdi, [rip + ts]\nxor esi, esi\nmov eax, 35\nsyscall\nnop\nnop\n"
                  "mov eax, 60\nxor edi, edi\nsyscall\n.align 8\nts: .quad 0, 1000000\n",
        "aarch64": "adr x0, ts\nmov x1, #0\nmov x8, #101\nsvc #0\nnop\nnop\nmov x8, #93\nmov x0, #0\nsvc #0\n"
                   ".align 3\nts: .quad 0, 1000000\n",
    }[arch]
    s = Session(arch, sleep)
    s("si 3")
    trap = s.sb.reg("pc")
    s("si")  # the sleep blocks its task (the only one), then returns
    assert s.sb.reg("pc") == trap + (2 if arch == "x86_64" else 4)


# -- sandbox debug: processes -------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHES)
def test_a_breakpoint_stops_a_forked_child_and_info_inferiors_lists_both(arch):
    s = Session(arch, FORK[arch])
    s("b child")
    stop = s("c")
    assert "[New process 1001]" in stop
    assert f"[pid 1001] Breakpoint 1, {s.symbol('child'):#x} <child>" in stop
    table = rows(s("info inferiors"))
    assert re.search(r"^\s+1\s+1000\s+-\s+waiting \(1 thread\)", table["1"]), table
    assert re.search(r"^\* 2\s+1001\s+1000\s+running \(1 thread\)", table["2"]), table
    text = s("c")
    assert "child\n" in text and "[pid 1001 exited with status 3]" in text
    assert text.endswith("[the process exited with status 0]\n")


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("mode", ["parent", "child"])
def test_follow_fork_mode_decides_where_a_step_over_fork_goes_on(arch, mode):
    s = Session(arch, FORK[arch])
    assert '"parent"' in s("show follow-fork-mode")
    s(f"set follow-fork-mode {mode}")
    assert f'"{mode}"' in s("show follow-fork-mode")
    while not s.dbg.at_trap():
        s("si")
    text = s("si")
    assert "[New process 1001]" in text
    pid = 1001 if mode == "child" else 1000
    assert s.dbg.task.process.pid == pid
    assert s.sb.reg(RET[arch]) == (0 if mode == "child" else 1001)
    assert text.count(f"[pid {pid}] at ") == 1
    assert rows(s("info threads"))["2" if mode == "child" else "1"].startswith("*")


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("mode", ["parent", "child"])
def test_stepi_n_over_a_fork_lands_where_n_single_steps_do(arch, mode):
    steps = len(FORK[arch].split("parent:")[0].strip().splitlines()) + 1  # past the fork and its branch
    # (a breakpoint in the child's path, which the parent's steps must not run into)
    extra = "b child" if mode == "parent" else "info threads"
    one = Session(arch, FORK[arch])
    one(f"set follow-fork-mode {mode}")
    one(extra)
    for _ in range(steps):
        one("si")
    where = (one.dbg.task.process.pid, one.sb.reg("pc"))
    many = Session(arch, FORK[arch])
    many(f"set follow-fork-mode {mode}")
    many(extra)
    many(f"si {steps}")
    assert (many.dbg.task.process.pid, many.sb.reg("pc")) == where
    assert where[0] == (1001 if mode == "child" else 1000)


def test_set_follow_fork_mode_takes_parent_or_child():
    s = Session("x86_64", FORK["x86_64"])
    assert "parent or child" in s.error("set follow-fork-mode sideways")


@pytest.mark.parametrize("arch", ARCHES)
def test_reverse_execution_refuses_past_a_fork_in_one_line_then_records_again(arch):
    s = Session(arch, FORK[arch], record=True)
    s("catch syscall write")
    s("c")  # the child's write
    for command in ("rsi", "rc"):
        line = s.error(command)
        assert line == ("reverse execution covers one task: pid 1000 forked pid 1001 at call #0 "
                        f"({'fork' if arch == 'x86_64' else 'clone'}); it records again once one task is left")
    assert "snapshots cover one task, and the guest has 2 now (pid 1000, pid 1001)" in s.error("snapshot")
    s("c")  # the child's write returns
    text = s("c")  # the child ends; the parent's wait4 returns, alone: a new recording; its write
    assert "[pid 1001 exited with status 3]" in text and "Entering system call write" in text
    back = s("rc")
    assert back.startswith("No more reverse-execution history: the recording began again after call #")
    assert "(wait4), once one task was left (pid 1000 forked pid 1001" in back
    assert s("si")  # forward again through the replayed past
    assert s("c").startswith("Entering system call write")
    s("delete")
    assert s("c").endswith("[the process exited with status 0]\n")
    back = s("rc")  # from the end, back to the exit's entry: no task is news there
    assert back.startswith("(backwards) Entering system call exit") and "[New" not in back


# -- the gdb stub -------------------------------------------------------------------------------


def stub_for(arch: str, text: str, features: str = "multiprocess+;fork-events+;vfork-events+;exec-events+", *,
             record: bool = True, mounts: tuple[str, ...] = ()) -> tuple[GdbStub, Sandbox, socket.socket]:
    sb = Sandbox(arch, mounts=list(mounts))
    sb.load_asm(text)
    if record:
        sb.record()
    stub = GdbStub(sb.debugger)
    ours, theirs = socket.socketpair()
    stub.conn = Connection(ours)
    stub.conn.acks = False
    stub.supported = stub.handle(f"qSupported:{features}".encode())  # type: ignore[attr-defined]
    return stub, sb, theirs


def pc_number(arch: str) -> int:
    return {"x86_64": 16, "aarch64": 32}[arch]


def reg_value(stub: GdbStub, arch: str) -> int:
    return int.from_bytes(bytes.fromhex(stub.handle(f"p{pc_number(arch):x}".encode())), "little")


@pytest.mark.parametrize("arch", ARCHES)
def test_the_stub_lists_selects_and_steps_threads(arch):
    stub, sb, _ = stub_for(arch, THREADS[arch])
    assert "multiprocess+" in stub.supported and "fork-events+" in stub.supported  # type: ignore[attr-defined]
    assert stub.handle(b"qfThreadInfo") == "mp3e8.3e8" and stub.handle(b"qC") == "QCp3e8.3e8"
    thread = sb.machine.symbols["thread"]
    assert stub.handle(f"Z0,{thread:x},1".encode()) == "OK"
    assert stub.handle(b"vCont;c:p3e8.-1") == "T05swbreak:;thread:p3e8.3e9;"
    assert stub.handle(b"qfThreadInfo") == "mp3e8.3e8,p3e8.3e9" and stub.handle(b"qsThreadInfo") == "l"
    assert stub.handle(b"qC") == "QCp3e8.3e9"
    extra = bytes.fromhex(stub.handle(b"qThreadExtraInfo,p3e8.3e8")).decode()
    assert extra.startswith("waiting in futex (for the futex at ")
    assert stub.handle(b"Tp3e8.3e9") == "OK" and stub.handle(b"Tp3e8.3ea") == "E01"
    assert reg_value(stub, arch) == thread
    assert stub.handle(b"Hgp3e8.3e8") == "OK"
    waiting = reg_value(stub, arch)
    assert sb.machine.symbols["wait"] < waiting < sb.machine.symbols["joined"]
    assert stub.handle(b"Hgp3e8.3e9") == "OK" and reg_value(stub, arch) == thread
    # step thread 1: it waits in futex until thread 2 (going past its breakpoint) exits
    assert stub.handle(b"vCont;s:p3e8.3e8;c:p3e8.-1") == "T05thread:p3e8.3e8;"
    assert reg_value(stub, arch) == waiting and stub.handle(b"qfThreadInfo") == "mp3e8.3e8"
    assert stub.handle(b"vCont;c:p3e8.-1") == "W00;process:3e8"


@pytest.mark.parametrize("arch", ARCHES)
def test_without_multiprocess_threads_are_tids(arch):
    stub, sb, _ = stub_for(arch, FORK[arch], "swbreak+")
    assert "multiprocess+" not in stub.supported and "fork-events" not in stub.supported  # type: ignore[attr-defined]
    child = sb.machine.symbols["child"]
    assert stub.handle(f"Z0,{child:x},1".encode()) == "OK"
    assert stub.handle(b"c") == "T05swbreak:;thread:3e9;"  # the child: every process's tasks are threads
    assert stub.handle(b"qfThreadInfo") == "m3e8,3e9"
    assert stub.handle(b"Hg3e8") == "OK" and stub.handle(b"qC") == "QC3e8"
    assert stub.handle(b"c") == "W00"


@pytest.mark.parametrize("arch", ARCHES)
def test_fork_events_breakpoints_follow_the_child_until_gdb_detaches_it(arch):
    stub, sb, _ = stub_for(arch, FORK[arch])
    child = sb.machine.symbols["child"]
    parent = sb.machine.symbols["parent"]
    for address in (child, parent):
        assert stub.handle(f"Z0,{address:x},1".encode()) == "OK"
    assert stub.handle(b"vCont;c:p3e8.-1") == "T05fork:p3e9.3e9;thread:p3e8.3e8;"
    assert sb.reg(RET[arch]) == 1001  # the parent, as the fork returned
    # gdb (follow-fork-mode parent, detach-on-fork on) takes its breakpoints out of the child, then detaches it
    assert stub.handle(b"Hgp3e9.3e9") == "OK"
    for address in (child, parent):
        assert stub.handle(f"z0,{address:x},1".encode()) == "OK"
    assert stub.handle(b"Hgp3e8.3e8") == "OK" and stub.handle(b"D;3e9") == "OK" and not stub.detached
    assert stub.handle(b"qfThreadInfo") == "mp3e8.3e8"
    assert stub.handle(b"vCont;c:p3e8.-1") == "T05swbreak:;thread:p3e8.3e8;"  # the parent's, not the child's
    assert sb.reg("pc") == parent
    assert stub.handle(f"z0,{parent:x},1".encode()) == "OK"
    assert stub.handle(b"vCont;c:p3e8.-1") == "W00;process:3e8"
    assert sb.stdout == b"child\nparent\n"


@pytest.mark.parametrize("arch", ARCHES)
def test_a_childs_end_is_reported_with_its_process(arch):
    stub, sb, _ = stub_for(arch, FORK[arch], "multiprocess+")
    assert stub.handle(b"vCont;c") == "W03;process:3e9"  # the child ended (status 3); the run goes on
    assert stub.handle(b"vCont;c") == "W00;process:3e8"


@pytest.mark.parametrize("arch", ARCHES)
def test_exec_events_name_the_new_program_and_serve_it(arch, tmp_path):
    hello_elf(arch, tmp_path)
    stub, sb, _ = stub_for(arch, FORK_EXEC[arch], mounts=(f"{tmp_path}:/x",))
    assert stub.handle(b"vCont;c") == "T05fork:p3e9.3e9;thread:p3e8.3e8;"
    assert stub.handle(b"D;3e8") == "OK"  # follow-fork-mode child: gdb detaches the parent
    assert stub.handle(b"Hgp3e9.3e9") == "OK"
    assert stub.handle(b"vCont;c:p3e9.-1") == "T05exec:" + b"/x/hello".hex() + ";thread:p3e9.3e9;"
    assert sb.reg("pc") == 0x400000  # the new program's first instruction, not yet run
    name = stub.handle(b"qXfer:exec-file:read:3e9:0,fff")
    assert name == b"l/x/hello"
    fd = int(stub.handle(b"vFile:open:" + b"/x/hello".hex().encode() + b",0,0")[1:], 16)
    assert stub.handle(f"vFile:pread:{fd:x},4,0".encode()) == b"F4;\x7fELF"
    assert stub.handle(b"vCont;c:p3e9.-1") == "W00;process:3e9"
    assert b"Hello world\n" in sb.stdout


def test_reverse_execution_past_a_fork_says_why_on_gdbs_console():
    stub, sb, theirs = stub_for("x86_64", FORK["x86_64"], "multiprocess+;fork-events+")
    assert stub.handle(b"vCont;c") == "T05fork:p3e9.3e9;thread:p3e8.3e8;"
    assert stub.handle(b"bs") == "E01"
    theirs.settimeout(1)
    data = theirs.recv(65536)
    text = bytes.fromhex(data[2:data.index(b"#")].decode()).decode()
    assert text == ("sandbox: reverse execution covers one task: pid 1000 forked pid 1001 at call #0 (fork); "
                    "it records again once one task is left\n")


def test_an_interrupt_while_a_detached_child_runs_stops_in_a_debugged_thread():
    import threading

    loop = FORK["x86_64"].replace("child:\n", "child:\n    jmp child\n", 1)
    stub, sb, theirs = stub_for("x86_64", loop, "multiprocess+;fork-events+")
    assert stub.handle(b"vCont;c") == "T05fork:p3e9.3e9;thread:p3e8.3e8;"
    assert stub.handle(b"D;3e9") == "OK"
    threading.Timer(0.3, lambda: theirs.sendall(b"\x03")).start()
    assert stub.handle(b"vCont;c") == "T02thread:p3e8.3e8;"  # the parent waits in wait4; the child loops
    assert stub.handle(b"qfThreadInfo") == "mp3e8.3e8"
    assert stub.handle(b"vKill;3e8") == "OK" and stub.killed


@pytest.mark.parametrize("arch", ARCHES)
def test_hc_picks_the_thread_an_old_style_step_steps(arch):
    stub, sb, _ = stub_for(arch, THREADS[arch], "swbreak+")
    stub.handle(f"Z0,{sb.machine.symbols['thread']:x},1".encode())
    assert stub.handle(b"c") == "T05swbreak:;thread:3e9;"
    assert stub.handle(b"Hc3e8") == "OK"
    assert stub.handle(b"s") == "T05thread:3e8;"  # thread 1's futex returned once thread 2 had exited
    assert stub.handle(b"qfThreadInfo") == "m3e8" and sb.stdout == b"thread\n"
    assert stub.handle(b"Hc-1") == "OK" and stub.handle(b"c") == "W00"


def test_recording_begun_with_two_threads_refuses_until_one_is_left():
    from sandbox.debug.history import HistoryError

    sb = Sandbox("x86_64")
    sb.load_asm(THREADS["x86_64"])
    sb.break_at("thread")
    sb.cont()
    sb.record()
    with pytest.raises(HistoryError, match=r"^reverse execution covers one task: the guest had 2 tasks "
                                           r"\(pid 1000, pid 1000 thread 1001\) when recording began; "):
        sb.reverse_step()
    sb.delete()
    sb.catch_syscall("write")
    assert sb.cont().tid == 1001  # the thread's write
    sb.cont()
    assert sb.cont().tid == 1000  # main's, alone: recorded again
    assert sb.reverse_continue().reason == "history-start"
