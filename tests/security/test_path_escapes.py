"""No path leads out of the grant: not ``..``, not an absolute path, not a symlink found or made
inside, not /proc's links, not a descriptor the guest was given, not a read-only grant's write.
Each attempt is refused with the errno Linux would give for a path that is not there (or a
read-only filesystem), and the record names the rule."""

from __future__ import annotations

import os
import struct

import pytest
from arena import PROGRAMS, SECRET, failed, refused

from kernel_model.abi import O_CREAT, O_DIRECTORY, O_EXCL, O_PATH, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, abi_for

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000
RENAME_EXCHANGE = 2
UNGRANTED = "no path rule grants it"


def flags(arch: str, canonical: int) -> int:
    """Open flags in the guest arch's own values."""
    return abi_for(arch).open_flags_out(canonical)


def open_(sb, arch, path, how=O_RDONLY, mode=0o644, dirfd=AT_FDCWD):
    return sb.syscall("openat", dirfd, path, flags(arch, how), mode)


def read_all(sb, fd: int) -> bytes:
    buf = bytearray(256)
    rec = sb.syscall("read", fd, buf, len(buf))
    return bytes(buf[: max(rec.ret, 0)])


# -- reading out -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "../outside/secret.txt",
    "../../../../../../../../../../etc/passwd",
    "sub/../../outside/secret.txt",
    "sub/up/outside/secret.txt",  # a symlink inside leading up and out
    "./././../sibling/other.txt",
])
def test_dot_dot_chains_do_not_leave_the_grant(arena, path):
    sb = arena.sandbox()
    refused(open_(sb, arena.arch, path), "ENOENT", UNGRANTED)


def test_absolute_paths_outside_do_not_exist(arena):
    sb = arena.sandbox()
    for path in ("/etc/passwd", str(arena.outside / "secret.txt"), str(arena.sibling), "/", "/root/.ssh/id_rsa"):
        rec = open_(sb, arena.arch, path)
        if path == "/":
            assert rec.ret >= 0  # the root exists: it holds the way to the grant and nothing else
        else:
            refused(rec, "ENOENT", UNGRANTED)
    # The absolute path of the grant itself works.
    fd = open_(sb, arena.arch, str(arena.granted / "file.txt")).ret
    assert read_all(sb, fd) == b"inside\n"


@pytest.mark.parametrize("link", ["link-out", "abs-link", "dir-link/secret.txt", "dir-link/dir/deep.txt"])
def test_symlinks_found_inside_are_read_in_the_guests_view(arena, link):
    sb = arena.sandbox()
    refused(open_(sb, arena.arch, link), "ENOENT", UNGRANTED)
    refused(sb.syscall("newfstatat", AT_FDCWD, link, bytearray(256), 0), "ENOENT")
    # The link itself may be looked at: it is inside.
    buf = bytearray(256)
    rec = sb.syscall("readlinkat", AT_FDCWD, link.split("/")[0], buf, 256)
    assert rec.ret > 0


def test_symlinks_made_inside_point_nowhere_outside(arena):
    sb = arena.sandbox()
    target = str(arena.outside / "secret.txt")
    assert sb.syscall("symlinkat", target, AT_FDCWD, "made").ret == 0
    assert sb.syscall("symlinkat", "../outside", AT_FDCWD, "made-dir").ret == 0
    refused(open_(sb, arena.arch, "made"), "ENOENT", UNGRANTED)
    refused(open_(sb, arena.arch, "made", O_WRONLY | O_TRUNC), "ENOENT")
    refused(sb.syscall("mkdirat", AT_FDCWD, "made-dir/newdir", 0o755), "ENOENT")
    refused(open_(sb, arena.arch, "made-dir/secret.txt", O_RDWR), "ENOENT")
    assert os.readlink(arena.granted / "made") == target  # stored as written, harmless to the guest


def test_creating_through_a_dangling_link_never_creates_outside(arena):
    sb = arena.sandbox()
    refused(open_(sb, arena.arch, "dangling-out", O_CREAT | O_WRONLY), "ENOENT", UNGRANTED)
    failed(open_(sb, arena.arch, "dangling-out", O_CREAT | O_EXCL | O_WRONLY), "EEXIST")
    # (the arena checks outside/new.txt was not created)


@pytest.mark.parametrize("path", [
    "/proc/self/root/../outside/secret.txt",
    "/proc/self/cwd/../outside/secret.txt",
    "/proc/self/cwd/link-out",
    "/proc/1/root/etc/passwd",
    "/proc/self/root/etc/shadow",
])
def test_proc_links_describe_the_guest(arena, path):
    sb = arena.sandbox()
    rec = open_(sb, arena.arch, path)
    assert rec.errno == "ENOENT", rec
    assert rec.note is None or rec.note.startswith("denied")


