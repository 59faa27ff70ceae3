/* A C program that exercises what libc does on behalf of ordinary code: formatted output,
 * the allocator (brk and mmap), stdio on files, qsort, time, the environment and argv.
 * Built static and dynamic for each arch by ../build.sh; the tests compare its output and exit
 * status with the same binary under qemu-user.
 *
 *   libc-demo                 run every part below and exit 0
 *   libc-demo args A B...     print argc and argv
 *   libc-demo env NAME        print getenv(NAME)
 *   libc-demo cat FILE        copy FILE to stdout with stdio
 *   libc-demo exit N          exit with status N
 *   libc-demo signals         run signal handlers: masks, SA_SIGINFO, nesting, the alternate stack
 *   libc-demo abort           abort(): SIGABRT, status 134
 *   libc-demo abort-handler   abort() with a SIGABRT handler that returns: still status 134
 *   libc-demo segv            write through a NULL pointer: SIGSEGV, status 139
 */
#include <errno.h>
#include <fenv.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int by_value(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void formatting(void) {
    printf("int %d %i %u %ld %lld\n", -42, 7, 4000000000u, -1234567890123L, 9223372036854775807LL);
    printf("hex %x %#X %08lx %o\n", 48879, 3054, 0xdeadbeefUL, 8);
    printf("float %.3f %e %g %10.2f|%-8.1f|\n", 3.14159, 12345.678, 0.0001, -2.5, 1.25);
    printf("str [%s] [%10s] [%-6s] [%.3s] %c%c\n", "abc", "right", "left", "truncate", 'o', 'k');
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%s-%05d-%+.2e", "snprintf", 42, 6.02214076e23);
    printf("%s (%d)\n", buf, n);
}

static void allocator(void) {
    /* small blocks come from the brk heap, big ones from mmap */
    size_t sizes[] = {1, 24, 100, 1000, 4096, 70000, 200000, 1 << 20, 5 << 20};
    void *blocks[sizeof sizes / sizeof *sizes];
    unsigned long sum = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        unsigned char *p = malloc(sizes[i]);
        if (!p) { printf("malloc %zu failed\n", sizes[i]); exit(3); }
        memset(p, (int)(i + 1), sizes[i]);
        sum += p[sizes[i] - 1] + p[0];
        blocks[i] = p;
    }
    char *s = calloc(1000, 1);
    for (int i = 0; i < 999; i++) s[i] = 'a' + i % 26;
    s = realloc(s, 300000);
    sum += strlen(s);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) free(blocks[i]);
    free(s);
    /* many small allocations and frees, to make the heap grow and shrink */
    char **list = malloc(5000 * sizeof *list);
    for (int i = 0; i < 5000; i++) {
        list[i] = malloc(16 + i % 200);
        snprintf(list[i], 16, "item%05d", (i * 7919) % 5000);
    }
    qsort(list, 5000, sizeof *list, by_name);
    printf("malloc ok, checksum %lu, first %s last %s\n", sum, list[0], list[4999]);
    for (int i = 0; i < 5000; i++) free(list[i]);
    free(list);
}

static void sorting(void) {
    long v[1000];
    unsigned long x = 12345;
    for (int i = 0; i < 1000; i++) {
        x = x * 6364136223846793005UL + 1442695040888963407UL;
        v[i] = (long)(x >> 33) % 100000 - 50000;
    }
    qsort(v, 1000, sizeof *v, by_value);
    int sorted = 1;
    for (int i = 1; i < 1000; i++) sorted &= v[i - 1] <= v[i];
    printf("qsort: sorted=%d min=%ld median=%ld max=%ld\n", sorted, v[0], v[500], v[999]);
}

static void files(void) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/libc-demo-%d.txt", (int)getpid());
    FILE *f = fopen(path, "w");
    if (!f) { printf("fopen %s: %s\n", "w", strerror(errno)); return; }
    for (int i = 1; i <= 100; i++) fprintf(f, "line %d of %d\n", i, 100);
    fclose(f);
    f = fopen(path, "r+");
    char line[64];
    int lines = 0;
    while (fgets(line, sizeof line, f)) lines++;
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    fgets(line, sizeof line, f);
    fseek(f, -14, SEEK_END);
    char tail[32] = {0};
    fread(tail, 1, 13, f);
    fseek(f, 0, SEEK_END);
    fputs("appended\n", f);
    fclose(f);
    f = fopen(path, "a+");
    fseek(f, 0, SEEK_END);
    long grown = ftell(f);
    fclose(f);
    printf("stdio: %d lines, %ld bytes, first \"%.6s\", tail \"%s\", now %ld bytes\n", lines, size, line, tail, grown);
    int first = remove(path);
    int again = remove(path);
    printf("remove: %d; again: %d (%s)\n", first, again, strerror(errno));
    f = fopen("/nonexistent-dir/x", "r");
    printf("fopen missing: %s (%s)\n", f ? "opened?" : "NULL", strerror(errno));
}

