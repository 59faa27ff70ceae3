"""Shared fixtures: a kernel on a fake memory, and directories for file tests."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from fakes import KernelHarness  # noqa: E402

# pytester runs small test suites against the pytest plugin (tests/plugin); skip_summary ends
# the run with what would bring the skipped tests in (fetch busybox, install qemu-user...).
pytest_plugins = ["pytester", "skip_summary"]


@pytest.fixture
def hostdir(tmp_path):
    """A host directory with a few files, used as the guest's read-only cwd."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "data.txt").write_bytes(b"Hello world\n")
    (root / "sub").mkdir()
    (root / "sub" / "inner.txt").write_bytes(b"inner\n")
    (root / "empty").write_bytes(b"")
    return root


@pytest.fixture
def kh(hostdir):
    """A kernel (x86_64 layout) whose cwd is ``hostdir``, on a fake memory."""
    return KernelHarness(cwd=str(hostdir))


def tool(name: str) -> str | None:
    """The path of a host tool, or None."""
    return shutil.which(name)
