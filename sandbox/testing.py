"""Testing guest code: a sandbox whose results check themselves, and golden traces.

The pytest plugin (:mod:`sandbox.pytest_plugin`) hands each test a :class:`CheckedSandbox`;
this module also works without pytest::

    from sandbox.testing import CheckedSandbox, assert_trace_matches

    sb = CheckedSandbox("riscv64")
    r = sb.run_asm(sb.stub("write", 1, b"hi\\n", 3))
    r.expect_calls("write", "exit")
    r.expect_call("write", fd=1, count=3, ret=3)
    assert_trace_matches(r, "golden/write.{arch}.trace")

Every ``expect_*`` failure is an ``AssertionError`` whose message ends with the run's trace.

The trace text comes from one function, :func:`format_trace`; golden files hold it after
:func:`normalize_trace`. Reproducible by default: a :class:`CheckedSandbox` has fixed ids
(pid 1000, uid/gid 1000), a seeded random source and virtual time, so the same code gives the
same trace on every host.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any

from kernel_model.process import Identity
from sandbox.api import RunResult, Sandbox
from sandbox.arch import Arch
from sandbox.records import SyscallRecord
from sandbox.trace import strace_lines

UPDATE_ENV = "SANDBOX_UPDATE_GOLDEN"


class CheckedResult(RunResult):
    """A :class:`RunResult` with assertion helpers whose failures show the trace."""

    def trace(self) -> str:
        """The run's strace-style trace (see :func:`format_trace`)."""
        return format_trace(self)

    def fail(self, message: str) -> AssertionError:
        """An AssertionError carrying ``message`` and the trace."""
        return AssertionError(f"{message}\n\n{self.arch} trace:\n{self.trace()}")

    def errnos(self) -> list[str | None]:
        """Each call's errno name (None for a success), in order."""
        return [r.errno for r in self.syscalls]

    def call(self, name: str, nth: int = 0) -> SyscallRecord:
        """The ``nth`` call to ``name`` (0: the first); fails when there is no such call."""
        calls = self.calls(name)
        if len(calls) <= nth:
            raise self.fail(f"expected at least {nth + 1} call(s) to {name}, the guest made {len(calls)}")
        return calls[nth]

    def expect_calls(self, *names: str) -> "CheckedResult":
        """Check the system calls made, in order, are exactly ``names``."""
        if self.names() != list(names):
            diff = "\n".join(difflib.unified_diff(list(names), self.names(), "expected", "made", lineterm="", n=9))
            raise self.fail(f"the calls differ:\n{diff}")
        return self

    def expect_call(self, name: str, nth: int = 0, **expected: Any) -> SyscallRecord:
        """Check the ``nth`` call to ``name``: its decoded arguments by parameter name, and
        ``ret=`` / ``errno=`` (an errno name, or None for a success)."""
        record = self.call(name, nth)
        actual = dict(record.decoded, ret=record.ret, errno=record.errno)
        wrong = {k: (v, actual.get(k, "<no such parameter>")) for k, v in expected.items() if actual.get(k, _MISSING) != v}
        if wrong:
            lines = [f"  {k}: expected {want!r}, got {got!r}" for k, (want, got) in wrong.items()]
            raise self.fail(f"{name} call #{nth} ({record}) differs:\n" + "\n".join(lines))
        return record

    def expect_errno(self, name: str, errno: str | None, nth: int = 0) -> SyscallRecord:
        """Check the ``nth`` call to ``name`` failed with ``errno`` (a name; None: it succeeded)."""
        return self.expect_call(name, nth, errno=errno)

    def expect_exit(self, status: int = 0) -> "CheckedResult":
        """Check the guest exited (not killed by a signal) with ``status``."""
        if self.signal is not None or self.exit_status != status:
            how = f"was killed by {self.signal}" if self.signal else f"exited with {self.exit_status}"
            raise self.fail(f"expected exit status {status}, the guest {how}")
        return self


_MISSING = object()


