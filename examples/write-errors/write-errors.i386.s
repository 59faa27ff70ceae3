# write-errors: a failing system call returns -errno in the return register.
#
# write(42, msg, 5) on a descriptor that is not open fails with EBADF, which is 9: eax
# comes back as -9. The program negates it and exits with it, so the exit status is 9.
    .globl _start
_start:
    mov     eax, 4              # write
    mov     ebx, 42             # fd 42: nothing is open there
    lea     ecx, [msg]
    mov     edx, 5
    int     0x80                # eax = -9 (-EBADF)

    neg     eax                 # 9: the exit status
    mov     ebx, eax
    mov     eax, 1              # exit
    int     0x80

msg:
    .ascii  "oops\n"
