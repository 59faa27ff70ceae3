/* A program with no libc at all (-nostdlib -ffreestanding): its own _start, its own syscall
 * instruction, and nothing else. It makes system calls the way start-up code and small tools
 * do, many of them with bad arguments, and prints each raw result (a value, or -errno). The
 * tests compare its output with the same binary under qemu-user, which passes the calls to
 * the host's Linux kernel, so every line is an errno the sandbox must get right.
 *
 *   raw-syscalls              run every check below, then exit 0
 *   raw-syscalls exit N       exit_group(N)
 *   raw-syscalls segv         store to address 16: SIGSEGV
 *   raw-syscalls ill          an undefined instruction: SIGILL
 *   raw-syscalls kill         kill(getpid(), SIGTERM): the default action ends the process
 */
#include <asm/unistd.h>
#include <linux/fcntl.h>
#include <linux/futex.h>
#include <linux/poll.h>
#include <linux/resource.h>
#include <linux/sched.h>
#include <linux/signal.h>
#include <linux/stat.h>
#include <linux/time.h>

typedef unsigned long u64;
typedef long i64;

static i64 sys6(i64 n, i64 a, i64 b, i64 c, i64 d, i64 e, i64 f) {
#if defined(__x86_64__)
    register i64 r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
    i64 ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register i64 x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b, x2 __asm__("x2") = c,
                 x3 __asm__("x3") = d, x4 __asm__("x4") = e, x5 __asm__("x5") = f;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
    return x0;
#else
#error "x86_64 or aarch64 only"
#endif
}
#define sys0(n) sys6(n, 0, 0, 0, 0, 0, 0)
#define sys1(n, a) sys6(n, (i64)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (i64)(a), (i64)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (i64)(a), (i64)(b), (i64)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (i64)(a), (i64)(b), (i64)(c), (i64)(d), 0, 0)
#define sys5(n, a, b, c, d, e) sys6(n, (i64)(a), (i64)(b), (i64)(c), (i64)(d), (i64)(e), 0)
#define futex(a, op, v, t, a2, v3) sys6(__NR_futex, (i64)(a), op, v, (i64)(t), (i64)(a2), v3)

static u64 len(const char *s) { u64 n = 0; while (s[n]) n++; return n; }
static void out(const char *s) { sys3(__NR_write, 1, s, len(s)); }
static int same(const char *a, const char *b) { while (*a && *a == *b) a++, b++; return *a == *b; }

static void number(i64 v) {
    char buf[24], *p = buf + sizeof buf;
    u64 u = v < 0 ? -(u64)v : (u64)v;
    *--p = 0;
    do *--p = '0' + u % 10; while (u /= 10);
    if (v < 0) *--p = '-';
    out(p);
}

/* One line per check: its name and the raw value the kernel returned. */
static void show(const char *what, i64 ret) { out(what); out(": "); number(ret); out("\n"); }
/* For values that differ between machines: only whether the call succeeded. */
static void ok(const char *what, i64 ret) { out(what); out(ret >= 0 ? ": ok\n" : ": failed "); if (ret < 0) { number(ret); out("\n"); } }

struct k_sigaction { u64 handler, flags, restorer, mask; };
struct k_stack { u64 sp; int flags, pad; u64 size; };
struct k_rlimit { u64 cur, max; };
struct k_timespec { i64 sec, nsec; };
struct k_pollfd { int fd; short events, revents; };

static char buf[4096];
static struct statx stx;
static void fd_file(void);

