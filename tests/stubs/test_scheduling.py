"""How the CPU side runs many tasks: who gives way when, and what a fork reuses.

Stubs assembled with Keystone, run to their end; each checks what Linux would show (the exit
status, the output), and some how the sandbox got there (the machines a run made).
"""

from __future__ import annotations

import time

import pytest

from sandbox import Sandbox

ARCHES = ["x86_64", "aarch64"]

# fork; the child spins forever without a system call; the parent sleeps 0.2 s, kills it with
# SIGKILL, reaps it and exits with the child's wait status >> 8 | the signal (9 + 0)
SPIN_THEN_KILL = {
    "x86_64": """
    mov eax, 57
    syscall
    test rax, rax
    jz spin
    mov r12, rax
    mov eax, 35
    lea rdi, [rip + ts]
    xor esi, esi
    syscall
    mov eax, 62
    mov rdi, r12
    mov esi, 9
    syscall
    mov eax, 61
    mov rdi, r12
    lea rsi, [rip + status]
    xor edx, edx
    xor r10d, r10d
    syscall
    mov edi, [rip + status]
    mov eax, 231
    syscall
spin: jmp spin
    .align 8
ts: .quad 0, 200000000
status: .long 0
""",
    "aarch64": """
    mov x0, #17
    mov x1, #0
    mov x2, #0
    mov x3, #0
    mov x4, #0
    mov x8, #220
    svc #0
    cbz x0, spin
    mov x19, x0
    adr x0, ts
    mov x1, #0
    mov x8, #101
    svc #0
    mov x0, x19
    mov x1, #9
    mov x8, #129
    svc #0
    mov x0, x19
    adr x1, status
    mov x2, #0
    mov x3, #0
    mov x8, #260
    svc #0
    adr x1, status
    ldr w0, [x1]
    mov x8, #94
    svc #0
spin: b spin
    .align 3
ts: .quad 0, 200000000
status: .long 0
""",
}


@pytest.mark.parametrize("arch", ARCHES)
def test_a_sleeper_wakes_on_time_while_another_process_spins(arch):
    """The spinning child makes no system call, so nothing but the parent's deadline can take
    the CPU from it: the parent wakes after 0.2 s and kills it, as on Linux."""
    started = time.monotonic()
    result = Sandbox(arch, timeout=20).run_asm(SPIN_THEN_KILL[arch])
    assert result.exit_status == 9  # the status wait4 gave: killed by SIGKILL
    assert time.monotonic() - started < 10


# The parent sets a global to 7 and forks three children in turn, reaping each. The first
# child overwrites the global and patches the code of `value` (its memory is its own); the
# second and third must still see the parent's 7 and the unpatched code: they run in the
# machine the first one left (kept for the next fork), so only its differences were copied.
# Each child exits with what `value` returns plus the global; the parent sums the statuses.
REUSE = {
    "x86_64": """
    mov dword ptr [rip + global], 7
    xor r13d, r13d
    mov r14, 3
next:
    mov eax, 57
    syscall
    test rax, rax
    jz child
    mov rdi, rax
    lea rsi, [rip + status]
    xor edx, edx
    xor r10d, r10d
    mov eax, 61
    syscall
    movzx eax, byte ptr [rip + status + 1]
    add r13, rax
    dec r14
    jnz next
    mov rdi, r13
    mov eax, 231
    syscall
child:
    call value
    add eax, [rip + global]
    mov r15d, eax
    cmp r14, 3
    jne done
    mov dword ptr [rip + global], 100
    mov byte ptr [rip + value + 1], 50
done:
    mov edi, r15d
    mov eax, 60
    syscall
value:
    mov eax, 1
    ret
    .align 8
global: .long 0
status: .long 0
""",
    "aarch64": """
    adr x9, global
    mov w10, #7
    str w10, [x9]
    mov x21, #0
    mov x22, #3
next:
    mov x0, #17
    mov x1, #0
    mov x2, #0
    mov x3, #0
    mov x4, #0
    mov x8, #220
    svc #0
    cbz x0, child
    adr x1, status
    mov x2, #0
    mov x3, #0
    mov x8, #260
    svc #0
    adr x1, status
    ldrb w0, [x1, #1]
    add x21, x21, x0
    subs x22, x22, #1
    b.ne next
    mov x0, x21
    mov x8, #94
    svc #0
child:
    bl value
    adr x9, global
    ldr w10, [x9]
    add x23, x0, x10
    cmp x22, #3
    b.ne done
    mov w10, #100
    str w10, [x9]
    adr x9, value
    ldr w10, patched
    str w10, [x9]
    ic ivau, x9
done:
    mov x0, x23
    mov x8, #93
    svc #0
value:
    mov x0, #1
    ret
patched:
    mov x0, #50
    .align 3
global: .long 0
status: .long 0
""",
}


@pytest.mark.parametrize("arch", ARCHES)
def test_a_fork_into_a_reused_machine_sees_its_parent_and_nothing_of_the_last_child(arch):
    sb = Sandbox(arch)
    result = sb.run_asm(REUSE[arch])
    assert result.exit_status == 3 * (1 + 7)  # every child saw value() == 1 and the global 7
    system = sb.machine.system
    assert len(system.machines) + len(system._spare) == 1  # one machine served the three children


