"""Real compiled programs (tests/programs): a -nostdlib one, static glibc, dynamic glibc.

Each is compared with the same binary under qemu-user (skipped when qemu is missing), and the
-nostdlib one also with the host's own kernel when the host can run it, because qemu-user
itself departs from Linux in a few answers.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import pytest
from helpers import BACKENDS, PROGRAMS, ROOT, backend_options, program, qemu_for, run_natively, run_under_qemu, sandbox_cli

ARCHES = ["x86_64", "aarch64"]

# Lines of raw-syscalls where qemu-user answers differently from Linux, with Linux's answer
# (as the x86_64 kernel gives it natively; the native test below checks these too).
QEMU_DEPARTS = {
    "read into a read-only page": "0",  # stdin is at its end: Linux copies nothing, qemu-user checks first
    "madvise bad advice": "-22",  # qemu-user accepts any advice
    "set_robust_list bad length": "-22",  # qemu-user has no robust futex list: ENOSYS
    "set_robust_list": "0",
    "get_robust_list": "0",
    "  length": "24",
    "  head": "1",
    "sysinfo bad pointer": "-14",  # qemu-user does not check the pointer
    "arch_prctl ARCH_SET_FS past the user space": "-1",  # qemu-user does not check the address
}


def lines(out: bytes) -> list[tuple[str, str]]:
    return [tuple(line.split(": ", 1)) if ": " in line else (line, "") for line in out.decode().splitlines()]


def need_qemu(arch: str) -> None:
    if qemu_for(arch) is None:
        pytest.skip(f"{arch} qemu-user is not installed")


def host_runs(arch: str) -> bool:
    return sys.platform.startswith("linux") and platform.machine() in ({"x86_64": ("x86_64", "AMD64"), "aarch64": ("aarch64", "arm64")}[arch])


# -- the -nostdlib program: every answer an errno ---------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("arch", ARCHES)
def test_raw_syscalls_match_qemu_user_and_linux(arch, backend, tmp_path):
    need_qemu(arch)
    prog = program("raw-syscalls", arch)
    ours = sandbox_cli("run", *backend_options(backend, tmp_path), str(prog))
    theirs = run_under_qemu(arch, prog, [])
    assert (ours.returncode, ours.stderr) == (theirs.returncode, b""), ours.stderr
    mine, oracle = lines(ours.stdout), lines(theirs.stdout)
    assert [name for name, _ in mine] == [name for name, _ in oracle]
    assert len(mine) > 150
    for (name, got), (_, want) in zip(mine, oracle):
        assert got == QEMU_DEPARTS.get(name, want), name


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("arch", ARCHES)
def test_raw_syscalls_match_the_host_kernel(arch, backend, tmp_path):
    if not host_runs(arch):
        pytest.skip(f"the host cannot run {arch} code natively")
    prog = program("raw-syscalls", arch)
    ours = sandbox_cli("run", *backend_options(backend, tmp_path), str(prog))
    native = run_natively(prog, [])
    assert (ours.returncode, ours.stdout) == (native.returncode, native.stdout)


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize(
    "args,status,signal,words",
    [
        (["exit", "42"], 42, None, []),
        (["segv"], 139, "SIGSEGV", ["write", "address 0x10"]),
        (["ill"], 132, "SIGILL", []),
        (["kill"], 143, "SIGTERM", ["sent by kill"]),
    ],
)
def test_raw_syscalls_exits_and_crashes(arch, args, status, signal, words):
    r = sandbox_cli("run", str(program("raw-syscalls", arch)), *args)
    assert r.returncode == status
    err = r.stderr.decode()
    if signal is None:
        assert err == ""
        return
    assert err.count("\n") == 1 and err.startswith("sandbox: ") and signal in err, err
    for word in words:
        assert word in err
    if qemu_for(arch):
        assert run_under_qemu(arch, program("raw-syscalls", arch), args).returncode == status


@pytest.mark.parametrize("arch", ARCHES)
def test_a_crash_names_the_instruction_and_verbose_adds_registers(arch):
    r = sandbox_cli("run", str(program("raw-syscalls", arch)), "segv")
    err = r.stderr.decode()
    instruction = "mov dword ptr [rax], 1" if arch == "x86_64" else "str w1, [x0]"
    assert f"({instruction})" in err and "pc=0x40" in err, err
    assert "Traceback" not in err
    r = sandbox_cli("run", "-v", str(program("raw-syscalls", arch)), "ill")
    err = r.stderr.decode()
    assert r.returncode == 132
    assert ("ud2" if arch == "x86_64" else "udf #0") in err.splitlines()[0]
    pc_name = "rip" if arch == "x86_64" else "pc"
    assert any(line.split()[0] == pc_name for line in err.splitlines()[1:]), err


# -- static glibc ------------------------------------------------------------------------------

LIBC_CASES = [
    ([], b"", {}),
    (["args", "one", "two words", ""], b"", {}),
    (["env", "SANDBOX_TEST_VALUE"], b"", {"SANDBOX_TEST_VALUE": "forty two"}),
    (["env", "SANDBOX_UNSET_VALUE"], b"", {}),
    (["cat", "tests/programs/data/fruits.txt"], b"", {}),
    (["cat", "/nonexistent"], b"", {}),
    (["cat", "/dev/stdin"], b"from stdin\n", {}),
    (["exit", "7"], b"", {}),
    (["abort"], b"", {}),
    (["segv"], b"", {}),
    (["signals"], b"", {}),
    (["abort-handler"], b"", {}),
]


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env.update(extra)
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("args,stdin,env", LIBC_CASES)
def test_static_glibc_matches_qemu_user(arch, args, stdin, env, backend, tmp_path):
    need_qemu(arch)
    prog = program("libc-demo-static", arch)
    # --env-all: qemu-user hands the guest the whole environment, the sandbox only a small set
    ours = sandbox_cli_env(_env(env), "run", "--env-all", *backend_options(backend, tmp_path), str(prog), *args,
                           stdin=stdin)
    theirs = run_under_qemu(arch, prog, args, stdin, env=_env(env))
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), ours.stderr
    if ours.returncode < 128:
        assert ours.stderr == theirs.stderr


def test_static_glibc_says_what_it_did_without_an_oracle():
    r = sandbox_cli("run", str(program("libc-demo-static", "aarch64")))
    out = r.stdout.decode()
    assert r.returncode == 0 and r.stderr == b"done\n"
    assert "malloc ok, checksum 1089, first item00000 last item04999" in out
    assert "qsort: sorted=1" in out
    assert 'stdio: 100 lines, 1492 bytes, first "line 1", tail "ne 100 of 100", now 1501 bytes' in out
    assert "remove: 0; again: -1 (No such file or directory)" in out
    assert "time: after 2023: 1, slept >= 2ms: 1, fixed date 2023-11-14 22:13:20 Tuesday, mktime 0" in out


def test_abort_is_sigabrt_sent_by_the_guest():
    r = sandbox_cli("run", str(program("libc-demo-static", "x86_64")), "abort")
    assert r.returncode == 134 and r.stdout == b"aborting\n"
    assert r.stderr.decode() == "sandbox: guest killed by SIGABRT (Aborted), sent by tgkill\n"


# -- dynamically linked ------------------------------------------------------------------------

ROOTFS = {"aarch64": "/usr/aarch64-linux-gnu", "x86_64": "/"}
INTERPRETER = {"aarch64": "lib/ld-linux-aarch64.so.1", "x86_64": "lib64/ld-linux-x86-64.so.2"}


def need_rootfs(arch: str) -> str:
    rootfs = ROOTFS[arch]
    if not (Path(rootfs) / INTERPRETER[arch]).exists():
        pytest.skip(f"no {arch} glibc at {rootfs} (Debian: libc6-arm64-cross for aarch64)")
    return rootfs


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("args,stdin,env", [LIBC_CASES[0], LIBC_CASES[1], LIBC_CASES[4], LIBC_CASES[8], LIBC_CASES[10]])
def test_dynamic_glibc_with_a_rootfs_matches_qemu_user(arch, args, stdin, env, backend, tmp_path):
    rootfs = need_rootfs(arch)
    need_qemu(arch)
    prog = program("libc-demo-dynamic", arch)
    ours = sandbox_cli_env(
        _env(env), "run", *backend_options(backend, tmp_path), "--rootfs", rootfs, str(prog), *args, stdin=stdin
    )
    theirs = run_under_qemu(arch, prog, args, stdin, rootfs=rootfs, env=_env(env))
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), ours.stderr


def test_dynamic_program_maps_its_libraries_from_the_rootfs():
    from sandbox import Sandbox

    rootfs = need_rootfs("aarch64")
    os.chdir(ROOT)
    sb = Sandbox("aarch64", rootfs=rootfs)
    r = sb.run_file(str(program("libc-demo-dynamic", "aarch64")), ["demo", "args", "x"])
    assert (r.exit_status, r.stdout) == (0, b"argc=3\nargv[0]=demo\nargv[1]=args\nargv[2]=x\n")
    names = {v.name for v in sb.machine.kernel.mm.vmas}
    assert "/lib/ld-linux-aarch64.so.1" in names and "/lib/libc.so.6" in names
    assert any(n.endswith("/libc.so.6") for n in names), names
    opened = [rec for rec in r.calls("openat") if rec.ret is not None and rec.ret >= 0]
    assert opened, "the interpreter opens libc through the guest's filesystem"


def test_a_dynamic_program_without_a_rootfs_is_one_clear_line():
    r = sandbox_cli("run", str(program("libc-demo-dynamic", "aarch64")))
    assert r.returncode == 126
    err = r.stderr.decode()
    assert err.count("\n") == 1 and "dynamically linked" in err and "--rootfs" in err


def test_a_rootfs_without_the_interpreter_is_one_clear_line(tmp_path):
    r = sandbox_cli("run", "--rootfs", str(tmp_path), str(program("libc-demo-dynamic", "aarch64")))
    assert r.returncode == 126
    err = r.stderr.decode()
    assert err.count("\n") == 1 and "ld-linux-aarch64.so.1" in err and "not in the rootfs" in err, err


def sandbox_cli_env(env: dict[str, str], *args: str, stdin: bytes = b""):
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args], input=stdin, capture_output=True, cwd=ROOT, env=env, timeout=120
    )


def test_programs_have_their_sources_and_build_script():
    assert (PROGRAMS / "build.sh").exists()
    for name in ("raw-syscalls", "libc-demo"):
        assert (PROGRAMS / "src" / f"{name}.c").exists()
    for arch in ARCHES:
        for name in ("raw-syscalls", "libc-demo-static", "libc-demo-dynamic"):
            assert program(name, arch).stat().st_size > 0


def test_signal_handlers_run_as_on_linux():
    r = sandbox_cli("run", str(program("libc-demo-static", "aarch64")), "signals")
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert "nesting: [usr1][usr1]usr2 , handler ran 2 times, deepest 1" in out
    assert "SA_NODEFER: [usr1[usr1usr2 ]usr2 ], handler ran 2 times, deepest 2" in out
    assert "SA_SIGINFO: signo=12 code=-6 pid is mine=1, blocked in handler=1, saved mask has it=0" in out
    assert "on the alternate stack: 1, flags 1" in out
    assert "rounding mode kept across the handler: 1" in out
    assert "write to a closed pipe: -1 (Broken pipe), sigpipe" in out
    assert "siglongjmp out of a handler: 3 times, SIGUSR1 blocked after=0" in out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("arch", ARCHES)
def test_signal_handlers_match_the_host_kernel(arch, backend, tmp_path):
    if not host_runs(arch):
        pytest.skip(f"the host cannot run {arch} code natively")
    prog = program("libc-demo-static", arch)
    ours = sandbox_cli("run", *backend_options(backend, tmp_path), str(prog), "signals")
    native = run_natively(prog, ["signals"])
    assert (ours.returncode, ours.stdout) == (native.returncode, native.stdout)
