"""The sandbox's trace against native strace (x86_64) and qemu-aarch64 -strace, line for line.

See oracle.py for what is normalised. The committed test programs of tests/trace/programs
between them make every system call the kernel model implements; a test checks that.
"""

from __future__ import annotations

import re

import pytest
from oracle import (
    CASES,
    ROOT,
    Case,
    Deviation,
    ModelDeviation,
    compare_processes,
    compare_qemu_processes,
    compare_traces,
    compare_with_qemu,
    guest_env,
    load_json_trace,
    make_scratch,
    native_strace_available,
    normalise_pair,
    parse_qemu,
    qemu_processes,
    run_native_strace,
    run_qemu_strace,
    run_sandbox_trace,
)

import kernel_model  # noqa: F401 - registers the handlers
from kernel_model.registry import REGISTRY
from sandbox import Sandbox
from sandbox.arch import get_arch
from sandbox.arch.syscalls import syscall_table
from sandbox.assembler import assemble
from sandbox.elfwriter import build_elf
from sandbox.program import read_program

NATIVE = native_strace_available()
# Where qemu-user itself differs from Linux (native strace of the x86_64 twin shows Linux's answer).
QEMU_DEVIATIONS = [
    Deviation("fcntl", r"F_GETFL", "qemu drops O_LARGEFILE from F_GETFL; arm64 Linux sets it (force_o_largefile)"),
    Deviation("ioctl", r",0x1234,", "qemu answers unknown ioctl requests with ENOSYS; Linux with ENOTTY"),
    Deviation("read", r"read\(42,0x10,", "qemu checks the buffer before the descriptor (EFAULT); Linux gives EBADF"),
    Deviation("set_robust_list", r"", "qemu-user has no robust futex list: ENOSYS"),
    Deviation("get_robust_list", r"", "qemu-user has no robust futex list: ENOSYS"),
    Deviation("execve", r"errno=8 ", "qemu-user hands execve to the host kernel, which runs no aarch64 program "
                                     "without binfmt_misc (ENOEXEC); tasks then goes on as the new program would"),
    Deviation("execveat", r"errno=38 ", "qemu-user 7.2 has no execveat: ENOSYS"),
    Deviation("rt_sigreturn", r"errno=513 ", "qemu prints its own QEMU_ESIGRETURN (513); the call returns to the "
                                             "interrupted code, whose register the sandbox shows"),
]
# Calls qemu-user 7.2 does not have at all (it prints "Unknown syscall N" and answers ENOSYS).
QEMU_LACKS = {
    "clone3": "qemu-user 7.2 has no clone3 (ENOSYS): there is no child, so the waits after it find none",
}
# Where the kernel model answers otherwise than Linux on purpose (its handler's note says why):
# on these lines only the call must be the same.
MODEL_DEVIATIONS = [
    ModelDeviation(r"^rseq\(", "rseq answers ENOSYS, as a kernel before 4.18 does; libc then does without"),
]
# Programs whose x86_64 and aarch64 builds make the same calls (generated from one description).
TWINS = {"files", "paths", "memory", "process", "errors", "crash", "misc", "tasks"}
EXAMPLE_RUNS = [("hello", []), ("write-errors", []), ("raw-syscall", []), ("cat", ["data.txt", "missing"])]


def example_case(name: str, args: list[str], tmp_path) -> Case:
    files = {}
    tmp_path.mkdir(parents=True, exist_ok=True)
    for arch in ("x86_64", "aarch64"):
        prog = read_program(str(ROOT / "examples" / name / f"{name}.{arch}.s"))
        elf = tmp_path / f"{name}.{arch}"
        elf.write_bytes(build_elf(prog.arch, assemble(prog.arch, prog.text)))
        elf.chmod(0o755)
        files[arch] = elf
    return Case(name, files, args)


def cases_for(arch: str):
    return [pytest.param(c, id=c.name) for c in CASES if arch in c.arches]


