"""Comparing the sandbox's trace with real tracers: native ``strace`` and ``qemu-aarch64 -strace``.

A case is a program (an ELF per arch, committed or built on the fly) with its arguments; to
compare more programs, list them in :data:`CASES` (or build a :class:`Case` in a test). Each is
run three ways in the same kind of scratch directory: natively under ``strace`` (x86_64 on an
x86_64 host), under ``qemu-<arch> -strace``, and in the sandbox with ``sandbox trace``.

The lines must then agree exactly, once these are normalised (and nothing else):

- addresses: hex numbers of 0x10000 and up outside strings (stack, mmap, brk and load
  addresses differ between a real process and the sandbox);
- process ids in the results of getpid/gettid/getppid (the sandbox's pid is 1000);
- clock readings: ``tv_sec``/``tv_nsec``/``tv_usec``/``tms_*`` values, the results of
  ``time``/``times`` and the dates strace adds to them;
- the host name in ``uname``, and the bytes ``getrandom`` returned.

qemu's ``-strace`` prints another format (``write(1,0x4000a0,12) = 12``, raw registers for
calls it does not decode, ``errno=9``), so it is compared by value: each argument qemu shows is
turned into a number (a flag like ``O_RDONLY|O_CLOEXEC`` through the sandbox's own value tables
for that arch) and checked against the sandbox's register or decoded value, and each result
and errno against the sandbox's.
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
from kernel_model.prototypes import prototype
from sandbox.trace.capture import effective

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "tests" / "trace" / "programs"
QEMU = {"x86_64": "qemu-x86_64", "aarch64": "qemu-aarch64"}
ADDRESSES = 0x10000  # numbers from here up, where they are addresses, are normalised


@dataclass
class Case:
    """A program to compare: its file per arch, arguments and stdin."""

    name: str
    files: dict[str, Path]
    args: list[str] = field(default_factory=list)
    stdin: bytes = b""

    @property
    def arches(self) -> list[str]:
        """The arches this case has a program for."""
        return list(self.files)


def program_case(name: str, arches: tuple[str, ...]) -> Case:
    """A case for a committed program of tests/trace/programs."""
    return Case(name, {a: PROGRAMS / f"{name}.{a}" for a in arches})


# The committed test programs; tests/trace/test_oracle.py also adds the examples.
CASES = [
    program_case("files", ("x86_64", "aarch64")),
    program_case("paths", ("x86_64", "aarch64")),
    program_case("memory", ("x86_64", "aarch64")),
    program_case("process", ("x86_64", "aarch64")),
    program_case("errors", ("x86_64", "aarch64")),
    program_case("legacy", ("x86_64",)),
    program_case("crash", ("x86_64", "aarch64")),
]


def make_scratch(directory: Path) -> Path:
    """The directory the programs run in: ``data.txt`` and ``sub/inner.txt``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data.txt").write_bytes(b"Hello world\n")
    (directory / "sub").mkdir(exist_ok=True)
    (directory / "sub" / "inner.txt").write_bytes(b"inner\n")
    return directory


def _umask_022() -> None:
    os.umask(0o022)


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


def run_native_strace(program: Path, cwd: Path, args: list[str], stdin: bytes) -> tuple[list[str], int]:
    """The lines ``strace`` writes for ``program`` run natively, and its exit status."""
    out = cwd.parent / f"{cwd.name}.strace"
    proc = subprocess.run(
        ["strace", "-o", str(out), str(program), *args], input=stdin, capture_output=True, cwd=cwd, env={},
        timeout=60, preexec_fn=_umask_022,
    )
    return out.read_text().splitlines(), proc.returncode


def run_qemu_strace(arch: str, program: Path, cwd: Path, args: list[str], stdin: bytes) -> tuple[list[str], int]:
    """The lines ``qemu-ARCH -strace`` writes (on stderr: a log file would take a guest fd)."""
    proc = subprocess.run(
        [QEMU[arch], "-strace", str(program), *args], input=stdin, capture_output=True, cwd=cwd, env={},
        timeout=60, preexec_fn=_umask_022,
    )
    return proc.stderr.decode("utf-8", "replace").splitlines(), proc.returncode


