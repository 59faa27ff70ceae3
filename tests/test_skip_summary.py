"""The test run ends by naming what it skipped for want of a tool, and the command that
brings the tool in (the README's test command would otherwise skip 114 busybox tests quietly)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from skip_summary import summary_lines

BUSYBOX = "no busybox for {arch} (run tests/programs/fetch-busybox.sh)"

SKIPPING = f'''
import pytest

@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_applet(arch):
    pytest.skip({BUSYBOX!r}.format(arch=arch))

@pytest.mark.skipif(True, reason="aarch64 qemu-user is not installed")
def test_oracle():
    pass

def test_host():
    pytest.skip("the host cannot run aarch64 code natively")

def test_runs():
    assert True
'''


@pytest.fixture
def suite(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))  # xdist's workers import the plugin too
    pytester.makepyfile(test_skipping=SKIPPING)
    return pytester


def test_the_last_lines_name_each_missing_tool_and_its_command(suite):
    result = suite.runpytest("-p", "skip_summary", "-q")
    result.assert_outcomes(passed=1, skipped=4)
    lines = [line for line in result.outlines if line.strip()]
    assert lines[-2:] == [
        "2 tests skipped for want of Debian's busybox; to run them: tests/programs/fetch-busybox.sh",
        "1 test skipped for want of qemu-user; to run them: sudo apt-get install qemu-user",
    ]
    assert "passed" in lines[-3] and "skipped" in lines[-3]  # pytest's own count comes just before


def test_nothing_is_said_when_nothing_a_tool_would_cure_was_skipped(suite):
    suite.makepyfile(test_skipping="import pytest\ndef test_host():\n    pytest.skip('the host cannot run aarch64 code natively')\n")
    result = suite.runpytest("-p", "skip_summary", "-q")
    assert "for want of" not in result.stdout.str()


@pytest.mark.skipif(importlib.util.find_spec("xdist") is None, reason="pytest-xdist is not installed")
def test_the_summary_counts_every_worker(suite):
    result = suite.runpytest_subprocess("-p", "skip_summary", "-q", "-n", "2")
    assert result.outlines[-2].startswith("2 tests skipped for want of Debian's busybox")


def test_the_real_busybox_skip_reason_is_recognised():
    lines = list(summary_lines([BUSYBOX.format(arch="x86_64")] * 57 + [BUSYBOX.format(arch="aarch64")] * 57))
    assert lines == ["114 tests skipped for want of Debian's busybox; to run them: tests/programs/fetch-busybox.sh"]


def test_this_suite_runs_with_the_summary(request):
    # the README's `python -m pytest -q` gets it: tests/conftest.py loads the plugin (whose
    # collector runs in the process that reports, not in an xdist worker)
    assert request.config.pluginmanager.has_plugin("skip_summary")
    worker = hasattr(request.config, "workerinput")
    assert request.config.pluginmanager.has_plugin("skip-summary") is not worker


def test_a_command_the_skip_reason_names_is_the_one_given():
    reasons = [
        ".cache/static/bash.x86_64 is missing (run tests/programs/fetch-debian.sh)",
        ".cache/busybox/busybox.arm is missing (run tests/programs/fetch-debian.sh)",
        "the frobnicator is missing (run tests/programs/fetch-frob.sh)",
        "qemu-arm is not installed (apt-get install qemu-user)",
    ]
    assert list(summary_lines(reasons)) == [
        "2 tests skipped for want of Debian's programs; to run them: tests/programs/fetch-debian.sh",
        "1 test skipped; to run them: tests/programs/fetch-frob.sh",
        "1 test skipped for want of qemu-user; to run them: sudo apt-get install qemu-user",
    ]
