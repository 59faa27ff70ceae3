"""The acceptance corpus: which program runs on which arch, with what, needing which feature.

Each :class:`Case` runs once under the sandbox CLI and once under qemu-user, with the same
argv, stdin, environment and working directory (``tests/programs``), and the two are
compared (see ``runner.py``). ``needs`` names the kernel features the case exercises; those
the sandbox lacks today are in :data:`MISSING`, and a case needing one is a strict xfail whose
reason names it. When a feature lands, its cases XPASS, pytest fails them, and the one line
to change is that feature's entry in :data:`MISSING`. A failure that is neither issue's is a
``bug`` of its own, said precisely.

``tier="default"`` cases run in every test run (kept to about a minute of CPU); the rest run
with ``SANDBOX_ACCEPTANCE=all`` and in ``report.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "tests" / "programs"
CACHE = ROOT / ".cache"
ROOTFS_ARM64 = CACHE / "rootfs-arm64"

ARCHES = ("x86_64", "aarch64", "i386", "arm", "riscv64")

# What each feature is, and where it is being built.
FEATURES = {
    "fork": "fork/vfork/clone of processes and wait4 (issue 13)",
    "execve": "execve (issue 13)",
    "threads": "clone of threads, futexes between them (issue 13)",
    "scheduler": "a deterministic scheduler that --seed changes (issue 13)",
    "epoll": "epoll, eventfd and timerfd (issue 14)",
    "unix-sockets": "AF_UNIX sockets on paths and abstract names, SCM_RIGHTS (issue 14)",
    "map-shared": "MAP_SHARED mappings that share (issue 14)",
    "fault-signals": "CPU faults delivered to the guest's signal handlers (issue 14)",
    "counters": "user-space counters: rdtime, rdtsc, cntvct_el0 (issue 14)",
    "xattr": "getxattr/listxattr answers (issue 14)",
    "passwd": "/etc/passwd and /etc/group in the guest's view (issue 14)",
    # Found by this corpus, in neither issue: sandbox/arch had signal frames only for x86_64
    # and aarch64, so on the other arches a handler the guest installed was never run.
    "handler-frames": "signal frames for i386, arm and riscv64: a guest's handler is not run, the process ends "
                      "(in neither issue)",
}

# The features the sandbox does not have yet. Remove one when it lands: its cases then pass.
MISSING = frozenset(FEATURES) - {"fork", "execve", "threads", "scheduler", "handler-frames", "fault-signals", "counters",
                                 "xattr", "passwd", "epoll"}


@dataclass(frozen=True)
class Case:
    """One program run: under the sandbox and under qemu-user, then compared."""

    group: str  # busybox, bash, zsh, sash, rootfs, features, go, rust
    label: str  # what it runs, short
    arch: str
    program: str  # a file under tests/programs (bin/NAME.ARCH) or .cache, or a rootfs path
    args: tuple[str, ...] = ()
    stdin: bytes = b""
    rootfs: bool = False  # the arm64 rootfs is the guest's / (--rootfs, qemu -L)
    needs: tuple[str, ...] = ()  # keys of FEATURES
    bug: str | None = None  # a failure outside issues 13 and 14, said precisely
    tier: str = "default"  # or "full"
    check: str = "oracle"  # or "deterministic": the sandbox against itself (racy programs)
    # qemu-user departs from Linux in this case: the host kernel is the oracle where it can
    # run the arch, and the case is skipped elsewhere, with this reason.
    qemu_departs: str | None = None
    # Options only for the sandbox, each with its reason in the table below.
    sandbox_options: tuple[str, ...] = ()
    timeout: float = 20.0

    @property
    def id(self) -> str:
        """``group:label:arch``, unique in the table."""
        return f"{self.group}:{self.label}:{self.arch}"

    @property
    def path(self) -> Path:
        """The program's file on the host."""
        if self.rootfs:
            return ROOTFS_ARM64 / self.program.lstrip("/")
        return PROGRAMS / self.program if self.program.startswith("bin/") else CACHE / self.program

    @property
    def missing_keys(self) -> list[str]:
        """What this case needs that the sandbox lacks today (keys of FEATURES)."""
        return [n for n in self.needs if n in MISSING]

    @property
    def missing(self) -> list[str]:
        """What this case needs that the sandbox lacks today (descriptions)."""
        return [FEATURES[n] for n in self.missing_keys]

    @property
    def xfail_reason(self) -> str | None:
        """Why this case fails today, or None when it is expected to match."""
        reasons = self.missing + ([self.bug] if self.bug else [])
        return "; ".join(reasons) if reasons else None


