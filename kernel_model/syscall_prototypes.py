"""The prototype of every system call of the supported arches' kernel tables, as data.

Parsed by :mod:`kernel_model.prototypes`, which documents the notation. Argument names and
types are the man pages' (which is what people read); the argument order and count are the
kernel's own entry points for 64-bit arches (``include/linux/syscalls.h`` and the arch
``sys_*.c`` files), checked by ``tools/check_prototypes.py`` against a kernel's headers.
In braces is only what the type and name do not already say: the value table a flags
argument is named from, the argument that gives a buffer's length, or a direction the
``const`` does not show. ``X = Y`` makes X an alias of Y (same arguments, another number);
``X@arch1,arch2(...)`` is X's form on those arches. ``{depends}`` marks arguments whose
meaning depends on another one (fcntl's command, ioctl's request...): see :data:`DEPENDENT`.
"""

# Arguments whose meaning (or presence) depends on another argument's value: the call, the
# argument that decides and the value table naming it (and a mask applied first), then per
# named value the arguments shown, each as "kind [in|out|inout]" or "struct NAME [dir]"
# ("return": a value table the result is also named from). Arguments a case does not list
# are not shown; "*" is the case for every other value.
DEPENDENT: dict[str, tuple[str, str, int, dict[str, dict[str, str]]]] = {
    "fcntl": ("cmd", "fcntl_cmd", 0xFFFFFFFF, {
        **{c: {} for c in ("F_GETFD", "F_GETFL", "F_GETOWN", "F_GETSIG", "F_GETLEASE", "F_GETPIPE_SZ",
                           "F_GET_SEALS")},
        "F_SETFD": {"arg": "fd_flags"}, "F_SETFL": {"arg": "open_flags"},
        **{c: {"arg": "int"} for c in ("F_DUPFD", "F_DUPFD_CLOEXEC", "F_SETOWN", "F_SETPIPE_SZ", "F_DUPFD_QUERY")},
        "F_SETSIG": {"arg": "signal"},
        "*": {"arg": "hex"},
    }),
    "ioctl": ("request", "ioctl_request", 0xFFFFFFFF, {
        **{c: {} for c in ("FIOCLEX", "FIONCLEX", "TIOCNOTTY", "TIOCEXCL", "TIOCNXCL")},
        **{c: {"arg": "int_ptr out"} for c in ("FIONREAD", "TIOCOUTQ", "TIOCGPGRP", "TIOCGSID", "TIOCGPTN",
                                               "TIOCGETD")},
        **{c: {"arg": "int_ptr in"} for c in ("FIONBIO", "FIOASYNC", "TIOCSPGRP", "TIOCSETD", "TIOCSPTLCK")},
        "TCGETS": {"arg": "struct termios out"},
        **{c: {"arg": "struct termios in"} for c in ("TCSETS", "TCSETSW", "TCSETSF")},
        "TIOCGWINSZ": {"arg": "struct winsize out"}, "TIOCSWINSZ": {"arg": "struct winsize in"},
        **{c: {"arg": "int"} for c in ("TCSBRK", "TCXONC", "TCFLSH", "TIOCSCTTY")},
        "*": {"arg": "hex"},
    }),
    "arch_prctl": ("option", "arch_prctl_code", 0xFFFFFFFF, {
        "ARCH_GET_FS": {"arg2": "ptr_ptr out"}, "ARCH_GET_GS": {"arg2": "ptr_ptr out"},
        "*": {"arg2": "hex"},
    }),
    "prctl": ("option", "prctl_option", 0xFFFFFFFF, {
        "PR_SET_NAME": {"arg2": "comm in"}, "PR_GET_NAME": {"arg2": "comm out"},
        "PR_SET_PDEATHSIG": {"arg2": "signal"}, "PR_GET_PDEATHSIG": {"arg2": "int_ptr out"},
        "PR_GET_DUMPABLE": {"return": "suid_dump"},
        **{c: {} for c in ("PR_GET_KEEPCAPS", "PR_GET_SECUREBITS", "PR_GET_NO_NEW_PRIVS",
                           "PR_GET_THP_DISABLE", "PR_GET_TIMERSLACK", "PR_GET_IO_FLUSHER")},
        **{c: {"arg2": "ulong"} for c in ("PR_SET_DUMPABLE", "PR_SET_KEEPCAPS", "PR_SET_TIMERSLACK")},
        "*": {"arg2": "hex", "arg3": "hex", "arg4": "hex", "arg5": "hex"},
    }),
    # clone writes the child's tid to parent_tid only with CLONE_PARENT_SETTID (strace shows it then)
    "clone": ("flags", "clone_flags", 0x100000, {
        "CLONE_PARENT_SETTID": {"parent_tid": "int_ptr out"},
        "*": {"parent_tid": "ptr"},
    }),
    # strace's reading of futex(2): which of val, timeout, uaddr2 and val3 each command uses.
    "futex": ("futex_op", "futex_cmd", 127, {
        "FUTEX_WAIT": {"val": "uint", "timeout": "struct timespec in"},
        "FUTEX_WAKE": {"val": "uint"}, "FUTEX_FD": {"val": "uint"},
        "FUTEX_REQUEUE": {"val": "uint", "timeout": "uint", "uaddr2": "ptr"},
        "FUTEX_CMP_REQUEUE": {"val": "uint", "timeout": "uint", "uaddr2": "ptr", "val3": "uint"},
        "FUTEX_CMP_REQUEUE_PI": {"val": "uint", "timeout": "uint", "uaddr2": "ptr", "val3": "uint"},
        "FUTEX_WAKE_OP": {"val": "uint", "timeout": "uint", "uaddr2": "ptr", "val3": "futex_wake_op_arg"},
        "FUTEX_LOCK_PI": {"timeout": "struct timespec in"}, "FUTEX_LOCK_PI2": {"timeout": "struct timespec in"},
        "FUTEX_UNLOCK_PI": {}, "FUTEX_TRYLOCK_PI": {},
        "FUTEX_WAIT_BITSET": {"val": "uint", "timeout": "struct timespec in", "val3": "futex_bitset"},
        "FUTEX_WAKE_BITSET": {"val": "uint", "val3": "futex_bitset"},
        "FUTEX_WAIT_REQUEUE_PI": {"val": "uint", "timeout": "struct timespec in", "uaddr2": "ptr"},
        "*": {"val": "uint", "timeout": "ptr", "uaddr2": "ptr", "val3": "hex"},
    }),
}