static void timing(void) {
    time_t now = time(NULL);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct timespec nap = {0, 2000000};
    nanosleep(&nap, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ns = (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
    time_t fixed = 1700000000;
    struct tm tm;
    gmtime_r(&fixed, &tm);
    char text[64];
    strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S %A", &tm);
    printf("time: after 2023: %d, slept >= 2ms: %d, fixed date %s, mktime %ld\n", now > 1700000000, ns >= 2000000,
           text, (long)(timegm(&tm) - fixed));
}

static char trail[256];
static volatile int depth, max_depth, usr1_count;
static char altstack[65536];
static sigjmp_buf jump_back;

static void note(const char *what) { strncat(trail, what, sizeof trail - strlen(trail) - 1); }

static void on_usr1(int sig) {
    usr1_count++;
    if (++depth > max_depth) max_depth = depth;
    note("[usr1");
    if (usr1_count == 1) raise(SIGUSR1); /* blocked while this runs: it waits */
    raise(SIGUSR2);                      /* blocked by sa_mask: it waits too */
    note("]");
    depth--;
}

static void on_usr2(int sig) { note("usr2 "); }

static void on_info(int sig, siginfo_t *info, void *context) {
    ucontext_t *uc = context;
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("SA_SIGINFO: signo=%d code=%d pid is mine=%d, blocked in handler=%d, saved mask has it=%d\n",
           info->si_signo, info->si_code, info->si_pid == getpid(), sigismember(&now, sig),
           sigismember(&uc->uc_sigmask, sig));
}

static void on_stack(int sig) {
    char here;
    stack_t ss;
    sigaltstack(NULL, &ss);
    printf("on the alternate stack: %d, flags %d\n", &here >= altstack && &here < altstack + sizeof altstack,
           ss.ss_flags);
}

static void on_round(int sig) {
    fesetround(FE_DOWNWARD);
    volatile double x = 1.0 / 3.0;
    (void)x;
}

static void on_pipe(int sig) { note("sigpipe "); }

static void on_jump(int sig) { siglongjmp(jump_back, sig); }

static void on_abort(int sig) { printf("SIGABRT handler ran\n"); fflush(stdout); }

static void install(int sig, void (*fn)(int), int flags, int masked) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    if (masked) sigaddset(&sa.sa_mask, masked);
    sigaction(sig, &sa, NULL);
}

static void signals(void) {
    install(SIGUSR1, on_usr1, 0, SIGUSR2);
    install(SIGUSR2, on_usr2, 0, 0);
    raise(SIGUSR1);
    printf("nesting: %s, handler ran %d times, deepest %d\n", trail, usr1_count, max_depth);

    trail[0] = 0;
    usr1_count = max_depth = 0;
    install(SIGUSR1, on_usr1, SA_NODEFER, 0);
    raise(SIGUSR1);
    printf("SA_NODEFER: %s, handler ran %d times, deepest %d\n", trail, usr1_count, max_depth);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_info;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR2);
    kill(getpid(), SIGUSR2);

    install(SIGURG, on_usr2, SA_RESETHAND, 0);
    trail[0] = 0;
    raise(SIGURG);
    raise(SIGURG); /* the default action of SIGURG is to ignore it */
    sigaction(SIGURG, NULL, &sa);
    printf("SA_RESETHAND: %s, handler now SIG_DFL=%d\n", trail, sa.sa_handler == SIG_DFL);

    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    install(SIGWINCH, on_stack, SA_ONSTACK, 0);
    raise(SIGWINCH);
    install(SIGWINCH, on_stack, 0, 0);
    raise(SIGWINCH);

    fesetround(FE_UPWARD);
    install(SIGUSR1, on_round, 0, 0);
    raise(SIGUSR1);
    printf("rounding mode kept across the handler: %d\n", fegetround() == FE_UPWARD);
    fesetround(FE_TONEAREST);

    int fds[2];
    pipe(fds);
    close(fds[0]);
    install(SIGPIPE, on_pipe, 0, 0);
    trail[0] = 0;
    errno = 0;
    long n = write(fds[1], "x", 1);
    printf("write to a closed pipe: %ld (%s), %s\n", n, strerror(errno), trail);
    close(fds[1]);

    install(SIGUSR1, on_jump, 0, 0);
    static volatile int jumps;
    sigsetjmp(jump_back, 1);
    if (jumps < 3) {
        jumps++;
        raise(SIGUSR1);
    }
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("siglongjmp out of a handler: %d times, SIGUSR1 blocked after=%d\n", jumps, sigismember(&now, SIGUSR1));
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "args")) {
        printf("argc=%d\n", argc);
        for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "env")) {
        const char *v = getenv(argv[2]);
        printf("%s=%s\n", argv[2], v ? v : "(unset)");
        return v ? 0 : 1;
    }
    if (argc == 3 && !strcmp(argv[1], "cat")) {
        FILE *f = fopen(argv[2], "r");
        if (!f) { fprintf(stderr, "libc-demo: %s: %s\n", argv[2], strerror(errno)); return 1; }
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
        fclose(f);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "exit")) return atoi(argv[2]);
    if (argc == 2 && !strcmp(argv[1], "abort")) { printf("aborting\n"); fflush(stdout); abort(); }
    if (argc == 2 && !strcmp(argv[1], "abort-handler")) { signal(SIGABRT, on_abort); abort(); }
    if (argc == 2 && !strcmp(argv[1], "signals")) { signals(); return 0; }
    if (argc == 2 && !strcmp(argv[1], "segv")) {
        volatile int *volatile bad = (int *)(uintptr_t)16;
        *bad = 1;
        return 0;
    }
    formatting();
    allocator();
    sorting();
    files();
    timing();
    fprintf(stderr, "done\n");
    return 0;
}
