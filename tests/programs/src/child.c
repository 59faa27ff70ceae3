/* The program that `features fork-exec` and `posix-spawn` (and the Rust and Go programs)
 * start in a new process: no libc, so that the file is a few kilobytes and its start-up is
 * only the kernel's. It prints its argv, its GREETING variable and whether descriptors 5 and
 * 6 are open (fork-exec leaves 5 open and makes 6 close-on-exec), then exits with 40 + argc.
 */
typedef unsigned long word;

#if defined(__x86_64__)
static long sys3(long n, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}
enum { NR_write = 1, NR_fcntl = 72, NR_exit_group = 231 };
__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call begin\n hlt\n");
#elif defined(__aarch64__)
static long sys3(long n, long a, long b, long c) {
    register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b, x2 __asm__("x2") = c;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
enum { NR_write = 64, NR_fcntl = 25, NR_exit_group = 94 };
__asm__(".globl _start\n_start:\n mov x0, sp\n bl begin\n brk #0\n");
#elif defined(__i386__)
static long sys3(long n, long a, long b, long c) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(n), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}
enum { NR_write = 4, NR_fcntl = 55, NR_exit_group = 252 };
__asm__(".globl _start\n_start:\n mov %esp, %eax\n and $-16, %esp\n sub $12, %esp\n push %eax\n call begin\n hlt\n");
#elif defined(__arm__)
static long sys3(long n, long a, long b, long c) {
    register long r7 __asm__("r7") = n, r0 __asm__("r0") = a, r1 __asm__("r1") = b, r2 __asm__("r2") = c;
    __asm__ volatile("svc #0" : "+r"(r0) : "r"(r7), "r"(r1), "r"(r2) : "memory");
    return r0;
}
enum { NR_write = 4, NR_fcntl = 55, NR_exit_group = 248 };
__asm__(".globl _start\n.type _start, %function\n_start:\n mov r0, sp\n bl begin\n udf #0\n");
#elif defined(__riscv) && __riscv_xlen == 64
static long sys3(long n, long a, long b, long c) {
    register long a7 __asm__("a7") = n, a0 __asm__("a0") = a, a1 __asm__("a1") = b, a2 __asm__("a2") = c;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a7), "r"(a1), "r"(a2) : "memory");
    return a0;
}
enum { NR_write = 64, NR_fcntl = 25, NR_exit_group = 94 };
__asm__(".globl _start\n_start:\n .option push\n .option norelax\n la gp, __global_pointer$\n .option pop\n"
        " mv a0, sp\n call begin\n ebreak\n");
#else
#error "no system call convention for this arch"
#endif

enum { F_GETFD = 1 };

static word length(const char *s) { word n = 0; while (s[n]) n++; return n; }
static void out(const char *s) { sys3(NR_write, 1, (long)s, (long)length(s)); }

static int starts_with(const char *s, const char *prefix) {
    while (*prefix)
        if (*s++ != *prefix++) return 0;
    return 1;
}

void begin(word *sp) {
    word argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    char index[] = {'0', 0}; /* counted, not divided: 32-bit arm has no divide instruction */
    for (word i = 0; i < argc && i < 10; i++, index[0]++) {
        out(i ? " argv[" : "child: argv[");
        out(index);
        out("]=");
        out(argv[i]);
    }
    out("\n");
    const char *greeting = "(unset)";
    for (char **e = envp; *e; e++)
        if (starts_with(*e, "GREETING=")) greeting = *e + 9;
    out("child: GREETING=");
    out(greeting);
    out("\n");
    out(sys3(NR_fcntl, 5, F_GETFD, 0) >= 0 ? "child: fd 5 open" : "child: fd 5 closed");
    out(sys3(NR_fcntl, 6, F_GETFD, 0) >= 0 ? ", fd 6 open\n" : ", fd 6 closed\n");
    sys3(NR_exit_group, 40 + (long)argc, 0, 0);
}
