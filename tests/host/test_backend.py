"""A host directory's answers are the host's: real flags, real order, real locks, and in host
mode real clocks, with the guest's arch on both sides; every call decoded once, by the model."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time

import pytest

from kernel_model.host import policy_from_dict
from kernel_model.abi import O_APPEND, O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY, O_RDWR, O_WRONLY, abi_for
from sandbox import Sandbox

ARCHES = ["x86_64", "aarch64"]
AT_FDCWD = -100


@pytest.fixture(params=ARCHES)
def arch(request):
    return request.param


@pytest.fixture
def granted(tmp_path, monkeypatch):
    d = tmp_path / "granted"
    d.mkdir()
    for name in ("zeta", "alpha", "mid", "beta"):
        (d / name).write_bytes(name.encode() + b"\n")
    monkeypatch.chdir(d)
    return d


def host_sb(arch, granted, access="rw", **kw):
    return Sandbox(arch, kernel="host", cwd=str(granted), policy=policy_from_dict({"paths": {str(granted): access}}), **kw)


def open_(sb, path, canonical, mode=0o644):
    return sb.syscall("openat", AT_FDCWD, path, abi_for(sb.arch.name).open_flags_out(canonical), mode)


def dirents(buf: bytes, n: int) -> list[str]:
    names, pos = [], 0
    while pos < n:
        reclen = struct.unpack_from("<H", buf, pos + 16)[0]
        names.append(bytes(buf[pos + 19 : pos + reclen]).split(b"\0")[0].decode())
        pos += reclen
    return names


def test_services_follow_the_mode_and_the_rules(arch, granted):
    """Every call is the kernel model's in both modes; what the mode (or --forward) picks is
    whose clocks and name the model answers with."""
    sb = Sandbox(arch, forward=["uname"])
    rec = sb.syscall("uname", buf := bytearray(390))
    assert rec.ret == 0 and buf[65:130].rstrip(b"\0").decode() == os.uname().nodename
    model = Sandbox(arch)
    model.syscall("uname", buf := bytearray(390))
    assert buf[65:130].rstrip(b"\0") == b"sandbox"
    services = host_sb(arch, granted).world().services
    assert services.host_clock and services.host_uname
    assert not Sandbox(arch).world().services.host_clock


def test_uname_is_the_hosts_node_and_the_guests_machine(arch, granted):
    sb = host_sb(arch, granted)
    sb.syscall("uname", buf := bytearray(390))
    fields = [bytes(buf[i * 65 : (i + 1) * 65]).rstrip(b"\0").decode() for i in range(6)]
    assert fields[0] == "Linux" and fields[1] == os.uname().nodename
    assert fields[4] == sb.arch.uname_machine
    if sys.platform.startswith("linux"):
        assert fields[2] == os.uname().release


def test_directories_list_in_the_hosts_order(arch, granted):
    sb = host_sb(arch, granted)
    fd = open_(sb, ".", O_RDONLY | O_DIRECTORY).ret
    buf = bytearray(4096)
    names = dirents(buf, sb.syscall("getdents64", fd, buf, len(buf)).ret)
    assert [n for n in names if n not in (".", "..")] == os.listdir(granted)
    # A buffer too small for one record is EINVAL; then the listing goes on where it was.
    fd = open_(sb, ".", O_RDONLY | O_DIRECTORY).ret
    assert sb.syscall("getdents64", fd, bytearray(8), 8).errno == "EINVAL"
    got = []
    while True:
        small = bytearray(48)
        n = sb.syscall("getdents64", fd, small, 48).ret
        if n == 0:
            break
        got += dirents(small, n)
    assert got == names


def test_open_flags_are_translated_for_the_host(arch, granted):
    sb = host_sb(arch, granted)
    assert open_(sb, "alpha", O_RDONLY | O_DIRECTORY).errno == "ENOTDIR"
    assert open_(sb, "alpha", O_CREAT | O_EXCL | O_WRONLY).errno == "EEXIST"
    fd = open_(sb, "alpha", O_WRONLY | O_APPEND).ret
    assert sb.syscall("write", fd, b"more\n", 5).ret == 5
    assert (granted / "alpha").read_bytes() == b"alpha\nmore\n"
    flags = sb.syscall("fcntl", fd, 3, 0).ret  # F_GETFL, in the guest's values
    assert abi_for(arch).open_flags_in(flags) & (O_APPEND | 3) == O_APPEND | O_WRONLY


def test_the_guests_umask_applies_and_the_hosts_is_left_alone(arch, granted):
    before = os.umask(0o022)
    os.umask(before)
    sb = host_sb(arch, granted)
    sb.syscall("umask", 0)
    assert open_(sb, "open-to-all", O_CREAT | O_WRONLY, 0o666).ret >= 3
    assert sb.syscall("mkdirat", AT_FDCWD, "dir-for-all", 0o777).ret == 0
    assert (granted / "open-to-all").stat().st_mode & 0o777 == 0o666
    assert (granted / "dir-for-all").stat().st_mode & 0o777 == 0o777
    now = os.umask(0)
    os.umask(now)
    assert now == before


def test_seek_data_and_hole_are_the_hosts(arch, granted):
    with open(granted / "sparse", "wb") as f:
        f.seek(1 << 20)
        f.write(b"x")
    sb = host_sb(arch, granted)
    fd = open_(sb, "sparse", O_RDONLY).ret
    data = sb.syscall("lseek", fd, 0, 3).ret  # SEEK_DATA
    assert data == os.lseek(os.open(granted / "sparse", os.O_RDONLY), 0, os.SEEK_DATA)
    assert sb.syscall("lseek", fd, 1 << 30, 3).errno == "ENXIO"
    assert sb.syscall("lseek", fd, 5, 0).ret == 5
    assert sb.syscall("lseek", fd, 0, 1).ret == 5  # SEEK_CUR from the guest's own offset


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the host's struct flock is Linux's")
def test_record_locks_are_real_host_locks(arch, granted):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl,sys,time; f=open(sys.argv[1],'r+'); fcntl.lockf(f, fcntl.LOCK_EX);"
         " print('locked', flush=True); time.sleep(30)", str(granted / "mid")],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline() == b"locked\n"
        sb = host_sb(arch, granted)
        fd = open_(sb, "mid", O_RDWR).ret
        flock = struct.pack("<hh4xqqi4x", 1, 0, 0, 0, 0)  # F_WRLCK over the whole file
        assert sb.syscall("fcntl", fd, 6, flock).errno in ("EAGAIN", "EACCES")  # F_SETLK
        probe = bytearray(flock)
        assert sb.syscall("fcntl", fd, 5, probe).ret == 0  # F_GETLK
        l_type, _, _, _, l_pid = struct.unpack("<hh4xqqi4x", probe)
        assert (l_type, l_pid) == (1, holder.pid)
    finally:
        holder.kill()
        holder.wait()
    assert sb.syscall("fcntl", fd, 6, flock).ret == 0


def test_clocks_are_the_hosts(arch, granted):
    sb = host_sb(arch, granted)
    buf = bytearray(16)
    sb.syscall("clock_gettime", 1, buf)  # CLOCK_MONOTONIC
    sec, nsec = struct.unpack("<qq", buf)
    assert abs(sec * 10**9 + nsec - time.monotonic_ns()) < 5 * 10**9
    model = Sandbox(arch)
    model.syscall("clock_gettime", 1, buf)
    assert struct.unpack("<qq", buf)[0] < 100  # the model's monotonic clock counts from its start


def test_statx_is_the_hosts(arch, granted):
    sb = host_sb(arch, granted)
    buf = bytearray(256)
    assert sb.syscall("statx", AT_FDCWD, "beta", 0, 0xFFF, buf).ret == 0
    mask, = struct.unpack_from("<I", buf, 0)
    ino, size = struct.unpack_from("<QQ", buf, 32)
    st = os.stat(granted / "beta")
    assert (ino, size) == (st.st_ino, st.st_size)
    assert mask & 0x7FF == 0x7FF


def test_a_tmpfs_rule_is_an_empty_in_memory_directory(arch, granted):
    policy = policy_from_dict({"paths": {str(granted): "ro", "/scratch": "tmpfs"}})
    sb = Sandbox(arch, kernel="host", cwd=str(granted), policy=policy)
    fd = open_(sb, "/scratch/note", O_CREAT | O_RDWR).ret
    assert sb.syscall("write", fd, b"kept in memory", 14).ret == 14
    assert not os.path.exists("/scratch")


def test_a_debuggers_snapshot_shares_the_grants_and_rewinds_the_offsets(arch, granted):
    import gc

    sb = host_sb(arch, granted)
    sb.load_asm("nop\nnop\n" + ("mov rax, 60\nsyscall" if arch == "x86_64" else "mov x8, #93\nsvc #0"))
    fd = open_(sb, "alpha", O_RDONLY).ret
    snap = sb.snapshot()
    first = bytearray(3)
    sb.syscall("read", fd, first, 3)
    sb.restore(snap)
    again = bytearray(3)
    sb.syscall("read", fd, again, 3)
    assert first == again == bytearray(b"alp")
    rec = sb.syscall("openat", AT_FDCWD, "/etc/passwd", 0, 0)
    assert rec.errno == "ENOENT" and rec.note.startswith("denied")  # the restored world still records
    del snap
    gc.collect()
    assert open_(sb, "beta", O_RDONLY).ret >= 0  # dropping the snapshot closed nothing of the grant's