PROTOTYPES = r"""
# -- files: reading and writing ---------------------------------------------------------------
read(int fd, void *buf {len=count}, size_t count) -> ssize_t
write(int fd, const void *buf {len=count}, size_t count) -> ssize_t
pread64(int fd, void *buf {len=count}, size_t count, loff_t offset) -> ssize_t
pwrite64(int fd, const void *buf {len=count}, size_t count, loff_t offset) -> ssize_t
readv(int fd, const struct iovec *iov {iovec, out, len=iovcnt}, int iovcnt) -> ssize_t
writev(int fd, const struct iovec *iov {iovec, len=iovcnt}, int iovcnt) -> ssize_t
preadv(int fd, const struct iovec *iov {iovec, out, len=iovcnt}, int iovcnt, off_t offset {lohi}) -> ssize_t
pwritev(int fd, const struct iovec *iov {iovec, len=iovcnt}, int iovcnt, off_t offset {lohi}) -> ssize_t
preadv2(int fd, const struct iovec *iov {iovec, out, len=iovcnt}, int iovcnt, off_t offset {lohi}, rwf_t flags) -> ssize_t
pwritev2(int fd, const struct iovec *iov {iovec, len=iovcnt}, int iovcnt, off_t offset {lohi}, rwf_t flags) -> ssize_t
lseek(int fd, off_t offset, unsigned int whence {whence}) -> off_t
_llseek(int fd, unsigned long offset_high, unsigned long offset_low, loff_t *result {off_ptr}, unsigned int whence {whence}) -> int
sendfile(int out_fd, int in_fd, off_t *offset {inout}, size_t count) -> ssize_t
sendfile64 = sendfile
copy_file_range(int fd_in, loff_t *off_in {inout}, int fd_out, loff_t *off_out {inout}, size_t len, unsigned int flags) -> ssize_t
splice(int fd_in, loff_t *off_in {inout}, int fd_out, loff_t *off_out {inout}, size_t len, unsigned int flags {splice_flags}) -> ssize_t
tee(int fd_in, int fd_out, size_t len, unsigned int flags {splice_flags}) -> ssize_t
vmsplice(int fd, const struct iovec *iov {iovec, len=nr_segs}, unsigned long nr_segs, unsigned int flags {splice_flags}) -> ssize_t
readahead(int fd, loff_t offset, size_t count) -> ssize_t
fadvise64(int fd, off_t offset, size_t len, int advice {fadvise_advice}) -> int
fadvise64_64(int fd, loff_t offset, loff_t len, int advice {fadvise_advice}) -> int
arm_fadvise64_64(int fd, int advice {fadvise_advice}, loff_t offset, loff_t len) -> int
fallocate(int fd, int mode {fallocate_mode}, loff_t offset, loff_t len) -> int
sync_file_range(int fd, loff_t offset, loff_t nbytes, unsigned int flags) -> int
sync_file_range2(int fd, unsigned int flags, loff_t offset, loff_t nbytes) -> int

# -- files: descriptors ------------------------------------------------------------------------
close(int fd) -> int
close_range(unsigned int fd, unsigned int max_fd, unsigned int flags {close_range_flags}) -> int
dup(int oldfd) -> int {fd}
dup2(int oldfd, int newfd) -> int {fd}
dup3(int oldfd, int newfd, int flags {open_mode_flags}) -> int {fd}
fcntl(int fd, unsigned int cmd {fcntl_cmd}, unsigned long arg {depends}) -> int {fcntl_ret}
fcntl64 = fcntl
ioctl(int fd, unsigned int request {ioctl_request}, unsigned long arg {depends}) -> int
flock(int fd, int operation {flock_op}) -> int
fsync(int fd) -> int
fdatasync(int fd) -> int
syncfs(int fd) -> int
sync() -> void {int}
ftruncate(int fd, off_t length {ulong}) -> int
ftruncate64(int fd, loff_t length) -> int
truncate(const char *path, off_t length {ulong}) -> int
truncate64(const char *path, loff_t length) -> int
pipe(int *pipefd {fd_pair}) -> int
pipe2(int *pipefd {fd_pair}, int flags {open_mode_flags}) -> int
eventfd(unsigned int initval) -> int {fd}
eventfd2(unsigned int initval, int flags {efd_flags}) -> int {fd}
memfd_create(const char *name {string}, unsigned int flags {mfd_flags}) -> int {fd}
memfd_secret(unsigned int flags) -> int {fd}
userfaultfd(int flags {cloexec_flags}) -> int {fd}

# -- files: names ------------------------------------------------------------------------------
open(const char *pathname, int flags {open_flags}, mode_t mode {open_mode}) -> int {fd}
openat(int dirfd, const char *pathname, int flags {open_flags}, mode_t mode {open_mode}) -> int {fd}
openat2(int dirfd, const char *pathname, struct open_how *how {in}, size_t size) -> int {fd}
creat(const char *pathname, mode_t mode) -> int {fd}
open_by_handle_at(int mountdirfd, struct file_handle *handle {in}, int flags {open_flags}) -> int {fd}
name_to_handle_at(int dirfd, const char *pathname, struct file_handle *handle {inout}, int *mount_id, int flags {at_flags}) -> int
stat(const char *pathname, struct stat *statbuf) -> int
lstat(const char *pathname, struct stat *statbuf) -> int
fstat(int fd, struct stat *statbuf) -> int
newfstatat(int dirfd, const char *pathname, struct stat *statbuf, int flags {at_flags}) -> int
stat64(const char *pathname, struct stat64 *statbuf) -> int
lstat64(const char *pathname, struct stat64 *statbuf) -> int
fstat64(int fd, struct stat64 *statbuf) -> int
fstatat64(int dirfd, const char *pathname, struct stat64 *statbuf, int flags {at_flags}) -> int
oldstat(const char *pathname, struct __old_kernel_stat *statbuf) -> int
oldlstat(const char *pathname, struct __old_kernel_stat *statbuf) -> int
oldfstat(int fd, struct __old_kernel_stat *statbuf) -> int
statx(int dirfd, const char *pathname, int flags {statx_flags}, unsigned int mask {statx_mask}, struct statx *statxbuf) -> int
statfs(const char *pathname, struct statfs *buf) -> int
fstatfs(int fd, struct statfs *buf) -> int
statfs64(const char *path, size_t sz, struct statfs64 *buf) -> int
fstatfs64(int fd, size_t sz, struct statfs64 *buf) -> int
ustat(unsigned int dev, struct ustat *ubuf) -> int
access(const char *pathname, int mode {access_mode}) -> int
faccessat(int dirfd, const char *pathname, int mode {access_mode}) -> int
faccessat2(int dirfd, const char *pathname, int mode {access_mode}, int flags {faccessat_flags}) -> int
getcwd(char *buf {cstring_out, len=size}, size_t size) -> int
chdir(const char *path) -> int
fchdir(int fd) -> int
chroot(const char *path) -> int
pivot_root(const char *new_root, const char *put_old {path}) -> int
mkdir(const char *pathname, mode_t mode) -> int
mkdirat(int dirfd, const char *pathname, mode_t mode) -> int
mknod(const char *pathname, mode_t mode, unsigned int dev {hex}) -> int
mknodat(int dirfd, const char *pathname, mode_t mode, unsigned int dev {hex}) -> int
rmdir(const char *pathname) -> int
unlink(const char *pathname) -> int
unlinkat(int dirfd, const char *pathname, int flags {at_flags}) -> int
rename(const char *oldpath, const char *newpath) -> int
renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) -> int
renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags {rename_flags}) -> int
link(const char *oldpath, const char *newpath) -> int
linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags {at_flags}) -> int
symlink(const char *target, const char *linkpath) -> int
symlinkat(const char *target, int newdirfd, const char *linkpath) -> int
readlink(const char *pathname, char *buf {len=bufsiz}, int bufsiz) -> ssize_t
readlinkat(int dirfd, const char *pathname, char *buf {len=bufsiz}, int bufsiz) -> ssize_t
chmod(const char *pathname, mode_t mode) -> int
fchmod(int fd, mode_t mode) -> int
fchmodat(int dirfd, const char *pathname, mode_t mode) -> int
fchmodat2(int dirfd, const char *pathname, mode_t mode, unsigned int flags {at_flags}) -> int
chown(const char *pathname, uid_t owner, gid_t group) -> int
lchown(const char *pathname, uid_t owner, gid_t group) -> int
fchown(int fd, uid_t owner, gid_t group) -> int
fchownat(int dirfd, const char *pathname, uid_t owner, gid_t group, int flags {at_flags}) -> int
chown32 = chown
lchown32 = lchown
fchown32 = fchown
umask(mode_t mask) -> mode_t
utime(const char *pathname, const struct utimbuf *times) -> int
utimes(const char *pathname, const struct timeval *times {timestamps, len=2}) -> int
futimesat(int dirfd, const char *pathname, const struct timeval *times {timestamps, len=2}) -> int
utimensat(int dirfd, const char *pathname, const struct timespec *times {timestamps, len=2}, int flags {at_flags}) -> int
utimensat_time64 = utimensat
getdents(int fd, struct linux_dirent *dirp {dirents, len=count}, unsigned int count) -> int
getdents64(int fd, struct linux_dirent64 *dirp {dirents, len=count}, unsigned int count) -> int
readdir(unsigned int fd, struct old_linux_dirent *dirp, unsigned int count) -> int
setxattr(const char *path, const char *name {string}, const void *value {len=size}, size_t size, int flags) -> int
lsetxattr(const char *path, const char *name {string}, const void *value {len=size}, size_t size, int flags) -> int
fsetxattr(int fd, const char *name {string}, const void *value {len=size}, size_t size, int flags) -> int
getxattr(const char *path, const char *name {string}, void *value {len=size}, size_t size) -> ssize_t
lgetxattr(const char *path, const char *name {string}, void *value {len=size}, size_t size) -> ssize_t
fgetxattr(int fd, const char *name {string}, void *value {len=size}, size_t size) -> ssize_t
listxattr(const char *path, char *list {len=size}, size_t size) -> ssize_t
llistxattr(const char *path, char *list {len=size}, size_t size) -> ssize_t
flistxattr(int fd, char *list {len=size}, size_t size) -> ssize_t
removexattr(const char *path, const char *name {string}) -> int
lremovexattr(const char *path, const char *name {string}) -> int
fremovexattr(int fd, const char *name {string}) -> int
setxattrat(int dirfd, const char *pathname, unsigned int at_flags {at_flags}, const char *name {string}, const struct xattr_args *uargs, size_t usize) -> int
getxattrat(int dirfd, const char *pathname, unsigned int at_flags {at_flags}, const char *name {string}, struct xattr_args *uargs {inout}, size_t usize) -> int
listxattrat(int dirfd, const char *pathname, unsigned int at_flags {at_flags}, char *list {len=size}, size_t size) -> ssize_t
removexattrat(int dirfd, const char *pathname, unsigned int at_flags {at_flags}, const char *name {string}) -> int
file_getattr(int dirfd, const char *pathname, struct file_attr *ufattr, size_t usize, unsigned int at_flags {at_flags}) -> int
file_setattr(int dirfd, const char *pathname, struct file_attr *ufattr {in}, size_t usize, unsigned int at_flags {at_flags}) -> int
inotify_init() -> int {fd}
inotify_init1(int flags {inotify_flags}) -> int {fd}
inotify_add_watch(int fd, const char *pathname, unsigned int mask {hex}) -> int
inotify_rm_watch(int fd, int wd) -> int
fanotify_init(unsigned int flags {hex}, unsigned int event_f_flags {open_flags}) -> int {fd}
fanotify_mark(int fanotify_fd, unsigned int flags {hex}, uint64_t mask {hex}, int dirfd, const char *pathname) -> int
cachestat(unsigned int fd, struct cachestat_range *cstat_range {in}, struct cachestat *cstat, unsigned int flags) -> int
lookup_dcookie(uint64_t cookie, char *buffer {len=len}, size_t len) -> int

# -- polling and events ------------------------------------------------------------------------
poll(struct pollfd *fds {pollfds, inout, len=nfds}, unsigned int nfds, int timeout) -> int {poll}
ppoll(struct pollfd *fds {pollfds, inout, len=nfds}, unsigned int nfds, const struct timespec *tmo_p {inout}, const sigset_t *sigmask {len=sigsetsize}, size_t sigsetsize) -> int {poll}
ppoll_time64 = ppoll
select(int nfds, fd_set *readfds {inout}, fd_set *writefds {inout}, fd_set *exceptfds {inout}, struct timeval *timeout {inout}) -> int {select}
select@i386(struct sel_arg_struct *args {in}) -> int
_newselect = select
pselect6(int nfds, fd_set *readfds {inout}, fd_set *writefds {inout}, fd_set *exceptfds {inout}, struct timespec *timeout {inout}, void *sigmask {in}) -> int {select}
pselect6_time64 = pselect6
epoll_create(int size) -> int {fd}
epoll_create1(int flags {epoll_flags}) -> int {fd}
epoll_ctl(int epfd, int op {epoll_op}, int fd, struct epoll_event *event {in}) -> int
epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout) -> int
epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout, const sigset_t *sigmask {len=sigsetsize}, size_t sigsetsize) -> int
epoll_pwait2(int epfd, struct epoll_event *events, int maxevents, const struct timespec *timeout, const sigset_t *sigmask {len=sigsetsize}, size_t sigsetsize) -> int
epoll_ctl_old(int epfd, int op {epoll_op}, int fd, struct epoll_event *event {in}) -> int
epoll_wait_old(int epfd, struct epoll_event *events, int maxevents, int timeout) -> int
signalfd(int fd, const sigset_t *mask {len=sizemask}, size_t sizemask) -> int {fd}
signalfd4(int fd, const sigset_t *mask {len=sizemask}, size_t sizemask, int flags {sfd_flags}) -> int {fd}
timerfd_create(int clockid {clockid}, int flags {tfd_flags}) -> int {fd}
timerfd_settime(int fd, int flags {tfd_flags}, const struct itimerspec *new_value, struct itimerspec *old_value) -> int
timerfd_gettime(int fd, struct itimerspec *curr_value) -> int
timerfd_settime64 = timerfd_settime
timerfd_gettime64 = timerfd_gettime
io_setup(unsigned int nr_events, aio_context_t *ctx_idp {ulong_ptr}) -> int
io_destroy(aio_context_t ctx_id) -> int
io_submit(aio_context_t ctx_id, long nr, struct iocb **iocbpp {ptr, in}) -> int
io_cancel(aio_context_t ctx_id, struct iocb *iocb {in}, struct io_event *result) -> int
io_getevents(aio_context_t ctx_id, long min_nr, long nr, struct io_event *events, struct timespec *timeout {in}) -> int
io_pgetevents(aio_context_t ctx_id, long min_nr, long nr, struct io_event *events, struct timespec *timeout {in}, const struct __aio_sigset *sig) -> int
io_pgetevents_time64 = io_pgetevents
io_uring_setup(unsigned int entries, struct io_uring_params *p {inout}) -> int {fd}
io_uring_enter(unsigned int fd {fd}, unsigned int to_submit, unsigned int min_complete, unsigned int flags {hex}, const void *argp, size_t argsz) -> int
io_uring_register(unsigned int fd {fd}, unsigned int opcode, void *arg, unsigned int nr_args) -> int

# -- memory ------------------------------------------------------------------------------------
brk(void *addr) -> void * {hex}
mmap(void *addr, size_t length, int prot {prot}, int flags {map_flags}, int fd, off_t offset {hexoff}) -> void *
mmap@i386(struct mmap_arg_struct *args {in}) -> void *
mmap2(void *addr, size_t length, int prot {prot}, int flags {map_flags}, int fd, unsigned long pgoffset {hexoff}) -> void *
munmap(void *addr, size_t length) -> int
mprotect(void *addr, size_t length, unsigned long prot {prot}) -> int
pkey_mprotect(void *addr, size_t length, unsigned long prot {prot}, int pkey) -> int
pkey_alloc(unsigned int flags, unsigned int access_rights) -> int
pkey_free(int pkey) -> int
mremap(void *old_address, size_t old_size, size_t new_size, int flags {mremap_flags}, void *new_address) -> void *
remap_file_pages(void *addr, size_t size, int prot {prot}, size_t pgoff, int flags {map_flags}) -> int
madvise(void *addr, size_t length, int advice {madvise}) -> int
process_madvise(int pidfd, const struct iovec *iovec {iovec, len=vlen}, size_t vlen, int advice {madvise}, unsigned int flags) -> ssize_t
msync(void *addr, size_t length, int flags {msync_flags}) -> int
mincore(void *addr, size_t length, unsigned char *vec {ptr}) -> int
mlock(const void *addr {ptr}, size_t len) -> int
mlock2(const void *addr {ptr}, size_t len, unsigned int flags {mlock_flags}) -> int
munlock(const void *addr {ptr}, size_t len) -> int
mlockall(int flags {mlockall_flags}) -> int
munlockall() -> int
mseal(void *addr, size_t len, unsigned long flags) -> int
map_shadow_stack(void *addr, unsigned long size, unsigned int flags {hex}) -> void *
mbind(void *addr, unsigned long len, int mode, const unsigned long *nodemask {ptr}, unsigned long maxnode, unsigned int flags {hex}) -> long
get_mempolicy(int *mode, unsigned long *nodemask {ptr}, unsigned long maxnode, void *addr, unsigned long flags {hex}) -> long
set_mempolicy(int mode, const unsigned long *nodemask {ptr}, unsigned long maxnode) -> long
set_mempolicy_home_node(unsigned long start {hex}, unsigned long len, unsigned long home_node, unsigned long flags) -> long
migrate_pages(pid_t pid, unsigned long maxnode, const unsigned long *old_nodes {ptr}, const unsigned long *new_nodes {ptr}) -> long
move_pages(pid_t pid, unsigned long count, void **pages {ptr, in}, const int *nodes {ptr}, int *status {ptr}, int flags) -> long
process_vm_readv(pid_t pid, const struct iovec *local_iov {ptr}, unsigned long liovcnt, const struct iovec *remote_iov {ptr}, unsigned long riovcnt, unsigned long flags) -> ssize_t
process_vm_writev(pid_t pid, const struct iovec *local_iov {ptr}, unsigned long liovcnt, const struct iovec *remote_iov {ptr}, unsigned long riovcnt, unsigned long flags) -> ssize_t
cacheflush(void *start, void *end, int flags) -> int
riscv_flush_icache(void *start, void *end, unsigned long flags {riscv_flush_icache_flags}) -> int
riscv_hwprobe(struct riscv_hwprobe *pairs {inout}, size_t pair_count, size_t cpusetsize, unsigned long *cpus {ptr}, unsigned int flags) -> int

# -- processes ---------------------------------------------------------------------------------
exit(int status) -> void
exit_group(int status) -> void
getpid() -> pid_t
getppid() -> pid_t
gettid() -> pid_t
getpgid(pid_t pid) -> pid_t
getpgrp() -> pid_t
setpgid(pid_t pid, pid_t pgid) -> int
getsid(pid_t pid) -> pid_t
setsid() -> pid_t
fork() -> pid_t
vfork() -> pid_t
clone(unsigned long flags {clone_flags}, void *stack, int *parent_tid {depends}, int *child_tid {ptr}, unsigned long tls {hex}) -> pid_t
clone@aarch64,arm,i386,riscv64(unsigned long flags {clone_flags}, void *stack, int *parent_tid {depends}, unsigned long tls {hex}, int *child_tid {ptr}) -> pid_t
clone3(struct clone_args *cl_args {in}, size_t size) -> pid_t
execve(const char *pathname, char *const *argv {argv, in}, char *const *envp {envp, in}) -> int
execveat(int dirfd, const char *pathname, char *const *argv {argv, in}, char *const *envp {envp, in}, int flags {at_flags}) -> int
wait4(pid_t pid, int *wstatus {struct wait_status}, int options {wait_options}, struct rusage *rusage) -> pid_t
waitid(int idtype {idtype}, pid_t id, struct siginfo *infop, int options {wait_options}, struct rusage *rusage) -> int
waitpid(pid_t pid, int *wstatus, int options {wait_options}) -> pid_t
set_tid_address(int *tidptr {ptr}) -> pid_t
set_robust_list(struct robust_list_head *head {ptr}, size_t length) -> long
get_robust_list(int pid, struct robust_list_head **head_ptr {ptr_ptr}, size_t *len_ptr) -> long
rseq(struct rseq *rseq {ptr}, uint32_t rseq_len {hex}, int flags {rseq_flags}, uint32_t sig {hex}) -> int
rseq_slice_yield() -> int
arch_prctl(int option {arch_prctl_code}, unsigned long arg2 {depends}) -> int
prctl(int option {prctl_option}, unsigned long arg2 {depends}, unsigned long arg3 {depends}, unsigned long arg4 {depends}, unsigned long arg5 {depends}) -> int
personality(unsigned int persona {hex}) -> int {hex}
set_thread_area(struct user_desc *u_info {inout}) -> int
get_thread_area(struct user_desc *u_info {inout}) -> int
modify_ldt(int func, void *ptr, unsigned long bytecount) -> int
set_tls(unsigned long tls {hex}) -> int
get_tls() -> unsigned long {hex}
iopl(unsigned int level) -> int
ioperm(unsigned long from {hex}, unsigned long num, int turn_on) -> int
vm86(unsigned long fn, struct vm86plus_struct *v86 {inout}) -> int
vm86old(struct vm86_struct *info {inout}) -> int
breakpoint() -> int
usr26() -> int
usr32() -> int
uprobe() -> int
uretprobe() -> int
kcmp(pid_t pid1, pid_t pid2, int type, unsigned long idx1, unsigned long idx2) -> int
unshare(int flags {clone_flags}) -> int
setns(int fd, int nstype {clone_flags}) -> int
pidfd_open(pid_t pid, unsigned int flags) -> int {fd}
pidfd_getfd(int pidfd, int targetfd, unsigned int flags) -> int {fd}
pidfd_send_signal(int pidfd, int sig {signal}, siginfo_t *info {in}, unsigned int flags) -> int
process_mrelease(int pidfd, unsigned int flags) -> int
ptrace(long request, pid_t pid, void *addr, void *data) -> long
seccomp(unsigned int operation, unsigned int flags, void *args) -> int
restart_syscall() -> long
sched_yield() -> int
sched_setaffinity(pid_t pid, unsigned int cpusetsize, const unsigned long *mask {cpuset, len=cpusetsize}) -> int
sched_getaffinity(pid_t pid, unsigned int cpusetsize, unsigned long *mask {cpuset, len=ret}) -> int
sched_setparam(pid_t pid, const struct sched_param *param {int_ptr}) -> int
sched_getparam(pid_t pid, struct sched_param *param {int_ptr}) -> int
sched_setscheduler(pid_t pid, int policy {sched_policy}, const struct sched_param *param {int_ptr}) -> int
sched_getscheduler(pid_t pid) -> int {sched_policy}
sched_get_priority_max(int policy {sched_policy}) -> int
sched_get_priority_min(int policy {sched_policy}) -> int
sched_rr_get_interval(pid_t pid, struct timespec *tp) -> int
sched_rr_get_interval_time64 = sched_rr_get_interval
sched_setattr(pid_t pid, struct sched_attr *attr {in}, unsigned int flags) -> int
sched_getattr(pid_t pid, struct sched_attr *attr, unsigned int size, unsigned int flags) -> int
getpriority(int which {which_prio}, int who) -> int
setpriority(int which {which_prio}, int who, int prio) -> int
nice(int inc) -> int
ioprio_set(int which, int who, int ioprio) -> int
ioprio_get(int which, int who) -> int
getrlimit(unsigned int resource {rlimit_resource}, struct rlimit *rlim) -> int
ugetrlimit = getrlimit
setrlimit(unsigned int resource {rlimit_resource}, const struct rlimit *rlim) -> int
prlimit64(pid_t pid, unsigned int resource {rlimit_resource}, const struct rlimit64 *new_limit, struct rlimit64 *old_limit) -> int
getrusage(int who {rusage_who}, struct rusage *usage) -> int
sysinfo(struct sysinfo *info) -> int
uname(struct utsname *buf) -> int
olduname(struct oldold_utsname *buf) -> int
oldolduname(struct oldold_utsname *buf) -> int
sethostname(const char *name {string}, size_t len) -> int
setdomainname(const char *name {string}, size_t len) -> int
getcpu(unsigned int *cpu, unsigned int *node, struct getcpu_cache *tcache {ptr}) -> int
getrandom(void *buf {hexbuffer, len=buflen}, size_t buflen, unsigned int flags {getrandom_flags}) -> ssize_t
membarrier(int cmd {membarrier_cmd}, unsigned int flags, int cpu_id) -> int
syslog(int type, char *bufp {len=len}, int len) -> int
acct(const char *filename) -> int
reboot(int magic, int magic2 {hex}, int cmd {hex}, void *arg) -> int
kexec_load(unsigned long entry {hex}, unsigned long nr_segments, struct kexec_segment *segments {ptr}, unsigned long flags {hex}) -> long
kexec_file_load(int kernel_fd, int initrd_fd, unsigned long cmdline_len, const char *cmdline {string}, unsigned long flags {hex}) -> long
init_module(void *module_image {ptr, in}, unsigned long len, const char *param_values {string}) -> int
finit_module(int fd, const char *param_values {string}, int flags) -> int
delete_module(const char *name {string}, unsigned int flags {open_flags}) -> int
perf_event_open(struct perf_event_attr *attr {in}, pid_t pid, int cpu, int group_fd {fd}, unsigned long flags {hex}) -> int {fd}
bpf(int cmd, union bpf_attr *attr {ptr, inout}, unsigned int size) -> int
landlock_create_ruleset(const struct landlock_ruleset_attr *attr, size_t size, unsigned int flags) -> int {fd}
landlock_add_rule(int ruleset_fd, int rule_type, const void *rule_attr, unsigned int flags) -> int
landlock_restrict_self(int ruleset_fd, unsigned int flags) -> int
lsm_get_self_attr(unsigned int attr, struct lsm_ctx *ctx {inout}, uint32_t *size {inout}, uint32_t flags) -> int
lsm_set_self_attr(unsigned int attr, struct lsm_ctx *ctx {in}, uint32_t size, uint32_t flags) -> int
lsm_list_modules(uint64_t *ids {ptr}, uint32_t *size {inout}, uint32_t flags) -> int
quotactl(int cmd {hex}, const char *special, int id, void *addr) -> int
quotactl_fd(unsigned int fd {fd}, unsigned int cmd {hex}, int id, void *addr) -> int
swapon(const char *path, int swapflags {hex}) -> int
swapoff(const char *path) -> int
vhangup() -> int
pciconfig_iobase(long which, unsigned long bus, unsigned long devfn) -> long
pciconfig_read(unsigned long bus, unsigned long dfn, unsigned long off, unsigned long len, void *buf) -> int
pciconfig_write(unsigned long bus, unsigned long dfn, unsigned long off, unsigned long len, void *buf {in}) -> int
sysfs(int option, unsigned long arg1, unsigned long arg2) -> int
ipc(unsigned int call, int first, unsigned long second, unsigned long third, void *ptr, long fifth) -> int
socketcall(int call, unsigned long *args {ptr, in}) -> int

# -- identity ----------------------------------------------------------------------------------
getuid() -> uid_t
geteuid() -> uid_t
getgid() -> gid_t
getegid() -> gid_t
setuid(uid_t uid) -> int
setgid(gid_t gid) -> int
setreuid(uid_t ruid, uid_t euid) -> int
setregid(gid_t rgid, gid_t egid) -> int
setresuid(uid_t ruid, uid_t euid, uid_t suid) -> int
setresgid(gid_t rgid, gid_t egid, gid_t sgid) -> int
getresuid(uid_t *ruid, uid_t *euid, uid_t *suid) -> int
getresgid(gid_t *rgid, gid_t *egid, gid_t *sgid) -> int
setfsuid(uid_t fsuid) -> int
setfsgid(gid_t fsgid) -> int
getgroups(int size, gid_t *list {uid_array, len=ret}) -> int
setgroups(int size, const gid_t *list {uid_array, len=size}) -> int
capget(struct __user_cap_header_struct *hdrp {inout}, struct __user_cap_data_struct *datap) -> int
capset(struct __user_cap_header_struct *hdrp {in}, const struct __user_cap_data_struct *datap) -> int
getuid32 = getuid
geteuid32 = geteuid
getgid32 = getgid
getegid32 = getegid
setuid32 = setuid
setgid32 = setgid
setreuid32 = setreuid
setregid32 = setregid
setresuid32 = setresuid
setresgid32 = setresgid
getresuid32 = getresuid
getresgid32 = getresgid
setfsuid32 = setfsuid
setfsgid32 = setfsgid
getgroups32 = getgroups
setgroups32 = setgroups

# -- signals -----------------------------------------------------------------------------------
kill(pid_t pid, int sig {signal}) -> int
tkill(pid_t tid, int sig {signal}) -> int
tgkill(pid_t tgid, pid_t tid, int sig {signal}) -> int
rt_sigaction(int signum {signal}, const struct sigaction *act, struct sigaction *oldact, size_t sigsetsize) -> int
rt_sigprocmask(int how {sig_how}, const sigset_t *set {len=sigsetsize}, sigset_t *oldset {len=sigsetsize}, size_t sigsetsize) -> int
rt_sigpending(sigset_t *set {len=sigsetsize}, size_t sigsetsize) -> int
rt_sigsuspend(const sigset_t *mask {len=sigsetsize}, size_t sigsetsize) -> int
rt_sigtimedwait(const sigset_t *set {len=sigsetsize}, siginfo_t *info {struct siginfo}, const struct timespec *timeout, size_t sigsetsize) -> int {signal}
rt_sigtimedwait_time64 = rt_sigtimedwait
rt_sigqueueinfo(pid_t tgid, int sig {signal}, siginfo_t *info {in}) -> int
rt_tgsigqueueinfo(pid_t tgid, pid_t tid, int sig {signal}, siginfo_t *info {in}) -> int
rt_sigreturn() -> int
sigreturn() -> int
sigaltstack(const struct stack_t *ss, struct stack_t *old_ss) -> int
sigaction(int signum {signal}, const struct old_sigaction *act, struct old_sigaction *oldact) -> int
sigprocmask(int how {sig_how}, const old_sigset_t *set, old_sigset_t *oldset) -> int
sigpending(old_sigset_t *set) -> int
sigsuspend(old_sigset_t mask) -> int
signal(int signum {signal}, void *handler) -> unsigned long {hex}
sgetmask() -> long
ssetmask(long newmask {hex}) -> long
pause() -> int
alarm(unsigned int seconds) -> unsigned int

# -- time --------------------------------------------------------------------------------------
time(time_t *tloc) -> time_t {time}
stime(const time_t *t {time_ptr}) -> int
gettimeofday(struct timeval *tv, struct timezone *tz) -> int
settimeofday(const struct timeval *tv, const struct timezone *tz) -> int
clock_gettime(clockid_t clockid, struct timespec *tp) -> int
clock_settime(clockid_t clockid, const struct timespec *tp) -> int
clock_getres(clockid_t clockid, struct timespec *res) -> int
clock_nanosleep(clockid_t clockid, int flags {timer_flags}, const struct timespec *request, struct timespec *remain {on_error}) -> int
clock_adjtime(clockid_t clk_id, struct timex *buf {inout}) -> int
clock_gettime64 = clock_gettime
clock_settime64 = clock_settime
clock_getres_time64 = clock_getres
clock_nanosleep_time64 = clock_nanosleep
clock_adjtime64 = clock_adjtime
adjtimex(struct timex *buf {inout}) -> int
nanosleep(const struct timespec *duration, struct timespec *rem {on_error}) -> int
times(struct tms *buf) -> long
getitimer(int which {itimer_which}, struct itimerval *curr_value) -> int
setitimer(int which {itimer_which}, const struct itimerval *new_value, struct itimerval *old_value) -> int
timer_create(clockid_t clockid, struct sigevent *sevp {in}, timer_t *timerid {int_ptr}) -> int
timer_settime(timer_t timerid, int flags {timer_flags}, const struct itimerspec *new_value, struct itimerspec *old_value) -> int
timer_gettime(timer_t timerid, struct itimerspec *curr_value) -> int
timer_getoverrun(timer_t timerid) -> int
timer_delete(timer_t timerid) -> int
timer_settime64 = timer_settime
timer_gettime64 = timer_gettime

# -- futexes -----------------------------------------------------------------------------------
futex(uint32_t *uaddr {ptr}, int futex_op {futex_cmd}, uint32_t val {depends}, const struct timespec *timeout {depends}, uint32_t *uaddr2 {depends}, uint32_t val3 {depends}) -> long
futex_time64 = futex
futex_waitv(struct futex_waitv *waiters {in}, unsigned int nr_futexes, unsigned int flags, const struct timespec *timeout, clockid_t clockid) -> long
futex_wake(void *uaddr, unsigned long mask {hex}, int nr, unsigned int flags {hex}) -> long
futex_wait(void *uaddr, unsigned long val, unsigned long mask {hex}, unsigned int flags {hex}, const struct timespec *timeout, clockid_t clockid) -> long
futex_requeue(struct futex_waitv *waiters {in}, unsigned int flags {hex}, int nr_wake, int nr_requeue) -> long

# -- sockets -----------------------------------------------------------------------------------
socket(int domain {socket_family}, int type {socket_type}, int protocol) -> int {fd}
socketpair(int domain {socket_family}, int type {socket_type}, int protocol, int *sv {fd_pair}) -> int
bind(int sockfd, const struct sockaddr *addr {ptr, len=addrlen}, int addrlen) -> int
connect(int sockfd, const struct sockaddr *addr {ptr, len=addrlen}, int addrlen) -> int
listen(int sockfd, int backlog) -> int
accept(int sockfd, struct sockaddr *addr {ptr}, int *addrlen {inout}) -> int {fd}
accept4(int sockfd, struct sockaddr *addr {ptr}, int *addrlen {inout}, int flags {socket_type}) -> int {fd}
getsockname(int sockfd, struct sockaddr *addr {ptr}, int *addrlen {inout}) -> int
getpeername(int sockfd, struct sockaddr *addr {ptr}, int *addrlen {inout}) -> int
sendto(int sockfd, const void *buf {len=len}, size_t len, int flags {hex}, const struct sockaddr *dest_addr {ptr}, int addrlen) -> ssize_t
recvfrom(int sockfd, void *buf {len=len}, size_t len, int flags {hex}, struct sockaddr *src_addr {ptr}, int *addrlen {inout}) -> ssize_t
send(int sockfd, const void *buf {len=len}, size_t len, int flags {hex}) -> ssize_t
recv(int sockfd, void *buf {len=len}, size_t len, int flags {hex}) -> ssize_t
sendmsg(int sockfd, const struct msghdr *msg {ptr}, int flags {hex}) -> ssize_t
recvmsg(int sockfd, struct msghdr *msg {ptr, inout}, int flags {hex}) -> ssize_t
sendmmsg(int sockfd, struct mmsghdr *msgvec {ptr, inout}, unsigned int vlen, int flags {hex}) -> int
recvmmsg(int sockfd, struct mmsghdr *msgvec {ptr, inout}, unsigned int vlen, int flags {hex}, struct timespec *timeout {inout}) -> int
recvmmsg_time64 = recvmmsg
shutdown(int sockfd, int how {shutdown_how}) -> int
setsockopt(int sockfd, int level, int optname, const void *optval {len=optlen}, int optlen) -> int
getsockopt(int sockfd, int level, int optname, void *optval {ptr}, int *optlen {inout}) -> int

# -- System V IPC and message queues -----------------------------------------------------------
semget(int key {hex}, int nsems, int semflg {octal}) -> int
semop(int semid, struct sembuf *sops {ptr, in}, size_t nsops) -> int
semtimedop(int semid, struct sembuf *sops {ptr, in}, size_t nsops, const struct timespec *timeout) -> int
semtimedop_time64 = semtimedop
semctl(int semid, int semnum, int cmd, unsigned long arg {hex}) -> int
shmget(int key {hex}, size_t size, int shmflg {octal}) -> int
shmat(int shmid, const void *shmaddr {ptr}, int shmflg {hex}) -> void *
shmdt(const void *shmaddr {ptr}) -> int
shmctl(int shmid, int cmd, struct shmid_ds *buf {ptr, inout}) -> int
msgget(int key {hex}, int msgflg {octal}) -> int
msgsnd(int msqid, const void *msgp {ptr}, size_t msgsz, int msgflg {hex}) -> int
msgrcv(int msqid, void *msgp {ptr}, size_t msgsz, long msgtyp, int msgflg {hex}) -> ssize_t
msgctl(int msqid, int cmd, struct msqid_ds *buf {ptr, inout}) -> int
mq_open(const char *name {string}, int oflag {open_flags}, mode_t mode {open_mode}, struct mq_attr *attr {in}) -> int {fd}
mq_unlink(const char *name {string}) -> int
mq_timedsend(int mqdes, const char *msg_ptr {len=msg_len}, size_t msg_len, unsigned int msg_prio, const struct timespec *abs_timeout) -> int
mq_timedreceive(int mqdes, char *msg_ptr {len=msg_len}, size_t msg_len, unsigned int *msg_prio, const struct timespec *abs_timeout) -> ssize_t
mq_notify(int mqdes, const struct sigevent *sevp) -> int
mq_getsetattr(int mqdes, const struct mq_attr *newattr, struct mq_attr *oldattr) -> int
mq_timedsend_time64 = mq_timedsend
mq_timedreceive_time64 = mq_timedreceive

# -- mounts ------------------------------------------------------------------------------------
mount(const char *source, const char *target, const char *filesystemtype {string}, unsigned long mountflags {mount_flags}, const void *data {ptr}) -> int
umount(const char *target) -> int
umount2(const char *target, int flags {umount_flags}) -> int
fsopen(const char *fsname {string}, unsigned int flags {hex}) -> int {fd}
fsconfig(int fd, unsigned int cmd, const char *key {string}, const void *value {ptr}, int aux) -> int
fsmount(int fd, unsigned int flags {hex}, unsigned int attr_flags {hex}) -> int {fd}
fspick(int dirfd, const char *path, unsigned int flags {hex}) -> int {fd}
move_mount(int from_dirfd, const char *from_path {path}, int to_dirfd, const char *to_path {path}, unsigned int flags {hex}) -> int
open_tree(int dirfd, const char *path, unsigned int flags {hex}) -> int {fd}
open_tree_attr(int dirfd, const char *path, unsigned int flags {hex}, struct mount_attr *attr {in}, size_t size) -> int {fd}
mount_setattr(int dirfd, const char *path, unsigned int flags {at_flags}, struct mount_attr *attr {in}, size_t size) -> int
statmount(const struct mnt_id_req *req, struct statmount *buf {ptr}, size_t bufsize, unsigned int flags) -> int
listmount(const struct mnt_id_req *req, uint64_t *mnt_ids {ptr}, size_t nr_mnt_ids, unsigned int flags) -> ssize_t
listns(const struct ns_id_req *req, uint64_t *ns_ids {ptr}, size_t nr_ns_ids, unsigned int flags) -> ssize_t

# -- keys --------------------------------------------------------------------------------------
add_key(const char *type {string}, const char *description {string}, const void *payload {len=plen}, size_t plen, int keyring) -> int
request_key(const char *type {string}, const char *description {string}, const char *callout_info {string}, int dest_keyring) -> int
keyctl(int operation, unsigned long arg2 {hex}, unsigned long arg3 {hex}, unsigned long arg4 {hex}, unsigned long arg5 {hex}) -> long
"""