static void files(void) {
    show("write to stdout", sys3(__NR_write, 1, "hello\n", 6));
    show("write to fd 99", sys3(__NR_write, 99, "x", 1));
    show("write from a bad pointer", sys3(__NR_write, 1, 16, 4));
    show("openat missing file", sys4(__NR_openat, AT_FDCWD, "/nonexistent/file", O_RDONLY, 0));
    show("openat empty path", sys4(__NR_openat, AT_FDCWD, "", O_RDONLY, 0));
    show("openat O_CREAT|O_DIRECTORY", sys4(__NR_openat, AT_FDCWD, "/tmp/x", O_CREAT | O_DIRECTORY, 0600));
    show("read from fd -1", sys3(__NR_read, -1, buf, 1));
    show("close fd 1000", sys1(__NR_close, 1000));
    show("dup3 to itself", sys3(__NR_dup3, 1, 1, 0));
    show("dup3 bad flags", sys3(__NR_dup3, 1, 5, 12345));
    i64 fd = sys1(__NR_dup, 1);
    show("dup stdout", fd);
    show("fcntl F_GETFD", sys3(__NR_fcntl, fd, F_GETFD, 0));
    show("fcntl F_SETFD", sys3(__NR_fcntl, fd, F_SETFD, FD_CLOEXEC));
    show("fcntl F_GETFD again", sys3(__NR_fcntl, fd, F_GETFD, 0));
    show("fcntl bad command", sys3(__NR_fcntl, fd, 9999, 0));
    show("fcntl F_DUPFD past the limit", sys3(__NR_fcntl, fd, F_DUPFD, 1 << 30));
    show("close the dup", sys1(__NR_close, fd));
    show("fcntl on a closed fd", sys3(__NR_fcntl, fd, F_GETFD, 0));
    show("getdents64 on a non-directory", sys3(__NR_getdents64, 1, buf, sizeof buf));
    show("newfstatat empty path", sys4(__NR_newfstatat, AT_FDCWD, "", buf, 0));
    show("newfstatat bad flags", sys4(__NR_newfstatat, AT_FDCWD, ".", buf, 1));
    show("readlinkat bufsiz 0", sys4(__NR_readlinkat, AT_FDCWD, "/proc/self/exe", buf, 0));
    show("readlinkat not a link", sys4(__NR_readlinkat, AT_FDCWD, "/", buf, 64));
    ok("readlinkat /proc/self/exe", sys4(__NR_readlinkat, AT_FDCWD, "/proc/self/exe", buf, sizeof buf));
    show("faccessat bad mode", sys4(__NR_faccessat, AT_FDCWD, "/", 99, 0));
    show("faccessat2 bad flags", sys5(__NR_faccessat2, AT_FDCWD, "/", 0, 0x1, 0));
    show("faccessat missing", sys4(__NR_faccessat, AT_FDCWD, "/nonexistent", 0, 0));
    show("mkdirat existing /tmp", sys3(__NR_mkdirat, AT_FDCWD, "/tmp", 0755));
    show("unlinkat missing", sys3(__NR_unlinkat, AT_FDCWD, "/nonexistent", 0));
    show("unlinkat bad flags", sys3(__NR_unlinkat, AT_FDCWD, "/tmp/x", 1));
    show("renameat2 bad flags", sys5(__NR_renameat2, AT_FDCWD, "/tmp/a", AT_FDCWD, "/tmp/b", 0x100));
    show("chdir missing", sys1(__NR_chdir, "/nonexistent"));
    show("chdir to a file", sys1(__NR_chdir, "/proc/self/exe"));
    show("fchdir bad fd", sys1(__NR_fchdir, 99));
    show("getcwd tiny buffer", sys2(__NR_getcwd, buf, 1));
    show("ftruncate a pipe", sys2(__NR_ftruncate, 1, 0));
    show("ftruncate negative", sys2(__NR_ftruncate, 1, -1));
    show("fsync a pipe", sys1(__NR_fsync, 1));
    show("lseek a pipe", sys3(__NR_lseek, 1, 0, 0));
    show("statx bad sync type", sys5(__NR_statx, AT_FDCWD, "/", 0x6000, STATX_BASIC_STATS, &stx));
    show("statx reserved mask", sys5(__NR_statx, AT_FDCWD, "/", 0, 0x80000000u, &stx));
    show("statx missing", sys5(__NR_statx, AT_FDCWD, "/nonexistent", 0, STATX_BASIC_STATS, &stx));
    show("statx /proc", sys5(__NR_statx, AT_FDCWD, "/proc", 0, STATX_BASIC_STATS, &stx));
    show("statx /proc is a directory", (stx.stx_mode & S_IFMT) == S_IFDIR);
    show("statx AT_EMPTY_PATH on stdout", sys5(__NR_statx, 1, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx));
    show("statx: stdout is a fifo", (stx.stx_mode & S_IFMT) == S_IFIFO);
    show("fstatfs bad fd", sys2(__NR_fstatfs, 99, buf));
    show("statfs missing", sys2(__NR_statfs, "/nonexistent", buf));
    show("statfs /proc", sys2(__NR_statfs, "/proc", buf));
    show("statfs /proc f_type", *(i64 *)buf);
    fd = sys4(__NR_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY, 0);
    ok("open /proc/self/maps", fd);
    ok("read /proc/self/maps", sys3(__NR_read, fd, buf, 64));
    sys1(__NR_close, fd);
    show("open /dev/tty without a terminal", sys4(__NR_openat, AT_FDCWD, "/dev/tty", O_RDWR, 0));
    fd = sys4(__NR_openat, AT_FDCWD, "/dev/null", O_WRONLY, 0);
    show("write /dev/null", sys3(__NR_write, fd, "abc", 3));
    show("read a write-only fd", sys3(__NR_read, fd, buf, 1));
    sys1(__NR_close, fd);
}

