"""The pytest plugin: a ``sandbox`` fixture per arch, ``--arches``, and golden traces.

Installed with the package (entry point ``pytest11``), so a user's tests just ask for it::

    import pytest

    @pytest.mark.arches("x86_64", "aarch64", "riscv64")
    def test_write_returns_count(sandbox):          # test_write_returns_count[riscv64] ...
        r = sandbox.run_asm(sandbox.stub("write", 1, b"hi\\n", 3))
        assert r.stdout == b"hi\\n"
        r.expect_call("write", fd=1, ret=3)

- ``sandbox`` is a fresh :class:`sandbox.testing.CheckedSandbox` for the arch; a test that
  asks for it runs once per arch of its ``arches`` mark (every supported arch without one),
  with the arch as the test id. ``@pytest.mark.sandbox_options(stdin=b"...", mounts=[...])``
  passes options to the sandbox.
- ``pytest --arches riscv64,arm`` keeps only those arches (the others are deselected).
- A failing test shows the trace of every run its sandbox made.
- ``assert_trace_matches(result, "golden/x.trace")`` compares with a golden file;
  ``pytest --sandbox-update-golden`` rewrites them.

Nothing is shared between tests, so it is safe under pytest-xdist (``-n auto``); golden files
are replaced atomically.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import pytest

from sandbox.arch import ARCHES, get_arch
from sandbox.errors import UnknownArchError
from sandbox.testing import UPDATE_ENV, CheckedSandbox, assert_trace_matches, set_golden_base, set_update_golden

__all__ = ["assert_trace_matches"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--arches`` and ``--sandbox-update-golden``."""
    group = parser.getgroup("syscall-sandbox", "syscall-sandbox: guest code on every arch")
    group.addoption(
        "--arches", metavar="ARCH[,ARCH...]", default=None,
        help=f"run sandbox tests only on these arches ({', '.join(ARCHES)})",
    )
    group.addoption(
        "--sandbox-update-golden", action="store_true", default=False,
        help="rewrite golden trace files instead of comparing with them",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marks, check ``--arches``, and switch golden files to update mode if asked."""
    config.addinivalue_line("markers", "arches(*names): run a test using the sandbox fixture once per named arch")
    config.addinivalue_line("markers", "sandbox_options(**options): options for the sandbox fixture's Sandbox")
    wanted = config.getoption("--arches")
    if wanted is not None:
        try:
            config._sandbox_arches = {get_arch(name).name for name in wanted.split(",") if name.strip()}  # type: ignore[attr-defined]
        except UnknownArchError as e:
            raise pytest.UsageError(f"--arches: {e}") from None
    if config.getoption("--sandbox-update-golden"):
        set_update_golden(True)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave golden files as the environment says for whatever runs next in this process."""
    set_update_golden(bool(os.environ.get(UPDATE_ENV)))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One instance of each test using ``sandbox`` per arch of its ``arches`` mark."""
    if "sandbox" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("arches")
    names = marker.args if marker is not None and marker.args else tuple(ARCHES)
    arches = []
    for name in names:
        try:
            arch = get_arch(name).name
        except UnknownArchError as e:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: @pytest.mark.arches: {e}") from None
        if arch not in arches:
            arches.append(arch)
    metafunc.parametrize("sandbox", arches, indirect=True, ids=arches)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the instances whose arch ``--arches`` leaves out."""
    wanted = getattr(config, "_sandbox_arches", None)
    if wanted is None:
        return
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        arch = callspec.params.get("sandbox") if callspec is not None else None
        (drop if arch is not None and arch not in wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[CheckedSandbox]:
    """A fresh sandbox for the arch this instance of the test runs on."""
    arch = getattr(request, "param", None) or "x86_64"
    marker = request.node.get_closest_marker("sandbox_options")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    sb = CheckedSandbox(arch, **options)
    request.node._sandbox_under_test = sb
    try:
        yield sb
    finally:
        if sb.machine is not None:
            sb.machine.close()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Golden paths are relative to the running test's file."""
    set_golden_base(item.path.parent)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """When a test using the sandbox fails, add each run's trace to its report."""
    outcome = yield
    report = outcome.get_result()
    sb = getattr(item, "_sandbox_under_test", None)
    if sb is None or not report.failed or report.when == "teardown":
        return
    for title, text in sb.traces():
        report.sections.append((f"sandbox trace: {sb.arch.name}, {title}", text))
