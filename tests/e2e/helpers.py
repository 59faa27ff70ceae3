"""Running the command line, and the qemu-user oracle, for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
QEMU = {"x86_64": "qemu-x86_64", "aarch64": "qemu-aarch64"}


def sandbox_cli(*args: str, stdin: bytes = b"", cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``python -m sandbox ARGS`` and capture everything."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args], input=stdin, capture_output=True, cwd=cwd, env=env, timeout=timeout
    )


def qemu_for(arch: str) -> str | None:
    """The qemu-user binary for ``arch`` if it is installed."""
    return shutil.which(QEMU[arch])


def run_under_qemu(arch: str, elf: Path, args: list[str], stdin: bytes = b"", cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run an ELF under qemu-user."""
    qemu = qemu_for(arch)
    assert qemu is not None
    return subprocess.run([qemu, str(elf), *args], input=stdin, capture_output=True, cwd=cwd, timeout=60)
