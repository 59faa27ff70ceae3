"""The limits on the command line, and Ctrl-C: each stops the guest and says so in one line."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT, sandbox_cli

ARCHES = ["x86_64", "aarch64"]
SPIN = {"x86_64": "l: jmp l\n", "aarch64": "l: b l\n"}
SLEEP = {  # nanosleep for an hour
    "x86_64": "mov eax, 35\nlea rdi, [rip+ts]\nxor esi, esi\nsyscall\nts: .quad 3600\n.quad 0\n",
    "aarch64": "mov x8, #101\nadr x0, ts\nmov x1, #0\nsvc #0\nts: .quad 3600\n.quad 0\n",
}
READ = {  # read(0, buf, 16), then exit(0)
    "x86_64": "xor eax, eax\nxor edi, edi\nlea rsi, [rip+buf]\nmov edx, 16\nsyscall\nmov eax, 60\nxor edi, edi\nsyscall\nbuf: .skip 16\n",
    "aarch64": "mov x8, #63\nmov x0, #0\nadr x1, buf\nmov x2, #16\nsvc #0\nmov x8, #93\nmov x0, #0\nsvc #0\nbuf: .skip 16\n",
}
YES = {  # write "y\n" for ever
    "x86_64": 'l: mov eax, 1\nmov edi, 1\nlea rsi, [rip+m]\nmov edx, 2\nsyscall\njmp l\nm: .ascii "y\\n"\n',
    "aarch64": 'l: mov x8, #64\nmov x0, #1\nadr x1, m\nmov x2, #2\nsvc #0\nb l\nm: .ascii "y\\n"\n',
}
MMAP_GIB = {  # mmap 1 GiB; exit with the low byte of the result (12 for -ENOMEM)
    "x86_64": "mov eax, 9\nxor edi, edi\nmov esi, 0x40000000\nmov edx, 3\nmov r10d, 0x22\nmov r8, -1\nxor r9d, r9d\n"
    "syscall\nmov edi, eax\nneg edi\nmov eax, 60\nsyscall\n",
    "aarch64": "mov x8, #222\nmov x0, #0\nmov x1, #0x40000000\nmov x2, #3\nmov x3, #0x22\nmov x4, #-1\nmov x5, #0\n"
    "svc #0\nneg x0, x0\nmov x8, #93\nsvc #0\n",
}
DUP_UNTIL_FAIL = {  # dup(0) until it fails; exit with -errno (24 for EMFILE)
    "x86_64": "l: mov eax, 32\nxor edi, edi\nsyscall\ntest rax, rax\njns l\nneg eax\nmov edi, eax\nmov eax, 60\nsyscall\n",
    "aarch64": "l: mov x8, #23\nmov x0, #0\nsvc #0\ncmp x0, #0\nb.ge l\nneg x0, x0\nmov x8, #93\nsvc #0\n",
}


class Ran:
    """What an in-process run of the command line did (faster than a subprocess each time)."""

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def cli(capfdbinary, *args: str) -> Ran:
    """``sandbox ARGS`` in this process; the guest's stdout and stderr are the process's fds."""
    from sandbox.cli import main

    here = os.getcwd()
    os.chdir(ROOT)
    try:
        status = main(list(args))
    except SystemExit as e:  # argparse's usage errors
        status = int(e.code or 0)
    finally:
        os.chdir(here)
    out, err = capfdbinary.readouterr()
    return Ran(status, out, err)


def guest(tmp_path: Path, arch: str, text: str) -> str:
    path = tmp_path / f"guest.{arch}.s"
    path.write_text(text)
    return str(path)


def last_line(r: subprocess.CompletedProcess | Ran) -> str:
    err = r.stderr.decode()
    assert "Traceback" not in err, err
    return err.splitlines()[-1] if err else ""


@pytest.mark.parametrize("arch", ARCHES)
def test_timeout_kills_a_spinning_guest(arch, tmp_path, capfdbinary):
    t = time.monotonic()
    r = cli(capfdbinary, "run", "--timeout", "0.3", guest(tmp_path, arch, SPIN[arch]))
    assert r.returncode == 137
    assert last_line(r) == "sandbox: guest killed by SIGKILL (Killed): wall-clock timeout of 0.3s reached"
    assert time.monotonic() - t < 10


@pytest.mark.parametrize("arch", ARCHES)
def test_timeout_ends_a_sleep_and_a_read_that_would_wait_for_ever(arch, tmp_path):
    r = sandbox_cli("run", "--timeout", "300ms", guest(tmp_path, arch, SLEEP[arch]))
    assert (r.returncode, last_line(r)) == (137, "sandbox: guest killed by SIGKILL (Killed): wall-clock timeout of 0.3s reached")
    # stdin is a pipe whose writer stays open and silent
    read, write = os.pipe()
    try:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        p = subprocess.run(
            [sys.executable, "-m", "sandbox", "run", "--timeout", "0.3", guest(tmp_path, arch, READ[arch])],
            stdin=read, capture_output=True, env=env, timeout=60,
        )
    finally:
        os.close(read)
        os.close(write)
    assert (p.returncode, last_line(p)) == (137, "sandbox: guest killed by SIGKILL (Killed): wall-clock timeout of 0.3s reached")


@pytest.mark.parametrize("arch", ARCHES)
def test_max_insns_ends_a_spinning_guest_with_sigxcpu(arch, tmp_path, capfdbinary):
    r = cli(capfdbinary, "run", "--max-insns", "1M", guest(tmp_path, arch, SPIN[arch]))
    assert r.returncode == 152
    assert last_line(r) == (
        "sandbox: guest killed by SIGXCPU (CPU time limit exceeded): instruction budget of 1,000,000 used up"
    )


@pytest.mark.parametrize("arch", ARCHES)
def test_max_memory_refuses_mmap_with_enomem(arch, tmp_path, capfdbinary):
    r = cli(capfdbinary, "run", "--max-memory", "64M", guest(tmp_path, arch, MMAP_GIB[arch]))
    assert r.returncode == 12  # the guest saw ENOMEM
    assert last_line(r) == "sandbox: --max-memory refused 1 memory request (ENOMEM)"
    unlimited = cli(capfdbinary, "run", guest(tmp_path, arch, MMAP_GIB[arch]))
    assert (unlimited.returncode, unlimited.stderr) != (12, b"")  # the mmap succeeded: a pointer's low byte


def test_max_memory_too_small_for_the_program_is_refused_in_one_line(capfdbinary):
    r = cli(capfdbinary, "run", "--max-memory", "1M", "tests/programs/bin/libc-demo-static.x86_64")
    assert r.returncode == 126
    assert last_line(r) == "sandbox: tests/programs/bin/libc-demo-static.x86_64: does not fit in the memory limit (1M)"


@pytest.mark.parametrize("arch", ARCHES)
def test_max_fds_gives_emfile(arch, tmp_path, capfdbinary):
    r = cli(capfdbinary, "run", "--max-fds", "10", guest(tmp_path, arch, DUP_UNTIL_FAIL[arch]))
    assert r.returncode == 24  # EMFILE after fds 3..9
    assert last_line(r) == "sandbox: --max-fds refused 1 new descriptor (EMFILE)"


@pytest.mark.parametrize("arch", ARCHES)
def test_max_output_stops_a_guest_that_writes_for_ever_with_sigxfsz(arch, tmp_path, capfdbinary):
    r = cli(capfdbinary, "run", "--max-output", "1K", guest(tmp_path, arch, YES[arch]))
    assert r.returncode == 153
    assert r.stdout == b"y\n" * 512
    assert last_line(r) == (
        "sandbox: guest killed by SIGXFSZ (File size limit exceeded), sent by a write past the output size limit"
    )


def test_the_guest_sees_the_limits_as_its_rlimits(tmp_path, capfdbinary):
    # prlimit64(0, RLIMIT_NOFILE, NULL, &buf), and the 16 bytes of buf to stdout
    text = (
        "mov eax, 302\nxor edi, edi\nmov esi, 7\nxor edx, edx\nlea r10, [rip+buf]\nsyscall\n"
        "mov eax, 1\nmov edi, 1\nlea rsi, [rip+buf]\nmov edx, 16\nsyscall\nmov eax, 60\nxor edi, edi\nsyscall\n"
        "buf: .skip 16\n"
    )
    path = guest(tmp_path, "x86_64", text)
    limited = cli(capfdbinary, "run", "--max-fds", "77", path)
    assert limited.stdout == (77).to_bytes(8, "little") * 2
    default = cli(capfdbinary, "run", path)  # the host's, as a shell passes them on (within nr_open)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = 1 << 20 if hard == resource.RLIM_INFINITY else min(hard, 1 << 20)
    assert default.stdout == min(soft, hard).to_bytes(8, "little") + hard.to_bytes(8, "little")


@pytest.mark.parametrize(
    "option, value, words",
    [
        ("--timeout", "0", "--timeout 0: must be more than 0 seconds"),
        ("--timeout", "soon", "'soon' is not a duration"),
        ("--max-insns", "lots", "'lots' is not a count"),
        ("--max-insns", "0", "--max-insns 0: must be"),
        ("--max-memory", "64Q", "'64Q' is not a size"),
        ("--max-memory", "1.5", "'1.5' is not a whole number of bytes"),
        ("--max-fds", "-1", "'-1' is not a count"),
        ("--max-output", "0", "--max-output 0: must be"),
    ],
)
def test_bad_limit_values_are_one_line(option, value, words, capfdbinary):
    r = cli(capfdbinary, "run", option, value, "examples/hello/hello.x86_64.s")
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1 and words in err and "Traceback" not in err, err


def test_human_sizes_and_durations_are_accepted(capfdbinary):
    r = cli(capfdbinary, 
        "run", "--timeout", "1m", "--max-insns", "10M", "--max-memory", "64MiB", "--max-fds", "64",
        "--max-output", "1k", "examples/hello/hello.aarch64.s",
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, b"Hello world\n", b"")


# -- Ctrl-C ----------------------------------------------------------------------------------

READY = {  # write "r" to stdout, so the test knows the guest runs, then go on
    "x86_64": 'mov eax, 1\nmov edi, 1\nlea rsi, [rip+r]\nmov edx, 1\nsyscall\njmp go\nr: .ascii "r"\ngo:\n',
    "aarch64": 'mov x8, #64\nmov x0, #1\nadr x1, r\nmov x2, #1\nsvc #0\nb go\nr: .ascii "r"\n.align 2\ngo:\n',
}


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("what", ["spin", "sleep", "read"])
def test_ctrl_c_stops_a_guest_at_once_with_status_130(arch, what, tmp_path):
    text = READY[arch] + {"spin": SPIN, "sleep": SLEEP, "read": READ}[what][arch]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    read, write = os.pipe()  # stdin: open and silent, so a read waits
    p = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "run", guest(tmp_path, arch, text)],
        stdin=read, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    try:
        assert p.stdout is not None and p.stdout.read(1) == b"r"  # the guest has started
        time.sleep(0.1)  # and is in its loop, sleep or read
        t = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        elapsed = time.monotonic() - t
    finally:
        os.close(read)
        os.close(write)
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130
    assert err == b"sandbox: interrupted\n"
    assert elapsed < 0.75, elapsed