def test_proc_self_fd_of_a_granted_directory_leads_nowhere_else(arena):
    sb = arena.sandbox()
    fd = open_(sb, arena.arch, ".", O_RDONLY | O_DIRECTORY).ret
    assert fd >= 3
    refused(open_(sb, arena.arch, f"/proc/self/fd/{fd}/../outside/secret.txt"), "ENOENT", UNGRANTED)
    buf = bytearray(256)
    n = sb.syscall("readlinkat", AT_FDCWD, f"/proc/self/fd/{fd}", buf, 256).ret
    assert bytes(buf[:n]).decode() == str(arena.granted)  # the guest's path, not a host fd


def test_proc_self_exe_is_the_guest_program(arena):
    program = PROGRAMS / "bin" / f"raw-syscalls.{arena.arch}"
    sb = arena.sandbox()
    sb.load_file(str(program))
    buf = bytearray(512)
    rec = sb.syscall("readlinkat", AT_FDCWD, "/proc/self/exe", buf, 512)
    assert bytes(buf[: rec.ret]).decode() == str(program.resolve())  # not the Python running the sandbox
    fd = open_(sb, arena.arch, "/proc/self/exe").ret
    assert read_all(sb, fd)[:20] == program.read_bytes()[:20]


def test_descriptors_it_was_given_do_not_lead_out(arena):
    sb = arena.sandbox()
    a = arena.arch
    dirfd = open_(sb, a, ".", O_RDONLY | O_DIRECTORY).ret
    pathfd = open_(sb, a, "sub", O_PATH).ret
    filefd = open_(sb, a, "file.txt").ret
    for fd, up in ((dirfd, "../"), (pathfd, "../../")):
        refused(open_(sb, a, up + "outside/secret.txt", dirfd=fd), "ENOENT", UNGRANTED)
        refused(open_(sb, a, up + "../../../etc/passwd", dirfd=fd), "ENOENT", UNGRANTED)
        refused(open_(sb, a, "/etc/passwd", dirfd=fd), "ENOENT", UNGRANTED)
    failed(open_(sb, a, "x", dirfd=filefd), "ENOTDIR")
    # An O_PATH descriptor reads nothing and changes nothing.
    failed(sb.syscall("read", pathfd, bytearray(8), 8), "EBADF")
    failed(sb.syscall("fchmod", pathfd, 0o777), "EBADF")


def test_directory_listings_show_only_the_way_to_the_grant(arena):
    sb = arena.sandbox()
    fd = open_(sb, arena.arch, str(arena.root), O_RDONLY | O_DIRECTORY).ret
    buf = bytearray(4096)
    n = sb.syscall("getdents64", fd, buf, len(buf)).ret
    names, pos = [], 0
    while pos < n:
        reclen = struct.unpack_from("<H", buf, pos + 16)[0]
        names.append(bytes(buf[pos + 19 : pos + reclen]).split(b"\0")[0].decode())
        pos += reclen
    assert sorted(names) == [".", "..", "granted"]


# -- changing things outside -----------------------------------------------------------------


def test_no_rename_link_or_unlink_reaches_outside(arena):
    sb = arena.sandbox()
    refused(sb.syscall("renameat", AT_FDCWD, "file.txt", AT_FDCWD, "../outside/stolen"), "ENOENT", UNGRANTED)
    refused(sb.syscall("renameat", AT_FDCWD, "../outside/secret.txt", AT_FDCWD, "got"), "ENOENT")
    refused(sb.syscall("renameat2", AT_FDCWD, "file.txt", AT_FDCWD, "../outside/secret.txt", RENAME_EXCHANGE), "ENOENT")
    refused(sb.syscall("linkat", AT_FDCWD, "../outside/secret.txt", AT_FDCWD, "hard", 0), "ENOENT")
    refused(sb.syscall("linkat", AT_FDCWD, "abs-link", AT_FDCWD, "hard", AT_SYMLINK_FOLLOW), "ENOENT")
    refused(sb.syscall("linkat", AT_FDCWD, "file.txt", AT_FDCWD, "../sibling/hard", 0), "ENOENT")
    failed(sb.syscall("linkat", 3, "", AT_FDCWD, "hard", AT_EMPTY_PATH), "ENOENT", "EBADF")
    refused(sb.syscall("unlinkat", AT_FDCWD, "../outside/secret.txt", 0), "ENOENT")
    refused(sb.syscall("unlinkat", AT_FDCWD, "dir-link/dir", AT_REMOVEDIR), "ENOENT")
    refused(sb.syscall("mkdirat", AT_FDCWD, "../evil", 0o755), "EACCES", UNGRANTED)
    refused(sb.syscall("mkdirat", AT_FDCWD, "/etc/evil", 0o755), "ENOENT")
    assert not os.path.exists("/etc/evil")
    # Within the grant, all of it works (the host does it).
    assert sb.syscall("linkat", AT_FDCWD, "file.txt", AT_FDCWD, "hard", 0).ret == 0
    assert sb.syscall("renameat2", AT_FDCWD, "hard", AT_FDCWD, "sub/inner.txt", RENAME_EXCHANGE).ret == 0
    assert (arena.granted / "hard").read_bytes() == b"inner\n"
    assert sb.syscall("unlinkat", AT_FDCWD, "hard", 0).ret == 0


