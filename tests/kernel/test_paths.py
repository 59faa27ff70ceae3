"""Path calls and the namespace: what the guest can see, create, and never reach."""

from __future__ import annotations

import os
import struct

import pytest

from fakes import AARCH64, KernelHarness
from kernel_model.abi import (
    AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_PATH, O_RDONLY,
    O_RDWR, O_WRONLY,
)
from kernel_model.kernel import Mount
from kernel_model.linux_errno import Errno


def open_(kh, path, flags=O_RDONLY, mode=0o644, dirfd=AT_FDCWD):
    return kh.call("openat", dirfd, kh.put(path), flags, mode)


def err_open(kh, path, flags=O_RDONLY, mode=0o644, dirfd=AT_FDCWD):
    value = open_(kh, path, flags, mode, dirfd)
    return Errno(-value) if value < 0 else None


def stat_size(kh, path, flags=0):
    buf = kh.buffer(144)
    value = kh.call("newfstatat", AT_FDCWD, kh.put(path), buf, flags)
    if value < 0:
        return Errno(-value)
    return struct.unpack_from("<q", kh.read(buf, 144), 48)[0]


def stat_mode(kh, path, flags=0):
    buf = kh.buffer(144)
    assert kh.call("newfstatat", AT_FDCWD, kh.put(path), buf, flags) == 0
    return struct.unpack_from("<I", kh.read(buf, 144), 24)[0]


def listing(kh, path):
    fd = open_(kh, path, O_RDONLY | O_DIRECTORY)
    assert fd >= 0, Errno(-fd)
    names = []
    buf = kh.buffer(4096)
    while True:
        n = kh.call("getdents64", fd, buf, 4096)
        assert n >= 0
        if n == 0:
            break
        raw = kh.read(buf, n)
        pos = 0
        while pos < n:
            ino, off, reclen, dtype = struct.unpack_from("<QqHB", raw, pos)
            names.append(raw[pos + 19 : pos + reclen].split(b"\0")[0].decode())
            pos += reclen
    kh.call("close", fd)
    return names


def test_cwd_is_the_host_directory_at_its_own_path(kh, hostdir):
    buf = kh.buffer(256)
    n = kh.call("getcwd", buf, 256)
    assert kh.read(buf, n) == str(hostdir).encode() + b"\0"


def test_relative_and_absolute_paths_to_the_same_file(kh, hostdir):
    assert stat_size(kh, "data.txt") == 12
    assert stat_size(kh, str(hostdir / "data.txt")) == 12
    assert stat_size(kh, "sub/../data.txt") == 12
    assert stat_size(kh, "./sub/./inner.txt") == 6


def test_missing_file_is_enoent(kh):
    assert err_open(kh, "nope.txt") is Errno.ENOENT
    assert stat_size(kh, "nope/x") is Errno.ENOENT
    assert err_open(kh, "") is Errno.ENOENT


def test_a_file_used_as_a_directory_is_enotdir(kh):
    assert err_open(kh, "data.txt/x") is Errno.ENOTDIR
    assert err_open(kh, "data.txt/") is Errno.ENOTDIR
    assert err_open(kh, "data.txt", O_DIRECTORY) is Errno.ENOTDIR


def test_writing_the_read_only_cwd_is_erofs(kh):
    assert err_open(kh, "data.txt", O_WRONLY) is Errno.EROFS
    assert err_open(kh, "new.txt", O_CREAT | O_WRONLY) is Errno.EROFS
    assert kh.errno("mkdirat", AT_FDCWD, kh.put("newdir"), 0o755) is Errno.EROFS
    assert kh.errno("unlinkat", AT_FDCWD, kh.put("data.txt"), 0) is Errno.EROFS


def test_outside_the_mounts_nothing_exists(kh):
    assert err_open(kh, "/etc/shadow") is Errno.ENOENT
    assert stat_size(kh, "/usr") is Errno.ENOENT
    # /etc holds only the model's own passwd and group, never the host's
    assert listing(kh, "/etc") == [".", "..", "group", "passwd"]


def test_dotdot_stops_at_the_guest_root(kh, hostdir):
    depth = len(str(hostdir).strip("/").split("/"))
    up = "../" * (depth + 5)
    assert err_open(kh, up + "etc/shadow") is Errno.ENOENT
    # a path that climbs above the root and comes back down still lands on the mount
    assert stat_size(kh, up + str(hostdir).lstrip("/") + "/data.txt") == 12


