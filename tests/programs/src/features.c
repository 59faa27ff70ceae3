/* One static program with a case for each kernel feature the acceptance tests measure:
 * processes, threads, signals, descriptors that wait, Unix sockets, shared mappings and
 * faults. `features CASE [ARGS]` runs one case and prints what it saw, deterministically, so
 * that the output under the sandbox can be compared byte for byte with qemu-user's (and
 * Linux's). `features` alone lists the cases.
 *
 * Every line is written with one write(2) as soon as it is known (no stdio buffer to be
 * copied by fork); a parent prints only after it has waited for its child, so the order of
 * lines never depends on the scheduler. A call that fails prints `what: ERRNAME` and the
 * case exits 1, so a missing feature shows as the errno a user would see.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

extern char **environ;

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) _exit(2);
        p += w, n -= (size_t)w;
    }
}

static void say(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    write_all(1, buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1);
}

static const char *errname(int e) {
    const char *name = strerrorname_np(e);
    return name ? name : "E?";
}

/* A failed call: say which, with its errno's name, and end the case. */
static void fail(const char *what) {
    say("%s: %s\n", what, errname(errno));
    exit(1);
}

/* pthread functions return the error instead of setting errno. */
static void check_pthread(int err, const char *what) {
    if (err) {
        errno = err;
        fail(what);
    }
}

static void describe_status(const char *who, int status) {
    if (WIFEXITED(status)) say("%s exited with status %d\n", who, WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) say("%s was killed by SIG%s\n", who, sigabbrev_np(WTERMSIG(status)));
    else say("%s stopped or continued (status 0x%x)\n", who, status);
}

static pid_t wait_for(pid_t pid, const char *who) {
    int status;
    pid_t got;
    do got = waitpid(pid, &status, 0);
    while (got < 0 && errno == EINTR);
    if (got < 0) fail("waitpid");
    describe_status(who, status);
    return got;
}

/* -- threads ----------------------------------------------------------------------------- */

enum { ROUNDS = 100000, RACY_ROUNDS = 1000000 };
static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static __thread long thread_local_value;

static void *locked_adder(void *arg) {
    thread_local_value = (long)(intptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&counter_lock);
        counter++;
        pthread_mutex_unlock(&counter_lock);
    }
    return (void *)(intptr_t)(thread_local_value * 10);
}

static int case_threads(int argc, char **argv) {
    (void)argc, (void)argv;
    pthread_t t[2];
    for (long i = 0; i < 2; i++) check_pthread(pthread_create(&t[i], NULL, locked_adder, (void *)(intptr_t)(i + 1)), "pthread_create");
    void *ret[2];
    for (int i = 0; i < 2; i++) check_pthread(pthread_join(t[i], &ret[i]), "pthread_join");
    say("two threads, mutex-protected counter: %ld of %d\n", counter, 2 * ROUNDS);
    say("joined values: %ld %ld; main thread's own thread-local value: %ld\n", (long)(intptr_t)ret[0], (long)(intptr_t)ret[1],
        thread_local_value);
    return counter == 2 * ROUNDS ? 0 : 3;
}

/* Deliberately racy: a read, then a write, with no lock. A deterministic scheduler gives the
 * same total on every run with the same seed; real hardware does not. */
static volatile long racy_counter;
static volatile int racers_started;

static void *racy_adder(void *arg) {
    /* both threads start adding together, or the first could finish before the second starts */
    __atomic_add_fetch(&racers_started, 1, __ATOMIC_SEQ_CST);
    while (racers_started < 2) {
    }
    for (int i = 0; i < RACY_ROUNDS; i++) {
        long seen = racy_counter;
        racy_counter = seen + 1;
    }
    return arg;
}

static int case_race(int argc, char **argv) {
    (void)argc, (void)argv;
    pthread_t t[2];
    for (int i = 0; i < 2; i++) check_pthread(pthread_create(&t[i], NULL, racy_adder, NULL), "pthread_create");
    for (int i = 0; i < 2; i++) check_pthread(pthread_join(t[i], NULL), "pthread_join");
    say("racy counter: %ld of %d\n", racy_counter, 2 * RACY_ROUNDS);
    return 0;
}

/* A condition variable passed back and forth: every wait needs the other thread's wake. */
static pthread_cond_t turn_changed = PTHREAD_COND_INITIALIZER;
static int turn, volleys;
enum { VOLLEYS = 1000 };

