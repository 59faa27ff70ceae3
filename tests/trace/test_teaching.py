"""explain's stubs run as printed; its convention and table come from data."""

from __future__ import annotations

import pytest

import kernel_model  # noqa: F401 - registers the handlers
from kernel_model.registry import REGISTRY
from sandbox import Sandbox
from sandbox.arch import get_arch
from sandbox.arch.syscalls import syscall_table
from sandbox.teaching import compare_rows, convention, explain_call, table_rows

# Calls the model does not implement: their stubs must run too (the call gets -ENOSYS).
SIGRETURN = ("rt_sigreturn", "sigreturn")
UNIMPLEMENTED_SAMPLE = ["inotify_init1", "rt_sigaction", "prlimit64", "set_tid_address", "futex", "pipe2", "statx"]


def stub_calls(arch: str) -> list[str]:
    table = syscall_table(get_arch(arch))
    names = sorted(n for n in REGISTRY if table.number(n) is not None)
    return names + [n for n in UNIMPLEMENTED_SAMPLE if n not in REGISTRY and table.number(n) is not None]


WAITS_FOR_A_SIGNAL = {"pause"}  # (the rt_sigsuspend stub gives a sigsetsize of 0: EINVAL)
MAKES_A_PROCESS = {"fork", "vfork", "clone", "clone3"}


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_every_explained_stub_assembles_and_makes_its_call(arch, tmp_path):
    (tmp_path / "f").write_text("x")
    failures = []
    for name in stub_calls(arch):
        explanation = explain_call(get_arch(arch), name)
        r = Sandbox(arch, cwd=str(tmp_path)).run_asm(explanation.stub)
        if name in SIGRETURN:
            # without a signal frame to return to, Linux kills the process, and so does the model
            assert r.signal == "SIGSEGV" and r.syscalls[0].name == name
            continue
        names = [c.name for c in r.syscalls]
        if name in WAITS_FOR_A_SIGNAL:
            # nothing else in the run could send one: the sandbox ends it as a deadlock
            if names != [name] or r.signal != "SIGKILL" or "deadlock" not in r.reason:
                failures.append(f"{name}: {names} {r.signal} {r.reason}")
            continue
        if name in MAKES_A_PROCESS:
            # the child runs the rest of the stub too if it runs before the parent ends the run
            # (the first process is the init of the guest's processes: the rest end with it)
            if name not in names or names[-1] != "exit" or r.exit_status != 0 or r.signal:
                failures.append(f"{name}: {names} status {r.exit_status} {r.signal}")
            continue
        ends = names[-1:] if name in ("exit", "exit_group") else names[-2:]
        if names[0] != name or r.exit_status != 0 or r.signal or ends[-1] not in ("exit", "exit_group"):
            failures.append(f"{name}: {names} status {r.exit_status} {r.signal}")
    assert failures == []


def test_the_stub_passes_buffers_and_lengths_that_agree():
    stub = explain_call(get_arch("x86_64"), "write").stub
    r = Sandbox("x86_64").run_asm(stub)
    assert r.stdout == b"hello\n" and r.syscalls[0].ret == 6
    r = Sandbox("aarch64").run_asm(explain_call(get_arch("aarch64"), "getcwd").stub)
    assert r.syscalls[0].ret > 1


def test_convention_is_the_arch_data():
    x86 = dict(convention(get_arch("x86_64")))
    assert x86["trap instruction"] == "syscall" and x86["number in"] == "rax"
    assert x86["arguments in"] == "rdi rsi rdx r10 r8 r9" and x86["result in"] == "rax"
    arm = dict(convention(get_arch("aarch64")))
    assert arm["trap instruction"] == "svc #0" and arm["number in"] == "x8" and arm["arguments in"] == "x0 x1 x2 x3 x4 x5"
    n_arm = len(syscall_table(get_arch("aarch64")).names())
    assert arm["system calls"].startswith(f"{n_arm} in the kernel's arm64 table")


def test_compare_follows_arguments_by_name():
    rows = {r[0]: r[1:] for r in compare_rows("clone")}
    # columns: x86_64, aarch64, i386, arm, riscv64
    assert rows["tls"] == ["r8", "x3", "esi", "r3", "a3"] and rows["child_tid"] == ["r10", "x4", "edi", "r4", "a4"]
    rows = {r[0]: r[1:] for r in compare_rows("open")}
    assert rows["number"] == ["rax = 2", "-", "eax = 5", "r7 = 5", "-"]
    rows = {r[0]: r[1:] for r in compare_rows("pread64")}
    assert rows["offset"] == ["r10", "x3", "esi/edi", "r4/r5", "a3"]  # a register pair on 32-bit arches


def test_table_rows_mark_the_model():
    rows = {name: (nr, status) for nr, name, status, _ in table_rows(get_arch("aarch64"))}
    assert rows["write"] == (64, "full") and rows["openat"] == (56, "partial") and rows["inotify_init1"][1] == "-"


def test_explain_lists_the_names_a_flags_argument_takes():
    from sandbox.arch import get_arch
    from sandbox.teaching import explain_call

    def explain(arch: str, name: str):  # type: ignore[no-untyped-def]
        return explain_call(get_arch(arch), name)

    text = "\n".join(explain("aarch64", "clone").lines())
    assert "flags       unsigned long  clone flags (the names are below)" in text
    assert "  flags: flags, ORed together\n    CLONE_VM=0x100 CLONE_FS=0x200" in text
    assert "the low byte is the signal the parent gets when the child ends" in text
    lseek = "\n".join(explain("x86_64", "lseek").lines())
    assert "whence: one of these\n    SEEK_SET=0 SEEK_CUR=1 SEEK_END=2" in lseek
    kill = "\n".join(explain("x86_64", "kill").lines())
    assert "sig: one of these" in kill and " SIGKILL=9" in kill
