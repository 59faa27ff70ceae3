"""A pytest plugin: the run ends by saying which tests were skipped for want of a tool, and
the one command that brings each tool in.

The comparisons with qemu-user, gdb, strace and busybox skip quietly when those are missing,
and pytest's own summary only says how many tests were skipped. A new contributor who ran
the README's test command should not have to read a hundred SKIPPED lines to learn that
``tests/programs/fetch-busybox.sh`` turns 114 of them on.

Each kind is recognised by the words of the tests' own skip reasons, or by the command a
reason names (``... (run tests/programs/fetch-debian.sh)``), so that no test has to know this
plugin; a skip that no command can cure (the host cannot run aarch64 code) is left to
pytest's ``-ra`` lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

import pytest


@dataclass(frozen=True)
class Enabler:
    """A tool some tests need: the words their skip reasons use, and how to install it."""

    what: str
    reason: re.Pattern[str]
    command: str


ENABLERS = (  # the first that matches wins: the more specific first
    Enabler("Debian's programs", re.compile(r"fetch-debian\.sh"), "tests/programs/fetch-debian.sh"),
    Enabler("Debian's busybox", re.compile(r"\bbusybox\b"), "tests/programs/fetch-busybox.sh"),
    Enabler("qemu-user", re.compile(r"\bqemu"), "sudo apt-get install qemu-user"),
    Enabler("gdb-multiarch", re.compile(r"gdb-multiarch is not installed"), "sudo apt-get install gdb-multiarch"),
    Enabler("strace", re.compile(r"strace is not installed"), "sudo apt-get install strace"),
    Enabler("GNU as for riscv64", re.compile(r"GNU as for riscv64"), "sudo apt-get install binutils-riscv64-linux-gnu"),
    Enabler("an aarch64 glibc", re.compile(r"libc6-arm64-cross"), "sudo apt-get install libc6-arm64-cross"),
    Enabler("Keystone", re.compile(r"Keystone is not installed"), "pip install keystone-engine"),
    Enabler("pytest-xdist", re.compile(r"pytest-xdist is not installed"), "pip install pytest-xdist"),
)


# A command a skip reason names itself: "... (run tests/programs/fetch-x.sh)", "(apt-get install x)"
_NAMED_COMMAND = re.compile(r"\((?:run )?((?:sudo )?(?:apt-get install|pip install|tests/)[^)]*)\)")


def enabler_for(reason: str) -> Enabler | None:
    """The tool a skip reason says is missing, or None when no command would cure it. A reason
    that names its own command and no known tool gets an enabler made of that command."""
    known = next((e for e in ENABLERS if e.reason.search(reason)), None)
    if known is not None:
        return known
    m = _NAMED_COMMAND.search(reason)
    return Enabler("", re.compile(re.escape(m.group(1))), m.group(1).strip()) if m else None


def summary_lines(reasons: list[str]) -> Iterator[str]:
    """One line per missing tool, most skipped first: how many tests it kept out, and the command."""
    counts: dict[tuple[str, str], int] = {}
    for reason in reasons:
        enabler = enabler_for(reason)
        if enabler is not None:
            key = (enabler.what, enabler.command)
            counts[key] = counts.get(key, 0) + 1
    for (what, command), n in sorted(counts.items(), key=lambda item: -item[1]):
        tests = "test" if n == 1 else "tests"
        want = f" for want of {what}" if what else ""
        yield f"{n} {tests} skipped{want}; to run them: {command}"


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: why")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


class SkipSummary:
    """Collects the reasons of skipped tests (from every xdist worker too) and says, last, what
    would bring them in."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.reasons: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep the reason of each skipped test."""
        if report.skipped and not hasattr(report, "wasxfail"):
            self.reasons.append(_reason(report))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Keep the reason of a module skipped as a whole."""
        if report.skipped:
            self.reasons.append(_reason(report))

    # Outside the terminal reporter's own wrapper, so the lines come after its "N passed" line.
    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_sessionfinish(self) -> Iterator[None]:
        """After pytest's own last line, one line per missing tool."""
        yield
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            for line in summary_lines(self.reasons):
                reporter.write_line(line, yellow=True, bold=True)


def pytest_configure(config: pytest.Config) -> None:
    """Register the collector once, in the process that reports (not in xdist's workers, whose
    reports reach the controller)."""
    if hasattr(config, "workerinput") or config.pluginmanager.has_plugin("skip-summary"):
        return
    config.pluginmanager.register(SkipSummary(config), "skip-summary")