static void pipes(void) {
    int fds[2];
    show("pipe2 bad flags", sys2(__NR_pipe2, fds, 0x1234));
    show("pipe2 bad pointer", sys2(__NR_pipe2, 16, 0));
    show("pipe2", sys2(__NR_pipe2, fds, O_CLOEXEC));
    show("pipe ends are the lowest free fds", fds[1] == fds[0] + 1);
    show("fcntl F_GETFD of the pipe", sys3(__NR_fcntl, fds[0], F_GETFD, 0));
    show("fcntl F_GETFL of the write end", sys3(__NR_fcntl, fds[1], F_GETFL, 0) & 3);
    show("write 3 bytes to the pipe", sys3(__NR_write, fds[1], "abc", 3));
    struct k_pollfd p[3] = {{fds[0], POLLIN, 0}, {fds[1], POLLOUT, 0}, {99, POLLIN, 0}};
    show("ppoll the pipe and a closed fd", sys5(__NR_ppoll, p, 3, 0, 0, 0));
    show("  revents of the read end", p[0].revents);
    show("  revents of the write end", p[1].revents);
    show("  revents of fd 99", p[2].revents);
    show("lseek the pipe", sys3(__NR_lseek, fds[0], 0, 0));
    show("pread the pipe", sys4(__NR_pread64, fds[0], buf, 1, 0));
    show("read 10 from the pipe", sys3(__NR_read, fds[0], buf, 10));
    show("write to the read end", sys3(__NR_write, fds[0], "x", 1));
    show("close the write end", sys1(__NR_close, fds[1]));
    show("read at end of pipe", sys3(__NR_read, fds[0], buf, 10));
    struct k_pollfd h = {fds[0], POLLIN, 0};
    show("ppoll a pipe with no writer", sys5(__NR_ppoll, &h, 1, 0, 0, 0));
    show("  revents", h.revents);
    sys1(__NR_close, fds[0]);
    sys2(__NR_pipe2, fds, O_NONBLOCK);
    show("non-blocking read of an empty pipe", sys3(__NR_read, fds[0], buf, 1));
    show("fcntl F_GETFL O_NONBLOCK", (sys3(__NR_fcntl, fds[0], F_GETFL, 0) & O_NONBLOCK) != 0);
    struct k_sigaction ign = {(u64)SIG_IGN, 0, 0, 0};
    show("ignore SIGPIPE", sys4(__NR_rt_sigaction, SIGPIPE, &ign, 0, 8));
    sys1(__NR_close, fds[0]);
    show("write with no reader", sys3(__NR_write, fds[1], "x", 1));
    sys1(__NR_close, fds[1]);
    struct k_timespec zero = {0, 0};
    show("ppoll nothing, zero timeout", sys5(__NR_ppoll, 0, 0, &zero, 0, 0));
    struct k_timespec bad = {0, 2000000000};
    show("ppoll bad timeout", sys5(__NR_ppoll, 0, 0, &bad, 0, 0));
    u64 mask = 0;
    show("ppoll bad sigsetsize", sys5(__NR_ppoll, 0, 0, &zero, &mask, 4));
}