def test_attributes_outside_cannot_change_even_through_links(arena):
    sb = arena.sandbox()
    times = struct.pack("<qqqq", 0, 0, 0, 0)
    for path in ("link-out", "abs-link", "../outside/secret.txt", "dir-link/secret.txt"):
        refused(sb.syscall("fchmodat", AT_FDCWD, path, 0o777), "ENOENT")
        refused(sb.syscall("fchownat", AT_FDCWD, path, 0, 0, 0), "ENOENT")
        refused(sb.syscall("utimensat", AT_FDCWD, path, times, 0), "ENOENT")
        refused(sb.syscall("truncate", path, 0), "ENOENT")
    # A link's own attributes (AT_SYMLINK_NOFOLLOW) are the link's, inside.
    assert sb.syscall("fchownat", AT_FDCWD, "link-out", os.getuid(), os.getgid(), AT_SYMLINK_NOFOLLOW).ret == 0


# -- a read-only grant -----------------------------------------------------------------------


def test_a_read_only_grant_refuses_every_change(arena):
    sb = arena.sandbox("ro")
    a = arena.arch
    rule = f'paths."{arena.granted}" = "ro"'
    refused(open_(sb, a, "file.txt", O_WRONLY), "EROFS", rule)
    refused(open_(sb, a, "file.txt", O_RDONLY | O_TRUNC), "EROFS", rule)
    refused(open_(sb, a, "new.txt", O_CREAT | O_WRONLY), "EROFS", rule)
    refused(sb.syscall("mkdirat", AT_FDCWD, "d", 0o755), "EROFS", rule)
    refused(sb.syscall("unlinkat", AT_FDCWD, "file.txt", 0), "EROFS", rule)
    refused(sb.syscall("renameat", AT_FDCWD, "file.txt", AT_FDCWD, "moved"), "EROFS", rule)
    refused(sb.syscall("linkat", AT_FDCWD, "file.txt", AT_FDCWD, "hard", 0), "EROFS", rule)
    refused(sb.syscall("symlinkat", "x", AT_FDCWD, "l"), "EROFS", rule)
    refused(sb.syscall("fchmodat", AT_FDCWD, "file.txt", 0o777), "EROFS", rule)
    refused(sb.syscall("truncate", "file.txt", 0), "EROFS", rule)
    refused(sb.syscall("faccessat", AT_FDCWD, "file.txt", 2), "EROFS", rule)
    fd = open_(sb, a, "file.txt").ret
    assert fd >= 3
    # A descriptor opened for reading changes nothing either (the host would let its owner).
    refused(sb.syscall("fchmod", fd, 0o777), "EROFS", rule)
    refused(sb.syscall("fchown", fd, 0, 0), "EROFS", rule)
    refused(sb.syscall("utimensat", fd, 0, 0, 0), "EROFS", rule)
    failed(sb.syscall("write", fd, b"x", 1), "EBADF")
    failed(sb.syscall("ftruncate", fd, 0), "EINVAL", "EBADF")
    # Reopening it for writing through /proc/self/fd gives nothing that writes.
    again = open_(sb, a, f"/proc/self/fd/{fd}", O_WRONLY)
    if again.ret >= 0:
        failed(sb.syscall("write", again.ret, b"x", 1), "EBADF")
    assert (arena.granted / "file.txt").read_bytes() == b"inside\n"
    assert sorted(os.listdir(arena.granted)) == ["abs-link", "dangling-out", "dir-link", "file.txt", "link-out", "sub"]


