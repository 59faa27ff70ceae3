"""Comparing the sandbox's trace with real tracers: native ``strace`` and ``qemu-aarch64 -strace``.

A case is a program (an ELF per arch, committed or built on the fly) with its arguments; to
compare more programs, list them in :data:`CASES` (or build a :class:`Case` in a test). Each is
run three ways in the same kind of scratch directory: natively under ``strace`` (x86_64 on an
x86_64 host), under ``qemu-<arch> -strace``, and in the sandbox with ``sandbox trace``.

The lines must then agree exactly, once these are normalised (and nothing else):

- addresses: hex numbers of 0x10000 and up outside strings (stack, mmap, brk and load
  addresses differ between a real process and the sandbox);
- process ids in the results of getpid/gettid/getppid (the sandbox's pid is 1000);
- clock readings: ``tv_sec``/``tv_nsec``/``tv_usec``/``tms_*`` values, the CPU time a child
  used (``si_utime``/``si_stime``), the results of ``time``/``times`` and the dates strace adds
  to them;
- the host name in ``uname``, and the bytes ``getrandom`` returned.

qemu's ``-strace`` prints another format (``write(1,0x4000a0,12) = 12``, raw registers for
calls it does not decode, ``errno=9``), so it is compared by value: each argument qemu shows is
turned into a number (a flag like ``O_RDONLY|O_CLOEXEC`` through the sandbox's own value tables
for that arch, ``child_stack=0x0`` by its value) and checked against the sandbox's register or
decoded value, and each result and errno against the sandbox's.

A case that makes more processes (``processes``) is traced natively with ``strace -f -o``, which
begins every line with its pid. How the processes' lines interleave is the host's scheduling,
different from run to run, so such a trace is compared process by process:

- the lines are grouped per process: by their ``12198 `` or ``[pid  1001] `` prefix, and a line
  without one (the sandbox's, while one task runs) is the only live task's;
- a call another process cut (``wait4(-1,  <unfinished ...>`` and, later in that process,
  ``<... wait4 resumed>[...], 0, NULL) = 1001``) is joined into one line, and the padding before
  ``=`` is squeezed to one space (the prefix counts towards strace's column, and the prefixes
  differ; the sandbox's own alignment is a test of test_tracer.py);
- the processes are matched from the top: the first with the first, and each process's n-th
  child (the n-th result of its clone, clone3, fork or vfork) with the other's n-th;
- the native pids are then shown as the sandbox's wherever they appear: clone, fork and wait4
  results, kill's argument, ``si_pid``, getppid's result; each process's lines must agree.

qemu writes each process's lines to one stderr in pieces, which interleave within a line, so
for such a case qemu itself runs under ``strace -f -e trace=write``: each piece is then known
by the pid that wrote it, and the calls are compared per process as above, by value. The calls
this qemu lacks (clone3: ``Unknown syscall 435``, ENOSYS) make no child there; the sandbox's
child of it is not expected in qemu's trace, and the results that follow in its parent (which
waits for it) are not compared, only the calls and their arguments. An execve qemu printed no
result for ran the new program under a qemu without ``-strace`` (binfmt_misc): that process's
calls after it are not compared.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel_model.constants import value_names
from kernel_model.linux_errno import Errno
from kernel_model.prototypes import effective, prototype

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "tests" / "trace" / "programs"
QEMU = {"x86_64": "qemu-x86_64", "aarch64": "qemu-aarch64"}
ADDRESSES = 0x10000  # numbers from here up, where they are addresses, are normalised


@dataclass
class Case:
    """A program to compare: its file per arch, arguments and stdin.

    ``libc`` marks a program built with a C library: the calls its vDSO would serve natively are
    left out of the comparison (the sandbox has no vDSO), and it runs with ``TZ=UTC0`` so that
    it reads no time zone file.
    """

    name: str
    files: dict[str, Path]
    args: list[str] = field(default_factory=list)
    stdin: bytes = b""
    libc: bool = False
    qemu: bool = True  # whether qemu-user's -strace can be its oracle (see CASES)
    processes: bool = False  # it makes more processes: traced with strace -f, compared per process

    @property
    def arches(self) -> list[str]:
        """The arches this case has a program for."""
        return list(self.files)


def program_case(name: str, arches: tuple[str, ...], processes: bool = False) -> Case:
    """A case for a committed program of tests/trace/programs."""
    return Case(name, {a: PROGRAMS / f"{name}.{a}" for a in arches}, processes=processes)


def _compiled(name: str) -> dict[str, Path]:
    return {a: ROOT / "tests" / "programs" / "bin" / f"{name}.{a}" for a in ("x86_64", "aarch64")}


# The committed test programs; tests/trace/test_oracle.py also adds the examples.
CASES = [
    program_case("files", ("x86_64", "aarch64")),
    program_case("paths", ("x86_64", "aarch64")),
    program_case("memory", ("x86_64", "aarch64")),
    program_case("process", ("x86_64", "aarch64")),
    program_case("errors", ("x86_64", "aarch64")),
    program_case("legacy", ("x86_64",)),
    program_case("crash", ("x86_64", "aarch64")),
    program_case("misc", ("x86_64", "aarch64")),
    program_case("tasks", ("x86_64", "aarch64"), processes=True),
    program_case("legacy-tasks", ("x86_64",), processes=True),
    # The compiled programs of tests/programs: a -nostdlib one making some 300 calls, and glibc.
    # qemu-user is no oracle for them: it holds descriptors 3 and 4 itself (the guest's start at
    # 5) and answers several of their calls otherwise than Linux (see tests/e2e/test_programs.py).
    Case("raw-syscalls", _compiled("raw-syscalls"), qemu=False),
    Case("libc-demo-static", _compiled("libc-demo-static"), libc=True, qemu=False),
    Case("libc-demo-static-signals", _compiled("libc-demo-static"), ["signals"], libc=True, qemu=False),
]


def make_scratch(directory: Path) -> Path:
    """The directory the programs run in: ``data.txt`` and ``sub/inner.txt``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data.txt").write_bytes(b"Hello world\n")
    (directory / "sub").mkdir(exist_ok=True)
    (directory / "sub" / "inner.txt").write_bytes(b"inner\n")
    return directory


