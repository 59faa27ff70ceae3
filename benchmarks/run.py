"""Benchmarks: the sandbox against qemu-user and against the engine it runs on, as ratios.

    python benchmarks/run.py [--quick] [--arches x86_64,aarch64]

Every figure compares two things measured in this same run on this same machine, each timed
several times: the median of the CPU times is kept (user + system, of this process for what
runs in it, of the child for a command), so that other work on a shared machine disturbs
the figures as little as it can. Absolute times are printed beside the ratios, for reading
them, not for comparing machines.

- start-up: ``sandbox run hello`` (a static ELF) over ``python -c pass`` with the same
  interpreter, with ``PYTHONDONTWRITEBYTECODE=1`` set and unset;
- one trivial system call (getppid in a loop, as ``sandbox run`` serves it): microseconds per
  call, over qemu-user's, and over the floor of a call served by Python at all (a bare
  Unicorn whose ctypes hook does nothing); the same traced (``--trace -o /dev/null``);
- compute, a 64 MiB store loop, the same loop loading, and busybox ``sha256sum`` of 16 MiB:
  the sandbox over qemu-user, and the loops over a bare Unicorn running them (the engine as
  it is without the sandbox, so a load loop over it says whether loads got slower);
- RSS after a million calls, against the RSS of hello (the call log must not grow);
- ``openat`` of a six-component path and ``close`` in host mode over the same in the kernel
  model's own view (both modes walk the path in the model; host mode then asks the host);
- processes: fork + exit + wait4 round trips, a busybox sh loop making a subshell and a
  command substitution, and two threads handing a futex back and forth, each per round over
  qemu-user's (whose processes and threads are the host's own);
- as before: single steps through ``sb.step()`` over a bare ``emu_start(count=1)`` loop,
  ``cat`` of 16 MiB over qemu-user, and the cost of an instruction budget.

Rows that need qemu-user or busybox (``tests/programs/fetch-busybox.sh``) say why they are
skipped when those are missing.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import unicorn  # noqa: E402
from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib  # noqa: E402

from sandbox import Sandbox, get_arch  # noqa: E402
from sandbox.assembler import assemble  # noqa: E402
from sandbox.elfwriter import build_elf  # noqa: E402
from sandbox.program import read_program  # noqa: E402

BIG_FILE_SIZE = 16 << 20
SWEEP = 64 << 20  # bytes the store and load loops sweep, PASSES times
PASSES = 4
DATA = 0x10000000  # where a bare Unicorn maps the loops' data

# getppid N times, then exit(0)
CALLS = {
    "x86_64": "mov rbx, {n}\nl: mov eax, 110\nsyscall\ndec rbx\njnz l\n",
    "aarch64": "movz x19, #{n_lo}\nmovk x19, #{n_hi}, lsl #16\nl: mov x8, #173\nsvc #0\nsubs x19, x19, #1\nb.ne l\n",
}
EXIT = {"x86_64": "mov eax, 60\nxor edi, edi\nsyscall\n", "aarch64": "mov x8, #93\nmov x0, #0\nsvc #0\n"}
# map SWEEP bytes and leave their address where the loops want it (rbx, x19)
MAP = {
    "x86_64": "mov eax, 9\nxor edi, edi\nmov esi, {size}\nmov edx, 3\nmov r10d, 0x22\nmov r8, -1\nxor r9d, r9d\n"
              "syscall\nmov rbx, rax\n",
    "aarch64": "mov x0, #0\nmov x1, #{size}\nmov x2, #3\nmov x3, #0x22\nmov x4, #-1\nmov x5, #0\nmov x8, #222\n"
               "svc #0\nmov x19, x0\n",
}
# the loops themselves, from ``body:`` to ``done:``
LOOPS = {
    ("compute", "x86_64"): "body: mov rcx, {n}\nxor eax, eax\nc: add rax, rcx\nxor rax, 0xff\ndec rcx\njnz c\ndone:\n",
    ("compute", "aarch64"): "body: movz x1, #{n_lo}\nmovk x1, #{n_hi}, lsl #16\nmov x0, #0\nc: add x0, x0, x1\n"
                            "eor x0, x0, #0xff\nsubs x1, x1, #1\nb.ne c\ndone:\n",
    ("store", "x86_64"): "body: mov r12, {passes}\np: mov rcx, rbx\nlea rdx, [rbx + {size}]\ns: mov [rcx], rcx\n"
                         "add rcx, 8\ncmp rcx, rdx\njne s\ndec r12\njnz p\ndone:\n",
    ("store", "aarch64"): "body: mov x20, #{passes}\nmov x1, #{size}\nadd x10, x19, x1\np: mov x9, x19\n"
                          "s: str x9, [x9]\nadd x9, x9, #8\ncmp x9, x10\nb.ne s\nsubs x20, x20, #1\nb.ne p\ndone:\n",
    ("load", "x86_64"): "body: mov r12, {passes}\nxor eax, eax\np: mov rcx, rbx\nlea rdx, [rbx + {size}]\n"
                        "s: add rax, [rcx]\nadd rcx, 8\ncmp rcx, rdx\njne s\ndec r12\njnz p\ndone:\n",
    ("load", "aarch64"): "body: mov x20, #{passes}\nmov x1, #{size}\nadd x10, x19, x1\nmov x11, #0\np: mov x9, x19\n"
                         "s: ldr x12, [x9]\nadd x11, x11, x12\nadd x9, x9, #8\ncmp x9, x10\nb.ne s\n"
                         "subs x20, x20, #1\nb.ne p\ndone:\n",
}
BASE_REG = {"x86_64": "rbx", "aarch64": "x19"}
# fork, the child exits at once, the parent reaps it: N times, then exit(0)
FORKS = {
    "x86_64": "mov rbx, {n}\nl: mov eax, 57\nsyscall\ntest rax, rax\njz child\nmov rdi, rax\nxor esi, esi\n"
              "xor edx, edx\nxor r10d, r10d\nmov eax, 61\nsyscall\ndec rbx\njnz l\n"
              "mov eax, 231\nxor edi, edi\nsyscall\nchild: mov eax, 60\nxor edi, edi\nsyscall\n",
    # aarch64 has no fork: clone(SIGCHLD, 0, 0, 0, 0)
    "aarch64": "movz x19, #{n_lo}\nmovk x19, #{n_hi}, lsl #16\nl: mov x0, #17\nmov x1, #0\nmov x2, #0\nmov x3, #0\n"
               "mov x4, #0\nmov x8, #220\nsvc #0\ncbz x0, child\nmov x1, #0\nmov x2, #0\nmov x3, #0\n"
               "mov x8, #260\nsvc #0\nsubs x19, x19, #1\nb.ne l\nmov x0, #0\nmov x8, #94\nsvc #0\n"
               "child: mov x0, #0\nmov x8, #93\nsvc #0\n",
}
# Two threads hand a turn to each other N times through a futex word: the main thread waits
# while the word is 1, sets it to 1 and wakes the other; the other waits while it is 0, sets
# it to 0 and wakes the main one. Then exit_group(0).
PING_PONG = {
    "x86_64": "mov eax, 9\nxor edi, edi\nmov esi, 65536\nmov edx, 3\nmov r10d, 0x22\nmov r8, -1\nxor r9d, r9d\n"
              "syscall\nlea rsi, [rax + 65536]\nmov edi, 0x50f00\nxor edx, edx\nxor r10d, r10d\nxor r8d, r8d\n"
              "mov eax, 56\nsyscall\ntest rax, rax\njz other\nmov r12, {n}\n"
              "wait0: mov eax, [rip + turn]\ntest eax, eax\njz go0\nmov eax, 202\nlea rdi, [rip + turn]\n"
              "mov esi, 128\nmov edx, 1\nxor r10d, r10d\nsyscall\njmp wait0\n"
              "go0: mov dword ptr [rip + turn], 1\nmov eax, 202\nlea rdi, [rip + turn]\nmov esi, 129\nmov edx, 1\n"
              "syscall\ndec r12\njnz wait0\nmov eax, 231\nxor edi, edi\nsyscall\n"
              "other: mov eax, [rip + turn]\ncmp eax, 1\nje go1\nmov eax, 202\nlea rdi, [rip + turn]\n"
              "mov esi, 128\nxor edx, edx\nxor r10d, r10d\nsyscall\njmp other\n"
              "go1: mov dword ptr [rip + turn], 0\nmov eax, 202\nlea rdi, [rip + turn]\nmov esi, 129\nmov edx, 1\n"
              "syscall\njmp other\n.align 4\nturn: .long 0\n",
    "aarch64": "mov x0, #0\nmov x1, #65536\nmov x2, #3\nmov x3, #0x22\nmov x4, #-1\nmov x5, #0\nmov x8, #222\n"
               "svc #0\nadd x1, x0, #16, lsl #12\nmovz x0, #0x0f00\nmovk x0, #0x5, lsl #16\nmov x2, #0\nmov x3, #0\n"
               "mov x4, #0\nmov x8, #220\nsvc #0\nadr x20, turn\ncbz x0, other\n"
               "movz x19, #{n_lo}\nmovk x19, #{n_hi}, lsl #16\n"
               "wait0: ldr w9, [x20]\ncbz w9, go0\nmov x0, x20\nmov x1, #128\nmov x2, #1\nmov x3, #0\nmov x8, #98\n"
               "svc #0\nb wait0\ngo0: mov w9, #1\nstr w9, [x20]\nmov x0, x20\nmov x1, #129\nmov x2, #1\n"
               "mov x8, #98\nsvc #0\nsubs x19, x19, #1\nb.ne wait0\nmov x0, #0\nmov x8, #94\nsvc #0\n"
               "other: ldr w9, [x20]\ncmp w9, #1\nb.eq go1\nmov x0, x20\nmov x1, #128\nmov x2, #0\nmov x3, #0\n"
               "mov x8, #98\nsvc #0\nb other\ngo1: str wzr, [x20]\nmov x0, x20\nmov x1, #129\nmov x2, #1\n"
               "mov x8, #98\nsvc #0\nb other\n.align 2\nturn: .long 0\n",
}
# openat(AT_FDCWD, "a/b/c/d/e/f", O_RDONLY) and close, N times (x86_64), then exit(0)
OPENS = ("mov rbx, {n}\nl: mov eax, 257\nmov edi, -100\nlea rsi, [rip + path]\nxor edx, edx\nxor r10d, r10d\n"
         "syscall\nmov edi, eax\nmov eax, 3\nsyscall\ndec rbx\njnz l\nmov eax, 60\nxor edi, edi\nsyscall\n"
         'path: .asciz "a/b/c/d/e/f"\n')
# busybox sh making a new process N times: a subshell and a command substitution
SPAWN_LOOP = "i=0; while [ $i -lt {n} ]; do (:); x=$(echo $i); i=$((i + 1)); done"


def fill(template: str, n: int = 0) -> str:
    """A template with its numbers filled in (``n`` also split for aarch64's movz/movk)."""
    return template.format(n=n, n_lo=n & 0xFFFF, n_hi=n >> 16, size=SWEEP, passes=PASSES)


def median_of(runs: int, fn: Callable[[], float]) -> float:
    """The median of ``runs`` measurements returned by ``fn``."""
    return statistics.median(fn() for _ in range(runs))


def cpu_of(fn: Callable[[], object]) -> float:
    """The CPU time this process spends in ``fn()``."""
    t = time.process_time()
    fn()
    return time.process_time() - t


def child(cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> tuple[float, int]:
    """Run ``cmd`` with its output thrown away: its CPU time and its peak RSS in bytes."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env, cwd=cwd)
    _, status, usage = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark: {' '.join(cmd)} failed with status {os.waitstatus_to_exitcode(status)}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def elf(folder: str, name: str, arch_name: str, text: str) -> str:
    """``text`` assembled into a static ELF that qemu-user runs as well."""
    arch = get_arch(arch_name)
    path = os.path.join(folder, f"{name}.{arch_name}")
    with open(path, "wb") as f:
        f.write(build_elf(arch, assemble(arch, text)))
    os.chmod(path, 0o755)
    return path


@contextlib.contextmanager
def stdout_to_devnull():  # type: ignore[no-untyped-def]
    """Point this process's fd 1 at /dev/null for a while (a guest writes straight to it)."""
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def in_sandbox(arch: str, path: str, args: list[str] | None = None, cwd: str | None = None, **kw: object) -> float:
    """The CPU time of loading and running ``path`` in the sandbox (no start-up), output discarded."""
    sb = Sandbox(arch, capture=False, cwd=cwd, **kw)  # type: ignore[arg-type]
    with stdout_to_devnull():
        t = time.process_time()
        result = sb.run_file(path, [path, *(args or [])])
        elapsed = time.process_time() - t
    sb.close()
    if result.exit_status != 0:
        raise SystemExit(f"benchmark: {path} ended with {result.exit_status} in the sandbox")
    return elapsed


def bare_engine(arch_name: str, text: str, hook: bool = False) -> float:
    """The CPU time of ``text`` from ``body`` to ``done`` in a bare Unicorn: code and data
    mapped, the data's address in the loops' register, and (``hook``) a syscall hook that
    does nothing, the least a call served by Python costs."""
    arch = get_arch(arch_name)
    asm = assemble(arch, text)
    uc = unicorn.Uc(arch.uc_arch, arch.uc_mode) if arch.uc_cpu is None else unicorn.Uc(arch.uc_arch, arch.uc_mode, arch.uc_cpu)
    uc.mem_map(asm.base, 0x10000)
    uc.mem_write(asm.base, asm.code)
    uc.mem_map(DATA, SWEEP)
    uc.mem_map(arch.stack_top - 0x10000, 0x10000)
    uc.reg_write(arch.reg_id(arch.sp), arch.stack_top - 0x100)
    uc.reg_write(arch.reg_id(BASE_REG[arch_name]), DATA)
    for name, value in arch.initial_registers:
        uc.reg_write(arch.reg_id(name), value)
    callbacks = []
    if hook:
        if arch.trap.hook == "insn":
            cb = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(lambda h, ud: None)
            extra = (ctypes.c_int(arch.trap.insn_id),)
            htype = unicorn.UC_HOOK_INSN
        else:
            cb = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)(lambda h, i, ud: None)
            extra = ()
            htype = unicorn.UC_HOOK_INTR
        callbacks.append(cb)
        handle = uc_hook_h()
        uclib.uc_hook_add(uc._uch, ctypes.byref(handle), htype, ctypes.cast(cb, ctypes.c_void_p), None,
                          ctypes.c_uint64(1), ctypes.c_uint64(0), *extra)
    return cpu_of(lambda: uc.emu_start(asm.symbols["body"], asm.symbols["done"]))


def busybox(arch_name: str) -> str | None:
    """Debian's static busybox where tests/programs/fetch-busybox.sh puts it, if it is there."""
    folder = os.environ.get("SANDBOX_BUSYBOX_DIR") or os.path.join(ROOT, ".cache", "busybox")
    path = os.path.join(folder, f"busybox.{arch_name}")
    return path if os.path.isfile(path) else None


class Report:
    """Rows of figures, and whether each target was met."""

    def __init__(self) -> None:
        self.missed: list[str] = []
        print(f"{'benchmark':<40} {'arch':<8} {'sandbox':>10} {'baseline':>10} {'ratio':>7}  target")

    def row(self, label: str, arch: str, ours: str, theirs: str, ratio: float | None, target: str = "",
            ok: bool | None = None) -> None:
        shown = f"{ratio:>7.2f}" if ratio is not None else f"{'':>7}"
        print(f"{label:<40} {arch:<8} {ours:>10} {theirs:>10} {shown}  {target}")
        if ok is False:
            self.missed.append(f"{label} ({arch})")

    def note(self, label: str, arch: str, text: str) -> None:
        print(f"{label:<40} {arch:<8} {text}")


def start_up(report: Report, folder: str, runs: int) -> None:
    hello = read_program(os.path.join(ROOT, "examples", "hello", "hello.x86_64.s"))
    path = elf(folder, "hello", "x86_64", hello.text)
    for label, value in (("unset", None), ("=1", "1")):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        if value is not None:
            env["PYTHONDONTWRITEBYTECODE"] = value
        ours = median_of(runs, lambda: child([sys.executable, "-m", "sandbox", "run", path], env)[0])
        base = median_of(runs, lambda: child([sys.executable, "-c", "pass"], env)[0])
        report.row(f"start-up, PYTHONDONTWRITEBYTECODE {label}", "x86_64", f"{ours * 1e3:.0f} ms",
                   f"{base * 1e3:.0f} ms", ours / base, "<= 4.00 (over python -c pass)", ours / base <= 4)
    # What no start-up can go below: the interpreter with Unicorn's binding and the kernel model.
    floor = median_of(runs, lambda: child([sys.executable, "-c", "import unicorn, kernel_model"])[0])
    report.row("  importing unicorn and kernel_model", "x86_64", f"{floor * 1e3:.0f} ms", f"{base * 1e3:.0f} ms",
               floor / base, "(info: the floor of a run)")


def syscall_cost(report: Report, folder: str, arch: str, runs: int, n: int) -> None:
    one = elf(folder, "call1", arch, fill(CALLS[arch], 1) + EXIT[arch])
    many = elf(folder, f"call{n}", arch, fill(CALLS[arch], n) + EXIT[arch])
    traced_n = n // 4
    traced = elf(folder, f"call{traced_n}", arch, fill(CALLS[arch], traced_n) + EXIT[arch])
    cli = [sys.executable, "-m", "sandbox", "run"]

    def per_call(cmd: list[str], path: str, calls: int) -> float:
        return (median_of(runs, lambda: child(cmd + [path])[0]) - median_of(runs, lambda: child(cmd + [one])[0])) / calls

    ours = per_call(cli, many, n)
    floor = median_of(runs, lambda: bare_engine(arch, "body:\n" + fill(CALLS[arch], n) + "done:\n", hook=True)) / n
    qemu = shutil.which(f"qemu-{arch}")
    if qemu is not None:
        theirs = per_call([qemu], many, n)
        report.row("syscall getppid (us/call), / qemu-user", arch, f"{ours * 1e6:.2f}", f"{theirs * 1e6:.2f}",
                   ours / theirs, "(info)")
    else:
        report.note("syscall getppid, / qemu-user", arch, f"skipped: qemu-{arch} is not installed")
    report.row("syscall getppid (us/call), / ctypes floor", arch, f"{ours * 1e6:.2f}", f"{floor * 1e6:.2f}",
               ours / floor, "(info: the floor is a hook doing nothing)")
    report.row("syscall getppid, us/call", arch, f"{ours * 1e6:.2f}", "", None,
               "<= 4 us on the issue's machine (qemu 0.45 us there)")
    traced_cost = per_call(cli + ["--trace", "-o", os.devnull], traced, traced_n)
    report.row("traced getppid (us/call), / untraced", arch, f"{traced_cost * 1e6:.2f}", f"{ours * 1e6:.2f}",
               traced_cost / ours, "<= 15 us on the issue's machine")


def loops(report: Report, folder: str, arch: str, runs: int, n_compute: int) -> None:
    qemu = shutil.which(f"qemu-{arch}")
    for kind, target in (("compute", None), ("store", 3.0), ("load", None)):
        body = fill(LOOPS[kind, arch], n_compute if kind == "compute" else 0)
        path = elf(folder, kind, arch, (fill(MAP[arch]) if kind != "compute" else "") + body + EXIT[arch])
        ours = median_of(runs, lambda: in_sandbox(arch, path))
        bare = median_of(runs, lambda: bare_engine(arch, body))
        label = {"compute": f"compute loop ({n_compute // 10**6}M iterations)",
                 "store": f"store loop ({SWEEP >> 20} MiB x {PASSES})",
                 "load": f"load loop ({SWEEP >> 20} MiB x {PASSES})"}[kind]
        if qemu is not None:
            theirs = median_of(runs, lambda: child([qemu, path])[0])
            report.row(f"{label}, / qemu-user", arch, f"{ours:.3f}s", f"{theirs:.3f}s", ours / theirs,
                       f"<= {target:.2f}" if target else "(info)", ours / theirs <= target if target else None)
        else:
            report.note(f"{label}, / qemu-user", arch, f"skipped: qemu-{arch} is not installed")
        load_target = kind == "load"
        report.row(f"{label}, / bare Unicorn", arch, f"{ours:.3f}s", f"{bare:.3f}s", ours / bare,
                   "<= 1.05 (loads no slower, within noise)" if load_target else "(info)",
                   ours / bare <= 1.05 if load_target else None)


def files(report: Report, folder: str, arch: str, runs: int) -> None:
    qemu = shutil.which(f"qemu-{arch}")
    if qemu is None:
        report.note("cat, sha256sum 16 MiB (/ qemu-user)", arch, f"skipped: qemu-{arch} is not installed")
        return
    big = os.path.join(folder, "big.bin")
    if not os.path.exists(big):
        with open(big, "wb") as f:
            f.write(bytes(range(256)) * (BIG_FILE_SIZE // 256))
    bb = busybox(arch)
    if bb is None:
        cat_text = read_program(os.path.join(ROOT, "examples", "cat", f"cat.{arch}.s")).text
        cat, cat_args = elf(folder, "cat", arch, cat_text), ["big.bin"]
    else:
        cat, cat_args = bb, ["cat", "big.bin"]
    ours = median_of(runs, lambda: in_sandbox(arch, cat, cat_args, cwd=folder))
    theirs = median_of(runs, lambda: child([qemu, cat, *cat_args], cwd=folder)[0])
    report.row(f"cat 16 MiB, {'busybox' if bb else 'example'} (/ qemu-user)", arch, f"{ours:.3f}s",
               f"{theirs:.3f}s", ours / theirs, "<= 1.50", ours / theirs <= 1.5)
    if bb is None:
        report.note("sha256sum 16 MiB (/ qemu-user)", arch, "skipped: no busybox (tests/programs/fetch-busybox.sh)")
        return
    args = ["sha256sum", "big.bin"]
    ours = median_of(runs, lambda: in_sandbox(arch, bb, args, cwd=folder))
    theirs = median_of(runs, lambda: child([qemu, bb, *args], cwd=folder)[0])
    report.row("busybox sha256sum 16 MiB, / qemu-user", arch, f"{ours:.3f}s", f"{theirs:.3f}s", ours / theirs,
               "<= 2.50", ours / theirs <= 2.5)


# Runs the command line in this interpreter and writes its peak RSS (VmHWM, which a new
# program starts afresh, unlike ru_maxrss) to the descriptor its first argument names.
_RSS_PROBE = """
import os, sys
from sandbox.cli import main
fd = int(sys.argv.pop(1))
try:
    status = main(sys.argv[1:])
finally:
    with open("/proc/self/status") as f:
        peak = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
    os.write(fd, peak.encode())
sys.exit(status)
"""


def peak_rss(args: list[str]) -> int | None:
    """The peak RSS, in bytes, of ``sandbox ARGS`` (None where /proc does not say)."""
    if not os.path.exists("/proc/self/status"):
        return None
    read, write = os.pipe()
    try:
        subprocess.run([sys.executable, "-c", _RSS_PROBE, str(write), *args], stdout=subprocess.DEVNULL,
                       pass_fds=(write,), check=True)
    finally:
        os.close(write)
    with os.fdopen(read, "rb") as f:
        return int(f.read()) * 1024


def memory(report: Report, folder: str, arch: str, n: int) -> None:
    one = elf(folder, "call1", arch, fill(CALLS[arch], 1) + EXIT[arch])
    many = elf(folder, f"call{n}", arch, fill(CALLS[arch], n) + EXIT[arch])
    rss_many, rss_one = peak_rss(["run", many]), peak_rss(["run", one])
    if rss_many is None or rss_one is None:
        report.note(f"RSS after {n // 10**6}M calls, / hello", arch, "skipped: no /proc/self/status")
        return
    report.row(f"RSS after {n // 10**6}M calls, / hello", arch, f"{rss_many >> 20} MiB", f"{rss_one >> 20} MiB",
               rss_many / rss_one, "<= 1.10 (flat)", rss_many / rss_one <= 1.1)


def stepping(report: Report, arch: str, runs: int, n_steps: int) -> None:
    asm = fill(LOOPS["compute", arch], 10**6)

    def through_api() -> float:
        sb = Sandbox(arch)
        sb.load_asm(asm)
        return cpu_of(lambda: [sb.step() for _ in range(n_steps)])

    def bare() -> float:
        sb = Sandbox(arch)
        machine = sb.load_asm(asm)
        uc, pc_id, end = machine.uc, machine.arch.reg_id(machine.arch.pc), machine.arch.word_mask
        return cpu_of(lambda: [uc.emu_start(uc.reg_read(pc_id), end, 0, 1) for _ in range(n_steps)])

    ours, theirs = median_of(runs, through_api), median_of(runs, bare)
    report.row("single steps (steps/s), api / bare", arch, f"{n_steps / ours:.0f}", f"{n_steps / theirs:.0f}",
               theirs / ours, ">= 0.30", theirs / ours >= 0.3)


def processes(report: Report, folder: str, arch: str, runs: int, n: int) -> None:
    """fork + exit + wait, a busybox sh spawn loop and futex ping-pong between two threads:
    the cost of one round over qemu-user's (whose processes and threads are the host's)."""
    qemu = shutil.which(f"qemu-{arch}")
    if qemu is None:
        report.note("fork, spawn, futex ping-pong (/ qemu-user)", arch, f"skipped: qemu-{arch} is not installed")
        return
    cli = [sys.executable, "-m", "sandbox", "run"]

    def per_round(cmd: list[str], one: list[str], many: list[str], rounds: int) -> float:
        return (median_of(runs, lambda: child(cmd + many, cwd=folder)[0])
                - median_of(runs, lambda: child(cmd + one, cwd=folder)[0])) / rounds

    for label, table, rounds, target in (
        ("fork + exit + wait4 (us/round)", FORKS, n, "(info: a fork copies the address space)"),
        ("futex ping-pong, 2 threads (us/round)", PING_PONG, n * 10, "(info)"),
    ):
        one = [elf(folder, f"{table is FORKS and 'forks' or 'pingpong'}1", arch, fill(table[arch], 1))]
        many = [elf(folder, f"{table is FORKS and 'forks' or 'pingpong'}{rounds}", arch, fill(table[arch], rounds))]
        ours, theirs = per_round(cli, one, many, rounds), per_round([qemu], one, many, rounds)
        report.row(f"{label}, / qemu-user", arch, f"{ours * 1e6:.1f}", f"{theirs * 1e6:.1f}", ours / theirs, target)
    bb = busybox(arch)
    if bb is None:
        report.note("busybox sh spawn loop, / qemu-user", arch, "skipped: no busybox (tests/programs/fetch-busybox.sh)")
        return
    one, many = [bb, "sh", "-c", SPAWN_LOOP.format(n=1)], [bb, "sh", "-c", SPAWN_LOOP.format(n=n)]
    ours, theirs = per_round(cli, one, many, n), per_round([qemu], one, many, n)
    report.row("busybox sh spawn loop (ms/2 processes), / qemu", arch, f"{ours * 1e3:.2f}", f"{theirs * 1e3:.2f}",
               ours / theirs, "(info)")


def host_open(report: Report, folder: str, runs: int, n: int) -> None:
    """openat of a six-component path in host mode (the real host's directory, under the
    policy and its walls) against the kernel model's own view of the same directory."""
    tree = os.path.join(folder, "tree")
    os.makedirs(os.path.join(tree, "a", "b", "c", "d", "e"), exist_ok=True)
    with open(os.path.join(tree, "a", "b", "c", "d", "e", "f"), "w") as f:
        f.write("x")
    one, many = elf(folder, "open1", "x86_64", OPENS.format(n=1)), elf(folder, f"open{n}", "x86_64", OPENS.format(n=n))
    cli = [sys.executable, "-m", "sandbox", "run"]

    def per_call(cmd: list[str]) -> float:
        return (median_of(runs, lambda: child(cmd + [many], cwd=tree)[0])
                - median_of(runs, lambda: child(cmd + [one], cwd=tree)[0])) / n

    model = per_call(cli)
    host = per_call(cli + ["--kernel", "host", "--allow-read", "."])
    report.row("openat 6 components + close (us), host/model", "x86_64", f"{host * 1e6:.1f}", f"{model * 1e6:.1f}",
               host / model, "(info: one walk through the model in both modes)")


def budget(report: Report, folder: str, arch: str, runs: int, n_compute: int) -> None:
    path = elf(folder, "compute", arch, fill(LOOPS["compute", arch], n_compute) + EXIT[arch])
    plain = median_of(runs, lambda: in_sandbox(arch, path))
    counted = median_of(runs, lambda: in_sandbox(arch, path, max_insns=1 << 62))
    report.row("--max-insns on: time off / on", arch, f"{counted:.3f}s", f"{plain:.3f}s", plain / counted,
               "(cost, no target)")


def main() -> int:
    """Run the benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs and iterations (a smoke test, noisier)")
    parser.add_argument("--arches", default="x86_64,aarch64", help="comma-separated arches (x86_64, aarch64)")
    args = parser.parse_args()
    arches = [a for a in args.arches.split(",") if a]
    unknown = [a for a in arches if a not in CALLS]
    if unknown:
        parser.error(f"no benchmark programs for {', '.join(unknown)} (x86_64, aarch64)")
    runs = 3 if args.quick else 5
    n_calls = 50_000 if args.quick else 200_000
    n_compute = 10_000_000 if args.quick else 50_000_000
    n_steps = 10_000 if args.quick else 100_000
    report = Report()
    folder = tempfile.mkdtemp(prefix="sandbox-bench-")
    try:
        start_up(report, folder, 5 if args.quick else 11)
        host_open(report, folder, runs, n_calls // 10)
        for arch in arches:
            syscall_cost(report, folder, arch, runs, n_calls)
            loops(report, folder, arch, runs, n_compute)
            files(report, folder, arch, runs)
            memory(report, folder, arch, 1_000_000)
            stepping(report, arch, runs, n_steps)
            processes(report, folder, arch, runs, 50 if args.quick else 200)
            budget(report, folder, arch, runs, n_compute)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("all targets met" if not report.missed else "targets missed: " + "; ".join(report.missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