@dataclass
class _Table:
    cases: list[Case] = field(default_factory=list)

    def add(self, arches, **kw) -> None:
        for arch in arches:
            options = {k: (v(arch) if callable(v) else v) for k, v in kw.items()}
            self.cases.append(Case(arch=arch, **options))


_t = _Table()
DEB_ARCHES = ("x86_64", "aarch64", "arm", "i386")  # the Debian packages' four arches
ISSUE_ARCHES = ("x86_64", "aarch64", "arm")  # busybox: amd64, arm64, armhf in issue 13
NO_FRAMES = ("i386", "arm", "riscv64")  # the arches that had no signal frames before "handler-frames"


def _with_frames(needs, arches=NO_FRAMES):
    """``needs``, plus the signal frames on the arches that lack them: for a guest that installs handlers."""
    return lambda arch: tuple(needs) + (("handler-frames",) if arch in arches else ())


def _tier(default_arches):
    return lambda arch: "default" if arch in default_arches else "full"


# -- busybox sh -------------------------------------------------------------------------------
# busybox sh runs an applet that is not NOFORK in a forked child, which re-executes busybox
# through /proc/self/exe for most applets (tr, wc, sort, tar, sh here) and runs NOEXEC ones
# directly ($(echo) and `exec ls` need no execve). qemu-aarch64 -strace shows which is which.

_BB = "busybox/busybox.{}"


def _busybox(label, args, needs, stdin=b"", tier=_tier(ISSUE_ARCHES), bug=None, arches=DEB_ARCHES):
    _t.add(arches, group="busybox", label=label, program=lambda a: _BB.format(a), args=tuple(args), needs=needs,
           stdin=stdin, tier=tier, bug=bug)


_busybox("sh builtins script", ["sh", "scripts/builtins.sh"], (), tier=_tier(("x86_64",)))
_busybox("sh echo | tr", ["sh", "-c", "echo hi | tr a-z A-Z"], ("fork", "execve"))
_busybox("sh $(echo)", ["sh", "-c", "x=$(echo sub); echo $x"], ("fork",))
_busybox("sh for | wc -c", ["sh", "-c", "for f in a b; do echo $f | wc -c; done"], ("fork", "execve"))
_busybox("sh -c 'exit 3'; echo $?", ["sh", "-c", "sh -c 'exit 3'; echo $?"], ("fork", "execve"))
_busybox("sh jobs script", ["sh", "scripts/jobs.sh"], ("fork", "execve"))
_busybox("sort | uniq -c", ["sh", "-c", "sort data/fruits.txt | uniq -c | sort -rn"], ("fork", "execve"))
_busybox("tar cf - | tar tvf -", ["sh", "-c", "tar cf - data/dir | tar tvf -"], ("fork", "execve", "passwd"))
# exec of a NOEXEC applet runs it in the shell's own process, with no execve
_busybox("sh exec applet", ["sh", "-c", "exec ls data/dir"], (), tier=_tier(("x86_64",)))
_busybox("sh trap + kill $$", ["sh", "-c", "trap 'echo got USR1' USR1; kill -USR1 $$; echo after"], _with_frames(()),
         tier=_tier(("x86_64", "arm")))
