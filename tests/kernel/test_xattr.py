"""Extended attributes: every file has none (the model keeps none and shows no host file's),
with Linux's order of checks: path errors, EROFS, the namespace's permission rules."""

from __future__ import annotations

import pytest

from fakes import KernelHarness
from kernel_model.abi import AT_FDCWD, O_PATH, O_RDONLY
from kernel_model.linux_errno import Errno
from kernel_model.process import Identity


@pytest.fixture
def hostdir(tmp_path):
    (tmp_path / "data.txt").write_bytes(b"Hello world\n")
    (tmp_path / "sub").mkdir()
    os_link = tmp_path / "link"
    os_link.symlink_to("data.txt")
    return tmp_path


@pytest.fixture
def kh(hostdir):
    return KernelHarness(cwd=str(hostdir), identity=Identity(uid=0, gid=0))


def _mkfile(kh, path):
    fd = kh.call("openat", AT_FDCWD, kh.put(path), 0o101, 0o644)  # O_WRONLY | O_CREAT
    assert fd >= 0
    return fd


@pytest.mark.parametrize("call", ["getxattr", "lgetxattr"])
def test_a_file_has_no_attributes(kh, call):
    for path in ("data.txt", "sub", "/tmp", "link"):
        assert kh.errno(call, kh.put(path), kh.put("user.comment"), kh.buffer(64), 64) is Errno.ENODATA
    assert kh.errno(call, kh.put("data.txt"), kh.put("security.selinux"), kh.buffer(64), 64) is Errno.ENODATA
    assert kh.errno(call, kh.put("data.txt"), kh.put("system.posix_acl_access"), 0, 0) is Errno.ENODATA


@pytest.mark.parametrize("call", ["listxattr", "llistxattr"])
def test_the_list_is_empty(kh, call):
    buf = kh.put(b"\xff" * 16)
    assert kh.call(call, kh.put("data.txt"), buf, 16) == 0
    assert kh.read(buf, 16) == b"\xff" * 16  # nothing written
    assert kh.call(call, kh.put("sub"), 0, 0) == 0


def test_path_errors_come_first(kh):
    for call in ("getxattr", "lgetxattr"):
        assert kh.errno(call, kh.put("missing"), kh.put("user.x"), 0, 0) is Errno.ENOENT
        assert kh.errno(call, kh.put("data.txt/x"), kh.put("user.x"), 0, 0) is Errno.ENOTDIR
        assert kh.errno(call, kh.put(""), kh.put("user.x"), 0, 0) is Errno.ENOENT
        assert kh.errno(call, 16, kh.put("user.x"), 0, 0) is Errno.EFAULT
        assert kh.errno(call, kh.put("missing"), 16, 0, 0) is Errno.ENOENT  # before the bad name
    assert kh.errno("listxattr", kh.put("missing"), 0, 0) is Errno.ENOENT
    assert kh.errno("removexattr", kh.put("missing"), kh.put("user.x")) is Errno.ENOENT


def test_a_bad_name(kh):
    path = kh.put("data.txt")
    assert kh.errno("getxattr", path, kh.put(""), 0, 0) is Errno.ERANGE
    assert kh.errno("getxattr", path, kh.put("user." + "x" * 251), 0, 0) is Errno.ERANGE  # 256 bytes
    assert kh.errno("getxattr", path, kh.put("user." + "x" * 250), 0, 0) is Errno.ENODATA  # 255: fits
    assert kh.errno("getxattr", path, 16, 0, 0) is Errno.EFAULT
    # a namespace Linux does not know, and system. names no filesystem handles
    assert kh.errno("getxattr", path, kh.put("foo.bar"), 0, 0) is Errno.EOPNOTSUPP
    assert kh.errno("getxattr", path, kh.put("system.nfs4_acl"), 0, 0) is Errno.EOPNOTSUPP


def test_lgetxattr_does_not_follow_the_link(kh):
    # user. attributes exist only on regular files and directories: a link has none to read
    assert kh.errno("lgetxattr", kh.put("link"), kh.put("user.x"), 0, 0) is Errno.ENODATA
    assert kh.errno("lsetxattr", kh.put("link"), kh.put("user.x"), kh.put("v"), 1, 0) is Errno.EROFS  # the cwd is ro
    _mkfile(kh, "/tmp/target")
    assert kh.call("symlinkat", kh.put("/tmp/target"), AT_FDCWD, kh.put("/tmp/link")) == 0
    assert kh.errno("lsetxattr", kh.put("/tmp/link"), kh.put("user.x"), kh.put("v"), 1, 0) is Errno.EPERM
    assert kh.errno("setxattr", kh.put("/tmp/link"), kh.put("user.x"), kh.put("v"), 1, 0) is Errno.EOPNOTSUPP