def compare_native(case: Case, tmp_path) -> None:
    if NATIVE is not None:
        pytest.skip(NATIVE)
    program = case.files["x86_64"]
    env = guest_env(case)
    # Scratch directories of the same length, so getcwd's results agree.
    native, native_status = run_native_strace(program, make_scratch(tmp_path / "1" / "run"), case.args, case.stdin, env,
                                              follow=case.processes)
    ours, our_status = run_sandbox_trace(program, make_scratch(tmp_path / "2" / "run"), case.args, case.stdin, "strace",
                                         env)
    assert len(native) > 2, native  # execve, some calls, the end
    native = [line.replace(str(tmp_path / "1" / "run"), "SCRATCH") for line in native]
    ours = [line.replace(str(tmp_path / "2" / "run"), "SCRATCH") for line in ours]
    if case.processes:
        problems = compare_processes(native, ours, MODEL_DEVIATIONS, case.libc)
    else:
        problems = compare_traces(*normalise_pair(native, ours, case.libc), MODEL_DEVIATIONS)
    assert not problems, "\n".join(problems)
    assert our_status == (128 - native_status if native_status < 0 else native_status)


@pytest.mark.parametrize("case", cases_for("x86_64"))
def test_x86_64_trace_matches_native_strace(case, tmp_path):
    compare_native(case, tmp_path)


@pytest.mark.parametrize("name,args", EXAMPLE_RUNS)
def test_x86_64_example_trace_matches_native_strace(name, args, tmp_path):
    compare_native(example_case(name, args, tmp_path / "elf"), tmp_path)


def compare_qemu(case: Case, arch: str, tmp_path) -> None:
    import shutil

    from oracle import QEMU

    if shutil.which(QEMU[arch]) is None:
        pytest.skip(f"{QEMU[arch]} is not installed")
    if case.processes and shutil.which("strace") is None:
        pytest.skip("telling qemu's processes apart takes strace, which is not installed")
    program = case.files[arch]
    env = guest_env(case)
    qemu_lines, qemu_status = run_qemu_strace(arch, program, make_scratch(tmp_path / "1" / "run"), case.args,
                                              case.stdin, env, follow=case.processes)
    ours, our_status = run_sandbox_trace(program, make_scratch(tmp_path / "2" / "run"), case.args, case.stdin, "json",
                                         env)
    if case.processes:
        by_process = qemu_processes(qemu_lines)
        qemu_other = [line for lines in by_process.values() for line in lines if line.startswith(("--- ", "+++ "))]
        problems = compare_qemu_processes(arch, by_process, load_json_trace(ours), QEMU_DEVIATIONS, QEMU_LACKS)
    else:
        qemu_calls, qemu_other = parse_qemu(qemu_lines)
        assert qemu_calls, qemu_lines
        problems = compare_with_qemu(arch, qemu_calls, load_json_trace(ours), QEMU_DEVIATIONS)
    assert not problems, "\n".join(problems)
    assert our_status == (128 - qemu_status if qemu_status < 0 else qemu_status)
    signals = [line for line in qemu_other if line.startswith("--- SIGSEGV")]
    if signals:  # qemu prints si_code as a number and a padded address
        text, _ = run_sandbox_trace(program, make_scratch(tmp_path / "3" / "run"), case.args, case.stdin, "strace", env)
        ours_sig = [line for line in text if line.startswith("--- SIGSEGV")]
        assert len(ours_sig) == 1 and signals[0].split("{")[0] == ours_sig[0].split("{")[0]
        addr = int(re.search(r"si_addr=(0x[0-9a-f]+)", signals[0]).group(1), 16)
        assert f"si_code=SEGV_MAPERR, si_addr={addr:#x}" in ours_sig[0] and "si_code=1," in signals[0]


@pytest.mark.parametrize("case", [c for c in cases_for("aarch64") if c.values[0].qemu])
def test_aarch64_trace_matches_qemu_strace(case, tmp_path):
    compare_qemu(case, "aarch64", tmp_path)


@pytest.mark.parametrize("name,args", EXAMPLE_RUNS)
def test_aarch64_example_trace_matches_qemu_strace(name, args, tmp_path):
    compare_qemu(example_case(name, args, tmp_path / "elf"), "aarch64", tmp_path)