_busybox("sh read", ["sh", "-c", 'read a b; echo "[$b] [$a]"'], (), stdin=b"first second\n", tier=_tier(("aarch64",)))
_busybox("id", ["id"], ("passwd",), tier=_tier(("x86_64",)))
_busybox("ls -l", ["ls", "-l", "data/dir"], ("passwd",), tier=_tier(("aarch64",)))
_busybox("tar cf - (the bytes)", ["tar", "cf", "-", "data/dir"], ("passwd",), tier=_tier(("x86_64",)))

# -- bash, zsh and sash ------------------------------------------------------------------------
# Their external commands come from .cache/applets/ARCH (busybox under the applets' names,
# first on PATH, and shown to the sandbox), never from the host. bash retries a failed fork
# for 15 s of sleeps: the sandbox runs it with --virtual-time so that today's failures cost
# no waiting; once fork works there is no retry and the clock is not read.

_BASH_VT = ("--virtual-time",)  # see above: only to make today's fork retries instant


def _shell(shell, label, args, needs, tier, arches=DEB_ARCHES, stdin=b"", options=(), bug=None, departs=None):
    _t.add(arches, group=shell, label=label, program=lambda a: f"static/{shell}.{a}", args=tuple(args), needs=needs,
           tier=tier, stdin=stdin, sandbox_options=options, bug=bug, qemu_departs=departs)


_shell("bash", "builtins script", ["scripts/builtins.sh"], (), _tier(("x86_64",)), options=_BASH_VT)
# bash and zsh catch SIGCHLD to learn that a child ended
_shell("bash", "echo | tr", ["-c", "echo hi | tr a-z A-Z"], _with_frames(("fork", "execve")), _tier(("x86_64", "aarch64")),
       options=_BASH_VT)
_shell("bash", "$(...)", ["-c", 'x=$(echo sub); echo "[$x]"'], _with_frames(("fork",)), _tier(("x86_64", "aarch64")),
       options=_BASH_VT)
_shell("bash", "jobs script", ["scripts/jobs.sh"], _with_frames(("fork", "execve")), _tier(("x86_64", "aarch64")),
       options=_BASH_VT)
_shell("bash", "arrays", ["-c", 'a=(x y z); echo ${#a[@]} ${a[1]}; printf "<%s>" "${a[@]}"; echo; exit 7'], (),
       _tier(("x86_64",)), options=_BASH_VT)

_shell("zsh", "builtins script", ["-f", "scripts/builtins.sh"], (), _tier(("aarch64",)))
_ZSH_FORK = {"x86_64": "qemu-x86_64 crashes (SIGSEGV, SI_KERNEL) in zsh-static's child after a fork"}
_shell("zsh", "echo | tr; $(...)", ["-f", "-c", "echo hi | tr a-z A-Z; x=$(echo sub); print -r -- $x"],
       _with_frames(("fork", "execve")), _tier(("x86_64",)), departs=_ZSH_FORK.get)
_shell("zsh", "jobs script", ["-f", "scripts/jobs.sh"], _with_frames(("fork", "execve")), _tier(()),
       departs=_ZSH_FORK.get)
_shell("zsh", "parameter flags", ["-f", "-c", "a=(3 1 2); print ${(o)a} ${(j:-:)a} ${#a}"], (), _tier(("aarch64",)))

# sash hands any line with shell syntax (; | $ ...) to /bin/sh, so its cases are plain
# commands: built-ins (-ls, -echo) and external commands found on PATH.
_SASH_SCRIPT = b"-echo one\n-ls data/dir\n-grep apple data/fruits.txt\n-sum data/fruits.txt\ncd data\n-pwd\nexit 3\n"
_READDIR32 = ("qemu-user hands 32-bit guests the host's 64-bit directory offsets, which sash's 32-bit readdir "
              "refuses (EOVERFLOW), so its listing is empty")
_READDIR32_ON = {"i386": _READDIR32, "arm": _READDIR32}
_shell("sash", "built-in commands", [], (), _tier(("x86_64",)), stdin=_SASH_SCRIPT,
       departs=_READDIR32_ON.get)