static void *player(void *arg) {
    int me = (int)(intptr_t)arg;
    pthread_mutex_lock(&counter_lock);
    while (volleys < VOLLEYS) {
        while (turn != me && volleys < VOLLEYS) pthread_cond_wait(&turn_changed, &counter_lock);
        if (volleys >= VOLLEYS) break;
        volleys++;
        turn = 1 - me;
        pthread_cond_broadcast(&turn_changed);
    }
    pthread_mutex_unlock(&counter_lock);
    return NULL;
}

static int case_cond(int argc, char **argv) {
    (void)argc, (void)argv;
    pthread_t t[2];
    for (int i = 0; i < 2; i++) check_pthread(pthread_create(&t[i], NULL, player, (void *)(intptr_t)i), "pthread_create");
    for (int i = 0; i < 2; i++) check_pthread(pthread_join(t[i], NULL), "pthread_join");
    say("condition variable ping-pong: %d volleys\n", volleys);
    return 0;
}

/* exit() from a thread other than the main one ends the whole process with its status. */
static void *exiting_thread(void *arg) {
    (void)arg;
    say("second thread calls exit(4)\n");
    exit(4);
}

static int case_thread_exit(int argc, char **argv) {
    (void)argc, (void)argv;
    pthread_t t;
    check_pthread(pthread_create(&t, NULL, exiting_thread, NULL), "pthread_create");
    pthread_join(t, NULL);
    say("main thread: the join returned, which it must not\n");
    return 0;
}

/* A signal sent to one thread runs its handler on that thread. */
static volatile pid_t handler_tid;
static volatile sig_atomic_t thread_ready;

static void note_tid(int sig) {
    (void)sig;
    handler_tid = gettid();
}

static void *waiting_thread(void *arg) {
    pid_t *tid = arg;
    *tid = gettid();
    sigset_t none;
    sigemptyset(&none);
    thread_ready = 1;
    while (!handler_tid) sigsuspend(&none);
    return NULL;
}

static int case_thread_signal(int argc, char **argv) {
    (void)argc, (void)argv;
    struct sigaction sa = {.sa_handler = note_tid};
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, NULL); /* only the waiting thread unblocks it (sigsuspend) */
    pid_t tid = 0;
    pthread_t t;
    check_pthread(pthread_create(&t, NULL, waiting_thread, &tid), "pthread_create");
    while (!thread_ready) sched_yield();
    check_pthread(pthread_kill(t, SIGUSR1), "pthread_kill");
    check_pthread(pthread_join(t, NULL), "pthread_join");
    say("SIGUSR1 sent to the second thread ran its handler on: %s\n",
        handler_tid == tid ? "the second thread" : handler_tid == gettid() ? "the main thread" : "another task");
    return 0;
}

/* -- processes ----------------------------------------------------------------------------- */

static int case_fork_wait(int argc, char **argv) {
    (void)argc, (void)argv;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) fail("fork");
    if (pid == 0) _exit(getppid() == parent && getpid() != parent ? 7 : 8);
    pid_t got = wait_for(pid, "first child");
    say("waitpid returned the child's pid: %s\n", got == pid ? "yes" : "no");

    pid = fork();
    if (pid < 0) fail("fork");
    if (pid == 0) {
        for (;;) pause();
    }
    if (kill(pid, SIGTERM) < 0) fail("kill");
    wait_for(pid, "second child");

    pid = fork();
    if (pid < 0) fail("fork");
    if (pid == 0) abort();
    wait_for(pid, "third child");

    int status;
    if (waitpid(-1, &status, WNOHANG) < 0) say("waitpid with no children left: %s\n", errname(errno));
    return 0;
}

static int case_vfork(int argc, char **argv) {
    (void)argc, (void)argv;
    volatile int touched = 0;
    pid_t pid = vfork();
    if (pid < 0) fail("vfork");
    if (pid == 0) {
        touched = 1; /* the parent sees this: it shares the child's memory until _exit */
        _exit(3);
    }
    wait_for(pid, "vforked child");
    say("the parent sees the child's store: %s\n", touched ? "yes" : "no");
    return 0;
}

