# write-errors: a failing system call returns -errno in the return register.
#
# write(42, msg, 5) on a descriptor that is not open fails with EBADF, which is 9: a0
# comes back as -9. The program negates it and exits with it, so the exit status is 9.
    .globl _start
_start:
    li      a7, 64              # write
    li      a0, 42              # fd 42: nothing is open there
    la      a1, msg
    li      a2, 5
    ecall                       # a0 = -9 (-EBADF)

    neg     a0, a0              # 9: the exit status
    li      a7, 93              # exit
    ecall

msg:
    .ascii  "oops\n"
