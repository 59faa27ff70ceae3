@ fork-pipe: the classic lesson of processes, in system calls alone.
@
@ The parent makes a pipe and forks. The child points its stdout at the pipe's write end and
@ execve's the program again ("/proc/self/exe" with the argument "child"); run that way, the
@ program writes one line and exits with status 3. The parent reads the pipe until every
@ writer has closed it, prints what came, then wait4's the child and exits with its status.
@
@ arm (EABI): r7 the number, r0-r5 the arguments; r4-r6 and r8-r11 are the program's own.
    .text
    .globl _start
_start:
    ldr     r0, [sp]                @ argc > 1: this is the exec'd child
    cmp     r0, #1
    bgt     child_main
    adr     r6, fds                 @ r6: the two descriptors of the pipe

    mov     r7, #0x167              @ pipe2(fds, 0) (359): fds[0] reads, fds[1] writes
    mov     r0, r6
    mov     r1, #0
    svc     #0
    cmp     r0, #0
    bne     fail

    mov     r7, #2                  @ fork()
    svc     #0
    cmp     r0, #0
    blt     fail
    beq     in_child                @ 0: we are the child
    mov     r4, r0                  @ the parent: r0 is the child's pid

    mov     r7, #6                  @ close(fds[1]): while the parent holds a write end,
    ldr     r0, [r6, #4]            @ its read would never see the end of the pipe
    svc     #0
    mov     r7, #4                  @ write(1, "parent got: ", 12)
    mov     r0, #1
    adr     r1, got
    mov     r2, #12
    svc     #0
copy:
    mov     r7, #3                  @ read(fds[0], buf, 64): waits until the child writes
    ldr     r0, [r6]
    adr     r1, buf
    mov     r2, #64
    svc     #0
    cmp     r0, #0
    ble     drained                 @ 0: every write end is closed (the child has exited)
    mov     r2, r0                  @ write(1, buf, n)
    mov     r7, #4
    mov     r0, #1
    adr     r1, buf
    svc     #0
    b       copy
drained:
    mov     r7, #114                @ wait4(pid, &status, 0, NULL): reap the child
    mov     r0, r4
    adr     r1, status
    mov     r2, #0
    mov     r3, #0
    svc     #0
    cmp     r0, r4
    bne     fail
    adr     r1, status
    ldrb    r0, [r1, #1]            @ WEXITSTATUS(status): bits 8-15
    mov     r7, #248                @ exit_group(3)
    svc     #0

in_child:
    mov     r7, #63                 @ dup2(fds[1], 1): stdout is now the pipe
    ldr     r0, [r6, #4]
    mov     r1, #1
    svc     #0
    mov     r7, #6                  @ close(fds[0])
    ldr     r0, [r6]
    svc     #0
    mov     r7, #6                  @ close(fds[1]): fd 1 keeps the pipe open
    ldr     r0, [r6, #4]
    svc     #0
    adr     r1, argv                @ argv = {"/proc/self/exe", "child", NULL}
    adr     r0, exe
    str     r0, [r1]
    adr     r2, child_arg
    str     r2, [r1, #4]
    mov     r7, #11                 @ execve("/proc/self/exe", argv, NULL): the same program, anew
    mov     r2, #0
    svc     #0
    mov     r7, #1                  @ execve returns only when it failed: exit(127)
    mov     r0, #127
    svc     #0

child_main:                         @ run as "fork-pipe child": stdout is the pipe
    mov     r7, #4                  @ write(1, "hello from the child\n", 21)
    mov     r0, #1
    adr     r1, hello
    mov     r2, #21
    svc     #0
    mov     r7, #1                  @ exit(3)
    mov     r0, #3
    svc     #0

fail:
    mov     r7, #248                @ exit_group(1)
    mov     r0, #1
    svc     #0

got:        .ascii  "parent got: "
hello:      .ascii  "hello from the child\n"
exe:        .asciz  "/proc/self/exe"
child_arg:  .asciz  "child"
    .align  2
argv:       .long   0, 0, 0
fds:        .long   0, 0
status:     .long   0
buf:        .zero   64
