"""The command line: bad input gets one clear line and a non-zero status, never a traceback."""

from __future__ import annotations

import struct

import pytest
from helpers import ROOT, sandbox_cli


def one_line_error(r, status: int, *words: str) -> None:
    err = r.stderr.decode()
    assert r.returncode == status, err
    assert err.count("\n") == 1 and err.startswith("sandbox: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err


def test_run_prints_hello_and_exits_zero():
    r = sandbox_cli("run", "examples/hello/hello.aarch64.s")
    assert (r.returncode, r.stdout) == (0, b"Hello world\n")


def test_missing_file():
    one_line_error(sandbox_cli("run", "nope.s"), 127, "nope.s", "No such file")


def test_a_directory():
    one_line_error(sandbox_cli("run", "examples"), 126, "Is a directory")


def test_bad_assembly_names_the_line(tmp_path):
    bad = tmp_path / "bad.x86_64.s"
    bad.write_text("nop\nmov rax, rbx, rcx\n")
    r = sandbox_cli("run", str(bad))
    err = r.stderr.decode()
    # FILE:LINE: message, as compilers say it (no "sandbox:" before it, for editors to follow)
    assert r.returncode == 2 and err.count("\n") == 1 and err.startswith(f"{bad}:2: "), err


def test_unknown_arch():
    one_line_error(sandbox_cli("run", "--arch", "vax", "examples/hello/hello.x86_64.s"), 2, "unknown arch 'vax'")


def test_arch_that_contradicts_the_file():
    one_line_error(sandbox_cli("run", "--arch", "x86_64", "examples/hello/hello.aarch64.s"), 2, "contradicts")


def test_assembly_without_an_arch(tmp_path):
    src = tmp_path / "plain.s"
    src.write_text("nop\n")
    one_line_error(sandbox_cli("run", str(src)), 2, "cannot tell the arch")


def test_arch_from_a_comment(tmp_path):
    src = tmp_path / "plain.s"
    src.write_text("// arch: aarch64\nmov x8, #93\nmov x0, #4\nsvc #0\n")
    assert sandbox_cli("run", str(src)).returncode == 4
    r = sandbox_cli("run", "--arch", "aarch64", str(src))
    assert r.returncode == 4


def test_a_script(tmp_path):
    script = tmp_path / "s.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    one_line_error(sandbox_cli("run", str(script)), 126, "script")


def elf_header(bits: int, big: bool, machine: int) -> bytes:
    end = ">" if big else "<"
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 2 if big else 1, 1, 0]) + bytes(8)
    if bits == 64:
        rest = struct.pack(end + "HHIQQQIHHHHHH", 2, machine, 1, 0x400000, 64, 0, 0, 64, 56, 0, 64, 0, 0)
    else:
        rest = struct.pack(end + "HHIIIIIHHHHHH", 2, machine, 1, 0x8000, 52, 0, 0, 52, 32, 0, 40, 0, 0)
    return ident + rest


@pytest.mark.parametrize(
    "bits,big,machine,words",
    [
        (32, True, 8, ["32-bit", "big-endian", "MIPS"]),
        (64, False, 3, ["64-bit", "i386"]),
        (64, True, 21, ["big-endian", "PowerPC64"]),
        (64, False, 0x1234, ["machine 4660"]),
    ],
)
def test_elf_for_an_unsupported_arch(tmp_path, bits, big, machine, words):
    f = tmp_path / "prog"
    f.write_bytes(elf_header(bits, big, machine))
    one_line_error(sandbox_cli("run", str(f)), 126, *words)


def test_truncated_elf(tmp_path):
    real = elf_header(64, False, 62)
    f = tmp_path / "trunc"
    f.write_bytes(real[:30])
    one_line_error(sandbox_cli("run", str(f)), 126, "truncated")
    f.write_bytes(real)  # a header that promises nothing loadable
    one_line_error(sandbox_cli("run", str(f)), 126, "no program headers")


def test_not_a_program(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    one_line_error(sandbox_cli("run", str(f)), 126, "not an ELF")


def test_bad_mount_and_env():
    one_line_error(sandbox_cli("run", "--mount", "/nonexistent-dir:/x", "examples/hello/hello.x86_64.s"), 2,
                   "no directory '/nonexistent-dir' on the host")
    one_line_error(sandbox_cli("run", "--env", "=value", "examples/hello/hello.x86_64.s"), 2, "NAME=VALUE")


def test_a_crash_is_one_line_and_status_128_plus_signal(tmp_path):
    src = tmp_path / "crash.x86_64.s"
    src.write_text("mov rax, [0x10]\n")
    r = sandbox_cli("run", str(src))
    one_line_error(r, 139, "SIGSEGV", "0x10", "mov")
    r = sandbox_cli("run", "-v", str(src))
    assert r.returncode == 139 and b"rip" in r.stderr


def test_usage_errors_are_one_line():
    r = sandbox_cli("run")
    assert r.returncode == 2 and r.stderr.decode().count("\n") == 1
    r = sandbox_cli("frobnicate")
    assert r.returncode == 2


def test_guest_arguments_pass_through():
    r = sandbox_cli("run", "examples/cat/cat.x86_64.s", "-", stdin=b"")
    assert r.returncode == 1  # "-" is a file name to this cat


def test_python_dash_m_and_version():
    r = sandbox_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith(b"syscall-sandbox")
    assert ROOT.exists()


def test_a_truncated_copy_of_a_real_binary(tmp_path):
    real = (ROOT / "tests" / "programs" / "bin" / "libc-demo-static.aarch64").read_bytes()
    cut = tmp_path / "cut"
    cut.write_bytes(real[: len(real) // 3])
    one_line_error(sandbox_cli("run", str(cut)), 126, "truncated")


def test_a_rootfs_that_is_not_a_directory():
    one_line_error(sandbox_cli("run", "--rootfs", "/nonexistent-root", "examples/hello/hello.x86_64.s"), 2, "--rootfs")


def test_a_wait_that_nothing_can_end_is_reported_as_a_deadlock(tmp_path):
    # pipe2, then read from the empty pipe: only another thread could ever write to it.
    src = tmp_path / "deadlock.aarch64.s"
    src.write_text(
        "adr x0, fds\nmov x1, #0\nmov x8, #59\nsvc #0\nadr x9, fds\nldr w0, [x9]\nadr x1, buf\n"
        "mov x2, #4\nmov x8, #63\nsvc #0\nmov x8, #93\nsvc #0\nfds: .quad 0\nbuf: .quad 0\n"
    )
    one_line_error(sandbox_cli("run", str(src)), 137, "deadlock", "empty pipe")


def test_a_hosts_secret_does_not_reach_the_guest():
    """Regression: the default model mode handed the guest every host variable."""
    import os
    import subprocess
    import sys

    from helpers import ROOT, busybox_for

    bb = busybox_for("x86_64")
    if bb is None:
        pytest.skip("Debian's busybox is not fetched (tests/programs/fetch-busybox.sh)")
    env = dict(os.environ, SANDBOX_TEST_TOKEN="do-not-leak", PYTHONPATH=str(ROOT))
    run = ["busybox", "env"]
    r = subprocess.run([sys.executable, "-m", "sandbox", "run", str(bb), *run[1:]], capture_output=True, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert b"do-not-leak" not in r.stdout and b"PATH=/usr/local/bin" in r.stdout
    r = subprocess.run([sys.executable, "-m", "sandbox", "run", "--env", "SANDBOX_TEST_TOKEN", str(bb), *run[1:]],
                       capture_output=True, env=env, cwd=ROOT)
    assert b"SANDBOX_TEST_TOKEN=do-not-leak" in r.stdout
