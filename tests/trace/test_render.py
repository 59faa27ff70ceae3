"""Showing values as strace does: strings, flags, structs, results, and the -e filter."""

from __future__ import annotations

import pytest

from sandbox.errors import SandboxError
from sandbox.records import SyscallRecord
from sandbox.trace.capture import Buffer, CString, Struct
from sandbox.trace.filter import TraceFilter, syscall_class
from sandbox.trace.render import Renderer, makedev, octal_mode, quote, sigset, symbolic_mode
from sandbox.trace.strace import StraceFormat


def record(name, decoded, ret=0, errno=None, captured=None, arch="x86_64", implemented=True, note=None):
    args = tuple(v & (2**64 - 1) for v in decoded.values()) + (0,) * (6 - len(decoded))
    return SyscallRecord(arch=arch, nr=0, name=name, args=args, decoded=dict(decoded), ret=ret, errno=errno,
                         pc=0x400000, note=note, implemented=implemented, captured=captured)


@pytest.mark.parametrize("data,text", [
    (b"Hello world\n", r'"Hello world\n"'),
    (b'a"b\\c', r'"a\"b\\c"'),
    (b"\t\r\x0b\x0c", r'"\t\r\v\f"'),
    (b"\0\x01x", r'"\0\1x"'),
    (b"\x007", r'"\0007"'),  # an octal digit follows: three digits
    (b"\x019", r'"\19"'),  # 9 is not an octal digit: the short form
    (b"\x7f\xff", r'"\177\377"'),
])
def test_strings_are_escaped_like_strace(data, text):
    assert quote(data) == text


def test_hex_strings_and_truncation():
    assert quote(b"\x0f\xed", force_hex=True) == r'"\x0f\xed"'
    line = StraceFormat("x86_64").line(record("write", {"fd": 1, "buf": 0x400000, "count": 40}, ret=40,
                                              captured={"buf": Buffer(b"a" * 32, 40)}))
    assert line == f'write(1, "{"a" * 32}"..., 40) = 40'


def test_the_result_column_and_errors():
    fmt = StraceFormat("x86_64")
    assert fmt.line(record("close", {"fd": 3})) == "close(3)" + " " * 32 + "= 0"
    assert fmt.line(record("close", {"fd": 9}, ret=-9, errno="EBADF")) == \
        "close(9)" + " " * 32 + "= -1 EBADF (Bad file descriptor)"
    assert fmt.line(record("exit_group", {"status": 0}, ret=None)).endswith("= ?")
    unimpl = fmt.line(record("socket", {"domain": 2, "type": 1, "protocol": 0}, ret=-38, errno="ENOSYS",
                             implemented=False))
    assert unimpl == "socket(AF_INET, SOCK_STREAM, 0)         = -1 ENOSYS (Function not implemented) (unimplemented)"


def test_scalar_kinds():
    fmt = StraceFormat("x86_64")
    assert fmt.line(record("openat", {"dirfd": -100, "pathname": 0x1000, "flags": 0o2101, "mode": 0o644}, ret=3,
                           captured={"pathname": CString(b"a.txt")})).startswith(
        'openat(AT_FDCWD, "a.txt", O_WRONLY|O_CREAT|O_APPEND, 0644) = 3')
    # without O_CREAT the mode is not shown
    assert fmt.line(record("openat", {"dirfd": 3, "pathname": 0x10, "flags": 0, "mode": 0o644}, ret=-14,
                           errno="EFAULT")).startswith("openat(3, 0x10, O_RDONLY) ")
    assert fmt.line(record("umask", {"mask": 0o22}, ret=0o77)).endswith("= 077")
    assert fmt.line(record("mmap", {"addr": 0, "length": 4096, "prot": 3, "flags": 0x22, "fd": -1, "offset": 0},
                           ret=0x7F0000000000)) == \
        "mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000"
    assert fmt.line(record("brk", {"addr": 0}, ret=0x403000)).endswith("= 0x403000")
    assert fmt.line(record("fcntl", {"fd": 3, "cmd": 3, "arg": 0}, ret=0x8002)).endswith(
        "= 0x8002 (flags O_RDWR|O_LARGEFILE)")
    assert fmt.line(record("fcntl", {"fd": 3, "cmd": 2, "arg": 1})).startswith("fcntl(3, F_SETFD, FD_CLOEXEC)")
    assert fmt.line(record("ioctl", {"fd": 1, "request": 0x80085499, "arg": 0}, ret=-25, errno="ENOTTY")).startswith(
        "ioctl(1, _IOC(_IOC_READ, 0x54, 0x99, 0x8), 0)")
    assert fmt.line(record("kill", {"pid": 5, "sig": 9})).startswith("kill(5, SIGKILL)")