/* vfork then execve, the pattern vfork exists for: the parent resumes when the child execs. */
static int case_vfork_exec(int argc, char **argv) {
    if (argc < 3) {
        say("usage: features vfork-exec CHILD-PROGRAM\n");
        return 2;
    }
    char *child_argv[] = {"child", "after", "vfork", NULL};
    char *child_env[] = {"GREETING=vforked", NULL};
    pid_t pid = vfork();
    if (pid < 0) fail("vfork");
    if (pid == 0) {
        execve(argv[2], child_argv, child_env);
        _exit(127);
    }
    wait_for(pid, "vforked and exec'd child");
    return 0;
}

/* The child program (src/child.c) prints its argv and environment, reports whether
 * descriptors 5 and 6 are open, and exits with 40 + its argc. */
static int case_fork_exec(int argc, char **argv) {
    if (argc < 3) {
        say("usage: features fork-exec CHILD-PROGRAM\n");
        return 2;
    }
    int p[2];
    if (pipe(p) < 0) fail("pipe");
    /* fd 5 stays open across execve; fd 6 is close-on-exec and must not */
    if (dup2(p[0], 5) < 0 || dup3(p[1], 6, O_CLOEXEC) < 0) fail("dup2");
    pid_t pid = fork();
    if (pid < 0) fail("fork");
    if (pid == 0) {
        char *child_argv[] = {"child", "from", "fork-exec", NULL};
        char *child_env[] = {"GREETING=hello from the parent", NULL};
        execve(argv[2], child_argv, child_env);
        say("execve: %s\n", errname(errno));
        _exit(127);
    }
    wait_for(pid, "exec'd child");
    return 0;
}

static int case_posix_spawn(int argc, char **argv) {
    if (argc < 3) {
        say("usage: features posix-spawn CHILD-PROGRAM\n");
        return 2;
    }
    int out[2];
    if (pipe(out) < 0) fail("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    char *child_argv[] = {"child", "spawned", NULL};
    char *child_env[] = {"GREETING=spawned", NULL};
    pid_t pid;
    int err = posix_spawn(&pid, argv[2], &actions, NULL, child_argv, child_env);
    if (err) {
        errno = err;
        fail("posix_spawn");
    }
    close(out[1]);
    char buf[512];
    size_t have = 0;
    ssize_t n;
    while ((n = read(out[0], buf + have, sizeof buf - 1 - have)) > 0) have += (size_t)n;
    if (n < 0) fail("read");
    buf[have] = 0;
    say("the spawned child wrote %zu bytes through the pipe:\n%s", have, buf);
    wait_for(pid, "spawned child");
    return 0;
}

static int case_pipe(int argc, char **argv) {
    (void)argc, (void)argv;
    int down[2], up[2];
    if (pipe(down) < 0 || pipe(up) < 0) fail("pipe");
    pid_t pid = fork();
    if (pid < 0) fail("fork");
    if (pid == 0) {
        close(down[1]);
        close(up[0]);
        char buf[64];
        ssize_t n, total = 0;
        while ((n = read(down[0], buf, sizeof buf)) > 0) {
            for (ssize_t i = 0; i < n; i++)
                if (buf[i] >= 'a' && buf[i] <= 'z') buf[i] -= 32;
            write_all(up[1], buf, (size_t)n);
            total += n;
        }
        _exit(total == 18 ? 0 : 1);
    }
    close(down[0]);
    close(up[1]);
    write_all(down[1], "ping through pipes", 18);
    close(down[1]);
    char buf[64];
    size_t have = 0;
    ssize_t n;
    while ((n = read(up[0], buf + have, sizeof buf - 1 - have)) > 0) have += (size_t)n;
    buf[have] = 0;
    say("the child sent back: %s\n", buf);
    say("read after the child closed its end: %zd (end of file)\n", n);
    wait_for(pid, "child");
    /* a write to a pipe whose reader is gone: SIGPIPE, here ignored, so EPIPE */
    signal(SIGPIPE, SIG_IGN);
    int lonely[2];
    if (pipe(lonely) < 0) fail("pipe");
    close(lonely[0]);
    if (write(lonely[1], "x", 1) < 0) say("write with no reader: %s\n", errname(errno));
    return 0;
}

static volatile sig_atomic_t sigchld_seen;
static volatile int sigchld_code, sigchld_status;
static volatile pid_t sigchld_pid;

static void on_sigchld(int sig, siginfo_t *info, void *context) {
    (void)sig, (void)context;
    sigchld_code = info->si_code;
    sigchld_status = info->si_status;
    sigchld_pid = info->si_pid;
    sigchld_seen = 1;
}

static int case_sigchld(int argc, char **argv) {
    (void)argc, (void)argv;
    struct sigaction sa = {.sa_sigaction = on_sigchld, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGCHLD, &sa, NULL) < 0) fail("sigaction");
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old); /* so the signal cannot come before sigsuspend waits */
    pid_t pid = fork();
    if (pid < 0) fail("fork");
    if (pid == 0) _exit(5);
    while (!sigchld_seen) sigsuspend(&old);
    say("SIGCHLD: si_code %s, si_status %d, si_pid is the child: %s\n", sigchld_code == CLD_EXITED ? "CLD_EXITED" : "other",
        sigchld_status, sigchld_pid == pid ? "yes" : "no");
    wait_for(pid, "child");
    return 0;
}

