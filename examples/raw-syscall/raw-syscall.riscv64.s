# raw-syscall: a generic six-argument helper, like libc's syscall(2), used for getpid,
# uname and write.
#
# raw_syscall(nr, a1, a2, a3, a4, a5, a6) takes its arguments the C way (a0-a6) and moves
# them to where the kernel wants them (a7, then a0-a5).
    .globl _start
_start:
    li      a0, 172                 # getpid()
    call    raw_syscall
    blez    a0, failed
    la      a1, pid_ok              # write(1, "getpid: ok\n", 11)
    li      a2, 11
    call    print

    addi    sp, sp, -400            # uname(&buf): struct utsname is 6 fields of 65 bytes
    li      a0, 160
    mv      a1, sp
    call    raw_syscall
    bnez    a0, failed
    la      a1, machine             # write(1, "machine: ", 9)
    li      a2, 9
    call    print
    addi    s1, sp, 260             # the machine field (4 * 65)
    mv      s2, s1
length:
    lbu     t0, 0(s2)               # its length: find the NUL
    beqz    t0, found
    addi    s2, s2, 1
    j       length
found:
    mv      a1, s1
    sub     a2, s2, s1
    call    print
    la      a1, newline
    li      a2, 1
    call    print

    li      a0, 94                  # exit_group(0)
    li      a1, 0
    call    raw_syscall

failed:
    li      a0, 94                  # exit_group(1)
    li      a1, 1
    call    raw_syscall

# print(a1 = text, a2 = length): write(1, text, length) through the helper.
print:
    mv      a3, a2                  # the helper's a3
    mv      a2, a1                  # the helper's a2
    li      a1, 1                   # the helper's a1: fd 1
    li      a0, 64                  # nr: write
    j       raw_syscall             # it returns to print's caller

# long raw_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
raw_syscall:
    mv      a7, a0                  # number
    mv      a0, a1                  # a1
    mv      a1, a2                  # a2
    mv      a2, a3                  # a3
    mv      a3, a4                  # a4
    mv      a4, a5                  # a5
    mv      a5, a6                  # a6
    ecall
    ret

pid_ok:
    .ascii  "getpid: ok\n"
machine:
    .ascii  "machine: "
newline:
    .ascii  "\n"
