"""The escape family around grant boundaries, against both walls and against the kernel's alone.

Each attempt is a real system call a guest program makes, in a host-mode sandbox whose run
happens in a child process confined by the host kernel (Landlock, and a mount namespace for
the rules nested in wider grants). The policy nests: ``.`` writable, ``deps/vendor``
read-only, ``deps/vendor/secrets`` hidden, ``a`` read-only with ``a/b`` writable inside it
and ``a/b/c`` hidden inside that. Every attempt must fail, the allowed writes must work, and
nothing the policy protects may change, once with the kernel model's checks on and once with
them switched off (``SANDBOX_TEST_KERNEL_WALL_ONLY``: the guest's world is then the host's
whole tree, writable, and only the kernel stands in the way).

The other escape tests (test_path_escapes.py) drive the first wall call by call in the test's
own process; these need a kernel with Landlock and skip without it.
"""

from __future__ import annotations

import hashlib
import os
import struct

import pytest

from kernel_model.abi import abi_for
from kernel_model.host import policy_from_dict
from kernel_model.host.landlock import abi_version
from sandbox import Sandbox
from sandbox.stubs import calls_program
from sandbox.wall import TEST_ONLY_SWITCH

pytestmark = pytest.mark.skipif(abi_version() == 0, reason="the host kernel has no Landlock")

SECRET = b"SECRET: only the kernel stands between the guest and this\n"
AT_FDCWD = -100
AT_REMOVEDIR = 0x200
RENAME_EXCHANGE = 2
O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC = 0, 1, 2, 0o100, 0o1000


def _tree(root) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest = hashlib.sha256(open(path, "rb").read()).hexdigest() if os.path.isfile(path) and not os.path.islink(path) else ""
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return out


