"""Run one corpus case under the sandbox CLI and under its oracle, and say how they differ.

The oracle is qemu-user, run inside ``qemu_namespace.py`` (a private user and mount
namespace where a guest's ``execve`` of another foreign program also runs under qemu, and
where the rootfs's ``/bin`` is ``/bin``), or the host's own kernel for the few cases where
qemu-user is not Linux. Both sides get the same argv, stdin, environment and working
directory (``tests/programs``); each side's output is compared as bytes, after removing only
what qemu-user adds by itself.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from .corpus import CACHE, PROGRAMS, ROOT, ROOTFS_ARM64, Case

NAMESPACE = os.path.join(os.path.dirname(__file__), "qemu_namespace.py")
QEMU = {"x86_64": "qemu-x86_64", "aarch64": "qemu-aarch64", "i386": "qemu-i386", "arm": "qemu-arm", "riscv64": "qemu-riscv64"}
# What the host's own kernel runs, by host machine.
NATIVE = {"x86_64": {"x86_64", "i386"}, "aarch64": {"aarch64"}}
FETCH_HINT = "run tests/programs/fetch-debian.sh"

# qemu-user itself reports a guest killed by a signal that dumps core; Linux prints nothing
# (a shell would print its own message, and none runs here).
QEMU_OWN_LINES = re.compile(rb"^qemu: uncaught target signal \d+ \([^)]*\) - core dumped\n", re.M)


@dataclass
class Run:
    """One side's result: the status as a shell shows it (128 + signal), or None on a timeout."""

    status: int | None
    stdout: bytes
    stderr: bytes
    seconds: float

    def summary(self) -> str:
        """``exit N`` or ``timeout``, with the first line of stderr when there is one."""
        head = "timeout" if self.status is None else f"exit {self.status}"
        first = self.stderr.decode(errors="backslashreplace").strip().splitlines()
        return head + (f": {first[0][:60]}" if first else "")


@dataclass
class Outcome:
    """A case's two runs and their difference (None: they match)."""

    case: Case
    sandbox: Run
    oracle: Run | None
    oracle_name: str
    difference: str | None


def applets_dir(arch: str) -> str:
    """Busybox under its applets' names for ``arch`` (made by the fetch script)."""
    return str(CACHE / "applets" / arch)


def guest_env(case: Case) -> dict[str, str]:
    """The environment both sides give the guest: nothing from the caller's."""
    env = {"PATH": f"{applets_dir(case.arch)}:/usr/bin:/bin", "HOME": "/tmp", "TZ": "UTC"}
    if case.rootfs:
        # qemu-user finds a child's libraries through this (the namespace's execve carries no
        # -L); the sandbox gets it too, so that both guests see the same environment
        env["QEMU_LD_PREFIX"] = str(ROOTFS_ARM64)
    return env


def program_argument(case: Case) -> str:
    """The program as both sides name it (argv[0]): relative for the committed binaries."""
    return case.program if case.program.startswith("bin/") else str(case.path)


# Options given to every sandbox run, e.g. ["--kernel", "host"] (report.py --kernel).
EXTRA_OPTIONS: list[str] = []


def sandbox_command(case: Case, seed: int | None = None) -> list[str]:
    """``python -m sandbox run ...`` for ``case``."""
    cmd = [sys.executable, "-m", "sandbox", "run", "--clear-env"]
    for key, value in guest_env(case).items():
        cmd += ["--env", f"{key}={value}"]
    cmd += ["--timeout", str(case.timeout)]
    applets = applets_dir(case.arch)
    if os.path.isdir(applets):
        cmd += ["--mount", f"{applets}:{applets}"]
    if case.rootfs:
        # The program's own path must exist in the guest as it does under qemu-user, where the
        # whole host is visible: Python finds its prefix and sys.executable from it.
        cmd += ["--rootfs", str(ROOTFS_ARM64), "--mount", f"{ROOTFS_ARM64}:{ROOTFS_ARM64}"]
    cmd += list(case.sandbox_options) + EXTRA_OPTIONS
    if seed is not None:
        cmd += ["--seed", str(seed)]
    return cmd + [program_argument(case), *case.args]


