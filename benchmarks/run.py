"""Benchmarks: the sandbox against bare Unicorn (and qemu-user where installed), as ratios.

    python benchmarks/run.py [--quick]

Every figure is a ratio of two things measured in this same run on this same machine, so
it means the same on a slow laptop and a fast server. Each side is timed several times and
the best time is kept (the least disturbed by the rest of the machine).

- syscall throughput: a guest making ``getpid`` in a loop, in the sandbox, divided by the same
  loop in a bare Unicorn whose hook only writes the return register (target: >= 0.8);
- compute: a syscall-free loop in bare Unicorn divided by the same loop in the sandbox
  (target: >= 0.95, i.e. the sandbox adds no hidden per-instruction or per-block hook);
- single-stepping: instructions stepped one call at a time through the debugging API
  (``sb.step()``), against a bare Unicorn ``emu_start(count=1)`` loop (target: >= 0.3; the
  debugger's bookkeeping per step is what the ratio shows);
- file I/O: ``cat`` of a 16 MiB file to /dev/null, the sandbox's time (loading and running the
  program) divided by qemu-user's for the same binary (target: <= 1.5); busybox's cat when
  tests/programs/fetch-busybox.sh has fetched it, else the example cat;
- busybox ``sha256sum`` of the same file, sandbox over qemu-user (printed, no target: it is
  mostly Unicorn's code generation against qemu's).

The rows that need qemu-user or busybox are skipped, with a note, when they are missing.

With tracing off these are the figures; the cost of tracing on (strace lines written to
/dev/null) is printed too, as the traced throughput over the untraced one, with no target,
and so is the cost of an instruction budget (``--max-insns``: Unicorn counts every
instruction), as the compute loop's time without one over its time with one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import unicorn  # noqa: E402

from sandbox import Sandbox, get_arch  # noqa: E402
from sandbox.arch.syscalls import syscall_table  # noqa: E402
from sandbox.assembler import assemble  # noqa: E402
from sandbox.elfwriter import build_elf  # noqa: E402
from sandbox.program import read_program  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIG_FILE_SIZE = 16 << 20

# A loop of N getpid calls, then exit(0). {n_hi}/{n_lo} split N for aarch64's movz/movk.
SYSCALL_LOOP = {
    "x86_64": "mov rbx, {n}\nloop: mov eax, 39\nsyscall\ndec rbx\njnz loop\nmov eax, 60\nxor edi, edi\nsyscall",
    "aarch64": "movz x19, #{n_lo}\nmovk x19, #{n_hi}, lsl #16\nloop: mov x8, #172\nsvc #0\nsubs x19, x19, #1\nb.ne loop\n"
    "mov x8, #93\nmov x0, #0\nsvc #0",
    "i386": "mov esi, {n}\nloop: mov eax, 20\nint 0x80\ndec esi\njnz loop\nmov eax, 1\nxor ebx, ebx\nint 0x80",
    "arm": "movw r4, #{n_lo}\nmovt r4, #{n_hi}\nloop: mov r7, #20\nsvc #0\nsubs r4, r4, #1\nbne loop\n"
    "mov r7, #1\nmov r0, #0\nsvc #0",
    "riscv64": "li s0, {n}\nloop: li a7, 172\necall\naddi s0, s0, -1\nbnez s0, loop\nli a7, 93\nli a0, 0\necall",
}
# A loop of N iterations of a little arithmetic, then exit(0).
COMPUTE_LOOP = {
    "x86_64": "mov rcx, {n}\nxor eax, eax\nloop: add rax, rcx\nxor rax, 0xff\ndec rcx\njnz loop\nmov eax, 60\nxor edi, edi\nsyscall",
    "aarch64": "movz x1, #{n_lo}\nmovk x1, #{n_hi}, lsl #16\nmov x0, #0\nloop: add x0, x0, x1\neor x0, x0, #0xff\n"
    "subs x1, x1, #1\nb.ne loop\nmov x8, #93\nmov x0, #0\nsvc #0",
    "i386": "mov ecx, {n}\nxor eax, eax\nloop: add eax, ecx\nxor eax, 0xff\ndec ecx\njnz loop\nmov eax, 1\nxor ebx, ebx\nint 0x80",
    "arm": "movw r1, #{n_lo}\nmovt r1, #{n_hi}\nmov r0, #0\nloop: add r0, r0, r1\neor r0, r0, #0xff\n"
    "subs r1, r1, #1\nbne loop\nmov r7, #1\nmov r0, #0\nsvc #0",
    "riscv64": "li a1, {n}\nli a0, 0\nloop: add a0, a0, a1\nxori a0, a0, 0xff\naddi a1, a1, -1\nbnez a1, loop\n"
    "li a7, 93\nli a0, 0\necall",
}


def source(template: str, n: int) -> str:
    """The loop's text with its iteration count filled in."""
    return template.format(n=n, n_lo=n & 0xFFFF, n_hi=n >> 16)


