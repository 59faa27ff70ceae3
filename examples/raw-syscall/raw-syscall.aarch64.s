// raw-syscall: a generic six-argument helper, like libc's syscall(2), used for getpid,
// uname and write.
//
// raw_syscall(nr, a1, a2, a3, a4, a5, a6) takes its arguments the C way (x0-x6) and moves
// them to where the kernel wants them (x8, then x0-x5).
    .globl _start
_start:
    mov     x0, #172                // getpid()
    bl      raw_syscall
    cmp     x0, #0
    b.le    failed
    adr     x1, pid_ok              // write(1, "getpid: ok\n", 11)
    mov     x2, #11
    bl      print

    sub     sp, sp, #400            // uname(&buf): struct utsname is 6 fields of 65 bytes
    mov     x0, #160
    mov     x1, sp
    bl      raw_syscall
    cbnz    x0, failed
    adr     x1, machine             // write(1, "machine: ", 9)
    mov     x2, #9
    bl      print
    add     x19, sp, #260           // the machine field (4 * 65)
    mov     x20, x19
length:
    ldrb    w21, [x20]              // its length: find the NUL
    cbz     w21, found
    add     x20, x20, #1
    b       length
found:
    mov     x1, x19
    sub     x2, x20, x19
    bl      print
    adr     x1, newline
    mov     x2, #1
    bl      print

    mov     x0, #94                 // exit_group(0)
    mov     x1, #0
    bl      raw_syscall

failed:
    mov     x0, #94                 // exit_group(1)
    mov     x1, #1
    bl      raw_syscall

// print(x1 = text, x2 = length): write(1, text, length) through the helper.
print:
    mov     x3, x2                  // the helper's a3
    mov     x2, x1                  // the helper's a2
    mov     x1, #1                  // the helper's a1: fd 1
    mov     x0, #64                 // nr: write
    b       raw_syscall

// long raw_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
raw_syscall:
    mov     x8, x0                  // number
    mov     x0, x1                  // a1
    mov     x1, x2                  // a2
    mov     x2, x3                  // a3
    mov     x3, x4                  // a4
    mov     x4, x5                  // a5
    mov     x5, x6                  // a6
    svc     #0
    ret

pid_ok:
    .ascii  "getpid: ok\n"
machine:
    .ascii  "machine: "
newline:
    .ascii  "\n"