static void memory(void) {
    show("mmap length 0", sys6(__NR_mmap, 0, 0, 3, 0x22, -1, 0));
    show("mmap no type", sys6(__NR_mmap, 0, 4096, 3, 0x20, -1, 0));
    show("mmap unaligned offset", sys6(__NR_mmap, 0, 4096, 3, 0x02, 0, 1));
    show("mmap bad fd", sys6(__NR_mmap, 0, 4096, 3, 0x02, 99, 0));
    show("mmap a pipe", sys6(__NR_mmap, 0, 4096, 1, 0x02, 1, 0));
    i64 p = sys6(__NR_mmap, 0, 8192, 3, 0x22, -1, 0);
    ok("mmap anonymous", p);
    ((char *)p)[4096] = 7;
    show("madvise bad advice", sys3(__NR_madvise, p, 4096, 999));
    show("madvise unaligned", sys3(__NR_madvise, p + 1, 4096, 0));
    show("madvise DONTNEED", sys3(__NR_madvise, p, 8192, 4));
    show("DONTNEED zeroed the page", ((char *)p)[4096]);
    show("mprotect unaligned", sys3(__NR_mprotect, p + 1, 4096, 1));
    show("mprotect bad prot", sys3(__NR_mprotect, p, 4096, 0x100));
    show("mprotect read-only", sys3(__NR_mprotect, p, 4096, 1));
    show("read into a read-only page", sys3(__NR_read, 0, p, 1));
    show("munmap unaligned", sys2(__NR_munmap, p + 1, 4096));
    show("munmap length 0", sys2(__NR_munmap, p, 0));
    show("munmap", sys2(__NR_munmap, p, 8192));
    show("mprotect unmapped", sys3(__NR_mprotect, p, 4096, 1));
    ok("brk(0)", sys1(__NR_brk, 0));
    fd_file();
}

static void fd_file(void) {
    /* A private file mapping: the pages hold the file; writes stay private. */
    i64 fd = sys4(__NR_openat, AT_FDCWD, "/proc/self/exe", O_RDONLY, 0);
    ok("open /proc/self/exe", fd);
    i64 p = sys6(__NR_mmap, 0, 4096, 1, 0x02, fd, 0);
    ok("mmap /proc/self/exe", p);
    show("it starts with the ELF magic", ((char *)p)[0] == 0x7f && ((char *)p)[1] == 'E');
    show("mmap it writable shared", sys6(__NR_mmap, 0, 4096, 3, 0x01, fd, 0));
    sys2(__NR_munmap, p, 4096);
    sys1(__NR_close, fd);
}

