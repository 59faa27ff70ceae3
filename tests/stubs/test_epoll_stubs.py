"""epoll, eventfd and timerfd end to end: stubs assembled with Keystone, run to their end.

The program makes an eventfd, a timerfd armed for 50 ms and an epoll watching both, then
forks. The child writes 5 to the eventfd and exits; the parent's epoll_wait parks it until
that write (the child runs meanwhile), then again until the timer expires. The parent exits
with eventfd's count + 10 * the first event's data + 20 * the second's + 100 * the timer's
expirations: 5 + 10 + 40 + 100 = 155, as on Linux.
"""

from __future__ import annotations

import pytest

from sandbox import Sandbox

PROGRAM = {
    "x86_64": """
    mov eax, 290
    xor edi, edi
    xor esi, esi
    syscall
    mov r12, rax
    mov eax, 291
    xor edi, edi
    syscall
    mov r13, rax
    mov eax, 283
    mov edi, 1
    xor esi, esi
    syscall
    mov r14, rax
    mov eax, 233
    mov rdi, r13
    mov esi, 1
    mov rdx, r12
    lea r10, [rip + ev1]
    syscall
    mov eax, 233
    mov rdi, r13
    mov esi, 1
    mov rdx, r14
    lea r10, [rip + ev2]
    syscall
    mov eax, 286
    mov rdi, r14
    xor esi, esi
    lea rdx, [rip + its]
    xor r10d, r10d
    syscall
    mov eax, 57
    syscall
    test rax, rax
    jz child
    mov eax, 232
    mov rdi, r13
    lea rsi, [rip + events]
    mov edx, 4
    mov r10, -1
    syscall
    mov r15, [rip + events + 4]
    mov eax, 0
    mov rdi, r12
    lea rsi, [rip + value]
    mov edx, 8
    syscall
    mov rbx, [rip + value]
    imul r15, r15, 10
    add rbx, r15
    mov eax, 232
    mov rdi, r13
    lea rsi, [rip + events]
    mov edx, 4
    mov r10, -1
    syscall
    mov r15, [rip + events + 4]
    imul r15, r15, 20
    add rbx, r15
    mov eax, 0
    mov rdi, r14
    lea rsi, [rip + value]
    mov edx, 8
    syscall
    mov rax, [rip + value]
    imul rax, rax, 100
    add rbx, rax
    mov rdi, rbx
    mov eax, 231
    syscall
child:
    mov eax, 1
    mov rdi, r12
    lea rsi, [rip + five]
    mov edx, 8
    syscall
    xor edi, edi
    mov eax, 60
    syscall
    .align 8
its: .quad 0, 0, 0, 50000000
five: .quad 5
value: .quad 0
ev1: .long 1
    .quad 1
ev2: .long 1
    .quad 2
events: .space 64
""",
    "aarch64": """
    mov x0, #0
    mov x1, #0
    mov x8, #19
    svc #0
    mov x19, x0
    mov x0, #0
    mov x8, #20
    svc #0
    mov x20, x0
    mov x0, #1
    mov x1, #0
    mov x8, #85
    svc #0
    mov x21, x0
    mov x0, x20
    mov x1, #1
    mov x2, x19
    adr x3, ev1
    mov x8, #21
    svc #0
    mov x0, x20
    mov x1, #1
    mov x2, x21
    adr x3, ev2
    mov x8, #21
    svc #0
    mov x0, x21
    mov x1, #0
    adr x2, its
    mov x3, #0
    mov x8, #86
    svc #0
    mov x0, #17
    mov x1, #0
    mov x2, #0
    mov x3, #0
    mov x4, #0
    mov x8, #220
    svc #0
    cbz x0, child
    mov x0, x20
    adr x1, events
    mov x2, #4
    mov x3, #-1
    mov x4, #0
    mov x5, #8
    mov x8, #22
    svc #0
    adr x1, events
    ldr x22, [x1, #8]
    mov x0, x19
    adr x1, value
    mov x2, #8
    mov x8, #63
    svc #0
    adr x1, value
    ldr x23, [x1]
    mov x9, #10
    madd x23, x22, x9, x23
    mov x0, x20
    adr x1, events
    mov x2, #4
    mov x3, #-1
    mov x4, #0
    mov x5, #8
    mov x8, #22
    svc #0
    adr x1, events
    ldr x22, [x1, #8]
    mov x9, #20
    madd x23, x22, x9, x23
    mov x0, x21
    adr x1, value
    mov x2, #8
    mov x8, #63
    svc #0
    adr x1, value
    ldr x22, [x1]
    mov x9, #100
    madd x0, x22, x9, x23
    mov x8, #94
    svc #0
child:
    mov x0, x19
    adr x1, five
    mov x2, #8
    mov x8, #64
    svc #0
    mov x0, #0
    mov x8, #93
    svc #0
    .align 3
its: .quad 0, 0, 0, 50000000
five: .quad 5
value: .quad 0
ev1: .long 1, 0
    .quad 1
ev2: .long 1, 0
    .quad 2
events: .space 64
""",
}


@pytest.mark.parametrize("arch", sorted(PROGRAM))
def test_epoll_waits_for_an_eventfd_another_process_writes_then_for_a_timer(arch):
    result = Sandbox(arch, timeout=20).run_asm(PROGRAM[arch])
    assert result.exit_status == 155, result


@pytest.mark.parametrize("arch", sorted(PROGRAM))
def test_the_same_with_a_virtual_clock(arch):
    result = Sandbox(arch, timeout=20, virtual_time=True).run_asm(PROGRAM[arch])
    assert result.exit_status == 155, result