def best_of(runs: int, fn) -> float:  # type: ignore[no-untyped-def]
    """The smallest of ``runs`` timings of ``fn()``."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bare_unicorn(arch_name: str, text: str, with_return_hook: bool) -> float:
    """Time ``text`` in a bare Unicorn: code and stack mapped, and (optionally) the cheapest
    possible syscall hook, one that only writes the return register and stops on exit."""
    arch = get_arch(arch_name)
    code = assemble(arch, text).code
    uc = unicorn.Uc(arch.uc_arch, arch.uc_mode) if arch.uc_cpu is None else unicorn.Uc(arch.uc_arch, arch.uc_mode, arch.uc_cpu)
    base = arch.code_base
    uc.mem_map(base, 0x10000)
    uc.mem_write(base, code)
    uc.mem_map(arch.stack_top - 0x10000, 0x10000)
    uc.reg_write(arch.reg_id(arch.sp), arch.stack_top - 0x100)
    for name, value in arch.initial_registers:  # the same CPU state the sandbox starts with
        uc.reg_write(arch.reg_id(name), value)
    ret = arch.reg_id(arch.ret_reg)
    nr = arch.reg_id(arch.number_reg)
    exit_nr = syscall_table(arch).number("exit")

    def on_syscall(uc: unicorn.Uc, *rest: object) -> None:
        if uc.reg_read(nr) == exit_nr:
            uc.emu_stop()
        else:
            uc.reg_write(ret, 0)

    if arch.trap.hook == "insn":
        uc.hook_add(unicorn.UC_HOOK_INSN, on_syscall, None, 1, 0, arch.trap.insn_id)
    else:
        uc.hook_add(unicorn.UC_HOOK_INTR, on_syscall)
    t = time.perf_counter()
    uc.emu_start(base, base + len(code))
    return time.perf_counter() - t


def in_sandbox(arch_name: str, text: str, max_insns: int | None = None) -> float:
    """Time ``text`` run to its exit in the sandbox (start-up not counted)."""
    sb = Sandbox(arch_name, max_insns=max_insns)
    sb.load_asm(text)
    t = time.perf_counter()
    result = sb.run()
    elapsed = time.perf_counter() - t
    assert result.exit_status == 0, result
    return elapsed


@contextlib.contextmanager
def stdout_to_devnull():  # type: ignore[no-untyped-def]
    """Point this process's fd 1 at /dev/null for a while (the guest writes straight to it)."""
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


def sandbox_program(arch_name: str, program: str, args: list[str], cwd: str) -> float:
    """Time loading and running ``program`` in the sandbox, its output going to /dev/null."""
    with stdout_to_devnull():
        t = time.perf_counter()
        result = Sandbox(arch_name, capture=False, cwd=cwd).run_file(program, [program, *args])
        elapsed = time.perf_counter() - t
    assert result.exit_status == 0, result
    return elapsed


