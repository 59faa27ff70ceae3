# fork-pipe: the classic lesson of processes, in system calls alone.
#
# The parent makes a pipe and forks. The child points its stdout at the pipe's write end and
# execve's the program again ("/proc/self/exe" with the argument "child"); run that way, the
# program writes one line and exits with status 3. The parent reads the pipe until every
# writer has closed it, prints what came, then wait4's the child and exits with its status.
#
# riscv64, like aarch64, has no fork and no dup2: clone(SIGCHLD, 0, 0, 0, 0) is fork,
# dup3(old, new, 0) is dup2.
    .text
    .globl _start
_start:
    ld      t0, 0(sp)               # argc > 1: this is the exec'd child
    li      t1, 1
    bgt     t0, t1, child_main

    li      a7, 59                  # pipe2(fds, 0): fds[0] reads, fds[1] writes
    la      a0, fds
    li      a1, 0
    ecall
    bnez    a0, fail

    li      a7, 220                 # clone(SIGCHLD, 0, 0, 0, 0): fork
    li      a0, 17
    li      a1, 0
    li      a2, 0
    li      a3, 0
    li      a4, 0
    ecall
    bltz    a0, fail
    beqz    a0, in_child            # 0: we are the child
    mv      s1, a0                  # the parent: a0 is the child's pid

    li      a7, 57                  # close(fds[1]): while the parent holds a write end,
    la      t0, fds                 # its read would never see the end of the pipe
    lw      a0, 4(t0)
    ecall
    li      a7, 64                  # write(1, "parent got: ", 12)
    li      a0, 1
    la      a1, got
    li      a2, 12
    ecall
copy:
    li      a7, 63                  # read(fds[0], buf, 64): waits until the child writes
    la      t0, fds
    lw      a0, 0(t0)
    la      a1, buf
    li      a2, 64
    ecall
    blez    a0, drained             # 0: every write end is closed (the child has exited)
    mv      a2, a0                  # write(1, buf, n)
    li      a7, 64
    li      a0, 1
    la      a1, buf
    ecall
    j       copy
drained:
    li      a7, 260                 # wait4(pid, &status, 0, NULL): reap the child
    mv      a0, s1
    la      a1, status
    li      a2, 0
    li      a3, 0
    ecall
    bne     a0, s1, fail
    la      t0, status
    lbu     a0, 1(t0)               # WEXITSTATUS(status): bits 8-15
    li      a7, 94                  # exit_group(3)
    ecall

in_child:
    li      a7, 24                  # dup3(fds[1], 1, 0): stdout is now the pipe
    la      t0, fds
    lw      a0, 4(t0)
    li      a1, 1
    li      a2, 0
    ecall
    li      a7, 57                  # close(fds[0])
    la      t0, fds
    lw      a0, 0(t0)
    ecall
    li      a7, 57                  # close(fds[1]): fd 1 keeps the pipe open
    la      t0, fds
    lw      a0, 4(t0)
    ecall
    la      a1, argv                # argv = {"/proc/self/exe", "child", NULL}
    la      a0, exe
    sd      a0, 0(a1)
    la      t0, child_arg
    sd      t0, 8(a1)
    li      a7, 221                 # execve("/proc/self/exe", argv, NULL): the same program, anew
    li      a2, 0
    ecall
    li      a7, 93                  # execve returns only when it failed: exit(127)
    li      a0, 127
    ecall

child_main:                         # run as "fork-pipe child": stdout is the pipe
    li      a7, 64                  # write(1, "hello from the child\n", 21)
    li      a0, 1
    la      a1, hello
    li      a2, 21
    ecall
    li      a7, 93                  # exit(3)
    li      a0, 3
    ecall

fail:
    li      a7, 94                  # exit_group(1)
    li      a0, 1
    ecall

got:        .ascii  "parent got: "
hello:      .ascii  "hello from the child\n"
exe:        .asciz  "/proc/self/exe"
child_arg:  .asciz  "child"
    .align  3
argv:       .quad   0, 0, 0
fds:        .word   0, 0
status:     .word   0
buf:        .zero   64
