# fork-pipe: the classic lesson of processes, in system calls alone.
#
# The parent makes a pipe and forks. The child points its stdout at the pipe's write end and
# execve's the program again ("/proc/self/exe" with the argument "child"); run that way, the
# program writes one line and exits with status 3. The parent reads the pipe until every
# writer has closed it, prints what came, then wait4's the child and exits with its status.
#
# The calls: pipe2, fork, close, write, read, wait4, exit_group in the parent; dup2, close,
# execve, then write and exit in the child. fork returns twice: the child's pid in the
# parent, 0 in the child.
    .text
    .globl _start
_start:
    cmp     qword ptr [rsp], 1      # argc > 1: this is the exec'd child
    jg      child_main

    mov     eax, 293                # pipe2(fds, 0): fds[0] reads, fds[1] writes
    lea     rdi, [rip + fds]
    xor     esi, esi
    syscall
    test    rax, rax
    jnz     fail

    mov     eax, 57                 # fork()
    syscall
    test    rax, rax
    js      fail
    jz      in_child                # 0: we are the child
    mov     r12, rax                # the parent: rax is the child's pid

    mov     eax, 3                  # close(fds[1]): while the parent holds a write end,
    mov     edi, [rip + fds + 4]    # its read would never see the end of the pipe
    syscall
    mov     eax, 1                  # write(1, "parent got: ", 12)
    mov     edi, 1
    lea     rsi, [rip + got]
    mov     edx, 12
    syscall
copy:
    xor     eax, eax                # read(fds[0], buf, 64): waits until the child writes
    mov     edi, [rip + fds]
    lea     rsi, [rip + buf]
    mov     edx, 64
    syscall
    test    rax, rax
    jle     drained                 # 0: every write end is closed (the child has exited)
    mov     rdx, rax                # write(1, buf, n)
    mov     eax, 1
    mov     edi, 1
    lea     rsi, [rip + buf]
    syscall
    jmp     copy
drained:
    mov     eax, 61                 # wait4(pid, &status, 0, NULL): reap the child
    mov     rdi, r12
    lea     rsi, [rip + status]
    xor     edx, edx
    xor     r10d, r10d
    syscall
    cmp     rax, r12
    jne     fail
    movzx   edi, byte ptr [rip + status + 1]    # WEXITSTATUS(status): bits 8-15
    mov     eax, 231                # exit_group(3)
    syscall

in_child:
    mov     eax, 33                 # dup2(fds[1], 1): stdout is now the pipe
    mov     edi, [rip + fds + 4]
    mov     esi, 1
    syscall
    mov     eax, 3                  # close(fds[0])
    mov     edi, [rip + fds]
    syscall
    mov     eax, 3                  # close(fds[1]): fd 1 keeps the pipe open
    mov     edi, [rip + fds + 4]
    syscall
    lea     rdi, [rip + exe]        # argv = {"/proc/self/exe", "child", NULL}
    mov     [rip + argv], rdi
    lea     rax, [rip + child_arg]
    mov     [rip + argv + 8], rax
    mov     eax, 59                 # execve("/proc/self/exe", argv, NULL): the same program, anew
    lea     rsi, [rip + argv]
    xor     edx, edx
    syscall
    mov     edi, 127                # execve returns only when it failed
    mov     eax, 60
    syscall

child_main:                         # run as "fork-pipe child": stdout is the pipe
    mov     eax, 1                  # write(1, "hello from the child\n", 21)
    mov     edi, 1
    lea     rsi, [rip + hello]
    mov     edx, 21
    syscall
    mov     eax, 60                 # exit(3)
    mov     edi, 3
    syscall

fail:
    mov     eax, 231                # exit_group(1)
    mov     edi, 1
    syscall

got:        .ascii  "parent got: "
hello:      .ascii  "hello from the child\n"
exe:        .asciz  "/proc/self/exe"
child_arg:  .asciz  "child"
    .align  8
argv:       .quad   0, 0, 0
fds:        .long   0, 0
status:     .long   0
buf:        .zero   64
