"""The debugging API: stepping, breakpoints, catchpoints, watchpoints, registers and memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import Sandbox, SandboxError

ROOT = Path(__file__).resolve().parents[2]
ARCHES = ["x86_64", "aarch64"]
EXIT = {"x86_64": "mov eax, 60; xor edi, edi; syscall", "aarch64": "mov x8, #93; mov x0, #0; svc #0"}
# Three increments of a counter in memory: x86_64 with one read-modify-write instruction.
COUNTER = {
    "x86_64": "lea rbx, [rip + counter]; mov rcx, 3; loop: add qword ptr [rbx], 1; mov rax, qword ptr [rbx];"
    " dec rcx; jnz loop; done: " + EXIT["x86_64"] + "; counter: .quad 0",
    "aarch64": "adr x1, counter; mov x2, #3; loop: ldr x0, [x1]; add x0, x0, #1; str x0, [x1]; subs x2, x2, #1;"
    " b.ne loop; done: " + EXIT["aarch64"] + "; counter: .quad 0",
}
READ_STDIN = {
    "x86_64": "xor edi, edi; lea rsi, [rip + buf]; mov edx, 4; xor eax, eax; syscall; " + EXIT["x86_64"]
    + "; buf: .quad 0",
    "aarch64": "mov x0, #0; adr x1, buf; mov x2, #4; mov x8, #63; svc #0; " + EXIT["aarch64"] + "; buf: .quad 0",
}
CALL = {
    "x86_64": "call func; after: nop; " + EXIT["x86_64"] + "; func: mov eax, 5; ret",
    "aarch64": "bl func; after: nop; " + EXIT["aarch64"] + "; func: mov x0, #5; ret",
}
RET = {"x86_64": "rax", "aarch64": "x0"}


def hello(arch: str) -> Sandbox:
    sb = Sandbox(arch)
    sb.load_file(str(ROOT / f"examples/hello/hello.{arch}.s"))
    return sb


def stub(arch: str, text: str, **kw) -> Sandbox:
    sb = Sandbox(arch, **kw)
    sb.load_asm(text)
    return sb


@pytest.mark.parametrize("arch", ARCHES)
def test_step_moves_one_instruction_and_serves_a_syscall_stepped_over(arch):
    sb = hello(arch)
    insns = sb.disasm(n=5)
    assert sb.step().reason == "step" and sb.reg("pc") == insns[1].address
    sb.step(3)
    assert sb.reg("pc") == insns[4].address and insns[4].text in ("syscall", "svc #0")
    event = sb.step()  # the write
    assert event.reason == "step" and sb.reg("pc") == insns[4].address + insns[4].size
    assert sb.stdout == b"Hello world\n" and sb.reg(RET[arch]) == 12
    assert sb.step(10).reason == "exited" and sb.step().exit_status == 0


@pytest.mark.parametrize("arch", ARCHES)
def test_breakpoints_by_symbol_and_address(arch):
    sb = stub(arch, COUNTER[arch])
    bp = sb.break_at("loop")
    assert sb.cont().breakpoint is bp
    assert sb.cont().reason == "breakpoint"  # resuming does not hit the same one again at once
    assert sb.cont().reason == "breakpoint" and bp.hits == 3
    done = sb.break_at(sb.machine.symbols["done"])
    event = sb.cont()
    assert event.breakpoint is done and sb.read_memory("counter", 8) == (3).to_bytes(8, "little")
    sb.delete()
    assert sb.cont().reason == "exited"


@pytest.mark.parametrize("arch", ARCHES)
def test_a_temporary_breakpoint_goes_away_when_hit(arch):
    sb = stub(arch, COUNTER[arch])
    bp = sb.debugger.break_at("loop", temporary=True)
    event = sb.cont()
    assert event.reason == "breakpoint" and event.breakpoint is bp and not sb.debugger.breakpoints
    assert sb.cont().reason == "exited"


@pytest.mark.parametrize("arch", ARCHES)
def test_no_hook_or_predicate_stays_behind(arch):
    sb = stub(arch, COUNTER[arch])
    machine = sb.machine
    sb.break_at("loop")
    sb.watch("counter")
    sb.catch_syscall("exit")
    assert machine._debug_hooks and machine.stop_at_syscall_entry is not None
    sb.delete()
    assert machine._debug_hooks == {}
    assert machine.stop_at_syscall_entry is None and machine.stop_at_syscall_exit is None


@pytest.mark.parametrize("arch", ARCHES)
def test_catch_syscall_entry_and_return_by_name_and_number(arch):
    sb = hello(arch)
    sb.catch_syscall("write")
    entry = sb.cont()
    assert entry.reason == "syscall-entry" and entry.syscall.name == "write"
    assert sb.disasm(entry.syscall.pc, 1)[0].text in ("syscall", "svc #0") and sb.stdout == b""
    assert entry.pc == sb.reg("pc") == entry.syscall.pc + sb.arch.trap.length  # after the trap, as on Linux
    ret = sb.cont()
    assert (ret.reason, ret.result, ret.errno, sb.stdout) == ("syscall-return", 12, None, b"Hello world\n")
    exit_nr = {"x86_64": 60, "aarch64": 93}[arch]
    sb.catch_syscall(exit_nr, exit=False)
    assert sb.cont().syscall.name == "exit"
    assert sb.cont().reason == "exited"


@pytest.mark.parametrize("arch", ARCHES)
def test_catch_every_syscall(arch):
    sb = hello(arch)
    sb.catch_syscall()
    seen = []
    while True:
        event = sb.cont()
        if event.ended:
            break
        seen.append((event.reason, event.syscall.name))
    assert seen == [("syscall-entry", "write"), ("syscall-return", "write"), ("syscall-entry", "exit")]


@pytest.mark.parametrize("arch", ARCHES)
def test_run_until_pc_syscall_or_count(arch):
    sb = stub(arch, COUNTER[arch])
    assert sb.run_until(count=2).reason == "step"
    assert sb.run_until(pc="done").reason == "until" and sb.reg("pc") == sb.machine.symbols["done"]
    event = sb.run_until(syscall="exit")
    assert event.reason == "syscall-entry" and event.syscall.name == "exit"
    with pytest.raises(SandboxError, match="no system call named"):
        sb.run_until(syscall="nosuchcall")


@pytest.mark.parametrize("arch", ARCHES)
def test_write_watchpoint_reports_each_change_and_the_instruction_runs_once(arch):
    sb = stub(arch, COUNTER[arch])
    wp = sb.watch("counter", 8)
    values = []
    while True:
        event = sb.cont()
        if event.reason != "watchpoint":
            break
        hit = event.watch
        assert hit.watchpoint is wp and hit.is_write and hit.by_syscall is None
        values.append((int.from_bytes(hit.old, "little"), int.from_bytes(hit.new, "little")))
    assert values == [(0, 1), (1, 2), (2, 3)]
    assert event.reason == "exited"


@pytest.mark.parametrize("arch", ARCHES)
def test_read_watchpoint(arch):
    sb = stub(arch, COUNTER[arch])
    sb.watch("counter", 8, kind="read")
    reads = 0
    while sb.cont().reason == "watchpoint":
        reads += 1
    assert reads == {"x86_64": 6, "aarch64": 3}[arch]  # add [mem] reads too on x86_64


@pytest.mark.parametrize("arch", ARCHES)
def test_a_write_by_the_kernel_is_seen_at_the_syscall_return(arch):
    sb = stub(arch, READ_STDIN[arch], stdin=b"abcdXYZ")
    sb.watch("buf", 4)
    event = sb.cont()
    assert event.reason == "watchpoint" and event.watch.by_syscall == "read"
    assert (event.watch.old, event.watch.new) == (bytes(4), b"abcd")


@pytest.mark.parametrize("arch", ARCHES)
def test_next_runs_a_call_to_its_return(arch):
    sb = stub(arch, CALL[arch])
    event = sb.next()
    assert event.reason == "step" and sb.reg("pc") == sb.machine.symbols["after"] and sb.reg(RET[arch]) == 5


@pytest.mark.parametrize("arch", ARCHES)
def test_registers_and_memory_by_name(arch):
    sb = hello(arch)
    assert sb.reg("pc") == sb.reg("$PC") == sb.machine.pc
    assert sb.reg("sp") == sb.reg({"x86_64": "rsp", "aarch64": "sp"}[arch])
    sb.set_reg(RET[arch], -1)
    assert sb.reg(RET[arch]) == 2**64 - 1
    assert sb.read_memory("msg", 5) == b"Hello"
    sb.write_memory("msg", b"Jello")
    sb.run_until(syscall="exit")
    assert sb.stdout == b"Jello world\n"
    with pytest.raises(SandboxError, match="no register"):
        sb.reg("xyz")
    with pytest.raises(SandboxError, match="cannot access memory at 0x10"):
        sb.read_memory(0x10, 4)
    with pytest.raises(SandboxError, match="no symbol"):
        sb.break_at("nowhere")


@pytest.mark.parametrize("arch,first", [("x86_64", "mov eax, 1"), ("aarch64", "mov x8, #0x40")])
def test_disasm_with_capstone(arch, first):
    sb = hello(arch)
    insns = sb.disasm(n=3)
    assert insns[0].text == first and insns[0].symbol == "_start"
    assert insns[1].address == insns[0].address + insns[0].size


@pytest.mark.parametrize("arch,text", [("x86_64", "mov rax, qword ptr [0x10]"), ("aarch64", "mov x1, #0x10; ldr x0, [x1]")])
def test_a_fault_is_a_signal_stop(arch, text):
    sb = stub(arch, text)
    event = sb.cont()
    assert event.reason == "signal" and event.signal == "SIGSEGV" and event.exit_status == 139
    assert event.fault.address == 0x10