/* A MAP_SHARED anonymous mapping is shared with a forked child; a MAP_PRIVATE one is copied. */
static int case_shared_anon(int argc, char **argv) {
    (void)argc, (void)argv;
    int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int *private = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED || private == MAP_FAILED) fail("mmap");
    pid_t pid = fork();
    if (pid < 0) fail("fork");
    if (pid == 0) {
        *shared = 42;
        *private = 42;
        _exit(0);
    }
    wait_for(pid, "child");
    say("after the child stored 42: shared mapping %d, private mapping %d\n", *shared, *private);
    return 0;
}

/* execve's errors, seen without any new process. */
static int case_exec_errors(int argc, char **argv) {
    (void)argc, (void)argv;
    char *args[] = {"x", NULL};
    execve("/nonexistent/program", args, environ);
    say("execve of a missing file: %s\n", errname(errno));
    execve(".", args, environ);
    say("execve of a directory: %s\n", errname(errno));
    char path[] = "/tmp/features-exec-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) fail("mkstemp");
    write_all(fd, "neither ELF nor #!\n", 19);
    close(fd);
    execve(path, args, environ);
    say("execve of a file without execute permission: %s\n", errname(errno));
    chmod(path, 0755);
    execve(path, args, environ);
    say("execve of an executable that is neither ELF nor script: %s\n", errname(errno));
    static char huge[200 * 1024];
    memset(huge, 'a', sizeof huge - 1);
    char *too_long[] = {"x", huge, NULL};
    execve(path, too_long, environ);
    say("execve with a 200 KiB argument: %s\n", errname(errno));
    unlink(path);
    return 0;
}

/* -- descriptors that wait: epoll, eventfd, timerfd ------------------------------------------ */

static int case_epoll(int argc, char **argv) {
    (void)argc, (void)argv;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) fail("epoll_create1");
    int ev = eventfd(0, EFD_NONBLOCK);
    if (ev < 0) fail("eventfd");
    int tf = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    if (tf < 0) fail("timerfd_create");
    struct itimerspec in_20ms = {.it_value = {0, 20 * 1000 * 1000}};
    if (timerfd_settime(tf, 0, &in_20ms, NULL) < 0) fail("timerfd_settime");
    struct epoll_event add = {.events = EPOLLIN, .data.u32 = 1};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, ev, &add) < 0) fail("epoll_ctl");
    add.data.u32 = 2;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, tf, &add) < 0) fail("epoll_ctl");
    uint64_t three = 3;
    if (write(ev, &three, 8) != 8) fail("write eventfd");

    /* Which became ready in which call depends on timing, so print only what was read. */
    uint64_t event_value = 0, expirations = 0;
    for (int calls = 0; (!event_value || !expirations) && calls < 100; calls++) {
        struct epoll_event ready[4];
        int n = epoll_wait(ep, ready, 4, 2000);
        if (n < 0) fail("epoll_wait");
        for (int i = 0; i < n; i++) {
            uint64_t v;
            if (ready[i].data.u32 == 1 && read(ev, &v, 8) == 8) event_value = v;
            if (ready[i].data.u32 == 2 && read(tf, &v, 8) == 8) expirations = v;
        }
    }
    say("eventfd read: %llu\n", (unsigned long long)event_value);
    say("timerfd expirations: %llu\n", (unsigned long long)expirations);
    struct epoll_event ready[4];
    say("ready after both were read: %d\n", epoll_wait(ep, ready, 4, 0));
    struct itimerspec now;
    if (timerfd_gettime(tf, &now) < 0) fail("timerfd_gettime");
    say("one-shot timer disarmed: %s\n", now.it_value.tv_sec == 0 && now.it_value.tv_nsec == 0 ? "yes" : "no");

    /* a semaphore eventfd counts down by one per read */
    int sem = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
    if (sem < 0) fail("eventfd");
    uint64_t a = 0, b = 0, c = 0;
    read(sem, &a, 8), read(sem, &b, 8);
    say("semaphore eventfd reads: %llu %llu, then %s\n", (unsigned long long)a, (unsigned long long)b,
        read(sem, &c, 8) < 0 ? errname(errno) : "a value");

    /* edge triggered: a pipe with unread data is reported once */
    int p[2];
    if (pipe(p) < 0) fail("pipe");
    struct epoll_event edge = {.events = EPOLLIN | EPOLLET, .data.u32 = 3};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &edge) < 0) fail("epoll_ctl");
    write_all(p[1], "x", 1);
    int first = epoll_wait(ep, ready, 4, 1000);
    int second = epoll_wait(ep, ready, 4, 0);
    say("edge-triggered pipe: %d event(s), then %d\n", first, second);
    return 0;
}

