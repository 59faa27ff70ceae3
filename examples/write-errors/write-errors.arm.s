@ write-errors: a failing system call returns -errno in the return register.
@
@ write(42, msg, 5) on a descriptor that is not open fails with EBADF, which is 9: r0
@ comes back as -9. The program negates it and exits with it, so the exit status is 9.
    .globl _start
_start:
    mov     r7, #4              @ write
    mov     r0, #42             @ fd 42: nothing is open there
    adr     r1, msg
    mov     r2, #5
    svc     #0                  @ r0 = -9 (-EBADF)

    rsb     r0, r0, #0          @ 9: the exit status (0 - r0)
    mov     r7, #1              @ exit
    svc     #0

msg:
    .ascii  "oops\n"
