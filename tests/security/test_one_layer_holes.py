"""Regression tests for the holes the one syscall layer closed, each named after its hole.

Two layers (the kernel model's handlers and a second copy of 63 of them for the host) had
drifted apart, and the host's copy had holes; each test here failed before the change.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernel_model.abi import abi_for
from kernel_model.host import policy_from_dict
from sandbox import Sandbox
from sandbox.stubs import calls_program

ROOT = Path(__file__).resolve().parents[2]
AT_FDCWD = -100
O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_DIRECTORY = 0, 1, 2, 0o100, 0o1000, 0o200000
F_GETFL = 3
BACKENDS = ["model", "host"]


def _cli(*args: str, cwd: Path, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=cwd, env=env, capture_output=True,
                          timeout=timeout, **kw)


def _program(tmp_path: Path, arch: str, calls: list, name: str = "prog") -> Path:
    path = tmp_path / f"{name}.{arch}.s"
    path.write_text(calls_program(Sandbox(arch).arch, calls + [("exit_group", (0,))]))
    return path


def _sandbox(backend: str, arch: str, cwd: Path, **kw) -> Sandbox:
    if backend == "host":
        return Sandbox(arch, kernel="host", cwd=str(cwd), policy=policy_from_dict({"paths": {str(cwd): "rw"}}), **kw)
    return Sandbox(arch, cwd=str(cwd), mounts=[f"{cwd}:{cwd}:rw"], **kw)


def test_renaming_a_grants_parent_cannot_uncover_what_the_policy_protects(tmp_path, monkeypatch):
    (tmp_path / "deps/vendor/secrets").mkdir(parents=True)
    (tmp_path / "deps/vendor/lib.txt").write_bytes(b"vendored\n")
    (tmp_path / "deps/vendor/secrets/key").write_bytes(b"secret\n")
    monkeypatch.chdir(tmp_path)
    policy = policy_from_dict({"paths": {".": "rw", "deps/vendor": "ro", "deps/vendor/secrets": "hidden"}})
    sb = Sandbox("x86_64", kernel="host", cwd=str(tmp_path), policy=policy)
    assert sb.syscall("renameat", AT_FDCWD, "deps", AT_FDCWD, "d2").errno == "EBUSY"
    assert sb.syscall("openat", AT_FDCWD, "d2/vendor/lib.txt", O_WRONLY | O_TRUNC, 0).errno == "ENOENT"
    assert sb.syscall("openat", AT_FDCWD, "deps/vendor/lib.txt", O_WRONLY | O_TRUNC, 0).errno == "EROFS"
    assert sb.syscall("openat", AT_FDCWD, "deps/vendor/secrets/key", O_RDONLY, 0).errno == "ENOENT"
    assert (tmp_path / "deps/vendor/lib.txt").read_bytes() == b"vendored\n"


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_fcntl_getfl_after_openat_is_the_same_in_both_modes(arch, tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    answers = set()
    for backend in BACKENDS:
        sb = _sandbox(backend, arch, tmp_path)
        fd = sb.syscall("openat", AT_FDCWD, "f", abi_for(arch).open_flags_out(O_RDONLY), 0).ret
        answers.add(sb.syscall("fcntl", fd, F_GETFL, 0).ret)
    assert answers == {abi_for(arch).open_flags_out(0o100000)}  # O_LARGEFILE, as Linux shows it


@pytest.mark.parametrize("arch", ["arm", "i386"])
def test_the_32_bit_twins_are_served_as_in_the_model_in_host_mode(arch, tmp_path):
    (tmp_path / "f").write_bytes(b"0123456789")
    seen = []
    for backend in BACKENDS:
        sb = _sandbox(backend, arch, tmp_path)
        fd = sb.syscall("openat", AT_FDCWD, "f", O_RDWR, 0).ret
        result = bytearray(8)
        seen.append((
            sb.syscall("fcntl64", fd, F_GETFL, 0).ret,
            sb.syscall("_llseek", fd, 0, 4, result, 0).ret, bytes(result),
            sb.syscall("chown32", "f", os.getuid(), os.getgid()).ret,
        ))
    assert seen[0] == seen[1] and seen[0][1:3] == (0, struct.pack("<q", 4))


def test_opening_a_directory_for_writing_in_a_read_only_place_is_eisdir(tmp_path):
    (tmp_path / "d").mkdir()
    for backend in BACKENDS:
        policy = policy_from_dict({"paths": {str(tmp_path): "ro"}})
        sb = Sandbox("x86_64", kernel=backend, cwd=str(tmp_path), policy=policy)
        assert sb.syscall("openat", AT_FDCWD, "d", O_WRONLY, 0).errno == "EISDIR", backend


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_long_nanosleep_ends_at_the_timeout(backend, tmp_path):
    prog = _program(tmp_path, "x86_64", [("nanosleep", (struct.pack("<qq", 4, 0), 0))])
    start = time.monotonic()
    r = _cli("run", "--timeout", "1", *(["--kernel", "host"] if backend == "host" else []), str(prog), cwd=tmp_path)
    assert r.returncode == 137 and time.monotonic() - start < 3.5, r.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_read_of_a_host_fifo_ends_at_the_timeout_and_at_ctrl_c(backend, tmp_path):
    os.mkfifo(tmp_path / "fifo")
    holder = os.open(tmp_path / "fifo", os.O_RDWR | os.O_NONBLOCK)  # a writer that never writes
    try:
        prog = _program(tmp_path, "x86_64", [
            ("openat", (AT_FDCWD, "fifo", O_RDONLY, 0)), ("read", (3, bytearray(16), 16))])
        mode = ["--kernel", "host"] if backend == "host" else []
        start = time.monotonic()
        r = _cli("run", "--timeout", "1.5", *mode, str(prog), cwd=tmp_path)
        assert r.returncode == 137 and time.monotonic() - start < 4, r.stderr
        proc = subprocess.Popen([sys.executable, "-m", "sandbox", "run", *mode, str(prog)], cwd=tmp_path,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)), stderr=subprocess.PIPE)
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 130
        assert b"Traceback" not in proc.stderr.read()
    finally:
        os.close(holder)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mmap_of_dev_zero_with_a_terabyte_is_enomem_under_the_memory_limit(backend, tmp_path):
    sb = _sandbox(backend, "x86_64", tmp_path, max_memory=64 << 20)
    fd = sb.syscall("openat", AT_FDCWD, "/dev/zero", O_RDWR, 0).ret
    assert fd >= 0
    assert sb.syscall("mmap", 0, 1 << 40, 3, 2, fd, 0).errno == "ENOMEM"  # PROT_READ|WRITE, MAP_PRIVATE
    # a small one works, and is fresh zeros
    addr = sb.syscall("mmap", 0, 1 << 20, 3, 2, fd, 0).ret
    assert addr > 0 and sb.machine.memory.read(addr, 16) == bytes(16)


def test_deep_directories_in_tmp_do_not_overflow_the_sandboxs_stack(tmp_path):
    calls = []
    for _ in range(520):
        calls += [("mkdirat", (AT_FDCWD, "a", 0o755)), ("chdir", ("a",))]
    prog = tmp_path / "deep.x86_64.s"
    prog.write_text(calls_program(Sandbox("x86_64").arch, [("chdir", ("/tmp",)), *calls,
                                                             ("statfs", ("/tmp", bytearray(120))), ("exit_group", (0,))]))
    r = Sandbox("x86_64").run_file(str(prog))
    assert r.exit_status == 0 and r.calls("statfs")[0].ret == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_gigabytes_from_dev_urandom_stay_within_the_limits(backend, tmp_path):
    sb = _sandbox(backend, "x86_64", tmp_path, max_memory=64 << 20)
    fd = sb.syscall("openat", AT_FDCWD, "/dev/urandom", O_RDONLY, 0).ret
    assert sb.syscall("mmap", 0, 2 << 30, 1, 2, fd, 0).errno in ("ENODEV", "ENOMEM")
    # sendfile of 2 GiB to /dev/null under a timeout: ended on time, the host process small
    prog = _program(tmp_path, "x86_64", [
        ("openat", (AT_FDCWD, "/dev/urandom", O_RDONLY, 0)), ("openat", (AT_FDCWD, "/dev/null", O_WRONLY, 0)),
        ("sendfile", (4, 3, 0, 2 << 30))])
    mode = ["--kernel", "host"] if backend == "host" else []
    # Linux carries the parent's peak into a child's ru_maxrss at execve, so a child of this (large)
    # test worker would report the worker's size: a small launcher forks the run and reports its peak.
    launcher = ("import os, sys\n"
                "pid = os.fork()\n"
                "if pid == 0:\n"
                "    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)\n"
                "    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
                "_, status, usage = os.wait4(pid, 0)\n"
                "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", launcher, "-m", "sandbox", "run", "--timeout", "2", "--max-memory",
                           "64M", *mode, str(prog)], cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    took = time.monotonic() - start
    returncode, maxrss = map(int, proc.stdout.split())
    # before: 35-52 s past a 3 s timeout, and 2.1 GB; a loaded machine may add seconds, not tens
    assert returncode in (0, 137) and took < 15, (returncode, took, proc.stderr)
    assert maxrss / 1024 < 400, maxrss


def test_proc_self_maps_shows_no_host_device_or_inode_of_a_program_outside_the_view(tmp_path):
    from sandbox.assembler import assemble
    from sandbox.elfwriter import build_elf

    elsewhere, view = tmp_path / "elsewhere", tmp_path / "view"
    elsewhere.mkdir()
    view.mkdir()
    arch = Sandbox("x86_64").arch
    text = calls_program(arch, [("openat", (AT_FDCWD, "/proc/self/maps", O_RDONLY, 0)),
                                ("read", (3, bytearray(4096), 4096)), ("exit_group", (0,))])
    prog = elsewhere / "prog"
    prog.write_bytes(build_elf(arch, assemble(arch, text)))
    prog.chmod(0o755)
    r = Sandbox("x86_64", cwd=str(view), trace=True, string_limit=4096).run_file(str(prog))
    maps = r.calls("read")[0].captured["buf"].data.decode()
    st = os.stat(prog)
    line = next(line for line in maps.splitlines() if line.endswith(str(prog)))
    assert line.split()[3] == "00:01" and line.split()[4] != str(st.st_ino), line  # the sandbox's own device