def test_setxattr_is_not_supported_and_checks_its_arguments_first(kh):
    name, value = kh.put("user.x"), kh.put("v")
    assert kh.errno("setxattr", kh.put("/tmp"), name, value, 1, 0) is Errno.EOPNOTSUPP
    # flags, name and value are read before the path is looked up
    assert kh.errno("setxattr", kh.put("missing"), name, value, 1, 4) is Errno.EINVAL
    assert kh.errno("setxattr", kh.put("missing"), kh.put(""), value, 1, 0) is Errno.ERANGE
    assert kh.errno("setxattr", kh.put("missing"), name, value, 65537, 0) is Errno.E2BIG
    assert kh.errno("setxattr", kh.put("missing"), name, 16, 1, 0) is Errno.EFAULT
    assert kh.errno("setxattr", kh.put("missing"), name, value, 1, 0) is Errno.ENOENT


def test_changes_on_a_read_only_mount_are_erofs(kh):
    name, value = kh.put("user.x"), kh.put("v")
    assert kh.errno("setxattr", kh.put("data.txt"), name, value, 1, 0) is Errno.EROFS
    assert kh.errno("lsetxattr", kh.put("sub"), name, value, 1, 0) is Errno.EROFS
    assert kh.errno("removexattr", kh.put("data.txt"), name) is Errno.EROFS
    # path_removexattr looks at the mount before it reads the name
    assert kh.errno("removexattr", kh.put("data.txt"), 16) is Errno.EROFS
    fd = kh.call("openat", AT_FDCWD, kh.put("data.txt"), O_RDONLY, 0)
    assert kh.errno("fsetxattr", fd, name, value, 1, 0) is Errno.EROFS
    assert kh.errno("fremovexattr", fd, kh.put("")) is Errno.ERANGE  # the name before the mount
    assert kh.errno("fremovexattr", fd, name) is Errno.EROFS


def test_removexattr_finds_nothing_to_remove(kh):
    fd = _mkfile(kh, "/tmp/f")
    assert kh.errno("removexattr", kh.put("/tmp/f"), kh.put("user.x")) is Errno.ENODATA
    assert kh.errno("lremovexattr", kh.put("/tmp/f"), kh.put("trusted.x")) is Errno.ENODATA
    assert kh.errno("fremovexattr", fd, kh.put("user.x")) is Errno.ENODATA
    assert kh.errno("fremovexattr", fd, kh.put("foo.x")) is Errno.EOPNOTSUPP


def test_descriptors(kh):
    fd = kh.call("openat", AT_FDCWD, kh.put("data.txt"), O_RDONLY, 0)
    assert kh.errno("fgetxattr", fd, kh.put("user.x"), 0, 0) is Errno.ENODATA
    assert kh.call("flistxattr", fd, 0, 0) == 0
    assert kh.errno("fgetxattr", 99, kh.put("user.x"), 0, 0) is Errno.EBADF
    assert kh.errno("flistxattr", 99, 0, 0) is Errno.EBADF
    opath = kh.call("openat", AT_FDCWD, kh.put("data.txt"), O_PATH, 0)
    assert kh.errno("fgetxattr", opath, kh.put("user.x"), 0, 0) is Errno.EBADF  # fdget refuses O_PATH
    fds = kh.buffer(8)
    assert kh.call("pipe2", fds, 0) == 0
    rd = int.from_bytes(kh.read(fds, 4), "little")
    # a pipe: no user. attributes (not a regular file), and pipefs handles no other name
    assert kh.errno("fgetxattr", rd, kh.put("user.x"), 0, 0) is Errno.ENODATA
    assert kh.errno("fgetxattr", rd, kh.put("security.x"), 0, 0) is Errno.EOPNOTSUPP
    assert kh.errno("fsetxattr", rd, kh.put("user.x"), kh.put("v"), 1, 0) is Errno.EPERM


def test_the_namespaces_permission_rules(hostdir):
    kh = KernelHarness(cwd=str(hostdir), identity=Identity(uid=1000, gid=1000))
    fd = _mkfile(kh, "/tmp/mine")
    assert fd >= 0
    # trusted. needs privilege: reading finds nothing, changing is refused
    assert kh.errno("getxattr", kh.put("/tmp/mine"), kh.put("trusted.x"), 0, 0) is Errno.ENODATA
    assert kh.errno("setxattr", kh.put("/tmp/mine"), kh.put("trusted.x"), kh.put("v"), 1, 0) is Errno.EPERM
    # user. follows the permission bits
    assert kh.call("fchmodat", AT_FDCWD, kh.put("/tmp/mine"), 0o200) == 0
    assert kh.errno("getxattr", kh.put("/tmp/mine"), kh.put("user.x"), 0, 0) is Errno.EACCES
    assert kh.errno("getxattr", kh.put("/tmp/mine"), kh.put("security.x"), 0, 0) is Errno.ENODATA
    # /tmp is sticky and root's: user. attributes on it are root's to change
    assert kh.errno("setxattr", kh.put("/tmp"), kh.put("user.x"), kh.put("v"), 1, 0) is Errno.EPERM