@pytest.fixture
def layout(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    for d in ("deps/vendor/secrets", "a/b/c", "sub"):
        (root / d).mkdir(parents=True)
    (root / "deps/vendor/lib.txt").write_bytes(b"vendored\n")
    (root / "deps/vendor/secrets/key").write_bytes(SECRET)
    (root / "a/ro.txt").write_bytes(b"read-only\n")
    (root / "a/b/c/hidden.txt").write_bytes(SECRET)
    (root / "file.txt").write_bytes(b"mine\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    monkeypatch.chdir(root)
    protected = {name: _tree(root / name) for name in ("deps", "a")}
    before_outside = _tree(outside)
    yield root, outside
    assert _tree(outside) == before_outside, "the host changed outside the grants"
    for name, before in protected.items():
        now = _tree(root / name)
        allowed = {k for k in now if k.startswith("b/") and not k.startswith("b/c")} | {"b"}
        assert {k: v for k, v in now.items() if k not in allowed} == {
            k: v for k, v in before.items() if k not in allowed
        }, f"{name}/ changed"


def _policy(root):
    return policy_from_dict({"paths": {
        str(root): "rw", str(root / "deps/vendor"): "ro", str(root / "deps/vendor/secrets"): "hidden",
        str(root / "a"): "ro", str(root / "a/b"): "rw", str(root / "a/b/c"): "hidden",
    }}, "kernel-wall-policy")


def _flags(arch: str, canonical: int) -> int:
    return abi_for(arch).open_flags_out(canonical)


# (what, call, args): each must fail.
def _attempts(arch: str, outside) -> list[tuple[str, str, tuple]]:
    o = lambda f: _flags(arch, f)  # noqa: E731
    times = struct.pack("<qqqq", 0, 0, 0, 0)
    return [
        ("read a file outside", "openat", (AT_FDCWD, str(outside / "secret.txt"), o(O_RDONLY), 0)),
        ("read the host's /etc", "openat", (AT_FDCWD, "/etc/hostname", o(O_RDONLY), 0)),
        ("create outside", "openat", (AT_FDCWD, str(outside / "new.txt"), o(O_CREAT | O_WRONLY), 0o644)),
        ("read a hidden file", "openat", (AT_FDCWD, "deps/vendor/secrets/key", o(O_RDONLY), 0)),
        ("read a hidden file two grants down", "openat", (AT_FDCWD, "a/b/c/hidden.txt", o(O_RDONLY), 0)),
        ("write a read-only file", "openat", (AT_FDCWD, "deps/vendor/lib.txt", o(O_WRONLY | O_TRUNC), 0)),
        ("create in a read-only grant", "openat", (AT_FDCWD, "deps/vendor/new.txt", o(O_CREAT | O_WRONLY), 0o644)),
        ("write a read-only grant's file around a writable one", "openat", (AT_FDCWD, "a/ro.txt", o(O_RDWR), 0)),
        ("create in a read-only grant around a writable one", "mkdirat", (AT_FDCWD, "a/made", 0o755)),
        ("unlink in a read-only grant", "unlinkat", (AT_FDCWD, "deps/vendor/lib.txt", 0)),
        ("truncate a read-only file", "truncate", ("deps/vendor/lib.txt", 0)),
        ("chmod a read-only file", "fchmodat", (AT_FDCWD, "deps/vendor/lib.txt", 0o777)),
        ("change a read-only file's times", "utimensat", (AT_FDCWD, "deps/vendor/lib.txt", times, 0)),
        ("rename a read-only grant", "renameat", (AT_FDCWD, "deps/vendor", AT_FDCWD, "vendor2")),
        ("rename a read-only grant's parent", "renameat", (AT_FDCWD, "deps", AT_FDCWD, "d2")),
        ("exchange a grant's parent", "renameat2", (AT_FDCWD, "deps", AT_FDCWD, "sub", RENAME_EXCHANGE)),
        ("remove a grant's parent", "unlinkat", (AT_FDCWD, "deps", AT_REMOVEDIR)),
        ("remove a hidden directory", "unlinkat", (AT_FDCWD, "deps/vendor/secrets", AT_REMOVEDIR)),
        ("rename a hidden directory", "renameat", (AT_FDCWD, "a/b/c", AT_FDCWD, "a/b/uncovered")),
        ("hard-link a read-only file out", "linkat", (AT_FDCWD, "deps/vendor/lib.txt", AT_FDCWD, "hard", 0)),
        ("hard-link a hidden file out", "linkat", (AT_FDCWD, "deps/vendor/secrets/key", AT_FDCWD, "key2", 0)),
        ("a symlink in a read-only grant", "symlinkat", ("/etc/passwd", AT_FDCWD, "deps/vendor/link")),
        ("rename a file into a read-only grant", "renameat", (AT_FDCWD, "file.txt", AT_FDCWD, "deps/vendor/file.txt")),
    ]


# (what, call, args): each must succeed (the walls are not wider than the policy, nor narrower).
def _allowed(arch: str) -> list[tuple[str, str, tuple]]:
    o = lambda f: _flags(arch, f)  # noqa: E731
    return [
        ("create in the writable grant", "openat", (AT_FDCWD, "made.txt", o(O_CREAT | O_WRONLY), 0o644)),
        ("create in a writable grant inside a read-only one", "openat", (AT_FDCWD, "a/b/made.txt", o(O_CREAT | O_WRONLY), 0o644)),
        ("read a read-only file", "openat", (AT_FDCWD, "deps/vendor/lib.txt", o(O_RDONLY), 0)),
        ("rename inside the writable grant", "renameat", (AT_FDCWD, "made.txt", AT_FDCWD, "renamed.txt")),
        ("remove inside the writable grant", "unlinkat", (AT_FDCWD, "renamed.txt", 0)),
    ]


def _run(arch: str, root, outside):
    attempts, allowed = _attempts(arch, outside), _allowed(arch)
    # A hidden directory either does not open, or (the kernel wall's empty cover) lists nothing.
    listing = [("openat", (AT_FDCWD, "deps/vendor/secrets", _flags(arch, O_RDONLY | 0o200000), 0)),
               ("getdents64", (3, bytearray(512), 512))]
    calls = listing + [(name, args) for _, name, args in attempts + allowed] + [("exit_group", (0,))]
    sb = Sandbox(arch, kernel="host", cwd=str(root), policy=_policy(root), require_landlock=True)
    result = sb.run_asm(calls_program(sb.arch, calls))
    assert sb.wall_report is not None and sb.wall_report.abi >= 1
    records = [r for r in result.syscalls if r.name != "exit_group"]
    assert len(records) == len(listing) + len(attempts) + len(allowed), result
    opened, listed = records[:2]
    assert opened.ret < 0 or 0 <= listed.ret <= 48, f"a hidden directory listed: {opened}, {listed}"
    records = records[2:]
    for (what, _, _), rec in zip(attempts, records):
        assert rec.ret < 0, f"escaped: {what}: {rec}"
    for (what, _, _), rec in zip(allowed, records[len(attempts):]):
        assert rec.ret >= 0, f"refused what the policy grants: {what}: {rec}"
    return sb, records


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_no_escape_with_both_walls(layout, arch):
    root, outside = layout
    sb, records = _run(arch, root, outside)
    assert sb.wall_report.mounts or os.geteuid() != 0


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_no_escape_with_the_kernel_wall_alone(layout, arch, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("the nested rules need root's mount namespace to hold in the kernel")
    monkeypatch.setenv(TEST_ONLY_SWITCH, "1")
    root, outside = layout
    sb, records = _run(arch, root, outside)
    # The first wall was really off: the guest's world was the host's whole tree.
    assert [m for m, *_ in sb.world().mounts] == ["/"]


@pytest.mark.parametrize("wall_only", [False, True], ids=["both walls", "the kernel wall alone"])
def test_no_connection_reaches_the_network(layout, wall_only, monkeypatch):
    import socket

    if wall_only:
        monkeypatch.setenv(TEST_ONLY_SWITCH, "1")
    root, _ = layout
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    address = struct.pack("<H", 2) + struct.pack(">H", port) + bytes([127, 0, 0, 1]) + bytes(8)
    try:
        sb = Sandbox("x86_64", kernel="host", cwd=str(root), policy=_policy(root))
        result = sb.run_asm(calls_program(sb.arch, [
            ("socket", (2, 1, 0)), ("connect", (3, address, 16)), ("exit_group", (0,))]))
    finally:
        server.close()
    sock, connect = result.syscalls[:2]
    assert sock.ret < 0 or connect.ret < 0, (sock, connect)
    if wall_only:
        assert sock.ret == 3 and connect.errno == "EACCES"  # the first wall was off: Landlock said no


def test_the_callers_process_is_never_confined(layout):
    root, outside = layout
    Sandbox("x86_64", kernel="host", cwd=str(root), policy=_policy(root)).run_asm(
        calls_program(Sandbox("x86_64").arch, [("exit_group", (0,))]))
    assert (outside / "secret.txt").read_bytes() == SECRET  # this process still reads it
