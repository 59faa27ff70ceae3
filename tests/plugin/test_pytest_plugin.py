"""The pytest plugin, driven through pytester: per-arch instances, --arches, failure traces,
golden files, and running under pytest-xdist."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from sandbox import ARCHES

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ("-p", "sandbox.pytest_plugin")

WRITE_TEST = '''
import pytest

@pytest.mark.arches("x86_64", "aarch64", "riscv64")
def test_write_returns_count(sandbox):
    r = sandbox.run_asm(sandbox.stub("write", 1, b"hi\\n", 3))
    assert r.stdout == b"hi\\n"
    assert r.syscalls[0].ret == 3
'''


@pytest.fixture
def suite(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("SANDBOX_UPDATE_GOLDEN", raising=False)
    return pytester


def test_one_instance_per_arch_with_the_arch_as_id(suite):
    suite.makepyfile(test_w=WRITE_TEST)
    r = suite.runpytest(*PLUGIN, "-v")
    r.assert_outcomes(passed=3)
    r.stdout.fnmatch_lines(["*test_write_returns_count[[]x86_64[]] PASSED*", "*[[]aarch64[]] PASSED*", "*[[]riscv64[]] PASSED*"])


def test_without_a_mark_every_arch_runs(suite):
    suite.makepyfile(test_all="def test_pid(sandbox):\n    assert sandbox.syscall('getpid').ret == 1000\n")
    suite.runpytest(*PLUGIN).assert_outcomes(passed=len(ARCHES))


def test_arches_option_narrows_the_set(suite):
    suite.makepyfile(test_w=WRITE_TEST)
    r = suite.runpytest(*PLUGIN, "--arches", "riscv64,arm64", "-v")
    r.assert_outcomes(passed=2, deselected=1)
    r.stdout.fnmatch_lines(["*[[]aarch64[]] PASSED*", "*[[]riscv64[]] PASSED*"])


def test_unknown_arches_are_usage_errors(suite):
    suite.makepyfile(test_w=WRITE_TEST)
    r = suite.runpytest(*PLUGIN, "--arches", "vax")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*--arches: unknown arch 'vax'*"])
    suite.makepyfile(test_w="import pytest\n@pytest.mark.arches('pdp11')\ndef test_x(sandbox):\n    pass\n")
    r = suite.runpytest(*PLUGIN)
    assert r.ret != 0
    r.stdout.fnmatch_lines(["*unknown arch 'pdp11'*"])


def test_a_failing_test_shows_the_trace(suite):
    suite.makepyfile(test_f='''
import pytest

@pytest.mark.arches("arm")
def test_fails(sandbox):
    r = sandbox.run_asm(sandbox.stub("write", 99, b"x", 1))
    assert r.syscalls[0].ret == 1
''')
    r = suite.runpytest(*PLUGIN)
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*sandbox trace: arm, run 1*", 'write(99, "x", 1)*= -1 EBADF (Bad file descriptor)',
                            "exit(0)*= ?", "+++ exited with 0 +++"])


def test_result_helpers_fail_with_the_trace(suite):
    suite.makepyfile(test_h='''
import pytest

@pytest.mark.arches("i386")
def test_helpers(sandbox):
    r = sandbox.run_asm(sandbox.stub("close", 42))
    r.expect_calls("close", "exit").expect_exit(0)
    r.expect_errno("close", "EBADF")
    r.expect_call("close", fd=42, ret=-9)
    assert r.errnos() == ["EBADF", None]
    r.expect_calls("close", "write")
''')
    r = suite.runpytest(*PLUGIN)
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*the calls differ:*", "*-write*", "*+exit*", "*i386 trace:*", "close(42)*= -1 EBADF*"])


def test_sandbox_options_reach_the_sandbox(suite):
    suite.makepyfile(test_o='''
import pytest

@pytest.mark.arches("riscv64")
@pytest.mark.sandbox_options(stdin=b"typed")
def test_stdin(sandbox):
    buf = bytearray(5)
    assert sandbox.syscall("read", 0, buf, 5).ret == 5 and buf == b"typed"
''')
    suite.runpytest(*PLUGIN).assert_outcomes(passed=1)


GOLDEN_TEST = '''
import pytest
from sandbox.testing import assert_trace_matches

@pytest.mark.arches("x86_64", "arm")
def test_shared(sandbox):
    assert_trace_matches(sandbox.run_asm(sandbox.stub("write", 1, b"hi\\n", 3)), "golden/write.trace")

@pytest.mark.arches("x86_64", "riscv64")
def test_per_arch(sandbox):
    assert_trace_matches(sandbox.run_asm(sandbox.stub("getpid")), "golden/getpid.{arch}.trace", mask_addresses=False)
'''


def test_golden_traces_are_created_compared_and_updated(suite):
    suite.makepyfile(test_g=GOLDEN_TEST)
    r = suite.runpytest(*PLUGIN)
    r.assert_outcomes(failed=4)
    r.stdout.fnmatch_lines(["*golden/write.trace does not exist; run pytest --sandbox-update-golden*"])

    suite.runpytest(*PLUGIN, "--sandbox-update-golden").assert_outcomes(passed=4)
    golden = suite.path / "golden"
    lines = (golden / "write.trace").read_text().splitlines()
    assert [line.split(" = ")[-1] for line in lines[:2]] == ["3", "?"] and lines[2] == "+++ exited with 0 +++"
    assert lines[0].startswith('write(1, "hi\\n", 3) ') and lines[1].startswith("exit(0) ")
    assert (golden / "getpid.riscv64.trace").read_text().split("\n")[0].split() == ["getpid()", "=", "1000"]
    suite.runpytest(*PLUGIN).assert_outcomes(passed=4)

    (golden / "write.trace").write_text((golden / "write.trace").read_text().replace(", 3)", ", 4)"))
    r = suite.runpytest(*PLUGIN)
    r.assert_outcomes(failed=2, passed=2)
    r.stdout.fnmatch_lines(["*trace differs from*write.trace*", '*-write(1, "hi\\n", 4)*', '*+write(1, "hi\\n", 3)*'])
    assert not list(golden.glob(".*"))  # no temporary files left behind


xdist = pytest.mark.skipif(importlib.util.find_spec("xdist") is None, reason="pytest-xdist is not installed")


@xdist
def test_safe_under_xdist(suite):
    suite.makepyfile(test_w=WRITE_TEST, test_g=GOLDEN_TEST)
    r = suite.runpytest_subprocess(*PLUGIN, "-n", "2", "--sandbox-update-golden")
    r.assert_outcomes(passed=7)
    r = suite.runpytest_subprocess(*PLUGIN, "-n", "2", "--arches", "x86_64,riscv64")
    r.assert_outcomes(passed=5)
    assert sorted(p.name for p in (suite.path / "golden").iterdir()) == [
        "getpid.riscv64.trace", "getpid.x86_64.trace", "write.trace"]
