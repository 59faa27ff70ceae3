@ raw-syscall: a generic six-argument helper, like libc's syscall(2), used for getpid,
@ uname and write.
@
@ raw_syscall(nr, a1, a2, a3, a4, a5, a6) takes its arguments the C way (r0-r3, then the
@ stack) and moves them to where the kernel wants them (r7, then r0-r5). r4, r5 and r7
@ belong to the caller in the C convention, so the helper saves and restores them.
    .globl _start
_start:
    mov     r0, #20                 @ getpid()
    bl      raw_syscall
    cmp     r0, #0
    ble     failed
    adr     r1, pid_ok              @ write(1, "getpid: ok\n", 11)
    mov     r2, #11
    bl      print

    sub     sp, sp, #400            @ uname(&buf): struct utsname is 6 fields of 65 bytes
    mov     r0, #122
    mov     r1, sp
    bl      raw_syscall
    cmp     r0, #0
    bne     failed
    adr     r1, machine             @ write(1, "machine: ", 9)
    mov     r2, #9
    bl      print
    add     r8, sp, #260            @ the machine field (4 * 65)
    mov     r9, r8
length:
    ldrb    r10, [r9]               @ its length: find the NUL
    cmp     r10, #0
    beq     found
    add     r9, r9, #1
    b       length
found:
    mov     r1, r8
    sub     r2, r9, r8
    bl      print
    adr     r1, newline
    mov     r2, #1
    bl      print

    mov     r0, #248                @ exit_group(0)
    mov     r1, #0
    bl      raw_syscall

failed:
    mov     r0, #248                @ exit_group(1)
    mov     r1, #1
    bl      raw_syscall

@ print(r1 = text, r2 = length): write(1, text, length) through the helper.
print:
    mov     r3, r2                  @ the helper's a3
    mov     r2, r1                  @ the helper's a2
    mov     r1, #1                  @ the helper's a1: fd 1
    mov     r0, #4                  @ nr: write
    b       raw_syscall

@ long raw_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
raw_syscall:
    push    {r4, r5, r7, lr}
    mov     r7, r0                  @ number
    mov     r0, r1                  @ a1
    mov     r1, r2                  @ a2
    mov     r2, r3                  @ a3
    ldr     r3, [sp, #16]           @ a4, a5, a6: from the caller's stack, past the 4 saved words
    ldr     r4, [sp, #20]
    ldr     r5, [sp, #24]
    svc     #0
    pop     {r4, r5, r7, pc}

pid_ok:
    .ascii  "getpid: ok\n"
machine:
    .ascii  "machine: "
newline:
    .ascii  "\n"
