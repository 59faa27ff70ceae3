"""Debian's static busybox, amd64 and arm64, applet by applet, against qemu-user.

The binaries are not in the repository: .ci/run fetches them with tests/programs/fetch-busybox.sh
(``apt-get download busybox-static``), and these tests skip when they are absent.
"""

from __future__ import annotations

import pytest
from helpers import BACKENDS, PROGRAMS, backend_kwargs, backend_options, busybox_for, qemu_for, run_under_qemu, sandbox_cli

from sandbox import Sandbox

ARCHES = ["x86_64", "aarch64"]
DATA = PROGRAMS / "data"
FRUITS = (DATA / "fruits.txt").read_bytes()

# (applet and arguments, stdin); each runs in tests/programs/data.
APPLETS = [
    (["echo", "hello", "world"], b""),
    (["echo", "-n", "no newline"], b""),
    (["cat", "fruits.txt"], b""),
    (["cat"], FRUITS),
    (["cat", "missing.txt"], b""),
    (["wc", "fruits.txt"], b""),
    (["wc", "-l"], FRUITS),
    (["sha256sum", "fruits.txt"], b""),
    (["sha256sum"], b"abc"),
    (["head", "-n", "2", "fruits.txt"], b""),
    (["head", "-c", "5"], FRUITS),
    (["sort"], FRUITS),
    (["sort", "-r", "-u", "fruits.txt"], b""),
    (["tr", "a-z", "A-Z"], FRUITS),
    (["tr", "-d", "a"], FRUITS),
    (["seq", "5"], b""),
    (["seq", "1", "3", "20"], b""),
    (["expr", "6", "*", "7"], b""),
    (["expr", "1", "=", "2"], b""),
    (["expr", "length", "sandbox"], b""),
    (["printf", "%05d|%s|%x\\n", "42", "text", "255"], b""),
    (["ls", "dir"], b""),
    (["ls", "-a", "dir", "dir/sub"], b""),
    (["ls", "missing"], b""),
    (["basename", "/a/b/c.txt", ".txt"], b""),
    (["true"], b""),
    (["false"], b""),
]


def _id(case: tuple[list[str], bytes]) -> str:
    args, stdin = case
    return " ".join(args) + (" <stdin" if stdin else "")


def need(arch: str):
    busybox = busybox_for(arch)
    if busybox is None:
        pytest.skip(f"no busybox for {arch} (run tests/programs/fetch-busybox.sh)")
    if qemu_for(arch) is None:
        pytest.skip(f"{arch} qemu-user is not installed")
    return busybox


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("case", APPLETS, ids=_id)
def test_applet_matches_qemu_user(arch, case, backend, monkeypatch, tmp_path):
    busybox = need(arch)
    args, stdin = case
    monkeypatch.chdir(DATA)
    sb = Sandbox(arch, stdin=stdin, **backend_kwargs(backend, tmp_path))
    ours = sb.run_file(str(busybox), [str(busybox), *args])
    theirs = run_under_qemu(arch, busybox, args, stdin, cwd=DATA)
    assert ours.unimplemented == {}
    assert (ours.exit_status, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("arch", ARCHES)
def test_busybox_from_the_command_line(arch, backend, tmp_path):
    busybox = need(arch)
    r = sandbox_cli("run", *backend_options(backend, tmp_path), str(busybox), "sort", stdin=FRUITS)
    theirs = run_under_qemu(arch, busybox, ["sort"], FRUITS)
    assert (r.returncode, r.stdout, r.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)


@pytest.mark.parametrize("arch", ARCHES)
def test_busybox_reads_its_own_proc_entries(arch, monkeypatch):
    busybox = need(arch)
    monkeypatch.chdir(DATA)
    sb = Sandbox(arch)
    r = sb.run_file(str(busybox), ["busybox", "readlink", "/proc/self/exe"])
    assert r.stdout.decode().strip() == str(busybox.resolve()) and r.exit_status == 0
    r = sb.run_file(str(busybox), ["busybox", "cat", "/proc/self/maps"])
    maps = r.stdout.decode().splitlines()
    assert any(line.endswith("[stack]") for line in maps) and any(line.endswith("[heap]") for line in maps)
    assert any("r-xp" in line and line.endswith(str(busybox.resolve())) for line in maps)
    assert maps == [v.maps_line() for v in sb.machine.kernel.mm.vmas]