def test_structs_abbreviated_as_strace_does():
    r = Renderer("x86_64")
    assert r.struct(Struct("stat", {"st_mode": 0o100644, "st_size": 12, "st_rdev": 0})) == \
        "{st_mode=S_IFREG|0644, st_size=12, ...}"
    assert r.struct(Struct("stat", {"st_mode": 0o20666, "st_size": 0, "st_rdev": 0x103})) == \
        "{st_mode=S_IFCHR|0666, st_rdev=makedev(0x1, 0x3), ...}"
    assert r.struct(Struct("timespec", {"tv_sec": 1, "tv_nsec": 5})) == "{tv_sec=1, tv_nsec=5}"
    uts = {f: b"x\0" for f in ("sysname", "nodename", "release", "version", "machine", "domainname")}
    assert r.struct(Struct("utsname", dict(uts, sysname=b"Linux\0\0"))) == '{sysname="Linux", nodename="x", ...}'
    assert r.struct(Struct("rlimit64", {"rlim_cur": 8 << 20, "rlim_max": 2**64 - 1})) == \
        "{rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}"
    assert r.struct(Struct("termios", {"c_iflag": 0, "c_oflag": 5, "c_cflag": 0o277, "c_lflag": 0o105073})) == \
        "{B38400 opost isig icanon echo ...}"
    assert r.struct(Struct("sigaction", {"sa_handler": 0, "sa_flags": 0x04000000, "sa_restorer": 0x401000,
                                         "sa_mask": 0})) == \
        "{sa_handler=SIG_DFL, sa_mask=[], sa_flags=SA_RESTORER, sa_restorer=0x401000}"


def test_modes_devices_and_signal_sets():
    assert octal_mode(0) == "000" and octal_mode(0o22) == "022" and octal_mode(0o7) == "007"
    assert octal_mode(0o644) == "0644"
    assert symbolic_mode(0o41777, "x86_64") == "S_IFDIR|S_ISVTX|0777"
    assert makedev(0x103) == "makedev(0x1, 0x3)" and makedev(0x8801) == "makedev(0x88, 0x1)"
    assert sigset([2, 15]) == "[INT TERM]" and sigset([]) == "[]"
    assert sigset([n for n in range(1, 65) if n not in (9, 19)]) == "~[KILL STOP]"


def test_the_filter_is_stracelike():
    assert TraceFilter().accepts("anything")
    f = TraceFilter.parse(["trace=open,read"])
    assert f.accepts("read") and not f.accepts("openat")
    assert not TraceFilter.parse(["trace=!write"]).accepts("write")
    assert TraceFilter.parse(["trace=!write"]).accepts("read")
    assert TraceFilter.parse(["write"]).accepts("write")
    files = TraceFilter.parse(["trace=%file"])
    assert files.accepts("openat") and files.accepts("newfstatat") and not files.accepts("read")
    assert TraceFilter.parse(["trace=%desc"]).accepts("read")
    assert TraceFilter.parse(["trace=/^get"]).accepts("getpid")
    assert "mmap" in syscall_class("memory")
    assert not TraceFilter.parse(["trace=none"]).accepts("read")


@pytest.mark.parametrize("expr,message", [
    ("trace=nosuchcall", "invalid system call 'nosuchcall'"),
    ("trace=%bogus", "unknown class"),
    ("signal=all", "only trace= is supported"),
    ("trace=/(", "bad regular expression"),
])
def test_a_bad_filter_is_one_clear_error(expr, message):
    with pytest.raises(SandboxError, match=message):
        TraceFilter.parse([expr])