_shell("sash", "external commands", [], ("fork", "execve"), _tier(("aarch64",)),
       stdin=b"sort data/fruits.txt\nwc -l data/fruits.txt\nexit 0\n")

# -- the arm64 rootfs: GNU coreutils and tar, python3.11, sqlite3 -------------------------------


def _rootfs(label, program, args, needs, tier="default", stdin=b"", bug=None):
    _t.add(("aarch64",), group="rootfs", label=label, program=program, args=tuple(args), needs=needs, rootfs=True,
           tier=tier, stdin=stdin, bug=bug)


_PY = "/usr/bin/python3.11"
PY_HELLO = "import json, os, sys; print('hello', json.dumps({'a': [1, 2]}), sys.version_info[:2], os.path.isdir('data'))"
PY_THREADING = """
import threading
lock, results = threading.Lock(), []
def work(n):
    with lock:
        results.append(n * n)
threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(sorted(results), threading.active_count())
"""
PY_SUBPROCESS = """
import subprocess, sys
r = subprocess.run(["/bin/echo", "hello from a child"], capture_output=True)
print(r.returncode, r.stdout)
r = subprocess.run([sys.executable, "-c", "import sys; print(sys.argv[1:]); sys.exit(3)", "x"], capture_output=True, text=True)
print(r.returncode, r.stdout.strip())
print(subprocess.run(["/bin/false"]).returncode)
"""
PY_FUTURES = """
from concurrent.futures import ThreadPoolExecutor
with ThreadPoolExecutor(max_workers=4) as pool:
    print(list(pool.map(lambda n: n * n, range(10))))
"""
PY_ASYNCIO = """
import asyncio
async def job(n):
    await asyncio.sleep(0.01 * n)
    return n * 10
async def main():
    return await asyncio.gather(*(job(n) for n in (3, 1, 2)))
print(asyncio.run(main()))
"""
PY_SOCKETPAIR = """
import socket
a, b = socket.socketpair()
a.sendall(b"ping")
print(b.recv(16))
b.sendall(b"pong")
print(a.recv(16))
a.close()
print(b.recv(16))
"""
PY_MMAP = """
import mmap, os, tempfile
with tempfile.TemporaryFile() as f:
    f.write(b"-" * 4096)
    f.flush()
    m = mmap.mmap(f.fileno(), 4096)
    m[:5] = b"hello"
    m.flush()
    print(os.pread(f.fileno(), 8, 0))
    m.close()
"""
PY_FORK = """
import os
pid = os.fork()
if pid == 0:
    os._exit(7)
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""
PY_SIGNAL = """
import os, signal
signal.signal(signal.SIGUSR1, lambda sig, frame: print("handler got", signal.Signals(sig).name))
os.kill(os.getpid(), signal.SIGUSR1)
print("after the signal")
"""

_rootfs("ls data/dir", "/bin/ls", ["data/dir"], ())
_rootfs("ls -l", "/bin/ls", ["-l", "data/dir"], ("xattr", "passwd"))
_rootfs("sort -r (coreutils)", "/usr/bin/sort", ["-r", "data/fruits.txt"], (), tier="full")
_rootfs("sha256sum", "/usr/bin/sha256sum", ["data/fruits.txt"], (), tier="full")
_rootfs("tar cf - (GNU tar, the bytes)", "/bin/tar", ["cf", "-", "data/dir"], ("passwd",), tier="full")
_rootfs("python hello", _PY, ["-c", PY_HELLO], ())
_rootfs("python signal", _PY, ["-c", PY_SIGNAL], (), tier="full")
_rootfs("python threading.Thread", _PY, ["-c", PY_THREADING], ("threads",))
_rootfs("python subprocess.run", _PY, ["-c", PY_SUBPROCESS], ("fork", "execve"))
_rootfs("python ThreadPoolExecutor", _PY, ["-c", PY_FUTURES], ("threads",))
# asyncio's loop needs a socket pair (its self-pipe) and waits in epoll
_rootfs("python asyncio", _PY, ["-c", PY_ASYNCIO], ())
_rootfs("python socketpair", _PY, ["-c", PY_SOCKETPAIR], ())
_rootfs("python mmap + flush", _PY, ["-c", PY_MMAP], ("map-shared",))
_rootfs("python os.fork", _PY, ["-c", PY_FORK], ("fork",), tier="full")
_rootfs("sqlite3", "/usr/bin/sqlite3",
        [":memory:", "create table t(x); insert into t values (1),(2),(3); select sum(x), group_concat(x) from t;"], ())

# -- the C feature program on all five arches ----------------------------------------------------
# features CASE; fork-exec and posix-spawn start bin/child.ARCH.

_CHILD = "bin/child.{}"
_FEATURES = [
    # case, extra args, needs (per arch where they differ), the arches of the default tier
    ("threads", (), ("threads",), ARCHES),
    ("cond", (), ("threads",), ("x86_64",)),
    ("thread-exit", (), ("threads",), ("aarch64",)),
    ("thread-signal", (), _with_frames(("threads",)), ("riscv64",)),
    ("fork-wait", (), ("fork",), ARCHES),
    ("fork-exec", ("{child}",), ("fork", "execve"), ARCHES),
    ("posix-spawn", ("{child}",), ("fork", "execve"), ARCHES),
    ("pipe", (), ("fork",), ARCHES),
    ("sigchld", (), _with_frames(("fork",)), ARCHES),
    ("shared-anon", (), ("fork", "map-shared"), ("x86_64",)),
    ("exec-errors", (), ("execve",), ("x86_64", "aarch64")),
    ("epoll", (), ("epoll",), ("x86_64", "aarch64", "riscv64")),
    ("scm-rights", (), ("unix-sockets",), ("x86_64", "aarch64", "riscv64")),
    ("unix-listen", (), ("unix-sockets",), ("x86_64",)),
    ("mmap-shared", (), ("map-shared",), ("x86_64", "aarch64", "riscv64")),
    ("segv", (), _with_frames(("fault-signals",)), ("x86_64", "aarch64", "riscv64")),
    ("segv-return", (), _with_frames(("fault-signals",)), ("x86_64",)),
    ("sigbus", (), _with_frames(("fault-signals",)), ("aarch64",)),
    # a trap on x86; the run-time library's raise(SIGFPE) on arm; no signal on aarch64 and riscv64
    ("fpe", (), {"x86_64": ("fault-signals",), "i386": ("fault-signals", "handler-frames"), "arm": ("handler-frames",)},
     ("x86_64", "arm")),
    ("trap", (), _with_frames(("fault-signals",)), ("riscv64",)),
    # rdtsc, cntvct_el0 and rdtime count the kernel model's clock
    ("counter", (), {"riscv64": ("counters",)}, ("riscv64",)),
    ("xattr", (), ("xattr",), ("aarch64",)),
]
# Where qemu-user 7.2 is not Linux (each checked against the host's kernel where it runs).
_QEMU_DEPARTS = {
    ("vfork", None): "qemu-user runs vfork as fork: the parent does not see the child's store",
    ("sigbus", "i386"): "qemu-user gives a SIGBUS si_addr that is not the faulting byte on 32-bit guests",
    ("sigbus", "arm"): "qemu-user gives a SIGBUS si_addr that is not the faulting byte on 32-bit guests",
    ("segv-return", "riscv64"): "qemu-riscv64 faults for ever on the store a SIGSEGV handler made possible",
    # arch/arm/kernel/traps.c do_undefinstr: arm_notify_die(..., SIGILL, ILL_ILLOPC, pc, ...)
    ("trap", "arm"): "qemu-arm gives an undefined instruction's SIGILL si_code ILL_ILLOPN; Linux ILL_ILLOPC",
}
_FEATURES.append(("vfork", (), ("fork",), ("x86_64",)))
_FEATURES.append(("vfork-exec", ("{child}",), ("fork", "execve"), ("aarch64",)))

for _case, _extra, _needs, _default in _FEATURES:
    _t.add(
        ARCHES, group="features", label=_case, program=lambda a: f"bin/features.{a}",
        args=lambda a, c=_case, e=_extra: (c, *(x.format(child=_CHILD.format(a)) for x in e)),
        needs=lambda a, n=_needs: n.get(a, ()) if isinstance(n, dict) else n(a) if callable(n) else n,
        tier=_tier(_default),
        qemu_departs=lambda a, c=_case: _QEMU_DEPARTS.get((c, a)) or _QEMU_DEPARTS.get((c, None)),
    )
# The racy counter has no right answer to compare with: the sandbox must give the same one on
# every run with the same --seed, and the schedule (so, almost surely, the count) must change
# with the seed.
_t.add(ARCHES, group="features", label="race", program=lambda a: f"bin/features.{a}", args=("race",),
       needs=("threads", "scheduler"), check="deterministic", tier=_tier(("x86_64",)))

# -- Go (amd64, arm64, riscv64) and Rust (x86_64) -------------------------------------------------
# The Go runtime starts threads before main (clone), so every Go case needs threads.

_GO_ARCHES = ("x86_64", "aarch64", "riscv64")
# riscv64 Go reads the time with rdtime in its start-up, before any case runs; and the runtime
# handles signals (SIGURG preempts goroutines, SIGSEGV becomes a panic)
_GO_RUNTIME_NEEDS = {"riscv64": ("counters", "handler-frames")}
_GO = [
    ("hello", (), (), _GO_ARCHES),
    ("channels", (), (), _GO_ARCHES),
    ("mutex", (), (), ()),
    # time.Sleep and timers park goroutines on the runtime's poller; os files read through it
    ("timers", (), ("epoll",), ()),
    ("garbage", (), ("epoll",), ()),  # the collector's background workers sleep on timers
    ("files", (), ("epoll",), ()),
    # os/exec reads the child's pipes through the runtime's network poller: epoll
    ("exec", ("{child}",), ("fork", "execve", "epoll"), ("x86_64",)),
    ("nil", (), ("fault-signals",), ("aarch64",)),
]
for _case, _extra, _needs, _default in _GO:
    _t.add(
        _GO_ARCHES, group="go", label=_case, program=lambda a: f"bin/gofeatures.{a}",
        args=lambda a, c=_case, e=_extra: (c, *(x.format(child=_CHILD.format(a)) for x in e)),
        needs=lambda a, n=_needs: ("threads", *n, *_GO_RUNTIME_NEEDS.get(a, ())),
        tier=_tier(_default),
    )

for _case, _extra, _needs in [("threads", (), ("threads",)), ("channel", (), ("threads",)),
                              ("command", ("bin/child.x86_64",), ("fork", "execve"))]:
    _t.add(("x86_64",), group="rust", label=_case, program="bin/rustfeatures.x86_64", args=(_case, *_extra), needs=_needs)

CASES: list[Case] = _t.cases


def select(tier: str = "default", groups: set[str] | None = None, arches: set[str] | None = None,
           words: list[str] | None = None) -> list[Case]:
    """The cases of ``tier`` ("default" or "all"), narrowed to some groups, arches and id substrings."""
    chosen = [c for c in CASES if tier == "all" or c.tier == tier]
    if groups:
        chosen = [c for c in chosen if c.group in groups]
    if arches:
        chosen = [c for c in chosen if c.arch in arches]
    if words:
        chosen = [c for c in chosen if any(w in c.id for w in words)]
    return chosen


def _check_table() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "two cases with one id"
    for c in CASES:
        assert c.arch in ARCHES and c.tier in ("default", "full") and c.check in ("oracle", "deterministic"), c.id
        assert all(n in FEATURES for n in c.needs), c.id


_check_table()