def qemu_program(qemu: str, program: str, args: list[str], cwd: str) -> float:
    """Time the same program under qemu-user, its output going to /dev/null."""
    t = time.perf_counter()
    subprocess.run([qemu, program, *args], cwd=cwd, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def busybox(arch_name: str) -> str | None:
    """Debian's static busybox where tests/programs/fetch-busybox.sh puts it, if it is there."""
    folder = os.environ.get("SANDBOX_BUSYBOX_DIR") or os.path.join(ROOT, ".cache", "busybox")
    path = os.path.join(folder, f"busybox.{arch_name}")
    return path if os.path.isfile(path) else None


def example_cat_elf(arch_name: str, folder: str) -> str:
    """The example cat as an ELF file, so that qemu-user can run the same code."""
    prog = read_program(os.path.join(ROOT, "examples", "cat", f"cat.{arch_name}.s"))
    path = os.path.join(folder, f"cat.{arch_name}")
    with open(path, "wb") as f:
        f.write(build_elf(prog.arch, assemble(prog.arch, prog.text)))
    os.chmod(path, 0o755)
    return path


def file_benchmarks(runs: int) -> bool:
    """The cat and sha256sum rows; returns whether the targets were met."""
    ok = True
    folder = tempfile.mkdtemp(prefix="sandbox-bench-")
    try:
        big = os.path.join(folder, "big.bin")
        with open(big, "wb") as f:
            f.write(bytes(range(256)) * (BIG_FILE_SIZE // 256))
        for arch in ("x86_64", "aarch64"):
            qemu = shutil.which(f"qemu-{arch}")
            if qemu is None:
                print(f"{'cat 16 MiB (/ qemu-user)':<34} {arch:<8} skipped: qemu-{arch} is not installed")
                continue
            bb = busybox(arch)
            cat, args = ([bb, ["cat", "big.bin"]] if bb else [example_cat_elf(arch, folder), ["big.bin"]])
            which = "busybox" if bb else "example"
            sb = best_of(runs, lambda: sandbox_program(arch, cat, args, folder))
            qm = best_of(runs, lambda: qemu_program(qemu, cat, args, folder))
            ratio = sb / qm
            ok &= ratio <= 1.5
            label = f"cat 16 MiB, {which} (/ qemu-user)"
            print(f"{label:<34} {arch:<8} {sb:>9.3f}s {qm:>9.3f}s {ratio:>7.2f}  <= 1.50")
            if bb is None:
                print(f"{'sha256sum 16 MiB (/ qemu-user)':<34} {arch:<8} skipped: no busybox (tests/programs/fetch-busybox.sh)")
                continue
            args = ["sha256sum", "big.bin"]
            sb = best_of(max(1, runs // 3), lambda: sandbox_program(arch, bb, args, folder))
            qm = best_of(max(1, runs // 3), lambda: qemu_program(qemu, bb, args, folder))
            print(f"{'sha256sum 16 MiB (/ qemu-user)':<34} {arch:<8} {sb:>9.3f}s {qm:>9.3f}s {sb / qm:>7.2f}  (info)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return ok


def stepping(arch_name: str, text: str, n: int, bare: bool) -> float:
    """Time ``n`` single steps of ``text``: through ``Sandbox.step()``, or a bare Unicorn loop."""
    sb = Sandbox(arch_name)
    machine = sb.load_asm(text)
    if bare:
        uc = machine.uc
        pc_id = machine.arch.reg_id(machine.arch.pc)
        end = machine.arch.word_mask
        t = time.perf_counter()
        for _ in range(n):
            uc.emu_start(uc.reg_read(pc_id), end, 0, 1)
        return time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(n):
        sb.step()
    return time.perf_counter() - t


def in_sandbox_traced(arch_name: str, text: str) -> float:
    """Time ``text`` in the sandbox with a strace-format tracer writing to /dev/null."""
    from sandbox.trace import Tracer, make_format

    sb = Sandbox(arch_name)
    machine = sb.load_asm(text)
    with open(os.devnull, "w") as sink:
        Tracer(machine, sink=sink, format=make_format("strace", sb.arch)).attach()
        t = time.perf_counter()
        result = sb.run()
        elapsed = time.perf_counter() - t
    assert result.exit_status == 0, result
    return elapsed


def main() -> int:
    """Run the benchmarks and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke test, noisier)")
    parser.add_argument("--arches", help=f"comma-separated arches to measure (default: {','.join(SYSCALL_LOOP)})")
    args = parser.parse_args()
    n_calls = 20_000 if args.quick else 200_000
    n_loop = 10_000_000 if args.quick else 50_000_000  # long enough that scheduling noise is small
    runs = 3 if args.quick else 7
    n_steps = 10_000 if args.quick else 100_000
    print(f"{'benchmark':<34} {'arch':<8} {'sandbox':>10} {'baseline':>10} {'ratio':>7}  target")
    ok = True
    parser_arches = args.arches.split(",") if args.arches else list(SYSCALL_LOOP)
    for arch in parser_arches:
        text = source(SYSCALL_LOOP[arch], n_calls)
        sb = best_of(runs, lambda: in_sandbox(arch, text))
        bare = best_of(runs, lambda: bare_unicorn(arch, text, True))
        ratio = (n_calls / sb) / (n_calls / bare)
        ok &= ratio >= 0.8
        print(f"{'syscall throughput (calls/s)':<34} {arch:<8} {n_calls / sb:>10.0f} {n_calls / bare:>10.0f} {ratio:>7.2f}  >= 0.80")
        traced_calls = n_calls // 5  # tracing is slower: fewer calls for the same time
        traced = best_of(runs, lambda: in_sandbox_traced(arch, source(SYSCALL_LOOP[arch], traced_calls)))
        print(f"{'tracing on: calls/s, traced / off':<34} {arch:<8} {traced_calls / traced:>10.0f} "
              f"{n_calls / sb:>10.0f} {(traced_calls / traced) / (n_calls / sb):>7.2f}  (cost, no target)")
        text = source(COMPUTE_LOOP[arch], n_loop)
        sb = best_of(runs, lambda: in_sandbox(arch, text))
        bare = best_of(runs, lambda: bare_unicorn(arch, text, True))
        ratio = bare / sb
        ok &= ratio >= 0.95
        print(f"{'compute loop (bare time / sandbox)':<34} {arch:<8} {sb:>9.3f}s {bare:>9.3f}s {ratio:>7.2f}  >= 0.95")
        budgeted = best_of(runs, lambda: in_sandbox(arch, text, max_insns=1 << 62))
        print(f"{'--max-insns on: time off / on':<34} {arch:<8} {budgeted:>9.3f}s {sb:>9.3f}s "
              f"{sb / budgeted:>7.2f}  (cost, no target)")
        text = source(COMPUTE_LOOP[arch], n_loop)
        sb = best_of(runs, lambda: stepping(arch, text, n_steps, bare=False))
        bare = best_of(runs, lambda: stepping(arch, text, n_steps, bare=True))
        ratio = bare / sb
        ok &= ratio >= 0.3
        print(f"{'single steps (steps/s)':<34} {arch:<8} {n_steps / sb:>10.0f} {n_steps / bare:>10.0f} {ratio:>7.2f}  >= 0.30")
    ok &= file_benchmarks(runs)
    print("all targets met" if ok else "some targets missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