/* -- Unix sockets ----------------------------------------------------------------------------- */

static int case_scm_rights(int argc, char **argv) {
    (void)argc, (void)argv;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) fail("socketpair");
    int p[2];
    if (pipe(p) < 0) fail("pipe");
    write_all(p[1], "read through a passed descriptor", 32);
    close(p[1]);

    char byte = '!';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr header;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space, .msg_controllen = sizeof control.space};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &p[0], sizeof(int));
    if (sendmsg(sv[0], &msg, 0) != 1) fail("sendmsg");
    close(p[0]); /* the descriptor in flight keeps the pipe open */

    char got = 0;
    struct iovec riov = {.iov_base = &got, .iov_len = 1};
    memset(&control, 0, sizeof control);
    struct msghdr rmsg = {.msg_iov = &riov, .msg_iovlen = 1, .msg_control = control.space, .msg_controllen = sizeof control.space};
    if (recvmsg(sv[1], &rmsg, 0) != 1) fail("recvmsg");
    struct cmsghdr *rc = CMSG_FIRSTHDR(&rmsg);
    if (!rc || rc->cmsg_type != SCM_RIGHTS) {
        say("no descriptor arrived\n");
        return 3;
    }
    int passed;
    memcpy(&passed, CMSG_DATA(rc), sizeof passed);
    char buf[64] = {0};
    ssize_t n = read(passed, buf, sizeof buf - 1);
    say("data byte '%c' came with a descriptor; it reads %zd bytes: %s\n", got, n, buf);

    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(sv[1], SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) fail("getsockopt SO_PEERCRED");
    say("SO_PEERCRED names this process: %s\n", cred.pid == getpid() && cred.uid == getuid() ? "yes" : "no");

    /* datagram and seqpacket pairs keep message boundaries */
    const int types[] = {SOCK_DGRAM, SOCK_SEQPACKET};
    const char *names[] = {"SOCK_DGRAM", "SOCK_SEQPACKET"};
    for (int t = 0; t < 2; t++) {
        int dv[2];
        if (socketpair(AF_UNIX, types[t], 0, dv) < 0) fail("socketpair");
        send(dv[0], "ab", 2, 0);
        send(dv[0], "cde", 3, 0);
        char m[8];
        ssize_t first = recv(dv[1], m, sizeof m, 0), second = recv(dv[1], m, sizeof m, 0);
        say("%s: messages of %zd and %zd bytes\n", names[t], first, second);
    }
    shutdown(sv[0], SHUT_WR);
    say("read after the peer's shutdown: %zd\n", read(sv[1], buf, sizeof buf));
    return 0;
}