@functools.lru_cache(maxsize=None)
def namespace_problem(rootfs: bool = False) -> str | None:
    """Why qemu_namespace.py cannot work on this host (with the rootfs shown, if asked), or None."""
    shown = ["--rootfs", str(ROOTFS_ARM64)] if rootfs else []
    try:
        r = subprocess.run([sys.executable, NAMESPACE, *shown, "--", "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None if r.returncode == 0 else (r.stderr.decode(errors="replace").strip() or f"exit {r.returncode}")


def host_runs(arch: str) -> bool:
    """Whether the host's kernel runs ``arch``'s programs itself."""
    return sys.platform.startswith("linux") and arch in NATIVE.get(platform.machine(), set())


def oracle_command(case: Case) -> tuple[list[str], str]:
    """The oracle's command line for ``case``, and the oracle's name."""
    if case.qemu_departs:
        return [program_argument(case), *case.args], "Linux"
    qemu = [QEMU[case.arch]] + (["-L", str(ROOTFS_ARM64)] if case.rootfs else [])
    qemu += [program_argument(case), *case.args]
    if namespace_problem(case.rootfs) is None:
        rootfs = ["--rootfs", str(ROOTFS_ARM64)] if case.rootfs else []
        return [sys.executable, NAMESPACE, *rootfs, "--", *qemu], "qemu-user"
    return qemu, "qemu-user"


def unavailable(case: Case) -> str | None:
    """Why ``case`` cannot run on this host (its inputs, its oracle), or None."""
    if not case.path.is_file():
        where = case.path.relative_to(ROOT)
        return f"{where} is missing ({FETCH_HINT})" if str(where).startswith(".cache") else f"{where} is missing"
    if case.qemu_departs:
        return None if host_runs(case.arch) else f"{case.qemu_departs}, and this host cannot run {case.arch} itself"
    if shutil.which(QEMU[case.arch]) is None:
        return f"{QEMU[case.arch]} is not installed (apt-get install qemu-user)"
    problem = namespace_problem(case.rootfs)
    if "execve" in case.needs and not host_runs(case.arch) and problem is not None:
        return f"qemu-user cannot run the guest's {case.arch} children here ({problem})"
    return None


def run(argv: list[str], env: dict[str, str], stdin: bytes, timeout: float) -> Run:
    """Run ``argv`` in tests/programs with no controlling terminal; kill its whole session on a timeout."""
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=PROGRAMS, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
        status = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        status = None
    return Run(status, out, err, time.monotonic() - start)


def run_sandbox(case: Case, seed: int | None = None) -> Run:
    """The case under the sandbox CLI (with the project on PYTHONPATH, whatever is installed)."""
    env = dict(PATH=os.environ.get("PATH", "/usr/bin:/bin"), PYTHONPATH=str(ROOT))
    # the sandbox stops the guest at case.timeout; this margin only catches a hung sandbox
    return run(sandbox_command(case, seed), env, case.stdin, case.timeout + 15)


def run_oracle(case: Case) -> tuple[Run, str]:
    """The case under its oracle, with qemu-user's own lines taken out."""
    argv, name = oracle_command(case)
    r = run(argv, guest_env(case), case.stdin, case.timeout)
    if name == "qemu-user":
        r.stderr = QEMU_OWN_LINES.sub(b"", r.stderr)
    return r, name


def _show(line: bytes) -> str:
    text = line.decode(errors="backslashreplace")
    return repr(text if len(text) <= 70 else text[:67] + "...")


def first_difference(what: str, ours: bytes, theirs: bytes, oracle: str) -> str | None:
    """The first line (or, for binary data, the first byte) where two outputs differ."""
    if ours == theirs:
        return None
    if b"\0" in ours or b"\0" in theirs:
        at = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        return f"{what} differs at byte {at} of {len(ours)} (the {oracle}'s has {len(theirs)})"
    mine, other = ours.splitlines(keepends=True), theirs.splitlines(keepends=True)
    for number, (a, b) in enumerate(zip(mine, other), 1):
        if a != b:
            return f"{what} line {number}: {_show(a)}, {oracle}: {_show(b)}"
    number = min(len(mine), len(other)) + 1
    if len(mine) > len(other):
        return f"{what} line {number}: {_show(mine[number - 1])}, {oracle}: nothing"
    return f"{what} line {number}: nothing, {oracle}: {_show(other[number - 1])}"


def difference(ours: Run, theirs: Run, oracle: str) -> str | None:
    """How the sandbox's run differs from the oracle's: the status first, then stdout, then stderr."""
    if ours.status != theirs.status:
        # the first line of output that differs tells more than the status alone
        detail = first_difference("stdout", ours.stdout, theirs.stdout, oracle)
        return f"{ours.summary()}, {oracle}: {theirs.summary()}" + (f"; {detail}" if detail else "")
    return first_difference("stdout", ours.stdout, theirs.stdout, oracle) or first_difference(
        "stderr", ours.stderr, theirs.stderr, oracle
    )


# A racy count has no right value: the oracle's output is compared with every number masked.
_NUMBERS = re.compile(rb"\d+")


def check_deterministic(case: Case, repeats: int) -> tuple[Run, Run, str | None]:
    """The sandbox's runs of a racy case: the same with one seed, not the same with every seed.

    Returns the first sandbox run, the oracle's run and the difference (None: as required).
    """
    theirs, name = run_oracle(case)
    first = run_sandbox(case, seed=1)
    masked = Run(first.status, _NUMBERS.sub(b"N", first.stdout), first.stderr, first.seconds)
    shape = Run(theirs.status, _NUMBERS.sub(b"N", theirs.stdout), theirs.stderr, theirs.seconds)
    problem = difference(masked, shape, name)
    if problem:
        return first, theirs, problem
    for attempt in range(2, repeats + 1):
        again = run_sandbox(case, seed=1)
        if (again.status, again.stdout, again.stderr) != (first.status, first.stdout, first.stderr):
            return first, theirs, f"run {attempt} with --seed 1 differs: " + (
                difference(again, first, "run 1") or "in its status")
    others = [run_sandbox(case, seed=s).stdout for s in (2, 3, 4)]
    if all(out == first.stdout for out in others):
        return first, theirs, "--seed 2, 3 and 4 print what --seed 1 prints: the seed does not change the schedule"
    return first, theirs, None


def run_case(case: Case, repeats: int = 3) -> Outcome:
    """Run ``case`` both ways (the caller has checked :func:`unavailable`) and compare."""
    if case.check == "deterministic":
        ours, theirs, problem = check_deterministic(case, repeats)
        return Outcome(case, ours, theirs, "qemu-user", problem)
    theirs, name = run_oracle(case)
    ours = run_sandbox(case)
    return Outcome(case, ours, theirs, name, difference(ours, theirs, name))
