"""Fixtures of the security suite: the arch, and the arena (see :mod:`arena`)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from arena import ARCHES, SECRET, Arena, snapshot  # noqa: E402


@pytest.fixture(params=ARCHES)
def arch(request) -> str:
    return request.param


@pytest.fixture
def arena(tmp_path, arch, monkeypatch):
    root = tmp_path / "arena"
    granted = root / "granted"
    outside = root / "outside"
    sibling = root / "sibling"
    for d in (granted / "sub", outside / "dir", sibling):
        d.mkdir(parents=True)
    (outside / "secret.txt").write_bytes(SECRET)
    (outside / "dir" / "deep.txt").write_bytes(SECRET)
    (sibling / "other.txt").write_bytes(SECRET)
    (granted / "file.txt").write_bytes(b"inside\n")
    (granted / "sub" / "inner.txt").write_bytes(b"inner\n")
    # Traps found inside the grant: links pointing out, relative and absolute.
    (granted / "link-out").symlink_to("../outside/secret.txt")
    (granted / "abs-link").symlink_to(outside / "secret.txt")
    (granted / "dir-link").symlink_to(outside)
    (granted / "dangling-out").symlink_to(outside / "new.txt")
    (granted / "sub" / "up").symlink_to("../..")
    os.chmod(outside / "secret.txt", 0o640)
    monkeypatch.chdir(granted)
    before = snapshot(root, skip=granted)
    yield Arena(root, granted, outside, sibling, arch)
    after = snapshot(root, skip=granted)
    assert after == before, "the host changed outside the granted directory"
    assert not (outside / "new.txt").exists()
