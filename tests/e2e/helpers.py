"""Running the command line, and the qemu-user oracle, for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
QEMU = {"x86_64": "qemu-x86_64", "aarch64": "qemu-aarch64", "i386": "qemu-i386", "arm": "qemu-arm", "riscv64": "qemu-riscv64"}


def sandbox_cli(*args: str, stdin: bytes = b"", cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``python -m sandbox ARGS`` and capture everything."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args], input=stdin, capture_output=True, cwd=cwd, env=env, timeout=timeout
    )


def qemu_for(arch: str) -> str | None:
    """The qemu-user binary for ``arch`` if it is installed."""
    return shutil.which(QEMU[arch])


def run_under_qemu(
    arch: str, elf: Path, args: list[str], stdin: bytes = b"", cwd: Path = ROOT, *, rootfs: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run an ELF under qemu-user (with ``-L rootfs`` for a dynamic one), with no controlling
    terminal, as the sandbox's guest has none; the return code is a shell's (128 + signal)."""
    qemu = qemu_for(arch)
    assert qemu is not None
    extra = ["-L", rootfs] if rootfs else []
    r = subprocess.run(
        [qemu, *extra, str(elf), *args], input=stdin, capture_output=True, cwd=cwd, timeout=60,
        env=env, start_new_session=True,
    )
    return shell_status(r)


def run_natively(elf: Path, args: list[str], stdin: bytes = b"", cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run an ELF on the host itself (the real kernel as the oracle), with no controlling terminal."""
    r = subprocess.run([str(elf), *args], input=stdin, capture_output=True, cwd=cwd, timeout=60, start_new_session=True)
    return shell_status(r)


def shell_status(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """``r`` with a signal's negative return code turned into what a shell shows (128 + signal)."""
    if r.returncode < 0:
        r.returncode = 128 - r.returncode
    return r


PROGRAMS = ROOT / "tests" / "programs"


def program(name: str, arch: str) -> Path:
    """A committed test binary: ``tests/programs/bin/NAME.ARCH``."""
    return PROGRAMS / "bin" / f"{name}.{arch}"


def busybox_for(arch: str) -> Path | None:
    """Debian's static busybox for ``arch``, where .ci/run (or tests/programs/fetch-busybox.sh) put it.

    ``SANDBOX_BUSYBOX_DIR`` names another directory holding ``busybox.x86_64``/``busybox.aarch64``.
    """
    folder = Path(os.environ.get("SANDBOX_BUSYBOX_DIR") or ROOT / ".cache" / "busybox")
    path = folder / f"busybox.{arch}"
    return path if path.is_file() else None


# The backends every oracle comparison runs with: the kernel model, and the real host behind
# the default policy (the current directory read-only) with a private directory as /tmp.
BACKENDS = ["model", "host"]


def backend_options(backend: str, tmp: Path) -> list[str]:
    """The command-line options that select ``backend`` (``tmp`` is the guest's /tmp in host mode)."""
    if backend == "model":
        return []
    return ["--kernel", "host", "--mount", f"{tmp}:/tmp:rw"]


def backend_kwargs(backend: str, tmp: Path) -> dict:
    """The :class:`sandbox.Sandbox` arguments that select ``backend``."""
    if backend == "model":
        return {}
    return {"kernel": "host", "mounts": [f"{tmp}:/tmp:rw"]}