def _umask_022() -> None:
    # The sandbox's process starts with umask 022 and 1024 descriptors; so do the oracles'.
    import resource

    os.umask(0o022)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def guest_env(case: Case) -> dict[str, str]:
    """The environment every run of ``case`` gets."""
    return {"TZ": "UTC0"} if case.libc else {}


def native_strace_available() -> str | None:
    """Why native strace cannot be the oracle here, or None when it can."""
    if shutil.which("strace") is None:
        return "strace is not installed"
    if platform.machine() not in ("x86_64", "AMD64"):
        return "native strace runs x86_64 programs only on an x86_64 host"
    probe = subprocess.run(["strace", "-o", os.devnull, "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        return f"strace cannot trace here: {probe.stderr.decode(errors='replace').strip()}"
    return None


def run_native_strace(program: Path, cwd: Path, args: list[str], stdin: bytes,
                      env: dict[str, str] | None = None, follow: bool = False) -> tuple[list[str], int]:
    """The lines ``strace`` writes for ``program`` run natively, and its exit status.

    ``follow``: ``strace -f``, whose lines (written to a file) each begin with their pid.
    """
    out = cwd.parent / f"{cwd.name}.strace"
    proc = subprocess.run(
        ["strace", *(["-f"] if follow else []), "-o", str(out), str(program), *args], input=stdin, capture_output=True,
        cwd=cwd, env=env or {}, timeout=60, preexec_fn=_umask_022,
    )
    return out.read_text().splitlines(), proc.returncode


def run_qemu_strace(arch: str, program: Path, cwd: Path, args: list[str], stdin: bytes,
                    env: dict[str, str] | None = None, follow: bool = False) -> tuple[list[str], int]:
    """The lines ``qemu-ARCH -strace`` writes (on stderr: a log file would take a guest fd).

    ``follow``: the program makes more processes, each a qemu writing its lines to the same
    stderr in pieces that interleave. Then qemu itself is run under native ``strace -f -e
    trace=write``, which tells each piece's process: the lines are given per process, each
    beginning with the pid qemu prints (see :func:`qemu_processes`).
    """
    command = [QEMU[arch], "-strace", str(program), *args]
    if not follow:
        proc = subprocess.run(command, input=stdin, capture_output=True, cwd=cwd, env=env or {}, timeout=60,
                              preexec_fn=_umask_022)
        return proc.stderr.decode("utf-8", "replace").splitlines(), proc.returncode
    out = cwd.parent / f"{cwd.name}.writes"
    command[0] = shutil.which(command[0]) or command[0]  # strace looks in the guest's (empty) PATH
    proc = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=write", "-e", "signal=none", "-s", str(1 << 20), "-xx", "-o", str(out),
         *command], input=stdin, capture_output=True, cwd=cwd, env=env or {}, timeout=60, preexec_fn=_umask_022,
    )
    pieces: dict[str, list[bytes]] = {}
    for line in out.read_text().splitlines():
        m = _WRITE_2.match(line)
        if m:
            pieces.setdefault(m.group(1), []).append(bytes.fromhex(m.group(2).replace("\\x", "")))
    assert pieces, f"strace of qemu: {proc.stderr.decode(errors='replace')}\n{out.read_text()[:2000]}"
    lines = []
    for pid, data in pieces.items():
        lines += [f"{pid}|{text}" for text in b"".join(data).decode("utf-8", "replace").splitlines()]
    return lines, proc.returncode


