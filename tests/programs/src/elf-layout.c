/* A program with no libc for every arch the sandbox runs: its own _start and its own trap
 * instruction. It checks what the ELF loader and the initial stack give a new process: the
 * text, read-only data, initialised data and zeroed bss of a normal linker layout (on arm the
 * compiler's Thumb code, entered at an odd address), argc/argv/envp on the stack, and a
 * program break after the bss. It prints what it finds; the tests compare that with the same
 * binary under qemu-user.
 */
typedef unsigned long word;

#if defined(__x86_64__)
#define TRAP "syscall"
static long sys3(long n, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}
enum { NR_write = 1, NR_brk = 12, NR_exit_group = 231 };
__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call begin\n hlt\n");
#elif defined(__aarch64__)
static long sys3(long n, long a, long b, long c) {
    register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b, x2 __asm__("x2") = c;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
enum { NR_write = 64, NR_brk = 214, NR_exit_group = 94 };
__asm__(".globl _start\n_start:\n mov x0, sp\n bl begin\n brk #0\n");
#elif defined(__i386__)
static long sys3(long n, long a, long b, long c) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(n), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}
enum { NR_write = 4, NR_brk = 45, NR_exit_group = 252 };
__asm__(".globl _start\n_start:\n mov %esp, %eax\n and $-16, %esp\n sub $12, %esp\n push %eax\n call begin\n hlt\n");
#elif defined(__arm__)
static long sys3(long n, long a, long b, long c) {
    register long r7 __asm__("r7") = n, r0 __asm__("r0") = a, r1 __asm__("r1") = b, r2 __asm__("r2") = c;
    __asm__ volatile("svc #0" : "+r"(r0) : "r"(r7), "r"(r1), "r"(r2) : "memory");
    return r0;
}
enum { NR_write = 4, NR_brk = 45, NR_exit_group = 248 };
__asm__(".globl _start\n.type _start, %function\n_start:\n mov r0, sp\n bl begin\n udf #0\n");
#elif defined(__riscv) && __riscv_xlen == 64
static long sys3(long n, long a, long b, long c) {
    register long a7 __asm__("a7") = n, a0 __asm__("a0") = a, a1 __asm__("a1") = b, a2 __asm__("a2") = c;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a7), "r"(a1), "r"(a2) : "memory");
    return a0;
}
enum { NR_write = 64, NR_brk = 214, NR_exit_group = 94 };
__asm__(".globl _start\n_start:\n .option push\n .option norelax\n la gp, __global_pointer$\n .option pop\n"
        " mv a0, sp\n call begin\n ebreak\n");
#else
#error "no system call convention for this arch"
#endif

static const char title[] = "elf-layout\n";       /* .rodata */
static char greeting[16] = "data: ok\n";          /* .data */
static word counter = 41;                          /* .data */
static char zeroes[8192];                          /* .bss */
extern char _end[];                                /* the linker's end of the bss */

static word length(const char *s) { word n = 0; while (s[n]) n++; return n; }
static void out(const char *s) { sys3(NR_write, 1, (long)s, (long)length(s)); }

static void number(word v) {
    /* without division: 32-bit arm has no divide instruction for the compiler to use */
    static const word powers[] = {1000000000, 100000000, 10000000, 1000000, 100000, 10000, 1000, 100, 10, 1};
    char buf[16], *p = buf;
    for (word i = 0; i < sizeof powers / sizeof powers[0]; i++) {
        char digit = '0';
        while (v >= powers[i]) v -= powers[i], digit++;
        if (digit != '0' || p != buf || powers[i] == 1) *p++ = digit;
    }
    *p = 0;
    out(buf);
}

void begin(word *sp) {
    word argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    out(title);
    out(greeting);
    counter++;
    out(counter == 42 ? "data is writable\n" : "data is NOT writable\n");
    word nonzero = 0;
    for (word i = 0; i < sizeof zeroes; i++) nonzero |= zeroes[i];
    out(nonzero ? "bss is NOT zero\n" : "bss is zero\n");
    zeroes[sizeof zeroes - 1] = 1;
    out("argc: "); number(argc); out("\n");
    for (word i = 0; i < argc; i++) { out("argv: "); out(argv[i]); out("\n"); }
    out(argv[argc] == 0 ? "argv ends with NULL\n" : "argv does NOT end with NULL\n");
    word env = 0;
    while (envp[env]) env++;
    out(env ? "environment: present\n" : "environment: empty\n");
    word brk = (word)sys3(NR_brk, 0, 0, 0);
    out(brk >= (word)_end ? "break: after the bss\n" : "break: NOT after the bss\n");
    out((word)begin & 1 ? "code: thumb\n" : "code: arm or not arm\n");
    sys3(NR_exit_group, zeroes[sizeof zeroes - 1] == 1 ? 0 : 3, 0, 0);
}