static int case_unix_listen(int argc, char **argv) {
    (void)argc, (void)argv;
    /* an abstract name, made unique by the pid because qemu-user shares the host's namespace */
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int len = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "syscall-sandbox-features-%d", (int)getpid());
    socklen_t addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    int server = socket(AF_UNIX, SOCK_STREAM, 0);
    if (server < 0) fail("socket");
    if (bind(server, (struct sockaddr *)&addr, addrlen) < 0) fail("bind");
    if (listen(server, 4) < 0) fail("listen");
    int client = socket(AF_UNIX, SOCK_STREAM, 0);
    if (client < 0) fail("socket");
    /* a Unix stream connect completes as soon as the listener's backlog has room */
    if (connect(client, (struct sockaddr *)&addr, addrlen) < 0) fail("connect");
    int conn = accept(server, NULL, NULL);
    if (conn < 0) fail("accept");
    write_all(client, "hello, server", 13);
    char buf[32] = {0};
    ssize_t n = read(conn, buf, sizeof buf - 1);
    say("the server read %zd bytes: %s\n", n, buf);
    struct sockaddr_un peer;
    socklen_t peerlen = sizeof peer;
    if (getpeername(client, (struct sockaddr *)&peer, &peerlen) < 0) fail("getpeername");
    say("the client's peer is the listening name: %s\n", peerlen == addrlen && !memcmp(peer.sun_path, addr.sun_path, (size_t)len + 1) ? "yes" : "no");
    peerlen = sizeof peer;
    if (getsockname(client, (struct sockaddr *)&peer, &peerlen) < 0) fail("getsockname");
    say("the client itself is unnamed: %s\n", peerlen == sizeof(sa_family_t) ? "yes" : "no");
    int again = socket(AF_UNIX, SOCK_STREAM, 0);
    say("a second bind to the same name: %s\n", bind(again, (struct sockaddr *)&addr, addrlen) < 0 ? errname(errno) : "succeeded");
    return 0;
}

/* -- shared file mappings --------------------------------------------------------------------- */

static int case_mmap_shared(int argc, char **argv) {
    (void)argc, (void)argv;
    char path[] = "/tmp/features-shared-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) fail("mkstemp");
    if (ftruncate(fd, 4096) < 0) fail("ftruncate");
    char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *other = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED || other == MAP_FAILED) fail("mmap");
    memcpy(m, "stored through the mapping", 26);
    char buf[64] = {0};
    pread(fd, buf, 26, 0);
    say("pread after a store: %s\n", buf);
    say("a second mapping sees the store: %s\n", memcmp(other, "stored", 6) == 0 ? "yes" : "no");
    pwrite(fd, "PWRITE", 6, 0);
    say("the mapping after a pwrite: %.26s\n", m);
    say("msync: %s\n", msync(m, 4096, MS_SYNC) == 0 ? "0" : errname(errno));
    memcpy(m, "stored before munmap", 20);
    if (munmap(m, 4096) < 0 || munmap(other, 4096) < 0) fail("munmap");
    close(fd);
    fd = open(path, O_RDONLY);
    if (fd < 0) fail("open");
    memset(buf, 0, sizeof buf);
    read(fd, buf, 20);
    say("the file after munmap and close: %s\n", buf);
    close(fd);
    unlink(path);
    return 0;
}

/* -- faults delivered to handlers ------------------------------------------------------------- */

static sigjmp_buf recover;
static volatile int fault_signal, fault_code;
static void *volatile fault_addr;

static void on_fault(int sig, siginfo_t *info, void *context) {
    (void)context;
    fault_signal = sig;
    fault_code = info->si_code;
    fault_addr = info->si_addr;
    siglongjmp(recover, 1);
}

static void catch_faults(int sig) {
    struct sigaction sa = {.sa_sigaction = on_fault, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) < 0) fail("sigaction");
}

static const char *code_name(int sig, int code) {
    if (code == SI_USER) return "SI_USER";
    if (code == SI_TKILL) return "SI_TKILL";
    switch (sig) {
    case SIGSEGV: return code == SEGV_MAPERR ? "SEGV_MAPERR" : code == SEGV_ACCERR ? "SEGV_ACCERR" : "other";
    case SIGBUS: return code == BUS_ADRERR ? "BUS_ADRERR" : code == BUS_ADRALN ? "BUS_ADRALN" : "other";
    case SIGFPE: return code == FPE_INTDIV ? "FPE_INTDIV" : code == FPE_INTOVF ? "FPE_INTOVF" : "other";
    case SIGILL: return code == ILL_ILLOPC ? "ILL_ILLOPC" : code == ILL_ILLOPN ? "ILL_ILLOPN" : "other";
    case SIGTRAP: return code == TRAP_BRKPT ? "TRAP_BRKPT" : "other";
    }
    return "other";
}