static void signals(void) {
    struct k_sigaction act = {(u64)SIG_IGN, 0, 0, 0}, old;
    show("rt_sigaction SIGKILL", sys4(__NR_rt_sigaction, SIGKILL, &act, 0, 8));
    show("rt_sigaction SIGKILL, read only", sys4(__NR_rt_sigaction, SIGKILL, 0, &old, 8));
    show("rt_sigaction signal 0", sys4(__NR_rt_sigaction, 0, 0, &old, 8));
    show("rt_sigaction signal 65", sys4(__NR_rt_sigaction, 65, 0, &old, 8));
    show("rt_sigaction bad sigsetsize", sys4(__NR_rt_sigaction, SIGUSR1, 0, &old, 7));
    show("rt_sigaction bad pointer", sys4(__NR_rt_sigaction, SIGUSR1, 16, 0, 8));
    show("rt_sigaction SIGUSR1 ignore", sys4(__NR_rt_sigaction, SIGUSR1, &act, 0, 8));
    show("rt_sigaction read it back", sys4(__NR_rt_sigaction, SIGUSR1, 0, &old, 8));
    show("  handler is SIG_IGN", old.handler == (u64)SIG_IGN);
    show("kill self with ignored SIGUSR1", sys2(__NR_kill, sys0(__NR_getpid), SIGUSR1));
    u64 set = 1ul << (SIGUSR2 - 1), oldset = 0;
    show("rt_sigprocmask bad how", sys4(__NR_rt_sigprocmask, 99, &set, 0, 8));
    show("rt_sigprocmask bad how, no set", sys4(__NR_rt_sigprocmask, 99, 0, &oldset, 8));
    show("rt_sigprocmask bad sigsetsize", sys4(__NR_rt_sigprocmask, SIG_BLOCK, &set, 0, 4));
    show("rt_sigprocmask block SIGUSR2", sys4(__NR_rt_sigprocmask, SIG_BLOCK, &set, 0, 8));
    show("kill self with blocked SIGUSR2", sys2(__NR_kill, sys0(__NR_getpid), SIGUSR2));
    u64 pending = 0;
    show("rt_sigpending", sys2(__NR_rt_sigpending, &pending, 8));
    show("  SIGUSR2 is pending", pending == set);
    show("rt_sigpending bad size", sys2(__NR_rt_sigpending, &pending, 9));
    struct k_sigaction dfl_ign = {(u64)SIG_IGN, 0, 0, 0};
    show("ignore SIGUSR2 (drops it)", sys4(__NR_rt_sigaction, SIGUSR2, &dfl_ign, 0, 8));
    sys2(__NR_rt_sigpending, &pending, 8);
    show("  nothing pending now", pending);
    set = ~0ul;
    show("rt_sigprocmask block everything", sys4(__NR_rt_sigprocmask, SIG_SETMASK, &set, 0, 8));
    show("rt_sigprocmask read the mask", sys4(__NR_rt_sigprocmask, SIG_BLOCK, 0, &oldset, 8));
    show("  SIGKILL and SIGSTOP stay unblocked", (oldset >> (SIGKILL - 1) & 1) | (oldset >> (SIGSTOP - 1) & 1));
    set = 0;
    sys4(__NR_rt_sigprocmask, SIG_SETMASK, &set, 0, 8);
    struct k_stack ss = {(u64)buf, 0, 0, 100}, os;
    show("sigaltstack too small", sys2(__NR_sigaltstack, &ss, 0));
    ss.flags = 123;
    ss.size = sizeof buf * 2;
    show("sigaltstack bad flags", sys2(__NR_sigaltstack, &ss, 0));
    show("sigaltstack read", sys2(__NR_sigaltstack, 0, &os));
    show("  flags say disabled", os.flags);
    ss.flags = 0;
    show("sigaltstack set", sys2(__NR_sigaltstack, &ss, 0));
    sys2(__NR_sigaltstack, 0, &os);
    show("  size reads back", os.size == sizeof buf * 2);
    show("  flags", os.flags);
    ss.flags = SS_DISABLE;
    show("sigaltstack disable", sys2(__NR_sigaltstack, &ss, &os));
    i64 pid = sys0(__NR_getpid);
    show("kill self signal 0", sys2(__NR_kill, pid, 0));
    show("kill nobody", sys2(__NR_kill, 0x3fffffff, 0));
    show("kill bad signal", sys2(__NR_kill, pid, 99));
    show("tgkill zero ids", sys3(__NR_tgkill, 0, 0, 0));
    show("tgkill other thread", sys3(__NR_tgkill, pid, 0x3fffffff, 0));
    show("tgkill bad signal", sys3(__NR_tgkill, pid, sys0(__NR_gettid), 99));
    show("tkill negative", sys2(__NR_tkill, -1, 0));
}

