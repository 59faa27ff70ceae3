// write-errors: a failing system call returns -errno in the return register.
//
// write(42, msg, 5) on a descriptor that is not open fails with EBADF, which is 9: x0
// comes back as -9. The program negates it and exits with it, so the exit status is 9.
    .globl _start
_start:
    mov     x8, #64             // write
    mov     x0, #42             // fd 42: nothing is open there
    adr     x1, msg
    mov     x2, #5
    svc     #0                  // x0 = -9 (-EBADF)

    neg     x0, x0              // 9: the exit status
    mov     x8, #93             // exit
    svc     #0

msg:
    .ascii  "oops\n"
