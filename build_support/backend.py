"""The build backend: setuptools', with the package byte-compiled when installed editable.

pip byte-compiles the files it installs from a wheel, but an editable install leaves the
sources where they are, uncompiled. Where ``PYTHONDONTWRITEBYTECODE`` is set (CI often sets
it), Python then compiles every module again at every start: most of the start-up time of
``sandbox``. So building the editable wheel also compiles ``sandbox`` and ``kernel_model``
in place, with the interpreter doing the install (its cache tag, its magic number), into
the ``__pycache__`` directories Python reads. A module edited later is compiled again in
memory as usual; the rest keep their bytecode.
"""

from __future__ import annotations

import compileall
import os

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403 - every hook setuptools provides

PACKAGES = ("sandbox", "kernel_model")


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):  # type: ignore[no-untyped-def]
    """setuptools' editable wheel, and the package's bytecode beside its sources."""
    name = _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for package in PACKAGES:
        compileall.compile_dir(os.path.join(root, package), quiet=1)
    return name