_WRITE_2 = re.compile(r'^(\d+) +write\(2, "((?:\\x[0-9a-f]{2})*)"')  # strace -f -o pads the pid to 5


def run_sandbox_trace(program: Path, cwd: Path, args: list[str], stdin: bytes, fmt: str = "strace",
                      env: dict[str, str] | None = None) -> tuple[list[str], int]:
    """The lines ``sandbox trace`` writes to its trace file, and the exit status."""
    out = cwd.parent / f"{cwd.name}.sandbox.{fmt}"
    host_env = dict(os.environ, PYTHONPATH=str(ROOT))
    guest = [f"--env={k}={v}" for k, v in (env or {}).items()]
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox", "trace", f"--trace={fmt}", "--trace-file", str(out), "--clear-env", *guest,
         "--cwd", str(cwd), "--mount", f"{cwd}:{cwd}:rw", str(program), *args],
        input=stdin, capture_output=True, cwd=ROOT, env=host_env, timeout=120, preexec_fn=_umask_022,
    )
    assert proc.returncode < 100 or proc.returncode >= 128, proc.stderr.decode(errors="replace")
    return out.read_text().splitlines(), proc.returncode


# -- normalising strace text -------------------------------------------------------------------

_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_BIG_HEX = re.compile(r"0x[0-9a-f]{5,}")  # 0x10000 and up: ADDRESSES
_TIME_FIELDS = re.compile(r"\b(tv_sec|tv_nsec|tv_usec|tms_utime|tms_stime|tms_cutime|tms_cstime|si_utime|si_stime)=\d+"
                          r"( /\* [0-9.]+ s \*/)?")
_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}")
_PID_RESULTS = re.compile(r"^(?:getpid|gettid|getppid|set_tid_address)\(.*= (\d+)$")
_ALIGNED = re.compile(r"^(.*\))( +)(= .*)$")
# What the host decides rather than the program: clock readings, the host name, randomness,
# the machine's memory and load, the CPUs it has.
_HOST_CALLS = {
    "time(": re.compile(r"(= |\[)-?\d+"),
    "times(": re.compile(r"= \d+"),
    "sysinfo(": re.compile(r"(?<==)\d+|(?<=\[)\d+|(?<=, )\d+(?=[,\]])"),
    "sched_getaffinity(": re.compile(r"\[[0-9 ]*\]|= \d+"),  # the host's CPUs; the model has one
    "statfs(": re.compile(r"(?<=f_bfree=)\d+|(?<=f_bavail=)\d+|(?<=f_ffree=)\d+"),  # the disk in use
    "fstatfs(": re.compile(r"(?<=f_bfree=)\d+|(?<=f_bavail=)\d+|(?<=f_ffree=)\d+"),
    "getpgid(": re.compile(r"= \d+"),  # the process group and session the test runner has
    "getsid(": re.compile(r"= \d+"),
    "getpgrp(": re.compile(r"= \d+"),
}
# Fields where the kernel model answers otherwise than Linux on purpose (its handlers say why):
# statx reports STATX_BASIC_STATS and no attributes; statfs has its own mount flags and, for
# /proc, fsid. The rest of those lines is compared.
_MODEL_FIELDS = re.compile(r"(?<=stx_mask=)[A-Z_|0-9x]+|(?<=stx_attributes=)[A-Z_|0-9x]+|(?<=f_flags=)[A-Z_|0-9x]+"
                           r"|(?<=f_fsid=)\{val=\[[0-9a-fx, ]*\]\}")
# Calls glibc makes through the vDSO natively; the sandbox has no vDSO, so it makes them as calls.
VDSO_CALLS = ("time(", "gettimeofday(", "clock_gettime(", "clock_getres(", "getcpu(")


