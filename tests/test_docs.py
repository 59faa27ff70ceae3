"""The README's generated parts are current, its examples do what they say, and every public
name has a docstring."""

from __future__ import annotations

import doctest
import importlib
import inspect
import os
import pkgutil
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import kernel_model.host
import kernel_model
import sandbox
from sandbox.docs import END, START, syscall_support_markdown

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)


def readme_blocks(language: str) -> list[tuple[int, str]]:
    """The README's fenced blocks in ``language``, each with the line its text starts on."""
    text = README.read_text()
    return [(text.count("\n", 0, m.start(2)) + 1, m.group(2)) for m in _FENCE.finditer(text) if m.group(1) == language]


# -- the examples ----------------------------------------------------------------------------

# The Python blocks that cannot run here, each with why; every other one runs in a test.
NOT_RUN = {
    "from sandbox import Sandbox\n\nr = Sandbox(\"aarch64\", kernel=\"host\")": "a program named prog that stands for the reader's own",
}


def _pycon_id(block: tuple[int, str]) -> str:
    return f"README.md:{block[0]}"


@pytest.mark.parametrize("block", readme_blocks("pycon"), ids=_pycon_id)
def test_readme_python_sessions_print_what_they_show(block, monkeypatch):
    line, text = block
    if "/usr/aarch64-linux-gnu" in text and not os.path.isdir("/usr/aarch64-linux-gnu"):
        pytest.skip("no aarch64 glibc at /usr/aarch64-linux-gnu (Debian: libc6-arm64-cross)")
    monkeypatch.chdir(ROOT)  # the examples name files from the top of the repository
    test = doctest.DocTestParser().get_doctest(text, {}, f"README.md:{line}", str(README), line - 1)
    assert test.examples, f"README.md:{line}: a pycon block without >>> lines"
    out: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test, out=out.append, clear_globs=True)
    assert result.failed == 0, "".join(out)


def test_every_readme_python_block_runs_somewhere():
    blocks = readme_blocks("python")
    assert blocks, "the README has Python blocks"
    for line, text in blocks:
        compile(text, f"README.md:{line}", "exec")  # at least it is Python
        if text.startswith(_PLUGIN_EXAMPLE) or any(text.startswith(k) for k in NOT_RUN):
            continue
        pytest.fail(f"README.md:{line}: a python block no test runs; make it a pycon session, or say why in NOT_RUN")


_PLUGIN_EXAMPLE = "import pytest\nfrom sandbox.testing import assert_trace_matches"


def test_readme_plugin_example_passes(pytester, monkeypatch):
    (text,) = [t for _, t in readme_blocks("python") if t.startswith(_PLUGIN_EXAMPLE)]
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("SANDBOX_UPDATE_GOLDEN", raising=False)
    pytester.makepyfile(test_readme_example=text)
    # The golden file is written by the option the README names, then checked against.
    pytester.runpytest("-p", "sandbox.pytest_plugin", "--sandbox-update-golden").assert_outcomes(passed=5)
    assert (pytester.path / "golden" / "getpid.trace").is_file()
    result = pytester.runpytest("-p", "sandbox.pytest_plugin", "-v")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*test_write_returns_count[[]riscv64[]] PASSED*"])


def test_readme_debugger_session_is_a_real_one():
    sessions = [(line, t) for line, t in readme_blocks("console") if t.startswith("$ sandbox debug ")]
    assert sessions
    for line, text in sessions:
        command, _, transcript = text.partition("\n")
        typed = [t[len("(sandbox) "):] for t in transcript.splitlines() if t.startswith("(sandbox) ")]
        r = subprocess.run(
            [sys.executable, "-m", "sandbox", *shlex.split(command[2:])[1:]], input="\n".join(typed).encode() + b"\n",
            capture_output=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60,
        )
        assert r.stdout.decode() == transcript, f"README.md:{line}: the session differs from a real one"


def test_each_quick_start_line_works_in_a_new_shell():
    (line, text), *_ = readme_blocks("sh")
    first, *others = text.strip().splitlines()
    assert ". .venv/bin/activate" in first and "pip install" in first
    for command in others:
        # a line typed into a shell that did not run the first line: it cannot count on the venv being active
        assert command.startswith((".venv/bin/", ". .venv/bin/activate")), f"README.md:{line}: {command!r}"


def test_the_license_is_an_spdx_expression():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # A table (license = { text = "MIT" }) is deprecated in setuptools 77 and refused from 2027.
    assert project["project"]["license"] == "MIT"
    requires = project["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(7[7-9]|[89]\d|\d{3,})(\.\d+)*", r) for r in requires), requires


def test_readme_syscall_table_is_generated_from_the_registry():
    readme = (ROOT / "README.md").read_text()
    table = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == syscall_support_markdown(), "run: python -m sandbox.docs --write"


def _public_objects():
    for package in (sandbox, kernel_model, kernel_model.host):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            yield info.name, module
            for name, obj in vars(module).items():
                if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                    continue
                if inspect.isclass(obj) or inspect.isfunction(obj):
                    yield f"{info.name}.{name}", obj
                    if inspect.isclass(obj):
                        for mname, member in vars(obj).items():
                            if mname.startswith("_") or not (inspect.isfunction(member) or isinstance(member, property)):
                                continue
                            yield f"{info.name}.{name}.{mname}", member


def test_every_public_name_has_a_docstring():
    missing = []
    for qualname, obj in _public_objects():
        doc = obj.__doc__ if not isinstance(obj, property) else (obj.fget.__doc__ if obj.fget else None)
        if not (doc and doc.strip()):
            # an override of a documented base method inherits its documentation
            if inspect.isfunction(obj) and "." in obj.__qualname__:
                cls_name, meth = obj.__qualname__.rsplit(".", 1)
                if _documented_in_a_base(qualname, meth):
                    continue
            if qualname.split(".")[-1].startswith("sys_"):
                continue  # system call handlers are documented by the table of calls
            missing.append(qualname)
    assert not missing, "no docstring: " + ", ".join(missing)


def _documented_in_a_base(qualname: str, method: str) -> bool:
    module_name, cls_name = qualname.rsplit(".", 2)[:2]
    cls = getattr(importlib.import_module(module_name), cls_name, None)
    if cls is None:
        return False
    for base in cls.__mro__[1:]:
        member = base.__dict__.get(method)
        if member is not None and getattr(member, "__doc__", None):
            return True
    return False