@pytest.mark.parametrize("case", [c for c in cases_for("aarch64") if c.values[0].name in TWINS])
def test_aarch64_trace_matches_native_strace_of_the_x86_64_twin(case, tmp_path):
    """The same calls built for both arches print the same strace lines (addresses aside)."""
    case = case
    if NATIVE is not None:
        pytest.skip(NATIVE)
    env = guest_env(case)
    native, _ = run_native_strace(case.files["x86_64"], make_scratch(tmp_path / "1" / "run"), case.args, case.stdin,
                                  env, follow=case.processes)
    ours, _ = run_sandbox_trace(case.files["aarch64"], make_scratch(tmp_path / "2" / "run"), case.args, case.stdin,
                                "strace", env)
    native = [line.replace(str(tmp_path / "1" / "run"), "SCRATCH") for line in native]
    ours = [line.replace(str(tmp_path / "2" / "run"), "SCRATCH") for line in ours]
    strip = lambda lines: [re.sub(r"0x[0-9a-f]+", "0xN", x) for x in lines if not x.startswith("execve(")]  # noqa: E731
    if case.processes:
        problems = compare_processes(native, ours, MODEL_DEVIATIONS, case.libc, transform=strip)
    else:
        problems = compare_traces(*normalise_pair(strip(native), strip(ours), case.libc), MODEL_DEVIATIONS)
    assert not problems, "\n".join(problems)


# Implemented calls no compared program makes, and why.
NOT_COMPARED = {
    "fchmodat2": "Linux 6.6's: Debian 12's strace and qemu-user (the CI's oracles) predate it",
    # Every file has no extended attributes; the twelve calls' answers and order of checks
    # are compared with qemu-user by tests/conformance, call by call.
    **{name: "extended attributes: compared by the conformance checks" for name in (
        "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr", "setxattr", "lsetxattr",
        "fsetxattr", "removexattr", "lremovexattr", "fremovexattr")},
    # The socket calls became the model's with the one syscall layer (a socket pair, and the
    # network where a policy opens it); their lines are compared once the model has Unix
    # sockets of its own (issue 14), which a program can make the same way under strace.
    **{name: "sockets: compared with the model's Unix sockets (issue 14)" for name in (
        "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto", "recvfrom",
        "sendmsg", "recvmsg", "shutdown", "getsockname", "getpeername", "setsockopt", "getsockopt")},
    # Issue 14's event files: compared with qemu-user by tests/conformance (each call, good and
    # bad arguments) and the acceptance corpus (features epoll, Go's poller, Python's asyncio);
    # no program here makes them yet.
    **{name: "epoll and event files: compared by tests/conformance and tests/acceptance" for name in (
        "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd",
        "eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime", "signalfd", "signalfd4")},
}
NOT_COMPARED_ON: dict[str, dict[str, str]] = {}


def calls_made(case: Case, arch: str, tmp_path) -> set[str]:
    """The calls a case's program makes, run (untraced) in the sandbox."""
    cwd = make_scratch(tmp_path / case.name)
    sb = Sandbox(arch, cwd=str(cwd), mounts=[f"{cwd}:{cwd}:rw"], env=guest_env(case), stdin=case.stdin)
    return set(sb.run_file(str(case.files[arch]), [case.name, *case.args]).names())


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_the_compared_programs_make_every_implemented_call(arch, tmp_path):
    """Every call the model implements on the arch is in some program compared with a real tracer."""
    compared = [c for c in CASES if arch in c.arches and (arch == "x86_64" or c.qemu or c.name in TWINS)]
    made = set().union(*(calls_made(c, arch, tmp_path) for c in compared))
    implemented = {n for n in REGISTRY if syscall_table(get_arch(arch)).number(n) is not None}
    excused = set(NOT_COMPARED) | set(NOT_COMPARED_ON.get(arch, {}))
    assert implemented - made - excused == set()
    assert excused & made == set(), "an excused call is compared after all: drop its excuse"


def test_the_committed_programs_are_what_build_py_makes():
    from programs.build import PROGRAMS, Program

    for prog in PROGRAMS:
        assert isinstance(prog, Program)
        for arch in prog.arches:
            source = (ROOT / "tests" / "trace" / "programs" / f"{prog.name}.{arch}.s").read_text()
            assert source == prog.source(get_arch(arch)), f"run python3 tests/trace/programs/build.py ({prog.name})"
            elf = (ROOT / "tests" / "trace" / "programs" / f"{prog.name}.{arch}").read_bytes()
            assert elf == build_elf(get_arch(arch), assemble(get_arch(arch), source))
