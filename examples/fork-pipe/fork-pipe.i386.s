# fork-pipe: the classic lesson of processes, in system calls alone.
#
# The parent makes a pipe and forks. The child points its stdout at the pipe's write end and
# execve's the program again ("/proc/self/exe" with the argument "child"); run that way, the
# program writes one line and exits with status 3. The parent reads the pipe until every
# writer has closed it, prints what came, then wait4's the child and exits with its status.
#
# i386: eax the number, ebx ecx edx esi edi the arguments; every free register is an
# argument register, so the child's pid waits in memory.
    .text
    .globl _start
_start:
    cmp     dword ptr [esp], 1      # argc > 1: this is the exec'd child
    jg      child_main

    mov     eax, 331                # pipe2(fds, 0): fds[0] reads, fds[1] writes
    lea     ebx, [fds]
    xor     ecx, ecx
    int     0x80
    test    eax, eax
    jnz     fail

    mov     eax, 2                  # fork()
    int     0x80
    test    eax, eax
    js      fail
    jz      in_child                # 0: we are the child
    mov     [pid], eax              # the parent: eax is the child's pid

    mov     eax, 6                  # close(fds[1]): while the parent holds a write end,
    mov     ebx, [fds + 4]          # its read would never see the end of the pipe
    int     0x80
    mov     eax, 4                  # write(1, "parent got: ", 12)
    mov     ebx, 1
    lea     ecx, [got]
    mov     edx, 12
    int     0x80
copy:
    mov     eax, 3                  # read(fds[0], buf, 64): waits until the child writes
    mov     ebx, [fds]
    lea     ecx, [buf]
    mov     edx, 64
    int     0x80
    test    eax, eax
    jle     drained                 # 0: every write end is closed (the child has exited)
    mov     edx, eax                # write(1, buf, n)
    mov     eax, 4
    mov     ebx, 1
    lea     ecx, [buf]
    int     0x80
    jmp     copy
drained:
    mov     eax, 114                # wait4(pid, &status, 0, NULL): reap the child
    mov     ebx, [pid]
    lea     ecx, [status]
    xor     edx, edx
    xor     esi, esi
    int     0x80
    cmp     eax, [pid]
    jne     fail
    movzx   ebx, byte ptr [status + 1]  # WEXITSTATUS(status): bits 8-15
    mov     eax, 252                # exit_group(3)
    int     0x80

in_child:
    mov     eax, 63                 # dup2(fds[1], 1): stdout is now the pipe
    mov     ebx, [fds + 4]
    mov     ecx, 1
    int     0x80
    mov     eax, 6                  # close(fds[0])
    mov     ebx, [fds]
    int     0x80
    mov     eax, 6                  # close(fds[1]): fd 1 keeps the pipe open
    mov     ebx, [fds + 4]
    int     0x80
    mov     eax, 11                 # execve("/proc/self/exe", argv, NULL): the same program, anew
    lea     ebx, [exe]
    lea     ecx, [argv]             # argv = {"/proc/self/exe", "child", NULL}
    xor     edx, edx
    int     0x80
    mov     eax, 1                  # execve returns only when it failed: exit(127)
    mov     ebx, 127
    int     0x80

child_main:                         # run as "fork-pipe child": stdout is the pipe
    mov     eax, 4                  # write(1, "hello from the child\n", 21)
    mov     ebx, 1
    lea     ecx, [hello]
    mov     edx, 21
    int     0x80
    mov     eax, 1                  # exit(3)
    mov     ebx, 3
    int     0x80

fail:
    mov     eax, 252                # exit_group(1)
    mov     ebx, 1
    int     0x80

got:        .ascii  "parent got: "
hello:      .ascii  "hello from the child\n"
exe:        .asciz  "/proc/self/exe"
child_arg:  .asciz  "child"
    .align  4
argv:       .long   exe, child_arg, 0
fds:        .long   0, 0
pid:        .long   0
status:     .long   0
buf:        .zero   64