static char *page_to_fix;

static void make_writable(int sig, siginfo_t *info, void *context) {
    (void)sig, (void)context;
    fault_addr = info->si_addr;
    mprotect(page_to_fix, 4096, PROT_READ | PROT_WRITE); /* returning retries the store */
}

static int case_segv(int argc, char **argv) {
    (void)argc, (void)argv;
    catch_faults(SIGSEGV);
    /* the compiler cannot see that this pointer is NULL, so it emits a real load */
    int *volatile null_pointer = NULL;
    if (!sigsetjmp(recover, 1)) {
        say("read through NULL gave %d\n", *null_pointer);
    } else {
        say("NULL dereference: SIG%s %s, si_addr %s\n", sigabbrev_np(fault_signal), code_name(fault_signal, fault_code),
            fault_addr == NULL ? "NULL" : "not NULL");
    }
    char *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) fail("mmap");
    if (!sigsetjmp(recover, 1)) {
        page[8] = 1;
        say("a store to a read-only page succeeded\n");
    } else {
        say("store to a read-only page: SIG%s %s, si_addr is the byte: %s\n", sigabbrev_np(fault_signal),
            code_name(fault_signal, fault_code), fault_addr == page + 8 ? "yes" : "no");
    }
    return 0;
}

/* A handler that fixes the cause and returns: the faulting store runs again and succeeds. */
static int case_segv_return(int argc, char **argv) {
    (void)argc, (void)argv;
    char *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) fail("mmap");
    struct sigaction fix = {.sa_sigaction = make_writable, .sa_flags = SA_SIGINFO};
    sigemptyset(&fix.sa_mask);
    sigaction(SIGSEGV, &fix, NULL);
    page_to_fix = page;
    fault_addr = NULL;
    ((volatile char *)page)[16] = 7;
    say("after the handler made the page writable and returned: byte %d, si_addr was the byte: %s\n", page[16],
        fault_addr == page + 16 ? "yes" : "no");
    return 0;
}

static int case_sigbus(int argc, char **argv) {
    (void)argc, (void)argv;
    char path[] = "/tmp/features-bus-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) fail("mkstemp");
    write_all(fd, "one hundred bytes or so", 23);
    unlink(path);
    volatile char *m = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) fail("mmap");
    say("past the end of the file, within its last page: byte %d\n", m[100]);
    catch_faults(SIGBUS);
    if (!sigsetjmp(recover, 1)) {
        say("a whole page past the end of the file: byte %d\n", m[4096]);
    } else {
        say("a whole page past the end of the file: SIG%s %s, si_addr is the byte: %s\n", sigabbrev_np(fault_signal),
            code_name(fault_signal, fault_code), fault_addr == m + 4096 ? "yes" : "no");
    }
    return 0;
}

/* Integer division by zero traps on x86 (SIGFPE), raises SIGFPE from the run-time library
 * on 32-bit arm, and gives a value without any signal on aarch64 and riscv64. */
static int case_fpe(int argc, char **argv) {
    (void)argc, (void)argv;
    catch_faults(SIGFPE);
    volatile int ten = 10, zero = 0;
    if (!sigsetjmp(recover, 1)) {
        say("10 / 0 = %d, no signal\n", ten / zero);
    } else {
        say("10 / 0: SIG%s %s\n", sigabbrev_np(fault_signal), code_name(fault_signal, fault_code));
    }
    return 0;
}

/* __builtin_trap is the arch's own trap instruction: ud2 (SIGILL) on x86, brk (SIGTRAP) on
 * aarch64, ebreak (SIGTRAP) on riscv64, an undefined instruction (SIGILL) on arm. */
static int case_trap(int argc, char **argv) {
    (void)argc, (void)argv;
    catch_faults(SIGILL);
    catch_faults(SIGTRAP);
    if (!sigsetjmp(recover, 1)) {
        __builtin_trap();
    } else {
        say("trap instruction: SIG%s %s\n", sigabbrev_np(fault_signal), code_name(fault_signal, fault_code));
    }
    return 0;
}

/* -- user-space counters and extended attributes ------------------------------------------------ */

static int read_counter(uint64_t *value) {
#if defined(__x86_64__) || defined(__i386__)
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    *value = ((uint64_t)hi << 32) | lo;
    return 1;
#elif defined(__aarch64__)
    __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(*value));
    return 1;