static void process(void) {
    i64 pid = sys0(__NR_getpid);
    show("gettid is getpid", sys0(__NR_gettid) == pid);
    show("set_tid_address returns the tid", sys1(__NR_set_tid_address, buf) == pid);
    ok("getppid", sys0(__NR_getppid));
    show("set_robust_list bad length", sys2(__NR_set_robust_list, buf, 1));
    show("set_robust_list", sys2(__NR_set_robust_list, buf, 24));
    u64 head = 0, hlen = 0;
    show("get_robust_list", sys3(__NR_get_robust_list, 0, &head, &hlen));
    show("  length", hlen);
    show("  head", head == (u64)buf);
    struct k_rlimit rl, bad = {2, 1};
    show("prlimit64 bad resource", sys4(__NR_prlimit64, 0, 99, 0, &rl));
    show("prlimit64 RLIMIT_STACK", sys4(__NR_prlimit64, 0, RLIMIT_STACK, 0, &rl));
    show("prlimit64 soft above hard", sys4(__NR_prlimit64, 0, RLIMIT_CORE, &bad, 0));
    show("prlimit64 nobody", sys4(__NR_prlimit64, 0x3fffffff, RLIMIT_STACK, 0, &rl));
    show("prlimit64 bad pointer", sys4(__NR_prlimit64, 0, RLIMIT_STACK, 0, 16));
    show("prlimit64 RLIMIT_NOFILE", sys4(__NR_prlimit64, 0, RLIMIT_NOFILE, 0, &rl));
    struct k_rlimit lower = {rl.cur - 1, rl.max};
    show("lower RLIMIT_NOFILE by one", sys4(__NR_prlimit64, 0, RLIMIT_NOFILE, &lower, 0));
    show("dup to the last fd allowed", sys3(__NR_dup3, 1, rl.cur - 2, 0) == (i64)rl.cur - 2);
    show("dup past the limit", sys3(__NR_dup3, 1, rl.cur - 1, 0));
    sys1(__NR_close, rl.cur - 2);
    show("sched_getaffinity length 1", sys3(__NR_sched_getaffinity, 0, 1, buf));
    show("sched_getaffinity length 7", sys3(__NR_sched_getaffinity, 0, 7, buf));
    ok("sched_getaffinity", sys3(__NR_sched_getaffinity, 0, 128, buf));
    int any = 0;
    for (int i = 0; i < 128; i++) any |= buf[i];
    show("  some CPU is in it", any != 0);
    show("sched_getaffinity nobody", sys3(__NR_sched_getaffinity, 0x3fffffff, 128, buf));
    show("sched_yield", sys0(__NR_sched_yield));
    show("sysinfo bad pointer", sys1(__NR_sysinfo, 0));
    show("sysinfo", sys1(__NR_sysinfo, buf));
    show("uname", sys1(__NR_uname, buf));
    out("  machine: "); out(buf + 65 * 4); out("\n");
    show("getrandom bad flags", sys3(__NR_getrandom, buf, 16, 0xff));
    show("getrandom", sys3(__NR_getrandom, buf, 16, 0));
    show("prctl bad option", sys5(__NR_prctl, 0x7fffffff, 0, 0, 0, 0));
    show("prctl PR_SET_NAME", sys5(__NR_prctl, 15, "renamed-process-name", 0, 0, 0));
    sys5(__NR_prctl, 16, buf, 0, 0, 0);
    out("  PR_GET_NAME: "); out(buf); out("\n");
    i64 fd = sys4(__NR_openat, AT_FDCWD, "/proc/self/comm", O_RDONLY, 0);
    buf[sys3(__NR_read, fd, buf, 64)] = 0;
    sys1(__NR_close, fd);
    out("  /proc/self/comm: "); out(buf);
    show("wait4 with no children", sys4(__NR_wait4, -1, 0, 0, 0));
#ifdef __NR_arch_prctl
    show("arch_prctl bad option", sys2(__NR_arch_prctl, 0x9999, 0));
    u64 fs = 1;
    show("arch_prctl ARCH_GET_FS", sys2(__NR_arch_prctl, 0x1003, &fs));
    show("  FS base is 0 before libc sets it", fs);
    show("arch_prctl ARCH_SET_FS past the user space", sys2(__NR_arch_prctl, 0x1002, -4096L));
    show("arch_prctl ARCH_GET_FS bad pointer", sys2(__NR_arch_prctl, 0x1003, 16));
#endif
}

