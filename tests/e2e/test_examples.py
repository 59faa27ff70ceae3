"""Every example, on every arch, from the command line and the API, and against qemu-user."""

from __future__ import annotations

import os

import pytest
from helpers import EXAMPLES, ROOT, qemu_for, run_under_qemu, sandbox_cli

from sandbox import ARCHES as SUPPORTED
from sandbox import Sandbox, get_arch
from sandbox.assembler import assemble
from sandbox.elfwriter import build_elf
from sandbox.program import read_program

ARCHES = list(SUPPORTED)
CAT_INPUT = b"line one\nline two\n"
# (example, args, stdin, expected stdout, expected exit status); {machine} is uname's machine.
CASES = [
    ("hello", [], b"", b"Hello world\n", 0),
    ("write-errors", [], b"", b"", 9),
    ("raw-syscall", [], b"", b"getpid: ok\nmachine: {machine}\n", 0),
    ("cat", [], CAT_INPUT, CAT_INPUT, 0),
    ("cat", ["examples/hello/README.md"], b"", None, 0),
    ("cat", ["no-such-file"], b"", b"", 1),
    ("fork-pipe", [], b"", b"parent got: hello from the child\n", 3),
]
# Examples whose child execve's a program of the guest's arch: qemu-user passes that to the
# host kernel, so the oracle runs in a namespace where binfmt_misc sends it back to qemu.
EXECS = {"fork-pipe"}


def expected(out: bytes | None, arch: str) -> bytes:
    if out is None:
        return (EXAMPLES / "hello" / "README.md").read_bytes()
    return out.replace(b"{machine}", get_arch(arch).uname_machine.encode())


def source(name: str, arch: str) -> str:
    return f"examples/{name}/{name}.{arch}.s"


def test_every_example_has_every_arch_and_a_readme():
    for folder in EXAMPLES.iterdir():
        if not folder.is_dir() or folder.name.startswith((".", "_")) or not list(folder.glob("*.s")):
            continue
        for arch in ARCHES:
            assert (folder / f"{folder.name}.{arch}.s").exists(), (folder, arch)
        assert (folder / "README.md").exists()


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("name,args,stdin,out,status", CASES)
def test_example_from_the_cli(arch, name, args, stdin, out, status):
    r = sandbox_cli("run", source(name, arch), *args, stdin=stdin)
    assert r.returncode == status, r.stderr
    assert r.stdout == expected(out, arch)
    if name == "cat" and status:
        assert r.stderr == b"cat: cannot open a file\n"


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("name,args,stdin,out,status", CASES)
def test_example_from_the_api(arch, name, args, stdin, out, status):
    os.chdir(ROOT)
    sb = Sandbox(arch, stdin=stdin)
    r = sb.run_file(source(name, arch), [source(name, arch), *args])
    assert (r.exit_status, r.stdout) == (status, expected(out, arch))
    assert r.signal is None and r.fault is None


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("name,args,stdin,out,status", CASES)
def test_example_matches_qemu_user(arch, name, args, stdin, out, status, tmp_path):
    if qemu_for(arch) is None:
        pytest.skip(f"{arch} qemu-user is not installed")
    prog = read_program(str(ROOT / source(name, arch)))
    elf = tmp_path / f"{name}.{arch}"
    elf.write_bytes(build_elf(prog.arch, assemble(prog.arch, prog.text)))
    elf.chmod(0o755)
    if name in EXECS:
        native = run_in_qemu_namespace(arch, elf, args, stdin)
    else:
        native = run_under_qemu(arch, elf, args, stdin)
    ours = sandbox_cli("run", source(name, arch), *args, stdin=stdin)
    assert (ours.returncode, ours.stdout, ours.stderr) == (native.returncode, native.stdout, native.stderr)


def test_cat_handles_a_big_file_through_short_reads(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 4096)  # 1 MiB: many 64 KiB reads
    r = sandbox_cli("run", "--cwd", str(tmp_path), str(ROOT / source("cat", "aarch64")), "big.bin")
    assert r.returncode == 0 and r.stdout == big.read_bytes()


def run_in_qemu_namespace(arch: str, elf, args: list[str], stdin: bytes):  # type: ignore[no-untyped-def]
    """``elf`` under qemu-user where its children run under qemu too (or natively, for what
    the host runs itself); skips when the namespace cannot be made here."""
    import platform
    import subprocess
    import sys

    native = {"x86_64": {"x86_64", "i386"}, "aarch64": {"aarch64"}}.get(platform.machine(), set())
    command = [str(elf)] if arch in native else [qemu_for(arch), str(elf)]
    helper = ROOT / "tests" / "acceptance" / "qemu_namespace.py"
    r = subprocess.run([sys.executable, str(helper), "--", *command, *args], input=stdin, capture_output=True,
                       cwd=ROOT, timeout=60, start_new_session=True)
    if r.returncode == 125:
        pytest.skip(f"no namespace for qemu-user's children: {r.stderr.decode(errors='replace').strip()}")
    from helpers import shell_status

    return shell_status(r)


def test_the_fork_pipe_readme_shows_the_trace_of_today(tmp_path):
    """The README's trace is what ``sandbox trace`` prints now (pids and addresses are the same
    on every run)."""
    readme = (EXAMPLES / "fork-pipe" / "README.md").read_text()
    command = "$ sandbox trace -o trace.txt examples/fork-pipe/fork-pipe.aarch64.s; cat trace.txt\n"
    shown = readme.split(command, 1)[1].split("```", 1)[0]
    out = tmp_path / "trace.txt"
    r = sandbox_cli("trace", "-o", str(out), source("fork-pipe", "aarch64"))
    assert r.returncode == 3, r.stderr
    assert shown == r.stdout.decode() + out.read_text(), "regenerate the trace in examples/fork-pipe/README.md"
