"""Reverse execution: back one instruction, or to the previous breakpoint or system call."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import Sandbox, SandboxError

ROOT = Path(__file__).resolve().parents[2]
ARCHES = ["x86_64", "aarch64"]
CAT_INPUT = str(ROOT / "examples/hello/README.md")
# A loop that counts in a register and makes a getpid call each time round.
LOOP = {
    "x86_64": "xor ebx, ebx; loop: inc rbx; mov eax, 39; syscall; cmp rbx, 5; jne loop; "
    "mov eax, 60; xor edi, edi; syscall",
    "aarch64": "mov x19, #0; loop: add x19, x19, #1; mov x8, #172; svc #0; cmp x19, #5; b.ne loop; "
    "mov x8, #93; mov x0, #0; svc #0",
}
COUNTER = {"x86_64": "rbx", "aarch64": "x19"}
# clock_gettime of the host clock: a result that differs on every run unless replayed.
CLOCK = {
    "x86_64": "mov edi, 0; lea rsi, [rip + ts]; mov eax, 228; syscall; done: mov eax, 60; xor edi, edi; syscall;"
    " ts: .quad 0, 0",
    "aarch64": "mov x0, #0; adr x1, ts; mov x8, #113; svc #0; done: mov x8, #93; mov x0, #0; svc #0;"
    " ts: .quad 0, 0",
}


# A SIGUSR1 handler that writes "H", entered when the program kills itself, then "M" and exit.
SIGNAL = {
    "x86_64": """
    lea rax, [rip + handler]; mov [rip + act], rax; lea rax, [rip + restorer]; mov [rip + act + 16], rax
    mov eax, 13; mov edi, 10; lea rsi, [rip + act]; xor edx, edx; mov r10d, 8; syscall
    mov eax, 39; syscall; mov edi, eax; mov esi, 10; mov eax, 62; syscall
    mov eax, 1; mov edi, 1; lea rsi, [rip + m]; mov edx, 1; syscall
    mov eax, 60; xor edi, edi; syscall
    handler: mov eax, 1; mov edi, 1; lea rsi, [rip + h]; mov edx, 1; syscall; ret
    restorer: mov eax, 15; syscall
    act: .quad 0, 0x04000000, 0, 0
    h: .ascii "H"
    m: .ascii "M"
    """,
    "aarch64": """
    adr x0, handler; adr x1, act; str x0, [x1]
    mov x8, #134; mov x0, #10; mov x2, #0; mov x3, #8; svc #0
    mov x8, #172; svc #0; mov x1, #10; mov x8, #129; svc #0
    mov x8, #64; mov x0, #1; adr x1, m; mov x2, #1; svc #0
    mov x8, #93; mov x0, #0; svc #0
    handler: mov x8, #64; mov x0, #1; adr x1, h; mov x2, #1; svc #0; ret
    act: .quad 0, 0, 0, 0
    h: .ascii "H"
    m: .ascii "M"
    """,
}


def recorded(arch: str, text: str | None = None, example: str | None = None, args: tuple = ()) -> Sandbox:
    sb = Sandbox(arch)
    if example:
        sb.load_file(str(ROOT / f"examples/{example}/{example}.{arch}.s"), [example, *args])
    else:
        sb.load_asm(text or "nop")
    sb.record()
    return sb


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("example,args", [("hello", ()), ("cat", (CAT_INPUT,))])
def test_stepping_back_retraces_every_instruction_and_output(arch, example, args):
    sb = recorded(arch, example=example, args=args)
    states = []
    while True:
        states.append((sb.registers(), len(sb.stdout)))
        if sb.step().ended:
            break
    output = sb.stdout
    for regs, out_len in reversed(states):
        assert sb.reverse_step().reason == "step"
        assert sb.registers() == regs
        assert sb.stdout == output[:out_len]
    assert sb.reverse_step().reason == "history-start"
    # forward again through the recorded past: the same output, written once
    assert sb.cont().exit_status == 0 and sb.stdout == output


@pytest.mark.parametrize("arch", ARCHES)
def test_reverse_continue_stops_at_breakpoints_and_syscalls(arch):
    sb = recorded(arch, LOOP[arch])
    sb.break_at("loop")
    for _ in range(3):
        assert sb.cont().reason == "breakpoint"
    assert sb.reg(COUNTER[arch]) == 2  # the third arrival at loop
    back = sb.reverse_continue()  # the getpid of the second time round
    assert back.reason == "syscall-entry" and back.syscall.name == "getpid" and sb.reg(COUNTER[arch]) == 2
    back = sb.reverse_continue()
    assert back.reason == "breakpoint" and sb.reg("pc") == sb.machine.symbols["loop"] and sb.reg(COUNTER[arch]) == 1
    sb.delete()
    assert sb.cont().reason == "exited" and len(sb.result().calls("getpid")) == 5


@pytest.mark.parametrize("arch", ARCHES)
def test_stepping_back_from_a_breakpoint_finds_its_place_in_a_loop(arch):
    sb = recorded(arch, LOOP[arch])
    sb.break_at(sb.machine.symbols["loop"] + {"x86_64": 3, "aarch64": 4}[arch])  # after the increment
    for _ in range(4):
        sb.cont()
    assert sb.reg(COUNTER[arch]) == 4
    sb.reverse_step()  # back over the increment: this round's, not an earlier one
    assert sb.reg(COUNTER[arch]) == 3 and sb.reg("pc") == sb.machine.symbols["loop"]
    sb.step()
    assert sb.reg(COUNTER[arch]) == 4


@pytest.mark.parametrize("arch", ARCHES)
def test_going_forward_in_the_past_replays_recorded_results(arch):
    sb = recorded(arch, CLOCK[arch])
    sb.run_until(pc="done")
    first = sb.read_memory("ts", 16)
    sb.reverse_continue()  # to the clock_gettime entry
    sb.reverse_step()
    assert sb.read_memory("ts", 16) == bytes(16)
    sb.run_until(pc="done")
    assert sb.read_memory("ts", 16) == first  # the recorded time, not a new reading
    assert len(sb.machine.log) == 1


@pytest.mark.parametrize("arch", ARCHES)
def test_reverse_from_the_end(arch):
    sb = recorded(arch, example="hello")
    assert sb.cont().reason == "exited"
    back = sb.reverse_continue()
    assert back.reason == "syscall-entry" and back.syscall.name == "exit"
    back = sb.reverse_continue()
    assert back.syscall.name == "write" and sb.stdout == b""
    assert sb.reverse_continue().reason == "history-start"


def test_changing_state_starts_a_new_history():
    sb = recorded("x86_64", LOOP["x86_64"])
    sb.run_until(syscall="getpid")
    sb.step(3)
    sb.set_reg("rbx", 4)
    assert sb.reverse_step().reason == "history-start"
    assert sb.cont().exit_status == 0 and len(sb.result().calls("getpid")) == 2


def test_reverse_needs_a_recording():
    sb = Sandbox("x86_64")
    sb.load_asm("nop; nop")
    sb.step()
    with pytest.raises(SandboxError, match="record"):
        sb.reverse_step()


@pytest.mark.parametrize("arch", ARCHES)
def test_reverse_through_a_signal_handler(arch):
    sb = recorded(arch, SIGNAL[arch])
    states = []
    while True:
        states.append(sb.registers())
        if sb.step().ended:
            break
    assert sb.stdout == b"HM" and sb.result().names()[-4:] == ["write", "rt_sigreturn", "write", "exit"]
    for regs in reversed(states):
        sb.reverse_step()
        assert sb.registers() == regs
    sb.catch_syscall("kill", entry=False)
    event = sb.cont()  # forward in the past: the return from kill is in the handler
    assert event.reason == "syscall-return" and sb.reg("pc") == sb.machine.symbols["handler"]
    sb.delete()
    assert sb.cont().exit_status == 0 and sb.stdout == b"HM"


@pytest.mark.parametrize("arch", ARCHES)
def test_a_signal_delivered_by_a_call_resumed_from_its_entry_stop(arch):
    sb = Sandbox(arch)
    sb.load_asm(SIGNAL[arch])
    sb.catch_syscall("kill")
    assert sb.cont().reason == "syscall-entry"
    event = sb.cont()  # served on resume: the handler is entered as the call returns
    assert event.reason == "syscall-return" and sb.reg("pc") == sb.machine.symbols["handler"]
    assert sb.cont().exit_status == 0 and sb.stdout == b"HM"