static void waiting(void) {
    int word = 5;
    struct k_timespec ms = {0, 1000000}, bad = {0, -1};
    show("futex wait, value differs", futex(&word, FUTEX_WAIT_PRIVATE, 4, 0, 0, 0));
    show("futex wait, 1 ms timeout", futex(&word, FUTEX_WAIT_PRIVATE, 5, &ms, 0, 0));
    show("futex wait, bad timeout", futex(&word, FUTEX_WAIT_PRIVATE, 5, &bad, 0, 0));
    show("futex unaligned", futex((char *)&word + 1, FUTEX_WAKE, 1, 0, 0, 0));
    show("futex bad op", futex(&word, 99, 0, 0, 0, 0));
    show("futex wake", futex(&word, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0));
    show("futex wait bitset 0", futex(&word, FUTEX_WAIT_BITSET, 5, 0, 0, 0));
    show("futex wake with CLOCK_REALTIME", futex(&word, FUTEX_WAKE | FUTEX_CLOCK_REALTIME, 1, 0, 0, 0));
    show("futex cmp_requeue mismatch", futex(&word, FUTEX_CMP_REQUEUE, 1, 0, &word, 4));
    show("futex bad address", futex(16, FUTEX_WAIT, 0, 0, 0, 0));
    show("clock_gettime bad clock", sys2(__NR_clock_gettime, 99, buf));
    show("clock_gettime bad pointer", sys2(__NR_clock_gettime, CLOCK_MONOTONIC, 16));
    show("clock_getres", sys2(__NR_clock_getres, CLOCK_MONOTONIC, 0));
    show("clock_getres bad clock", sys2(__NR_clock_getres, -5, 0));
    show("clock_nanosleep bad time", sys4(__NR_clock_nanosleep, CLOCK_MONOTONIC, 0, &bad, 0));
    show("clock_nanosleep thread clock", sys4(__NR_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, &ms, 0));
    show("clock_nanosleep 1 ms", sys4(__NR_clock_nanosleep, CLOCK_MONOTONIC, 0, &ms, 0));
    show("nanosleep bad time", sys2(__NR_nanosleep, &bad, 0));
    ok("times", sys1(__NR_times, buf));
}

static void crash_segv(void) {
    volatile int *volatile p = (int *)16;
    *p = 1;
}

static void crash_ill(void) {
#if defined(__x86_64__)
    __asm__ volatile("ud2");
#else
    __asm__ volatile(".inst 0x00000000");
#endif
}

static i64 to_number(const char *s) {
    i64 v = 0;
    while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
    return v;
}

__attribute__((used)) static void start_c(i64 *sp) {
    i64 argc = sp[0];
    char **argv = (char **)(sp + 1);
    if (argc >= 2 && same(argv[1], "segv")) crash_segv();
    if (argc >= 2 && same(argv[1], "ill")) crash_ill();
    if (argc >= 2 && same(argv[1], "kill")) sys2(__NR_kill, sys0(__NR_getpid), SIGTERM);
    if (argc >= 3 && same(argv[1], "exit")) sys1(__NR_exit_group, to_number(argv[2]));
    files();
    pipes();
    memory();
    signals();
    process();
    waiting();
    sys1(__NR_exit_group, 0);
}

#if defined(__x86_64__)
__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call start_c\n hlt\n");
#else
__asm__(".globl _start\n_start:\n mov x0, sp\n bl start_c\n brk #0\n");
#endif
