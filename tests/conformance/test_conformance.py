"""ABI conformance: every implemented system call, with good and bad arguments, on every arch.

Each arch's checks (conformance_checks.py) become one static ELF (conformance_program.py) that
runs once in the sandbox and, where qemu-user is installed, once under ``qemu-<arch>`` in the
same directory (restored in between). For every check the sandbox must give Linux's answer
(the check's expectation) and, with qemu, the same return register and the same bytes in its
output buffers as qemu gives; the program's own output to stdout must agree too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conformance_checks import CHECKS, FILES
from conformance_program import Check, OpenFlags, Outcome, Program, build_program, masked, parse_output

import kernel_model  # noqa: F401 - registers every handler
from kernel_model.abi import abi_for
from kernel_model.linux_errno import Errno
from kernel_model.registry import REGISTRY
from sandbox import ARCHES, Sandbox, get_arch
from sandbox.arch.syscalls import syscall_table

QEMU = {"x86_64": "qemu-x86_64", "aarch64": "qemu-aarch64", "i386": "qemu-i386", "arm": "qemu-arm",
        "riscv64": "qemu-riscv64"}
# Calls with no arguments cannot be given bad ones; these have no failure to provoke.
NO_BAD_ARGUMENTS = {
    "brk": "brk never fails: it returns the current break",
    "umask": "every mask is accepted",
    "alarm": "every number of seconds is accepted (0 disarms)",
    "nice": "every increment is accepted (clamped); only a lower value can fail, for want of privilege",
    "set_tls": "every value is a valid thread pointer",
    "set_tid_address": "every address is accepted (it is only written when the thread ends)",
    "pipe": "its one argument can only be a bad pointer",
    "eventfd": "every initial count is accepted",
}
# Calls whose checks would end the program: the program itself ends with exit_group(0).
ENDS_THE_PROGRAM = {"exit", "exit_group", "rt_sigreturn", "sigreturn"}
# Calls whose good arguments do not fit one straight sequence of checks in one process: a new
# process would run the rest of the checks too, a new program would replace them, and a
# wait for a signal only another process could send never ends. Their bad arguments are
# checked here; what they do is compared with qemu-user by the acceptance corpus
# (tests/acceptance: fork-wait, fork-exec, vfork, posix-spawn, threads, sigchld...) and
# tested in tests/kernel/test_tasks.py.
NEEDS_ANOTHER_PROCESS = {
    "clone": "a second process or thread", "clone3": "a second process or thread",
    "fork": "a second process", "vfork": "a second process",
    "execve": "replaces the program", "execveat": "replaces the program",
    "pause": "waits for a signal from another process", "rt_sigsuspend": "waits for a signal from another process",
}
# Calls the model deliberately answers one way (see their notes in the README's table).
NOT_MODELLED = {
    "rseq": "always ENOSYS, as a kernel before 4.18",
}
# Calls whose good arguments make a socket that reaches the network or a Unix path: the
# conformance run grants neither (their bad arguments are checked; tests/host covers them).
NEEDS_A_NETWORK_OR_A_PATH = {
    "socket": "TCP and UDP need [network] allow, Unix sockets on paths are not made",
    "connect": "a socket to connect needs the network", "bind": "a socket to bind needs the network",
    "listen": "a socket to listen on needs the network", "accept": "a listening socket needs the network",
    "accept4": "a listening socket needs the network",
}


@dataclass
class Runs:
    """One arch's program and what it did in the sandbox and under qemu (None: not installed)."""

    program: Program
    sandbox: Outcome
    qemu: Outcome | None
    qemu_raw: subprocess.CompletedProcess | None


_RUNS: dict[str, Runs] = {}  # by "arch" (the kernel model) or "arch/host" (host mode)
BACKENDS = ("model", "host")


def _populate(root: Path) -> None:
    for name, content in FILES.items():
        path = root / name
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
        elif isinstance(content, str) and content.startswith("->"):
            path.symlink_to(content[2:])
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)


