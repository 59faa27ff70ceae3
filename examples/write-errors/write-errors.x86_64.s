# write-errors: a failing system call returns -errno in the return register.
#
# write(42, msg, 5) on a descriptor that is not open fails with EBADF, which is 9: rax
# comes back as -9. The program negates it and exits with it, so the exit status is 9.
    .globl _start
_start:
    mov     eax, 1              # write
    mov     edi, 42             # fd 42: nothing is open there
    lea     rsi, [rip + msg]
    mov     edx, 5
    syscall                     # rax = -9 (-EBADF)

    neg     rax                 # 9
    mov     edi, eax            # exit status = errno
    mov     eax, 60             # exit
    syscall

msg:
    .ascii  "oops\n"