#elif defined(__riscv)
    __asm__ volatile("rdtime %0" : "=r"(*value));
    return 1;
#else
    (void)value;
    return 0; /* 32-bit arm: Linux does not promise user access to a counter */
#endif
}

static int case_counter(int argc, char **argv) {
    (void)argc, (void)argv;
    uint64_t before, after;
    if (!read_counter(&before)) {
        say("no user-space counter on this arch\n");
        return 0;
    }
    struct timespec pause_ = {0, 2 * 1000 * 1000};
    nanosleep(&pause_, NULL);
    read_counter(&after);
    say("the user-space counter moved forward across a 2 ms sleep: %s\n", after > before ? "yes" : "no");
#if defined(__aarch64__)
    uint64_t frequency;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(frequency));
    say("cntfrq_el0 is set: %s\n", frequency ? "yes" : "no");
#endif
    return 0;
}

static int case_xattr(int argc, char **argv) {
    char path[] = "/tmp/features-xattr-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) fail("mkstemp");
    const char *target = argc > 2 ? argv[2] : path;
    char buf[256];
    ssize_t n = getxattr(target, "user.missing", buf, sizeof buf);
    say("getxattr of a missing attribute: %s\n", n < 0 ? errname(errno) : "found");
    n = lgetxattr(target, "system.posix_acl_access", buf, sizeof buf);
    say("lgetxattr of the access ACL: %s\n", n < 0 ? errname(errno) : "found");
    n = listxattr(target, buf, sizeof buf);
    say("listxattr: %s\n", n < 0 ? errname(errno) : n == 0 ? "no attributes" : "some attributes");
    close(fd);
    unlink(path);
    return 0;
}

/* -- the table -------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *what;
} cases[] = {
    {"threads", case_threads, "two pthreads add to a mutex-protected counter"},
    {"race", case_race, "two pthreads add to a counter without a lock"},
    {"cond", case_cond, "a condition variable passed between two threads"},
    {"thread-exit", case_thread_exit, "exit() from a second thread ends the process"},
    {"thread-signal", case_thread_signal, "pthread_kill runs the handler on the target thread"},
    {"fork-wait", case_fork_wait, "fork, then waitpid: an exit status, a kill, an abort"},
    {"vfork", case_vfork, "vfork shares memory until _exit"},
    {"vfork-exec", case_vfork_exec, "vfork + execve CHILD"},
    {"fork-exec", case_fork_exec, "fork + execve CHILD, close-on-exec honoured"},
    {"posix-spawn", case_posix_spawn, "posix_spawn CHILD with its stdout on a pipe"},
    {"pipe", case_pipe, "a pipe each way between parent and child, EOF, EPIPE"},
    {"sigchld", case_sigchld, "a SIGCHLD handler with siginfo"},
    {"shared-anon", case_shared_anon, "MAP_SHARED|MAP_ANONYMOUS shared across fork"},
    {"exec-errors", case_exec_errors, "execve's ENOENT, EACCES, ENOEXEC and E2BIG"},
    {"epoll", case_epoll, "epoll with an eventfd, a timerfd and an edge-triggered pipe"},
    {"scm-rights", case_scm_rights, "socketpair: a descriptor passed with SCM_RIGHTS, SO_PEERCRED"},
    {"unix-listen", case_unix_listen, "bind, listen, connect, accept on an abstract Unix name"},
    {"mmap-shared", case_mmap_shared, "MAP_SHARED file stores seen by pread, kept after munmap"},
    {"segv", case_segv, "SIGSEGV handlers that siglongjmp out: NULL, a read-only page"},
    {"segv-return", case_segv_return, "a SIGSEGV handler that fixes the page and returns"},
    {"sigbus", case_sigbus, "SIGBUS past the end of a mapped file"},
    {"fpe", case_fpe, "integer division by zero"},
    {"trap", case_trap, "the arch's trap instruction"},
    {"counter", case_counter, "the user-space cycle or time counter"},
    {"xattr", case_xattr, "extended attributes of a file with none [PATH]"},
};

int main(int argc, char **argv) {
    for (size_t i = 0; argc > 1 && i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(argv[1], cases[i].name) == 0) return cases[i].run(argc, argv);
    say("usage: features CASE [ARGS]\n");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) say("  %-14s %s\n", cases[i].name, cases[i].what);
    return 2;
}