def _outside_quotes(line: str, fn: Any) -> str:
    out, pos = [], 0
    for m in _QUOTED.finditer(line):
        out.append(fn(line[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(fn(line[pos:]))
    return "".join(out)


def _normalise_part(text: str) -> str:
    text = _outside_quotes(text, lambda s: _BIG_HEX.sub("0xADDR", s))
    text = _TIME_FIELDS.sub(lambda m: f"{m.group(1)}=N", text)
    text = _DATE.sub("DATE", text)
    for prefix, pattern in _HOST_CALLS.items():
        if text.startswith(prefix):
            text = pattern.sub(lambda m: re.sub(r"(\d+ )*\d+", "N", m.group(0)), text)
    if text.startswith("uname("):
        text = re.sub(r'nodename="[^"]*"', 'nodename="HOST"', text)
    if text.startswith("getrandom("):
        text = _QUOTED.sub('"RANDOM"', text, count=1)
    if text.startswith(("statx(", "statfs(", "fstatfs(")):
        text = _MODEL_FIELDS.sub("MODEL", text)
    return text


def process_ids(lines: list[str]) -> dict[str, str]:
    """What getpid/getppid (and gettid, set_tid_address) returned in a trace: {"pid": .., "ppid": ..}."""
    ids = {}
    for line in lines:
        m = _PID_RESULTS.match(line)
        if m:
            ids["ppid" if line.startswith("getppid(") else "pid"] = m.group(1)
    return ids


def normalise_trace(lines: list[str], drop_vdso: bool = False, pids: dict[str, str] | None = None) -> list[str]:
    """A whole trace with the documented run-to-run differences normalised.

    ``pids`` maps this trace's process ids to the ones to show instead (the other trace's), so
    that a pid a program prints or passes to kill compares equal; when normalising changed
    the part before the result, the alignment padding is squeezed, since strace pads after the
    text it printed.
    """
    pid_re = None
    if pids:
        pid_re = re.compile(r"\b(" + "|".join(sorted(pids, key=len, reverse=True)) + r")\b")
    out = []
    for line in lines:
        if drop_vdso and line.startswith(VDSO_CALLS):
            continue
        m = _ALIGNED.match(line)
        head, pad, tail = (m.group(1), m.group(2), m.group(3)) if m else (line, "", "")
        # the call's name is at the start of the head: normalise the two together
        new_head, _, new_tail = _normalise_part(head + "\0" + tail).partition("\0")
        if pid_re is not None:
            new_head = pid_re.sub(lambda p: pids[p.group(1)], new_head)
            new_tail = pid_re.sub(lambda p: pids[p.group(1)], new_tail)
        out.append(new_head + (PAD if m and new_head != head else pad) + new_tail)
    return out


PAD = "\x00"  # where padding was, in a line whose text before the result changed


def _squeeze(line: str) -> str:
    return re.sub(r"\) += ", ") = ", line.replace(PAD, " "))


def normalise_pair(native: list[str], ours: list[str], drop_vdso: bool = False) -> tuple[list[str], list[str]]:
    """Both traces normalised, the native one's process ids shown as the sandbox's."""
    theirs, mine = process_ids(native), process_ids(ours)
    pids = {theirs[k]: mine[k] for k in theirs if k in mine and theirs[k] != mine[k]}
    a, b = normalise_trace(native, drop_vdso, pids), normalise_trace(ours, drop_vdso)
    if len(a) == len(b):  # a line one side changed is compared without its padding on both
        for i, (x, y) in enumerate(zip(a, b)):
            if PAD in x or PAD in y:
                a[i], b[i] = _squeeze(x), _squeeze(y)
    return [x.replace(PAD, " ") for x in a], [y.replace(PAD, " ") for y in b]


def normalise(line: str) -> str:
    """One strace line normalised on its own (no process ids to learn from other lines)."""
    return normalise_trace([line])[0]


# -- several processes -------------------------------------------------------------------------

_FILE_PREFIX = re.compile(r"^(\d+) +")  # strace -f -o FILE: "12198 " before every line
_PID_PREFIX = re.compile(r"^\[pid +(\d+)\] ")  # strace -f on a terminal, and the sandbox
_UNFINISHED = " <unfinished ...>"
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>")
CLONE_CALLS = ("clone", "clone3", "fork", "vfork")
_CLONE_RESULT = re.compile(r"^(?:clone|clone3|fork|vfork)\(.*\) += (\d+)$")
_RESUMED_CLONE = re.compile(r"^<\.\.\. (?:clone|clone3|fork|vfork) resumed>.*\) += (\d+)$")


@dataclass
class ProcessLines:
    """One process's lines of a ``strace -f`` trace, a cut call's two parts joined into one."""

    pid: str
    lines: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)  # what its clone/fork calls returned, in order


def split_processes(lines: list[str]) -> dict[str, ProcessLines]:
    """A ``strace -f`` trace per process, the first process first.

    Lines may begin with their pid (``12198 ``, strace -f -o FILE) or ``[pid  1001] ``; a line
    without one is the only task's then (strace and the sandbox prefix lines once there are
    two), which is followed from the clone results and the ``+++`` lines. A call cut by another
    process's line (``wait4(-1,  <unfinished ...>`` ... ``<... wait4 resumed>[...], 0, NULL) =
    1001``) is joined into one line again.
    """
    tagged: list[tuple[str | None, str]] = []
    for line in lines:
        m = _FILE_PREFIX.match(line) or _PID_PREFIX.match(line)
        tagged.append((m.group(1), line[m.end():]) if m else (None, line))
    made = {m.group(1) for _, text in tagged for m in [_CLONE_RESULT.match(text) or _RESUMED_CLONE.match(text)] if m}
    first = next((pid for pid, _ in tagged if pid is not None and pid not in made), None) or "first"
    procs: dict[str, ProcessLines] = {first: ProcessLines(first)}
    live, ended = [first], set()
    for pid, text in tagged:
        if pid is None:
            assert len(live) == 1, f"a line without a pid while {live} live: {text}"
            pid = live[0]
        elif pid not in live and pid not in ended:
            live.append(pid)
        proc = procs.setdefault(pid, ProcessLines(pid))
        m = _RESUMED.match(text)
        if m and proc.lines and proc.lines[-1].endswith(_UNFINISHED):
            proc.lines[-1] = proc.lines[-1][:-len(_UNFINISHED)] + text[m.end():]
        else:
            proc.lines.append(text)
        done = _CLONE_RESULT.match(proc.lines[-1])
        if done:
            proc.children.append(done.group(1))
            if done.group(1) not in ended and done.group(1) not in live:
                live.append(done.group(1))
        if text.startswith("+++ "):
            live.remove(pid)
            ended.add(pid)
    return procs


def match_processes(theirs: dict[str, list[str]], ours: dict[str, list[str]], first: tuple[str, str]
                    ) -> tuple[dict[str, str], list[str]]:
    """Which of our processes is which of theirs: the first is the first, and a process's n-th
    child (by its clone/fork results, in order) the other's n-th. Returns the map and what did
    not match."""
    pids, problems, todo = {first[0]: first[1]}, [], [first]
    while todo:
        a, b = todo.pop(0)
        kids_a, kids_b = theirs.get(a, []), ours.get(b, [])
        if len(kids_a) != len(kids_b):
            problems.append(f"process {a} made children {kids_a}, the sandbox's {b} made {kids_b}")
        for x, y in zip(kids_a, kids_b):
            pids[x] = y
            todo.append((x, y))
    return pids, problems


def _squeezed(line: str) -> str:
    m = _ALIGNED.match(line)
    return f"{m.group(1)} {m.group(3)}" if m else line


def compare_processes(native: list[str], ours: list[str], deviations: list[ModelDeviation], drop_vdso: bool = False,
                      transform: Any = None) -> list[str]:
    """Two ``strace -f`` traces compared process by process (see :func:`split_processes`).

    The processes are matched by :func:`match_processes`, and the native trace's pids shown as
    the sandbox's (in clone results, wait4's, kill's arguments, ``si_pid``). Between processes
    the order of lines is the host's scheduling, so only each process's own order is compared.
    The padding before ``=`` is squeezed: each line's prefix (``12198 ``, ``[pid  1001] `` or
    none) counts towards strace's column. ``transform`` rewrites each process's joined lines
    before they are normalised.
    """
    a, b = split_processes(native), split_processes(ours)
    pids, problems = match_processes({p: v.children for p, v in a.items()}, {p: v.children for p, v in b.items()},
                                     (next(iter(a)), next(iter(b))))
    theirs_ids, our_ids = process_ids(next(iter(a.values())).lines), process_ids(next(iter(b.values())).lines)
    pids.update({theirs_ids[k]: our_ids[k] for k in theirs_ids if k in our_ids})
    pids = {k: v for k, v in pids.items() if k != v}
    for pid, proc in a.items():
        mine = b.get(pids.get(pid, pid))
        if mine is None:
            problems.append(f"process {pid} has no match in the sandbox's trace")
            continue
        x, y = proc.lines, mine.lines
        if transform is not None:
            x, y = transform(x), transform(y)
        x = [_squeezed(line.replace(PAD, " ")) for line in normalise_trace(x, drop_vdso, pids)]
        y = [_squeezed(line.replace(PAD, " ")) for line in normalise_trace(y, drop_vdso)]
        problems += [f"process {mine.pid} (natively {pid}):\n{p}" for p in compare_traces(x, y, deviations)]
    unmatched = set(b) - {pids.get(p, p) for p in a}
    if unmatched:
        problems.append(f"the sandbox's processes {sorted(unmatched)} have no match in the native trace")
    return problems


@dataclass(frozen=True)
class ModelDeviation:
    """Where the kernel model answers differently from Linux on purpose (its handler says so)."""

    pattern: str
    why: str


def compare_traces(native: list[str], ours: list[str], deviations: list[ModelDeviation]) -> list[str]:
    """The lines where the two normalised traces disagree (deviations: only the call must agree)."""
    problems = []
    if len(native) != len(ours):
        import difflib

        return list(difflib.unified_diff(native, ours, "native", "sandbox", lineterm="", n=1))
    for n, o in zip(native, ours):
        if n == o:
            continue
        if any(re.search(d.pattern, n) for d in deviations) and n.split("(")[0] == o.split("(")[0]:
            continue
        problems.append(f"native:  {n}\nsandbox: {o}")
    return problems


# -- reading qemu's -strace --------------------------------------------------------------------

@dataclass
class QemuCall:
    """One line of ``qemu -strace``: the call, its argument tokens, and its result."""

    name: str
    args: list[str]
    ret: int | None  # None: no result printed (exit) or an address (not comparable)
    errno: int | None
    line: str


def split_top(text: str) -> list[str]:
    """Split on commas outside quotes, braces, brackets and parentheses."""
    out, depth, cur, quote, esc = [], 0, [], False, False
    for ch in text:
        if quote:
            cur.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                quote = False
            continue
        if ch == '"':
            quote = True
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


_QEMU_LINE = re.compile(r"^\d+ (\w+)\((.*)$")


_QEMU_UNKNOWN = re.compile(r"^\d+ Unknown syscall (\d+)$")


def parse_qemu(lines: list[str], arch: str | None = None) -> tuple[list[QemuCall], list[str]]:
    """qemu's calls, and the signal/exit lines (``--- SIGSEGV {...} ---``).

    A call qemu does not know it prints as ``Unknown syscall 435`` (and returns ENOSYS without
    saying so): with ``arch``, that is a call of that name with no arguments and no result.
    """
    calls, other = [], []
    for line in lines:
        if line.startswith("--- ") or line.startswith("+++ "):
            other.append(line)
            continue
        unknown = _QEMU_UNKNOWN.match(line)
        if unknown and arch is not None:
            from sandbox.arch import get_arch
            from sandbox.arch.syscalls import syscall_table

            name = syscall_table(get_arch(arch)).name(int(unknown.group(1))) or f"syscall_{unknown.group(1)}"
            calls.append(QemuCall(name, [], None, None, line))
            continue
        m = _QEMU_LINE.match(line)
        if not m:
            continue  # the guest's own stderr, or qemu's "uncaught target signal" message
        name, rest = m.group(1), m.group(2)
        depth, quote, end = 1, False, None
        for i, ch in enumerate(rest):
            if quote:
                quote = ch != '"' or rest[i - 1] == "\\"
                continue
            if ch == '"':
                quote = True
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    end = i
                    break
        assert end is not None, line
        args = split_top(rest[:end])
        result = rest[end + 1:].strip()
        ret = errno = None
        rm = re.match(r"= (-?\d+|0x[0-9a-f]+)(?: errno=(\d+))?", result)
        if rm and not rm.group(1).startswith("0x"):
            ret = int(rm.group(1))
            errno = int(rm.group(2)) if rm.group(2) else None
        calls.append(QemuCall(name, args, ret, errno, line))
    return calls, other


def _qemu_fields(token: str) -> dict[str, str]:
    """The numbers of a struct qemu printed, by dotted name as the sandbox records them:
    ``{it_value={tv_sec = 1,...},}`` gives ``{"it_value.tv_sec": "1", ...}``."""
    fields: dict[str, str] = {}
    path: list[str] = []
    for m in re.finditer(r"(\w+)=\{|(\w+) = (-?\d+)|(\})", token):
        if m.group(1):
            path.append(m.group(1))
        elif m.group(2):
            fields[".".join([*path, m.group(2)])] = m.group(3)
        elif path:
            path.pop()
    return fields


def _qemu_number(token: str, table: str | None, arch: str) -> int | None:
    token = token.strip()
    named = re.match(r"^[a-z_]+=(?=\S)", token)  # clone's "child_stack=0x0000000000000000"
    if named:
        token = token[named.end():]
    if token == "NULL":
        return 0
    if token == "AT_FDCWD":
        return -100
    try:
        return int(token, 0)
    except ValueError:
        pass
    if re.fullmatch(r"0\d+", token):
        return int(token, 8)
    if table is None:
        return None
    return value_names(table, arch).parse(token)


@dataclass(frozen=True)
class Deviation:
    """Where qemu's result is known to differ from Linux's: a call, a pattern on qemu's line, why."""

    name: str
    pattern: str
    why: str

    def covers(self, call: QemuCall) -> bool:
        """Whether this deviation explains ``call``'s result."""
        return call.name == self.name and re.search(self.pattern, call.line) is not None


def compare_with_qemu(arch: str, qemu: list[QemuCall], ours: list[dict[str, Any]],
                      deviations: list[Deviation]) -> list[str]:
    """Every disagreement between qemu's calls and the sandbox's JSON records, as text.

    Results covered by ``deviations`` (qemu known to differ from Linux) are not compared.
    What is compared: the call, each argument qemu shows, the result, errno.
    """
    problems = []
    ours = [o for o in ours if o["name"] not in QEMU_SILENT]
    if [c.name for c in qemu] != [o["name"] for o in ours]:
        return [f"call sequences differ:\n  qemu:    {[c.name for c in qemu]}\n  sandbox: {[o['name'] for o in ours]}"]
    mask = (1 << 64) - 1
    for q, o in zip(qemu, ours):
        proto = prototype(o["name"], arch)
        values = o["decoded"]
        for i, token in enumerate(q.args[:len(proto.params)] if proto.known else q.args):
            # (qemu prints all six registers of a call it does not decode: the rest are no arguments)
            raw = o["args"][i] if i < len(o["args"]) else None
            param = proto.params[i] if i < len(proto.params) and proto.known else None
            table = None
            captured = None
            if param is not None:
                eff = effective(param, values, arch, o["name"])
                kind = eff.kind if eff is not None else param.kind
                try:
                    value_names(kind, arch)
                    table = kind
                except KeyError:
                    table = None
                captured = o["memory"].get(param.name)
            if token.startswith('"'):
                text = token[1:-1].encode().decode("unicode_escape").encode("latin-1")
                if captured is None or captured.encode("latin-1") != text:
                    problems.append(f"{q.line}: argument {i} {token} but the sandbox read {captured!r}")
                continue
            if token.startswith("{"):
                fields = _qemu_fields(token)
                if isinstance(captured, dict) and any(int(v) != captured.get(k) for k, v in fields.items()):
                    problems.append(f"{q.line}: argument {i} {token} but the sandbox read {captured}")
                continue
            try:
                number = _qemu_number(token, table, arch)
            except ValueError as e:
                problems.append(f"{q.line}: argument {i} {token}: {e} is not in the sandbox's {table} table")
                continue
            if number is None or raw is None:
                continue
            same = (number & mask) == (raw & mask) or (number & 0xFFFFFFFF) == (raw & 0xFFFFFFFF)
            # Addresses are normalised: where the stack and mappings are is not the program's choice.
            pointer = param is not None and (param.is_pointer or param.kind in ("ptr", "hex"))
            same = same or (pointer and number >= ADDRESSES and raw >= ADDRESSES)
            # qemu shows some pointed-to ints (FIONBIO's) rather than the pointer.
            same = same or (isinstance(captured, int) and captured == number)
            if not same:
                problems.append(f"{q.line}: argument {i} is {token}, the sandbox's register holds {raw:#x}")
        if any(d.covers(q) for d in deviations):
            continue
        if o["ret"] is None:
            if q.ret is not None:
                problems.append(f"{q.line}: qemu says it returned, the sandbox says it did not")
            continue
        if q.errno is not None or o["errno"] is not None:
            ours_errno = int(Errno[o["errno"]]) if o["errno"] else None
            if q.errno != ours_errno:
                problems.append(f"{q.line}: errno {q.errno}, the sandbox {o['errno']}")
            continue
        if q.ret is not None and proto.ret_kind not in ("ptr", "hex") and o["name"] not in _NOT_COMPARED:
            if q.ret & mask != o["ret"] & mask:
                problems.append(f"{q.line}: result {q.ret}, the sandbox {o['ret']}")
    return problems


# Calls qemu-user 7.2's -strace does not print at all (it does not know them).
QEMU_SILENT = {"rseq"}
# Results that differ from run to run or host to host: process ids, clock readings, the CPUs.
_NOT_COMPARED = {"getpid", "gettid", "getppid", "times", "time", "getpgid", "getsid", "getpgrp", "set_tid_address",
                 "sched_getaffinity"}


def qemu_processes(lines: list[str]) -> dict[str, list[str]]:
    """The lines of :func:`run_qemu_strace` with ``follow`` per process (its pid), first first."""
    out: dict[str, list[str]] = {}
    for line in lines:
        pid, _, text = line.partition("|")
        out.setdefault(pid, []).append(text)
    return out


def compare_qemu_processes(arch: str, qemu: dict[str, list[str]], ours: list[dict[str, Any]],
                           deviations: list[Deviation], lacks: dict[str, str]) -> list[str]:
    """:func:`compare_with_qemu` for each process, qemu's matched to the sandbox's by
    :func:`match_processes` (from the results of their clone calls) and its pids shown as the
    sandbox's.

    ``lacks`` names the calls this qemu does not have (it answers ENOSYS): where a process made
    one, the child it would have made is not in qemu's trace, and the rest of that process's
    results (waits for that child) are not compared, only its calls and their arguments. An
    ``execve`` qemu printed no result for ran the new program under a qemu without -strace
    (binfmt_misc): what the sandbox's process did after it has nothing to be compared with.
    """
    assert qemu and ours, "no calls to compare"
    mine: dict[str, list[dict[str, Any]]] = {}
    for record in ours:
        mine.setdefault(str(record["pid"]), []).append(record)
    kids_theirs = {pid: [str(c.ret) for c in parse_qemu(lines, arch)[0] if c.name in CLONE_CALLS and c.ret]
                   for pid, lines in qemu.items()}
    kids_ours: dict[str, list[str]] = {}
    ignored: set[str] = set()  # children of the calls qemu lacks, which made none there
    for pid, records in mine.items():
        made = [r for r in records if r["name"] in CLONE_CALLS and r["ret"] and r["ret"] > 0]
        kids_ours[pid] = [str(r["ret"]) for r in made if r["name"] not in lacks]
        ignored |= {str(r["ret"]) for r in made if r["name"] in lacks}
    pids, problems = match_processes({p: [k for k in kids if int(k) > 0] for p, kids in kids_theirs.items()},
                                     kids_ours, (next(iter(qemu)), next(iter(mine))))
    for pid, lines in qemu.items():
        ours_pid = pids.get(pid)
        if ours_pid is None or ours_pid not in mine:
            problems.append(f"qemu's process {pid} has no match in the sandbox's trace")
            continue
        swap = re.compile(r"\b(" + "|".join(sorted(pids, key=len, reverse=True)) + r")\b")
        calls, _ = parse_qemu([swap.sub(lambda m: pids[m.group(1)], line) for line in lines], arch)
        records = [r for r in mine[ours_pid] if r["name"] not in QEMU_SILENT]
        if calls and calls[-1].name in ("execve", "execveat") and calls[-1].ret is None:
            exec_at = next(i for i in range(len(records) - 1, -1, -1) if records[i]["name"] == calls[-1].name)
            records = records[:exec_at + 1]
        lacked = next((i for i, c in enumerate(calls) if c.name in lacks), None)
        if lacked is not None:
            # compared up to the call qemu lacks; from there on, the calls and arguments only
            problems += compare_with_qemu(arch, calls[:lacked], records[:lacked], deviations)
            rest = [Deviation(c.name, re.escape(c.line), lacks[calls[lacked].name]) for c in calls[lacked:]]
            problems += compare_with_qemu(arch, calls[lacked:], records[lacked:], rest)
        else:
            problems += compare_with_qemu(arch, calls, records, deviations)
    unmatched = set(mine) - set(pids.values()) - ignored
    if unmatched:
        problems.append(f"the sandbox's processes {sorted(unmatched)} have no match in qemu's trace")
    return problems


def load_json_trace(lines: list[str]) -> list[dict[str, Any]]:
    """The sandbox's JSON trace lines as objects."""
    return [json.loads(line) for line in lines if line.strip()]