def test_the_root_lists_only_the_way_to_the_mounts(kh, hostdir):
    top = str(hostdir).strip("/").split("/")[0]
    names = listing(kh, "/")
    assert names[:2] == [".", ".."]
    assert set(names[2:]) == {top, "tmp", "dev", "proc", "etc"}


def test_symlinks_resolve_in_the_guest_view(tmp_path):
    root = tmp_path / "w"
    root.mkdir()
    (root / "real.txt").write_bytes(b"data")
    os.symlink("real.txt", root / "rel")
    os.symlink("/etc/shadow", root / "abs_out")
    os.symlink("../../../../../../../../etc/shadow", root / "dotdot_out")
    os.symlink(str(root / "real.txt"), root / "abs_in")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    kh = KernelHarness(cwd=str(root))
    assert stat_size(kh, "rel") == 4
    assert stat_size(kh, "abs_in") == 4
    assert err_open(kh, "abs_out") is Errno.ENOENT
    assert err_open(kh, "dotdot_out") is Errno.ENOENT
    assert err_open(kh, "loop1") is Errno.ELOOP
    assert err_open(kh, "rel", O_NOFOLLOW) is Errno.ELOOP
    assert stat_mode(kh, "rel", AT_SYMLINK_NOFOLLOW) & 0o170000 == 0o120000
    assert open_(kh, "rel", O_PATH | O_NOFOLLOW) >= 0


def test_a_symlink_created_in_tmp_cannot_lead_out():
    kh = KernelHarness()
    assert kh.call("symlinkat", kh.put("/etc"), AT_FDCWD, kh.put("/tmp/etc")) == 0
    assert err_open(kh, "/tmp/etc/shadow") is Errno.ENOENT
    buf = kh.buffer(64)
    n = kh.call("readlinkat", AT_FDCWD, kh.put("/tmp/etc"), buf, 64)
    assert kh.read(buf, n) == b"/etc"


def test_tmp_is_writable_and_private():
    kh = KernelHarness()
    assert kh.call("mkdirat", AT_FDCWD, kh.put("/tmp/d"), 0o755) == 0
    assert kh.errno("mkdirat", AT_FDCWD, kh.put("/tmp/d"), 0o755) is Errno.EEXIST
    fd = open_(kh, "/tmp/d/f", O_CREAT | O_EXCL | O_RDWR)
    assert fd >= 0
    assert err_open(kh, "/tmp/d/f", O_CREAT | O_EXCL | O_RDWR) is Errno.EEXIST
    kh.call("write", fd, kh.put(b"xyz"), 3)
    assert stat_size(kh, "/tmp/d/f") == 3
    assert listing(kh, "/tmp/d") == [".", "..", "f"]
    assert kh.errno("unlinkat", AT_FDCWD, kh.put("/tmp/d"), AT_REMOVEDIR) is Errno.ENOTEMPTY
    assert kh.call("renameat", AT_FDCWD, kh.put("/tmp/d/f"), AT_FDCWD, kh.put("/tmp/g")) == 0
    assert stat_size(kh, "/tmp/d/f") is Errno.ENOENT
    assert stat_size(kh, "/tmp/g") == 3
    assert kh.call("unlinkat", AT_FDCWD, kh.put("/tmp/d"), AT_REMOVEDIR) == 0
    assert kh.errno("unlinkat", AT_FDCWD, kh.put("/tmp/g"), AT_REMOVEDIR) is Errno.ENOTDIR
    assert kh.call("unlinkat", AT_FDCWD, kh.put("/tmp/g"), 0) == 0
    assert kh.errno("unlinkat", AT_FDCWD, kh.put("/tmp/g"), 0) is Errno.ENOENT


def test_rename_across_filesystems_is_exdev():
    kh = KernelHarness()
    fd = open_(kh, "/tmp/f", O_CREAT | O_WRONLY)
    assert fd >= 0
    assert kh.errno("renameat", AT_FDCWD, kh.put("/tmp/f"), AT_FDCWD, kh.put("/dev/f")) in (Errno.EXDEV, Errno.EROFS)


