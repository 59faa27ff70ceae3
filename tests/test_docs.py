"""The README's generated parts are current, and every public name has a docstring."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import kernel_model.host
import kernel_model
import sandbox
from kernel_model.host.registry import HOST_REGISTRY
from sandbox.docs import END, HOST_END, HOST_START, START, host_support_markdown, syscall_support_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_readme_syscall_table_is_generated_from_the_registry():
    readme = (ROOT / "README.md").read_text()
    table = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == syscall_support_markdown(), "run: python -m sandbox.docs --write"
    host_table = readme.split(HOST_START, 1)[1].split(HOST_END, 1)[0].strip()
    assert host_table == host_support_markdown(), "run: python -m sandbox.docs --write"


def test_the_license_is_an_spdx_expression():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # A table (license = { text = "MIT" }) is deprecated in setuptools 77 and refused from 2027.
    assert project["project"]["license"] == "MIT"
    requires = project["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(7[7-9]|[89]\d|\d{3,})(\.\d+)*", r) for r in requires), requires


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
            if qualname.split(".")[-1].startswith("sys_") or obj in _HOST_HANDLERS:
                continue  # system call handlers are documented by the table of calls
            missing.append(qualname)
    assert not missing, "no docstring: " + ", ".join(missing)


_HOST_HANDLERS = [spec.func for spec in HOST_REGISTRY.values()]


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