def run_sandbox_trace(program: Path, cwd: Path, args: list[str], stdin: bytes, fmt: str = "strace") -> tuple[list[str], int]:
    """The lines ``sandbox trace`` writes to its trace file, and the exit status."""
    out = cwd.parent / f"{cwd.name}.sandbox.{fmt}"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox", "trace", f"--trace={fmt}", "--trace-file", str(out), "--clear-env",
         "--cwd", str(cwd), "--mount", f"{cwd}:{cwd}:rw", str(program), *args],
        input=stdin, capture_output=True, cwd=ROOT, env=env, timeout=120, preexec_fn=_umask_022,
    )
    assert proc.returncode < 100 or proc.returncode >= 128, proc.stderr.decode(errors="replace")
    return out.read_text().splitlines(), proc.returncode


# -- normalising strace text -------------------------------------------------------------------

_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_BIG_HEX = re.compile(r"0x[0-9a-f]{5,}")  # 0x10000 and up: ADDRESSES
_TIME_FIELDS = re.compile(r"\b(tv_sec|tv_nsec|tv_usec|tms_utime|tms_stime|tms_cutime|tms_cstime)=\d+")
_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}")
_PID_CALLS = ("getpid()", "gettid()", "getppid()")
_TIME_CALLS = ("time(", "times(")


def _outside_quotes(line: str, fn: Any) -> str:
    out, pos = [], 0
    for m in _QUOTED.finditer(line):
        out.append(fn(line[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(fn(line[pos:]))
    return "".join(out)


def normalise(line: str) -> str:
    """One strace line with the documented run-to-run differences normalised."""
    line = _outside_quotes(line, lambda s: _BIG_HEX.sub("0xADDR", s))
    line = _TIME_FIELDS.sub(lambda m: f"{m.group(1)}=N", line)
    line = _DATE.sub("DATE", line)
    if line.startswith(_PID_CALLS) or line.startswith(_TIME_CALLS):
        line = re.sub(r"= -?\d+", "= N", line)
    if line.startswith("time("):
        line = re.sub(r"\[\d+ ", "[N ", line)
    if line.startswith("uname("):
        line = re.sub(r'nodename="[^"]*"', 'nodename="HOST"', line)
    if line.startswith("getrandom("):
        line = _QUOTED.sub('"RANDOM"', line, count=1)
    return line


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


def parse_qemu(lines: list[str]) -> tuple[list[QemuCall], list[str]]:
    """qemu's calls, and the signal/exit lines (``--- SIGSEGV {...} ---``)."""
    calls, other = [], []
    for line in lines:
        if line.startswith("--- ") or line.startswith("+++ "):
            other.append(line)
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


def _qemu_number(token: str, table: str | None, arch: str) -> int | None:
    token = token.strip()
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
    if [c.name for c in qemu] != [o["name"] for o in ours]:
        return [f"call sequences differ:\n  qemu:    {[c.name for c in qemu]}\n  sandbox: {[o['name'] for o in ours]}"]
    mask = (1 << 64) - 1
    for q, o in zip(qemu, ours):
        proto = prototype(o["name"], arch)
        values = o["decoded"]
        for i, token in enumerate(q.args):
            raw = o["args"][i] if i < len(o["args"]) else None
            param = proto.params[i] if i < len(proto.params) and proto.known else None
            table = None
            captured = None
            if param is not None:
                eff = effective(param, values, arch)
                kind = eff.kind if eff is not None else param.kind
                try:
                    value_names(kind, arch)
                    table = kind
                except KeyError:
                    table = "fcntl_cmd" if kind == "fcntl_arg" else None
                captured = o["memory"].get(param.name)
            if token.startswith('"'):
                text = token[1:-1].encode().decode("unicode_escape").encode("latin-1")
                if captured is None or captured.encode("latin-1") != text:
                    problems.append(f"{q.line}: argument {i} {token} but the sandbox read {captured!r}")
                continue
            if token.startswith("{"):
                fields = dict(re.findall(r"(\w+) = (-?\d+)", token))
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


# Results that differ from run to run: process ids and clock readings.
_NOT_COMPARED = {"getpid", "gettid", "getppid", "times", "time"}


def load_json_trace(lines: list[str]) -> list[dict[str, Any]]:
    """The sandbox's JSON trace lines as objects."""
    return [json.loads(line) for line in lines if line.strip()]
