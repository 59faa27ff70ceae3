"""The example pytest project passes on every arch with only this package: no Keystone, no
qemu, no cross compiler, and (second test) installed into a fresh virtual environment, where
the plugin is found through its entry point."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

PROJECT = ROOT / "examples" / "pytest-project"
EXPECTED = "33 passed"


def _copy_project(tmp_path: Path) -> Path:
    dest = tmp_path / "project"
    shutil.copytree(PROJECT, dest, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return dest


def _without_keystone(tmp_path: Path) -> Path:
    # A module that shadows Keystone and fails to import, as on a host where it has no wheel.
    shadow = tmp_path / "no-keystone"
    (shadow / "keystone").mkdir(parents=True)
    (shadow / "keystone" / "__init__.py").write_text("raise ImportError('keystone is not installed')\n")
    return shadow


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST", "SANDBOX"))}
    # no qemu or cross toolchain: a PATH with only the basics
    env["PATH"] = os.pathsep.join(p for p in ("/usr/bin", "/bin") if os.path.isdir(p))
    env.update(extra)
    return env


def test_the_example_project_passes_without_keystone(tmp_path):
    project = _copy_project(tmp_path)
    goldens = {p.name: p.read_text() for p in (project / "tests" / "golden").iterdir()}
    env = _clean_env(PYTHONPATH=os.pathsep.join([str(_without_keystone(tmp_path)), str(ROOT)]))
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "sandbox.pytest_plugin", "-p", "no:cacheprovider", "-q"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert EXPECTED in r.stdout
    assert {p.name: p.read_text() for p in (project / "tests" / "golden").iterdir()} == goldens


def _installable_copy(tmp_path: Path) -> Path:
    # pip builds in the source tree; give it a copy so the checkout stays clean.
    src = tmp_path / "src"
    for name in ("sandbox", "kernel_model", "build_support"):  # build_support: the build backend
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "MANIFEST.in"):
        shutil.copy(ROOT / name, src / name)
    return src


def _site_directories() -> list[str]:
    # Where this interpreter's installed packages are (a venv's, or the system's): the fresh
    # venv reuses them for the dependencies, as a download would provide them.
    return [p for p in sys.path if p.rstrip(os.sep).endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]


def test_the_example_project_passes_from_a_fresh_venv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # Dependencies (unicorn, capstone, pytest...) come from this interpreter's packages, after
    # the venv's own; Keystone is hidden below; the package itself is installed normally.
    Path(purelib, "dependencies.pth").write_text("\n".join(_site_directories()) + "\n")
    install = [str(python), "-m", "pip", "install", "-q", "--no-deps", str(_installable_copy(tmp_path))]
    if importlib.util.find_spec("wheel") is not None:
        install.insert(5, "--no-build-isolation")  # no need to fetch setuptools
    r = subprocess.run(install, capture_output=True, text=True, timeout=300, env=_clean_env(PATH=os.environ["PATH"]))
    if r.returncode != 0 and "network" in (r.stdout + r.stderr).lower():
        pytest.skip("pip needs the network to build the package here")
    assert r.returncode == 0, r.stdout + r.stderr
    project = _copy_project(tmp_path)
    env = _clean_env(PYTHONPATH=str(_without_keystone(tmp_path)))
    r = subprocess.run([str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q"], cwd=project, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert EXPECTED in r.stdout
    check = subprocess.run([str(python), "-c", "import sandbox; print(sandbox.__file__)"], env=env,
                           capture_output=True, text=True, cwd=tmp_path)
    assert str(venv) in check.stdout  # the installed package ran, not the checkout
