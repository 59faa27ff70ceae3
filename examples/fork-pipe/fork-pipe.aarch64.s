// fork-pipe: the classic lesson of processes, in system calls alone.
//
// The parent makes a pipe and forks. The child points its stdout at the pipe's write end and
// execve's the program again ("/proc/self/exe" with the argument "child"); run that way, the
// program writes one line and exits with status 3. The parent reads the pipe until every
// writer has closed it, prints what came, then wait4's the child and exits with its status.
//
// aarch64 has no fork and no dup2: clone(SIGCHLD, 0, 0, 0, 0) is fork (a new process whose
// parent gets SIGCHLD when it ends), dup3(old, new, 0) is dup2.
    .text
    .globl _start
_start:
    ldr     x0, [sp]                // argc > 1: this is the exec'd child
    cmp     x0, #1
    b.gt    child_main

    mov     x8, #59                 // pipe2(fds, 0): fds[0] reads, fds[1] writes
    adr     x0, fds
    mov     x1, #0
    svc     #0
    cbnz    x0, fail

    mov     x8, #220                // clone(SIGCHLD, 0, 0, 0, 0): fork
    mov     x0, #17
    mov     x1, #0
    mov     x2, #0
    mov     x3, #0
    mov     x4, #0
    svc     #0
    cmp     x0, #0
    b.lt    fail
    b.eq    in_child                // 0: we are the child
    mov     x19, x0                 // the parent: x0 is the child's pid

    mov     x8, #57                 // close(fds[1]): while the parent holds a write end,
    adr     x9, fds                 // its read would never see the end of the pipe
    ldr     w0, [x9, #4]
    svc     #0
    mov     x8, #64                 // write(1, "parent got: ", 12)
    mov     x0, #1
    adr     x1, got
    mov     x2, #12
    svc     #0
copy:
    mov     x8, #63                 // read(fds[0], buf, 64): waits until the child writes
    adr     x9, fds
    ldr     w0, [x9]
    adr     x1, buf
    mov     x2, #64
    svc     #0
    cmp     x0, #0
    b.le    drained                 // 0: every write end is closed (the child has exited)
    mov     x2, x0                  // write(1, buf, n)
    mov     x8, #64
    mov     x0, #1
    adr     x1, buf
    svc     #0
    b       copy
drained:
    mov     x8, #260                // wait4(pid, &status, 0, NULL): reap the child
    mov     x0, x19
    adr     x1, status
    mov     x2, #0
    mov     x3, #0
    svc     #0
    cmp     x0, x19
    b.ne    fail
    adr     x9, status
    ldrb    w0, [x9, #1]            // WEXITSTATUS(status): bits 8-15
    mov     x8, #94                 // exit_group(3)
    svc     #0

in_child:
    mov     x8, #24                 // dup3(fds[1], 1, 0): stdout is now the pipe
    adr     x9, fds
    ldr     w0, [x9, #4]
    mov     x1, #1
    mov     x2, #0
    svc     #0
    mov     x8, #57                 // close(fds[0])
    adr     x9, fds
    ldr     w0, [x9]
    svc     #0
    mov     x8, #57                 // close(fds[1]): fd 1 keeps the pipe open
    adr     x9, fds
    ldr     w0, [x9, #4]
    svc     #0
    adr     x1, argv                // argv = {"/proc/self/exe", "child", NULL}
    adr     x0, exe
    str     x0, [x1]
    adr     x2, child_arg
    str     x2, [x1, #8]
    mov     x8, #221                // execve("/proc/self/exe", argv, NULL): the same program, anew
    mov     x2, #0
    svc     #0
    mov     x8, #93                 // execve returns only when it failed: exit(127)
    mov     x0, #127
    svc     #0

child_main:                         // run as "fork-pipe child": stdout is the pipe
    mov     x8, #64                 // write(1, "hello from the child\n", 21)
    mov     x0, #1
    adr     x1, hello
    mov     x2, #21
    svc     #0
    mov     x8, #93                 // exit(3)
    mov     x0, #3
    svc     #0

fail:
    mov     x8, #94                 // exit_group(1)
    mov     x0, #1
    svc     #0

got:        .ascii  "parent got: "
hello:      .ascii  "hello from the child\n"
exe:        .asciz  "/proc/self/exe"
child_arg:  .asciz  "child"
    .align  3
argv:       .quad   0, 0, 0
fds:        .long   0, 0
status:     .long   0
buf:        .zero   64