# fork; both processes write 200 lines; the interleaving is the same on every run
INTERLEAVE = {
    "x86_64": """
    mov eax, 57
    syscall
    mov r12, rax
    lea rsi, [rip + parent]
    test rax, rax
    jnz go
    lea rsi, [rip + child]
go:
    mov r13, 200
again:
    mov eax, 1
    mov edi, 1
    mov edx, 2
    syscall
    dec r13
    jnz again
    test r12, r12
    jz out
    mov rdi, r12
    xor esi, esi
    xor edx, edx
    xor r10d, r10d
    mov eax, 61
    syscall
out:
    xor edi, edi
    mov eax, 231
    syscall
parent: .ascii "p\\n"
child: .ascii "c\\n"
""",
}


def test_two_processes_take_turns_by_system_calls_the_same_way_every_run():
    runs = {Sandbox("x86_64").run_asm(INTERLEAVE["x86_64"]).stdout for _ in range(3)}
    assert len(runs) == 1
    (out,) = runs
    assert out.count(b"p\n") == 200 and out.count(b"c\n") == 200
    # neither ran all its calls before the other had a turn
    assert out.index(b"c\n") < 2 * 200 and out.rindex(b"p\n") > out.index(b"c\n")


# The parent handles SIGUSR1 and sleeps 5 s; its child sleeps 0.1 s and sends it SIGUSR1.
# nanosleep ends with EINTR and writes the time left; the parent exits with rem.tv_sec (4)
# if the call said EINTR, else 99.
EINTR_SLEEP = """
    mov eax, 13                 # rt_sigaction(SIGUSR1, &act, NULL, 8)
    mov edi, 10
    lea rsi, [rip + act]
    xor edx, edx
    mov r10d, 8
    syscall
    mov eax, 57
    syscall
    test rax, rax
    jz child
    mov eax, 35                 # nanosleep({5, 0}, &rem)
    lea rdi, [rip + long]
    lea rsi, [rip + rem]
    syscall
    mov edi, 99
    cmp rax, -4                 # -EINTR
    jne out
    mov edi, [rip + rem]
out:
    mov eax, 231
    syscall
child:
    mov eax, 35
    lea rdi, [rip + short]
    xor esi, esi
    syscall
    mov eax, 110                # getppid
    syscall
    mov rdi, rax
    mov esi, 10
    mov eax, 62                 # kill(ppid, SIGUSR1)
    syscall
    mov eax, 60
    xor edi, edi
    syscall
handler:
    ret
restorer:
    mov eax, 15
    syscall
    .align 8
act: .quad handler, 0x04000000, restorer, 0
long: .quad 5, 0
short: .quad 0, 100000000
rem: .quad 0, 0
"""


def test_a_sleep_a_handler_interrupts_says_how_long_it_had_left():
    result = Sandbox("x86_64", timeout=20).run_asm(EINTR_SLEEP)
    assert result.exit_status == 4
    (sleep,) = [r for r in result.calls("nanosleep") if r.pid == 1000]
    assert sleep.errno == "EINTR"


# setitimer(ITIMER_REAL, 0.2 s), then spin without a system call: SIGALRM ends it (142)
ALARM_SPIN = {
    "x86_64": """
    mov eax, 38
    xor edi, edi
    lea rsi, [rip + value]
    xor edx, edx
    syscall
spin: jmp spin
    .align 8
value: .quad 0, 0, 0, 200000
""",
    "aarch64": """
    mov x8, #103
    mov x0, #0
    adr x1, value
    mov x2, #0
    svc #0
spin: b spin
    .align 3
value: .quad 0, 0, 0, 200000
""",
}


@pytest.mark.parametrize("arch", ARCHES)
def test_an_interval_timer_ends_a_loop_that_makes_no_system_call(arch):
    started = time.monotonic()
    result = Sandbox(arch, timeout=20).run_asm(ALARM_SPIN[arch])
    assert result.exit_status == 128 + 14 and result.signal == "SIGALRM"
    assert time.monotonic() - started < 10


# alarm(1), then pause() with a SIGALRM handler: pause ends with EINTR; exit with -result (4)
ALARM_PAUSE = """
    mov eax, 13
    mov edi, 14
    lea rsi, [rip + act]
    xor edx, edx
    mov r10d, 8
    syscall
    mov eax, 37
    mov edi, 1
    syscall
    mov eax, 34
    syscall
    neg eax
    mov edi, eax
    mov eax, 231
    syscall
handler:
    ret
restorer:
    mov eax, 15
    syscall
    .align 8
act: .quad handler, 0x04000000, restorer, 0
"""


@pytest.mark.parametrize("virtual", [False, True], ids=["real time", "virtual time"])
def test_pause_ends_when_an_alarm_comes(virtual):
    result = Sandbox("x86_64", timeout=20, virtual_time=virtual).run_asm(ALARM_PAUSE)
    assert result.exit_status == 4  # EINTR