def _restore(root: Path, original: set[str]) -> None:
    # Remove what a run created, keeping the original files (and so their inode numbers).
    for entry in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
        rel = entry.relative_to(root).as_posix()
        if rel not in original and not any(rel.startswith(o + "/") for o in original if (root / o).is_dir()):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def runs(arch_name: str, backend: str = "model") -> Runs:
    """Run ``arch_name``'s conformance program in one kernel mode (once per test session).

    Host mode is the real host behind a policy granting the run's directory read-write (and
    qemu's run is the same in both), so the two modes answer every check the same way.
    """
    key = arch_name if backend == "model" else f"{arch_name}/host"
    if key in _RUNS:
        return _RUNS[key]
    arch = get_arch(arch_name)
    program = build_program(arch, CHECKS)
    with tempfile.TemporaryDirectory() as bin_dir, tempfile.TemporaryDirectory() as work:
        elf = Path(bin_dir) / f"conformance.{arch_name}"
        elf.write_bytes(program.elf)
        elf.chmod(0o755)
        root = Path(work)
        _populate(root)
        original = {p.relative_to(root).as_posix() for p in root.rglob("*")}
        qemu_outcome = qemu_raw = None
        qemu = shutil.which(QEMU[arch_name])
        if qemu is not None:
            # A process group of its own, as the sandbox's process has (a shell's job): it
            # leads its group, not its session.
            qemu_raw = subprocess.run([qemu, str(elf)], cwd=root, input=b"", capture_output=True, timeout=120,
                                      preexec_fn=os.setpgrp)
            qemu_outcome = parse_output(program, qemu_raw.stdout, qemu_raw.returncode)
            _restore(root, original)
        if backend == "host":
            from kernel_model.host import policy_from_dict

            policy = policy_from_dict({"paths": {os.path.realpath(root): "rw", os.path.realpath(bin_dir): "ro"}})
            sb = Sandbox(arch, kernel="host", cwd=str(root), policy=policy, stdin=b"")
        else:
            sb = Sandbox(arch, cwd=str(root), mounts=[f"{root}:{os.path.realpath(root)}:rw"], stdin=b"")
        result = sb.run_file(str(elf))
        outcome = parse_output(program, result.stdout or b"", result.exit_status)
        assert outcome is not None, f"the {arch_name} program did not finish in the sandbox ({backend}): {result}"
    _RUNS[key] = Runs(program, outcome, qemu_outcome, qemu_raw)
    return _RUNS[key]


CASES = [(a, b, i, c) for b in BACKENDS for a in ARCHES for i, c in enumerate(c for c in CHECKS if c.runs_on(get_arch(a)))]


def _expectation_holds(check: Check, ret: int, arch: str) -> bool:
    if check.expect in ("ok", "ok-any"):
        return ret >= 0
    if isinstance(check.expect, str):
        return ret == -int(Errno[check.expect])
    if isinstance(check.expect, OpenFlags):
        return ret == check.expect.value(get_arch(arch))
    return ret == check.expect


def _describe(ret: int) -> str:
    if -4096 < ret < 0:
        return f"{ret} ({Errno(-ret).name})"
    return f"{ret} ({ret:#x})"


def agrees_with_qemu(run: Runs, index: int, check: Check) -> tuple[bool, str]:
    """Whether the sandbox and qemu gave the same answer to one check, and how they differ."""
    assert run.qemu is not None
    ours, theirs = run.sandbox.returns[index], run.qemu.returns[index]
    if check.expect == "ok-any":
        same = (ours >= 0) == (theirs >= 0)
    else:
        same = ours == theirs
    if not same:
        return False, f"return register: sandbox {_describe(ours)}, qemu {_describe(theirs)}"
    bufs = run.program.outputs.get(index, [])
    for n, ((_, out), mine, qemus) in enumerate(zip(bufs, run.sandbox.outputs.get(index, []), run.qemu.outputs.get(index, []))):
        ignore = out.ignore(run.program.arch) if out.ignore else []
        if masked(mine, ignore) != masked(qemus, ignore):
            return False, f"output buffer {n}: sandbox {mine.hex()}, qemu {qemus.hex()}"
    return True, ""


@pytest.mark.parametrize("arch,backend,index,check", CASES, ids=[f"{a}-{b}-{c.name}" for a, b, _, c in CASES])
def test_check(arch, backend, index, check):
    run = runs(arch, backend)
    ret = run.sandbox.returns[index]
    assert _expectation_holds(check, ret, arch), f"{check.call}: expected {check.expect}, the sandbox returned {_describe(ret)}"
    if run.qemu is None or not check.qemu_is_linux_on(run.program.arch):
        return
    same, difference = agrees_with_qemu(run, index, check)
    assert same, difference


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("arch", list(ARCHES))
def test_the_whole_run_agrees(arch, backend):
    run = runs(arch, backend)
    assert run.sandbox.exit_status == 0
    if run.qemu_raw is None:
        pytest.skip(f"{QEMU[arch]} is not installed")
    assert run.qemu is not None, f"the program did not finish under qemu: {run.qemu_raw.returncode}, {run.qemu_raw.stderr!r}"
    assert (run.sandbox.stdout, run.sandbox.exit_status) == (run.qemu.stdout, run.qemu.exit_status)
    assert run.qemu_raw.stderr == b""


@pytest.mark.parametrize("arch", list(ARCHES))
def test_every_implemented_call_is_checked_with_good_and_bad_arguments(arch):
    a = get_arch(arch)
    served_by = abi_for(arch).served_by
    implemented = {n for n in syscall_table(a).names() if served_by.get(n, n) in REGISTRY}
    implemented -= ENDS_THE_PROGRAM | set(NOT_MODELLED)
    no_good = set(NEEDS_A_NETWORK_OR_A_PATH) | set(NEEDS_ANOTHER_PROCESS)
    mine = [c for c in CHECKS if c.runs_on(a)]
    good = {c.call for c in mine if c.good_arguments}
    bad = {c.call for c in mine if not c.good_arguments}
    without_args = {n for n in implemented if not REGISTRY[served_by.get(n, n)].params}
    assert implemented - good - no_good == set(), "no good-argument check"
    assert implemented - bad - without_args - set(NO_BAD_ARGUMENTS) == set(), "no bad-argument check"
