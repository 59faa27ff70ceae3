# raw-syscall: a generic six-argument helper, like libc's syscall(2), used for getpid,
# uname and write.
#
# raw_syscall(nr, a1, a2, a3, a4, a5, a6) takes its arguments the C way (all on the stack,
# [esp+4] onwards) and moves them to where the kernel wants them (eax, then ebx ecx edx
# esi edi ebp). ebx, esi, edi and ebp belong to the caller in the C convention, so the
# helper saves and restores them.
    .globl _start
_start:
    push    20                      # getpid()
    call    raw_syscall
    add     esp, 4
    test    eax, eax
    jle     failed
    lea     ecx, [pid_ok]           # write(1, "getpid: ok\n", 11)
    mov     edx, 11
    call    print

    sub     esp, 400                # uname(&buf): struct utsname is 6 fields of 65 bytes
    mov     eax, esp
    push    eax
    push    122
    call    raw_syscall
    add     esp, 8
    test    eax, eax
    jnz     failed
    lea     ecx, [machine]          # write(1, "machine: ", 9)
    mov     edx, 9
    call    print
    lea     ecx, [esp + 260]        # the machine field (4 * 65)
    mov     edx, ecx                # its length: find the NUL
length:
    cmp     byte ptr [edx], 0
    je      found
    inc     edx
    jmp     length
found:
    sub     edx, ecx
    call    print
    lea     ecx, [newline]
    mov     edx, 1
    call    print

    push    0                       # exit_group(0)
    push    252
    call    raw_syscall

failed:
    push    1                       # exit_group(1)
    push    252
    call    raw_syscall

# print(ecx = text, edx = length): write(1, text, length) through the helper.
print:
    push    edx                     # a3
    push    ecx                     # a2
    push    1                       # a1: fd 1
    push    4                       # nr: write
    call    raw_syscall
    add     esp, 16
    ret

# long raw_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
raw_syscall:
    push    ebp                     # the C convention's callee-saved registers
    push    edi
    push    esi
    push    ebx
    mov     eax, [esp + 20]         # number (past the 4 saved registers and the return address)
    mov     ebx, [esp + 24]         # a1
    mov     ecx, [esp + 28]         # a2
    mov     edx, [esp + 32]         # a3
    mov     esi, [esp + 36]         # a4
    mov     edi, [esp + 40]         # a5
    mov     ebp, [esp + 44]         # a6
    int     0x80
    pop     ebx
    pop     esi
    pop     edi
    pop     ebp
    ret

pid_ok:
    .ascii  "getpid: ok\n"
machine:
    .ascii  "machine: "
newline:
    .ascii  "\n"