def test_processes_as_strace_shows_them():
    fmt = StraceFormat("x86_64")
    fork = record("clone", {"flags": 0x1200011, "stack": 0, "parent_tid": 0, "child_tid": 0x4c8a10, "tls": 0}, ret=1001)
    assert fmt.line(fork) == \
        "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x4c8a10) = 1001"
    # what strace prints at entry, and the rest (after its ", ") when the call returns
    assert fmt.entry(fork) == "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"
    assert fmt.resumed(fork) == "<... clone resumed>, child_tidptr=0x4c8a10) = 1001\n"
    thread = record("clone", {"flags": 0x3d0f00, "stack": 0x7f00, "parent_tid": 0x7f10, "child_tid": 0x7f10,
                              "tls": 0x7f20}, ret=1002, captured={"parent_tid": 1002})
    assert fmt.line(thread).startswith(
        "clone(child_stack=0x7f00, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM"
        "|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, parent_tid=[1002], tls=0x7f20, child_tidptr=0x7f10)")
    assert fmt.line(record("clone", {"flags": 17, "stack": 0, "parent_tid": 0, "child_tid": 0, "tls": 0}, ret=3)) \
        .startswith("clone(child_stack=NULL, flags=SIGCHLD) ")
    args = Struct("clone_args", {"flags": 0, "pidfd": 0, "child_tid": 0, "parent_tid": 0, "exit_signal": 17, "stack": 0,
                                 "stack_size": 0, "tls": 0})
    assert fmt.line(record("clone3", {"cl_args": 0x1000, "size": 64}, ret=5, captured={"cl_args": args})) == \
        "clone3({flags=0, exit_signal=SIGCHLD, stack=NULL, stack_size=0}, 64) = 5"
    status = lambda s: {"wstatus": Struct("wait_status", {"status": s})}  # noqa: E731

    def wait4(s, ret=1001):
        return record("wait4", {"pid": -1, "wstatus": 0x1000, "options": 0, "rusage": 0}, ret=ret, captured=status(s))

    assert fmt.line(wait4(0x300)) == "wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 3}], 0, NULL) = 1001"
    assert fmt.line(wait4(0x8b)).startswith("wait4(-1, [{WIFSIGNALED(s) && WTERMSIG(s) == SIGSEGV && WCOREDUMP(s)}]")
    assert fmt.line(wait4(0x137f)).startswith("wait4(-1, [{WIFSTOPPED(s) && WSTOPSIG(s) == SIGSTOP}]")
    assert fmt.line(wait4(0xffff)).startswith("wait4(-1, [{WIFCONTINUED(s)}]")
    assert fmt.line(wait4(0, ret=0)).startswith("wait4(-1, 0x1000, 0, NULL) ")  # WNOHANG, nothing to report


def test_siginfo_and_the_waits_for_a_signal():
    fmt = StraceFormat("x86_64")
    info = Struct("siginfo", {"si_signo": 17, "si_errno": 0, "si_code": 1, "si_pid": 1001, "si_uid": 0,
                              "si_status": 3, "si_status_next": 0, "si_utime": 0, "si_stime": 0})
    line = fmt.line(record("rt_sigtimedwait", {"set": 0x1000, "info": 0x2000, "timeout": 0, "sigsetsize": 8}, ret=17,
                           captured={"set": [17], "info": info}))
    assert line == ("rt_sigtimedwait([CHLD], {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=1001, si_uid=0, "
                    "si_status=3, si_utime=0, si_stime=0}, NULL, 8) = 17 (SIGCHLD)")
    killed = Struct("siginfo", dict(info.fields, si_code=2, si_status=9))
    assert "si_code=CLD_KILLED, si_pid=1001, si_uid=0, si_status=SIGKILL," in fmt.renderer.struct(killed)
    user = Struct("siginfo", dict(info.fields, si_signo=10, si_code=0))
    assert fmt.renderer.struct(user) == "{si_signo=SIGUSR1, si_code=SI_USER, si_pid=1001, si_uid=0}"
    fault = Struct("siginfo", dict(info.fields, si_signo=11, si_code=1, si_pid=0x10, si_uid=0))
    assert fmt.renderer.struct(fault) == "{si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10}"
    assert fmt.renderer.struct(Struct("siginfo", dict(info.fields, si_signo=0))) == "{}"
    # the waits a handler ends show the kernel's restart code, as strace sees it (the guest sees EINTR)
    assert fmt.line(record("pause", {}, ret=-4, errno="EINTR")) == \
        "pause()" + " " * 33 + "= ? ERESTARTNOHAND (To be restarted if no handler)"
    assert fmt.line(record("rt_sigsuspend", {"mask": 0x1000, "sigsetsize": 8}, ret=-4, errno="EINTR",
                           captured={"mask": []})).endswith("= ? ERESTARTNOHAND (To be restarted if no handler)")
    assert fmt.line(record("nanosleep", {"req": 0, "rem": 0}, ret=-4, errno="EINTR")).endswith(
        "= ? ERESTART_RESTARTBLOCK (Interrupted by signal)")
    assert fmt.line(record("wait4", {"pid": -1, "wstatus": 0, "options": 0, "rusage": 0}, ret=-4, errno="EINTR")) \
        .endswith("= ? ERESTARTSYS (To be restarted if SA_RESTART is set)")
    # sigtimedwait returns EINTR itself, and rt_sigreturn's is the interrupted call's register
    assert fmt.line(record("rt_sigreturn", {}, ret=-4, errno="EINTR")).endswith("= -1 EINTR (Interrupted system call)")
