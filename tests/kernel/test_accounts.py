"""/etc/passwd and /etc/group in the guest's view: root and the guest's own user (named
``sandbox``, never the host user's name), unless the rootfs or a mount has its own."""

from __future__ import annotations

from fakes import KernelHarness
from kernel_model.abi import AT_FDCWD, O_RDONLY, O_TRUNC, O_WRONLY
from kernel_model.kernel import Mount
from kernel_model.linux_errno import Errno
from kernel_model.process import Identity


def read_file(kh, path):
    fd = kh.call("openat", AT_FDCWD, kh.put(path), O_RDONLY, 0)
    assert fd >= 0, Errno(-fd)
    buf = kh.buffer(4096)
    n = kh.call("read", fd, buf, 4096)
    kh.call("close", fd)
    return kh.read(buf, n)


def test_root_sees_root_only(tmp_path):
    kh = KernelHarness(cwd=str(tmp_path), identity=Identity(uid=0, gid=0))
    assert read_file(kh, "/etc/passwd") == b"root:x:0:0:root:/root:/bin/sh\n"
    assert read_file(kh, "/etc/group") == b"root:x:0:\n"


def test_another_user_is_sandbox(tmp_path):
    kh = KernelHarness(cwd=str(tmp_path), identity=Identity(uid=1234, gid=567))
    assert read_file(kh, "/etc/passwd") == (
        b"root:x:0:0:root:/root:/bin/sh\nsandbox:x:1234:567:sandbox:/home/sandbox:/bin/sh\n"
    )
    assert read_file(kh, "/etc/group") == b"root:x:0:\nsandbox:x:567:\n"


def test_the_files_are_read_only_and_look_like_files(tmp_path):
    kh = KernelHarness(cwd=str(tmp_path), identity=Identity(uid=0, gid=0))
    for flags in (O_WRONLY, O_RDONLY | O_TRUNC):
        assert kh.errno("openat", AT_FDCWD, kh.put("/etc/passwd"), flags, 0) is Errno.EROFS
    buf = kh.buffer(144)
    assert kh.call("newfstatat", AT_FDCWD, kh.put("/etc/group"), buf, 0) == 0
    mode = int.from_bytes(kh.read(buf, 144)[24:28], "little")
    assert mode == 0o100644
    assert kh.errno("newfstatat", AT_FDCWD, kh.put("/etc/passwd/x"), buf, 0) is Errno.ENOTDIR


def test_a_mount_with_its_own_passwd_wins(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_bytes(b"custom:x:0:0::/:/bin/false\n")
    (etc / "hosts").write_bytes(b"127.0.0.1 localhost\n")
    kh = KernelHarness(cwd=str(tmp_path), mounts=[Mount(str(etc), "/etc")], identity=Identity(uid=0, gid=0))
    assert read_file(kh, "/etc/passwd") == b"custom:x:0:0::/:/bin/false\n"
    assert read_file(kh, "/etc/hosts") == b"127.0.0.1 localhost\n"  # the rest of the mount is there
    assert read_file(kh, "/etc/group") == b"root:x:0:\n"  # the one it lacks is the model's


def test_a_rootfs_with_its_own_group_wins(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "group").write_bytes(b"wheel:x:0:\n")
    kh = KernelHarness(cwd=str(tmp_path), rootfs=str(root), identity=Identity(uid=0, gid=0))
    assert read_file(kh, "/etc/group") == b"wheel:x:0:\n"
    assert read_file(kh, "/etc/passwd") == b"root:x:0:0:root:/root:/bin/sh\n"
