"""Host paths beneath a held directory: never a symlink followed, never a way out, both with
openat2 and with the portable component-by-component walk."""

from __future__ import annotations

import os
import sys

import pytest

from kernel_model.host.beneath import Beneath, Openat2, host_syscall_number
from kernel_model.host.tree import HostDirectory
from kernel_model.linux_errno import Errno
from kernel_model.seam import KernelError

MODES = ["openat2", "walk"]


@pytest.fixture(params=MODES)
def resolution(request, monkeypatch):
    """Run the test once with openat2 (where the host has it) and once with the walk."""
    if request.param == "openat2":
        if not Openat2.available:
            pytest.skip("the host has no openat2")
    else:
        monkeypatch.setattr(Openat2, "available", False)
    return request.param


@pytest.fixture
def tree(tmp_path):
    inside = tmp_path / "granted"
    (inside / "sub").mkdir(parents=True)
    (inside / "sub" / "file.txt").write_bytes(b"inside\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file.txt").write_bytes(b"SECRET\n")
    (inside / "out").symlink_to(outside)  # a directory symlink pointing out
    (inside / "sub" / "out-file").symlink_to(outside / "file.txt")
    return inside, outside


def read(beneath: Beneath, rel: tuple[str, ...]) -> bytes:
    fd = beneath.open(rel, os.O_RDONLY)
    try:
        return os.read(fd, 100)
    finally:
        os.close(fd)


def errno_of(fn, *args) -> Errno:
    with pytest.raises(KernelError) as info:
        fn(*args)
    return info.value.errno


def test_a_file_beneath_opens(tree, resolution):
    b = Beneath(str(tree[0]))
    assert read(b, ("sub", "file.txt")) == b"inside\n"
    b.close()


def test_no_symlink_is_followed_in_the_middle_or_at_the_end(tree, resolution):
    b = Beneath(str(tree[0]))
    assert errno_of(read, b, ("out", "file.txt")) in (Errno.ELOOP, Errno.ENOTDIR)
    assert errno_of(read, b, ("sub", "out-file")) == Errno.ELOOP


@pytest.mark.parametrize("rel", [("..", "outside", "file.txt"), ("sub", "..", ".."), (".",), ("a/b",), ("",)])
def test_components_the_model_resolves_itself_are_refused(tree, resolution, rel):
    assert errno_of(read, Beneath(str(tree[0])), rel) == Errno.EACCES


@pytest.mark.skipif(not sys.platform.startswith("linux") or not os.path.isdir("/proc/self"), reason="needs a Linux /proc")
def test_a_host_proc_mounted_inside_a_grant_is_never_reached(resolution):
    b = Beneath("/")
    assert errno_of(read, b, ("proc", "self", "status")) == Errno.EACCES
    assert errno_of(read, b, ("proc", "version")) == Errno.EACCES


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a Linux /proc")
def test_a_grant_of_the_host_proc_is_refused():
    with pytest.raises(KernelError) as info:
        Beneath("/proc/self")
    assert info.value.errno is Errno.EACCES


def test_a_component_swapped_for_a_symlink_never_leads_out(tree, resolution):
    inside, outside = tree
    fs = HostDirectory(str(inside))
    assert fs.lstat(("sub", "file.txt")).size == 7
    # Someone replaces "sub" with a link to the outside directory between two calls.
    os.rename(inside / "sub", inside / "sub.old")
    os.symlink(outside, inside / "sub")
    assert errno_of(fs.lstat, ("sub", "file.txt")) in (Errno.ELOOP, Errno.ENOTDIR)
    assert errno_of(fs.open, ("sub", "file.txt"), 0, 0, True) in (Errno.ELOOP, Errno.ENOTDIR)
    assert errno_of(fs.unlink, ("sub", "file.txt")) == Errno.EROFS  # read-only: refused before the walk
    rw = HostDirectory(str(inside), writable=True)
    assert errno_of(rw.unlink, ("sub", "file.txt")) in (Errno.ELOOP, Errno.ENOTDIR)
    assert errno_of(rw.chmod, ("sub", "file.txt"), 0o777) in (Errno.ELOOP, Errno.ENOTDIR)
    assert errno_of(rw.truncate, ("sub", "file.txt"), 0) in (Errno.ELOOP, Errno.ENOTDIR)
    assert (outside / "file.txt").read_bytes() == b"SECRET\n"
    assert oct((outside / "file.txt").stat().st_mode & 0o777) != oct(0o777)


def test_chmod_does_not_follow_a_symlink(tree, resolution):
    inside, outside = tree
    before = (outside / "file.txt").stat().st_mode
    fs = HostDirectory(str(inside), writable=True)
    assert errno_of(fs.chmod, ("sub", "out-file"), 0o777) in (Errno.EOPNOTSUPP, Errno.ELOOP)
    assert (outside / "file.txt").stat().st_mode == before
    fs.chmod(("sub", "file.txt"), 0o600)
    assert (inside / "sub" / "file.txt").stat().st_mode & 0o777 == 0o600


def test_the_held_directory_is_the_one_granted_even_after_a_rename(tree, resolution, tmp_path):
    inside, outside = tree
    fs = HostDirectory(str(inside))
    os.rename(inside, tmp_path / "moved")
    os.symlink(outside, inside)  # the granted path now names the outside
    assert fs.lstat(("sub", "file.txt")).size == 7
    assert errno_of(fs.lstat, ("file.txt",)) == Errno.ENOENT


def test_the_host_table_knows_openat2_on_linux():
    if sys.platform.startswith("linux"):
        assert host_syscall_number("openat2") == 437
    else:
        assert host_syscall_number("openat2") is None