class CheckedSandbox(Sandbox):
    """A :class:`Sandbox` for tests: reproducible by default, results are :class:`CheckedResult`.

    ``results`` keeps every finished run (the pytest plugin shows their traces when a test
    fails). Any :class:`Sandbox` option can be given; ``identity``, ``seed`` and
    ``virtual_time`` default to fixed values instead of the host's, and ``trace`` to on.
    """

    def __init__(self, arch: str | Arch = "x86_64", **options: Any) -> None:
        options.setdefault("identity", Identity())
        options.setdefault("seed", 0)
        options.setdefault("virtual_time", True)
        options.setdefault("trace", True)  # traces show strings and structs, not addresses
        super().__init__(arch, **options)
        self.results: list[CheckedResult] = []

    def result(self) -> CheckedResult:
        """The outcome of the current process, with assertion helpers."""
        base = super().result()
        checked = CheckedResult(**{f.name: getattr(base, f.name) for f in fields(base)})
        if self.machine is not None and self.machine.exit is not None:
            if not self.results or self.results[-1]._log is not checked._log:
                self.results.append(checked)
        return checked

    def traces(self) -> list[tuple[str, str]]:
        """(title, trace) for each finished run, and for the calls of a process still running."""
        out = [(f"run {i + 1}", r.trace()) for i, r in enumerate(self.results)]
        machine = self.machine
        if machine is not None and machine.log and not any(r._log is machine.log for r in self.results):
            out.append(("calls so far in the current process", format_trace(super().result())))
        return out


# -- the trace text ----------------------------------------------------------------------------


def format_trace(result: RunResult) -> str:
    """A run as strace prints it (:func:`sandbox.trace.strace_lines`): one line per call, and how
    it ended. This is the one place the trace text is made; golden files compare its output.
    Strings and structs show when the run was traced (a :class:`CheckedSandbox` always is).
    """
    return "\n".join(strace_lines(result)) + "\n"


_ADDRESS_FLOOR = 0x10000  # vm.mmap_min_addr: nothing is mapped below it
_HEX = re.compile(r"\b0x[0-9a-f]+\b")


def normalize_trace(text: str, *, mask_addresses: bool = True) -> str:
    """The trace as a golden file holds it: no trailing blanks, one final newline, and (with
    ``mask_addresses``) every address (a hex number from 0x10000 up) written ``<addr>``, so
    one golden file can serve arches that place memory differently."""
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    if mask_addresses:
        lines = [_HEX.sub(lambda m: "<addr>" if int(m.group(), 16) >= _ADDRESS_FLOOR else m.group(), line) for line in lines]
    return "\n".join(lines) + "\n"


# -- golden files ------------------------------------------------------------------------------

_update = bool(os.environ.get(UPDATE_ENV))
_base_dir: Path | None = None


def set_update_golden(on: bool) -> None:
    """Rewrite golden files instead of comparing with them (``pytest --sandbox-update-golden``)."""
    global _update
    _update = on


def set_golden_base(directory: str | os.PathLike[str] | None) -> None:
    """The directory relative golden paths start from (the plugin sets the running test's)."""
    global _base_dir
    _base_dir = Path(directory) if directory is not None else None


def golden_path(path: str | os.PathLike[str], arch: str) -> Path:
    """Where a golden file is: ``{arch}`` filled in, relative to the running test's directory."""
    p = Path(str(path).replace("{arch}", arch))
    if not p.is_absolute():
        p = (_base_dir or Path.cwd()) / p
    return p


def assert_trace_matches(result: RunResult, path: str | os.PathLike[str], *, mask_addresses: bool = True) -> None:
    """Check the run's normalised trace equals the golden file at ``path``.

    ``path`` may contain ``{arch}`` (one file per arch) and is relative to the test file's
    directory. With ``pytest --sandbox-update-golden`` (or ``SANDBOX_UPDATE_GOLDEN=1``) the
    file is written instead; a missing file is an error that says how to create it.
    """
    text = normalize_trace(format_trace(result), mask_addresses=mask_addresses)
    target = golden_path(path, result.arch)
    if _update:
        if not target.exists() or target.read_text() != text:
            _write_atomically(target, text)
        return
    if not target.exists():
        raise AssertionError(
            f"golden trace {target} does not exist; run pytest --sandbox-update-golden to create it.\n\n"
            f"{result.arch} trace:\n{text}"
        )
    stored = target.read_text()
    if stored != text:
        diff = "".join(difflib.unified_diff(stored.splitlines(True), text.splitlines(True), str(target), "this run"))
        raise AssertionError(
            f"the {result.arch} trace differs from {target} (pytest --sandbox-update-golden rewrites it):\n{diff}"
        )


def _write_atomically(target: Path, text: str) -> None:
    # Parallel workers (pytest-xdist) may write the same file: each writes a private
    # temporary file and renames it into place, so a reader never sees half a file.
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