def test_hidden_paths_inside_a_grant_do_not_exist(arena):
    (arena.granted / "keys").mkdir()
    (arena.granted / "keys" / "id").write_bytes(SECRET)
    os.link(arena.granted / "keys" / "id", arena.granted / "innocent")  # the same file by another name
    sb = arena.sandbox(policy=arena.policy("rw", keys="hidden"))
    a = arena.arch
    rule = f'paths."{arena.granted / "keys"}" = "hidden"'
    refused(open_(sb, a, "keys/id"), "ENOENT", rule)
    refused(open_(sb, a, "keys", O_RDONLY | O_DIRECTORY), "ENOENT", rule)
    refused(sb.syscall("renameat", AT_FDCWD, "keys", AT_FDCWD, "open-keys"), "ENOENT", rule)
    refused(open_(sb, a, "innocent"), "ENOENT", "the same file as")
    refused(sb.syscall("newfstatat", AT_FDCWD, "sub/../keys/id", bytearray(256), 0), "ENOENT")
    fd = open_(sb, a, ".", O_RDONLY | O_DIRECTORY).ret
    buf = bytearray(4096)
    n = sb.syscall("getdents64", fd, buf, len(buf)).ret
    assert b"keys" not in bytes(buf[:n]) and b"innocent" not in bytes(buf[:n])
    assert b"file.txt" in bytes(buf[:n])
    # A hidden name cannot be made either; moving its parent does not uncover it.
    refused(sb.syscall("mkdirat", AT_FDCWD, "keys", 0o700), "ENOENT", rule)
    refused(sb.syscall("renameat", AT_FDCWD, "file.txt", AT_FDCWD, "keys"), "ENOENT", rule)
    refused(sb.syscall("symlinkat", "x", AT_FDCWD, "keys"), "ENOENT", rule)


def test_a_hidden_directory_stays_hidden_when_its_parent_moves(arena):
    (arena.granted / "sub" / "keys").mkdir()
    (arena.granted / "sub" / "keys" / "id").write_bytes(SECRET)
    sb = arena.sandbox(policy=arena.policy("rw", **{"sub/keys": "hidden"}))
    # What the policy hides is named by its path: the directories on the way to it stay put.
    failed(sb.syscall("renameat", AT_FDCWD, "sub", AT_FDCWD, "moved"), "EBUSY")
    failed(sb.syscall("renameat2", AT_FDCWD, "sub", AT_FDCWD, "file.txt", RENAME_EXCHANGE), "EBUSY")
    failed(sb.syscall("unlinkat", AT_FDCWD, "sub", AT_REMOVEDIR), "EBUSY")
    # Moved by someone else on the host, it is still hidden, by what it is.
    os.rename(arena.granted / "sub", arena.granted / "moved")
    refused(open_(sb, arena.arch, "moved/keys/id"), "ENOENT", "the same file as")
    assert (arena.granted / "moved" / "keys" / "id").read_bytes() == SECRET


def test_dev_is_the_sandboxs_own(arena):
    sb = arena.sandbox()
    for path in ("/dev/sda", "/dev/mem", "/dev/kmem", "/dev/shm/x", "/dev/../etc/passwd", "/dev/fd/../../etc/passwd"):
        failed(open_(sb, arena.arch, path, O_RDWR), "ENOENT", "EROFS")
    failed(open_(sb, arena.arch, "/dev/tty", O_RDWR), "ENXIO")
    fd = open_(sb, arena.arch, "/dev/null", O_RDWR).ret
    assert sb.syscall("write", fd, b"x", 1).ret == 1


def test_huge_paths_and_names_are_refused(arena):
    sb = arena.sandbox()
    failed(open_(sb, arena.arch, "a/" * 3000), "ENAMETOOLONG")
    failed(open_(sb, arena.arch, "x" * 300), "ENAMETOOLONG")
    assert open_(sb, arena.arch, "/".join(["sub/up/granted"] * 40) + "/file.txt").ret >= 0
    failed(open_(sb, arena.arch, "/".join(["sub/up/granted"] * 41) + "/file.txt"), "ELOOP")
    failed(sb.syscall("openat", AT_FDCWD, 0x10, 0, 0), "EFAULT")


def test_the_grant_itself_cannot_be_removed_or_replaced(arena):
    sb = arena.sandbox()
    failed(sb.syscall("unlinkat", AT_FDCWD, str(arena.granted), AT_REMOVEDIR), "EBUSY", "EACCES", "ENOENT")
    failed(sb.syscall("renameat", AT_FDCWD, str(arena.granted), AT_FDCWD, "/tmp/x"), "EBUSY", "ENOENT", "EXDEV")
    assert arena.granted.is_dir()