def test_writable_mount_changes_the_host(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    kh = KernelHarness(cwd=str(tmp_path), mounts=[Mount(str(out), "/out", True)])
    fd = open_(kh, "/out/result.txt", O_CREAT | O_WRONLY, 0o600)
    assert kh.call("write", fd, kh.put(b"42\n"), 3) == 3
    kh.call("close", fd)
    assert (out / "result.txt").read_bytes() == b"42\n"


def test_read_only_mount_refuses_writes(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_bytes(b"x")
    kh = KernelHarness(cwd=str(tmp_path), mounts=[Mount(str(data), "/data")])
    assert stat_size(kh, "/data/f") == 1
    assert err_open(kh, "/data/f", O_RDWR) is Errno.EROFS


def test_openat_relative_to_a_directory_fd(kh):
    dirfd = open_(kh, "sub", O_RDONLY | O_DIRECTORY)
    fd = open_(kh, "inner.txt", dirfd=dirfd)
    assert fd >= 0
    file_fd = open_(kh, "data.txt")
    assert err_open(kh, "inner.txt", dirfd=file_fd) is Errno.ENOTDIR
    assert err_open(kh, "inner.txt", dirfd=99) is Errno.EBADF


def test_open_a_directory_for_writing_is_eisdir():
    kh = KernelHarness()
    assert err_open(kh, "/tmp", O_WRONLY) is Errno.EISDIR


def test_chdir_and_getcwd():
    kh = KernelHarness()
    kh.call("mkdirat", AT_FDCWD, kh.put("/tmp/a"), 0o755)
    assert kh.call("chdir", kh.put("/tmp/a")) == 0
    buf = kh.buffer(64)
    n = kh.call("getcwd", buf, 64)
    assert kh.read(buf, n) == b"/tmp/a\0"
    assert kh.errno("getcwd", buf, 3) is Errno.ERANGE
    assert kh.errno("chdir", kh.put("/tmp/none")) is Errno.ENOENT
    fd = open_(kh, "f", O_CREAT | O_WRONLY)
    assert stat_size(kh, "/tmp/a/f") == 0
    assert kh.errno("chdir", kh.put("/tmp/a/f")) is Errno.ENOTDIR
    assert kh.call("fchdir", open_(kh, "/dev", O_DIRECTORY)) == 0
    assert kh.errno("fchdir", fd) is Errno.ENOTDIR


def test_paths_longer_than_path_max_are_enametoolong(kh):
    assert err_open(kh, "a/" * 2100) is Errno.ENAMETOOLONG
    assert err_open(kh, "x" * 300) is Errno.ENAMETOOLONG


def test_a_path_in_unmapped_memory_is_efault(kh):
    assert -kh.call("openat", AT_FDCWD, 0x1234, 0, 0) == Errno.EFAULT


def test_dev_nodes():
    kh = KernelHarness(random_seed=5)
    null = open_(kh, "/dev/null", O_RDWR)
    buf = kh.buffer(32)
    assert kh.call("read", null, buf, 32) == 0
    assert kh.call("write", null, kh.put(b"gone"), 4) == 4
    zero = open_(kh, "/dev/zero")
    kh.memory.write(buf, b"\xff" * 8)
    assert kh.call("read", zero, buf, 8) == 8 and kh.read(buf, 8) == bytes(8)
    rnd = open_(kh, "/dev/urandom")
    assert kh.call("read", rnd, buf, 16) == 16
    assert err_open(kh, "/dev/tty") is Errno.ENXIO
    assert err_open(kh, "/dev/new", O_CREAT | O_WRONLY) is Errno.EROFS


def test_access_modes(kh):
    assert kh.call("faccessat", AT_FDCWD, kh.put("data.txt"), 4) == 0
    assert kh.errno("faccessat", AT_FDCWD, kh.put("data.txt"), 2) is Errno.EROFS
    assert kh.errno("faccessat", AT_FDCWD, kh.put("none"), 0) is Errno.ENOENT
    assert kh.errno("faccessat", AT_FDCWD, kh.put("data.txt"), 8) is Errno.EINVAL


@pytest.mark.parametrize("arch", [AARCH64])
def test_aarch64_open_flags_are_translated(arch):
    # On arm/aarch64, O_DIRECTORY is 0o40000 (it is O_DIRECT on x86_64).
    kh = KernelHarness(arch)
    assert kh.call("openat", AT_FDCWD, kh.put("/tmp"), 0o40000, 0) >= 0
    kh.call("openat", AT_FDCWD, kh.put("/tmp/f"), O_CREAT | O_WRONLY, 0o644)
    assert -kh.call("openat", AT_FDCWD, kh.put("/tmp/f"), 0o40000, 0) == Errno.ENOTDIR


def test_legacy_x86_64_spellings_are_aliases(kh):
    assert kh.call("open", kh.put("data.txt"), 0, 0) >= 0
    buf = kh.buffer(144)
    assert kh.call("stat", kh.put("data.txt"), buf) == 0
    assert kh.call("lstat", kh.put("data.txt"), buf) == 0
    assert kh.errno("stat", kh.put("missing"), buf) is Errno.ENOENT
