"""The acceptance harness itself: its table, its comparison, and the oracle it trusts."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from acceptance import corpus
from acceptance.corpus import CASES, FEATURES, MISSING, Case
from acceptance.qemu_namespace import binfmt_rule
from acceptance.runner import (
    NAMESPACE, QEMU_OWN_LINES, Run, difference, first_difference, namespace_problem, oracle_command, sandbox_command,
)


def test_every_case_has_a_unique_id_and_known_needs():
    assert len({c.id for c in CASES}) == len(CASES)
    assert all(set(c.needs) <= set(FEATURES) for c in CASES)
    assert MISSING <= set(FEATURES)


def test_every_done_when_arch_is_covered():
    """Issue 13 asks for busybox on amd64, arm64, armhf; Go on three arches; C on all five."""
    by_group: dict[str, set[str]] = {}
    for c in CASES:
        by_group.setdefault(c.group, set()).add(c.arch)
    assert {"x86_64", "aarch64", "arm"} <= by_group["busybox"]
    assert {"x86_64", "aarch64"} <= by_group["bash"]
    assert by_group["go"] == {"x86_64", "aarch64", "riscv64"}
    assert by_group["features"] == set(corpus.ARCHES)


def test_the_xfail_reason_names_each_missing_feature_and_the_bug():
    case = Case("features", "x", "x86_64", "bin/features.x86_64", needs=("map-shared", "unix-sockets"), bug="a bug")
    reason = case.xfail_reason
    assert FEATURES["map-shared"] in reason and FEATURES["unix-sockets"] in reason and reason.endswith("a bug")
    assert Case("features", "x", "x86_64", "bin/features.x86_64").xfail_reason is None


def test_a_difference_names_the_first_differing_line():
    assert first_difference("stdout", b"a\nb\nc\n", b"a\nB\nc\n", "qemu-user") == "stdout line 2: 'b\\n', qemu-user: 'B\\n'"
    assert first_difference("stdout", b"a\n", b"a\nmore\n", "qemu-user") == "stdout line 2: nothing, qemu-user: 'more\\n'"
    assert first_difference("stdout", b"same", b"same", "qemu-user") is None
    assert first_difference("stdout", b"ab\0cd", b"ab\0xd", "qemu-user").startswith("stdout differs at byte 3")


def test_the_status_comes_first_then_the_output():
    ours, theirs = Run(1, b"fork: EAGAIN\n", b"", 0.1), Run(0, b"child exited\n", b"", 0.1)
    assert difference(ours, theirs, "qemu-user") == (
        "exit 1, qemu-user: exit 0; stdout line 1: 'fork: EAGAIN\\n', qemu-user: 'child exited\\n'"
    )
    assert difference(Run(None, b"", b"", 30), theirs, "Linux").startswith("timeout, Linux: exit 0")
    assert difference(Run(0, b"x", b"", 0), Run(0, b"x", b"", 0), "Linux") is None


def test_only_qemus_own_report_of_a_fatal_signal_is_removed():
    stderr = b"qemu: uncaught target signal 6 (Aborted) - core dumped\nreal error\n"
    assert QEMU_OWN_LINES.sub(b"", stderr) == b"real error\n"
    assert QEMU_OWN_LINES.sub(b"", b"my qemu: uncaught target signal\n") == b"my qemu: uncaught target signal\n"


def test_both_sides_get_the_same_argv_and_environment():
    case = next(c for c in CASES if c.id == "features:fork-exec:aarch64")
    ours = sandbox_command(case)
    theirs, name = oracle_command(case)
    assert name == "qemu-user"
    assert ours[-3:] == theirs[-3:] == ["bin/features.aarch64", "fork-exec", "bin/child.aarch64"]
    assert "--clear-env" in ours and "--env" in ours


def test_the_binfmt_rule_matches_the_elf_header_of_its_arch():
    rule = binfmt_rule("aarch64", "/usr/bin/qemu-aarch64")
    name, kind, _, magic, mask, interpreter, flags = rule.lstrip(":").split(":")
    assert (name, kind, interpreter, flags) == ("sandbox-qemu-aarch64", "M", "/usr/bin/qemu-aarch64", "FP")
    decode = lambda text: bytes(int(h, 16) for h in re.findall(r"\\x([0-9a-f]{2})", text))  # noqa: E731
    header = (corpus.PROGRAMS / "bin" / "features.aarch64").read_bytes()[:20]
    assert all(h & m == g & m for h, g, m in zip(header, decode(magic), decode(mask)))
    other = (corpus.PROGRAMS / "bin" / "features.riscv64").read_bytes()[:20]
    assert not all(h & m == g & m for h, g, m in zip(other, decode(magic), decode(mask)))


def test_the_oracle_runs_a_foreign_child_under_qemu_too():
    """Without the namespace, qemu-user hands a foreign execve to the host, which cannot run it."""
    if shutil.which("qemu-aarch64") is None:
        pytest.skip("qemu-aarch64 is not installed")
    if namespace_problem():
        pytest.skip(f"no namespace for the oracle here: {namespace_problem()}")
    r = subprocess.run(
        [sys.executable, NAMESPACE, "--", "qemu-aarch64", "bin/features.aarch64", "fork-exec", "bin/child.aarch64"],
        cwd=corpus.PROGRAMS, capture_output=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert b"child: argv[0]=child argv[1]=from argv[2]=fork-exec\n" in r.stdout
    assert r.stdout.endswith(b"exec'd child exited with status 43\n")


def _racy(monkeypatch, outputs_by_seed, oracle=b"racy counter: 1234567 of 2000000\n"):
    """check_deterministic with the sandbox and the oracle replaced by canned runs."""
    from acceptance import runner

    calls = {}

    def fake_sandbox(case, seed=None):
        calls[seed] = calls.get(seed, 0) + 1
        outputs = outputs_by_seed[seed]
        return Run(0, outputs[min(calls[seed], len(outputs)) - 1], b"", 0.1)

    monkeypatch.setattr(runner, "run_sandbox", fake_sandbox)
    monkeypatch.setattr(runner, "run_oracle", lambda case: (Run(0, oracle, b"", 0.1), "qemu-user"))
    case = next(c for c in CASES if c.check == "deterministic")
    return runner.check_deterministic(case, repeats=3)[2]


def test_a_racy_count_must_repeat_with_one_seed_and_change_with_others(monkeypatch):
    one, other = b"racy counter: 1500000 of 2000000\n", b"racy counter: 1499999 of 2000000\n"
    assert _racy(monkeypatch, {1: [one], 2: [one], 3: [other], 4: [one]}) is None
    assert "run 2 with --seed 1 differs" in _racy(monkeypatch, {1: [one, other], 2: [one], 3: [one], 4: [one]})
    assert "the seed does not change the schedule" in _racy(monkeypatch, {1: [one], 2: [one], 3: [one], 4: [one]})
    # the oracle's count is masked, its shape is not
    assert _racy(monkeypatch, {1: [b"counter 3\n"], 2: [one], 3: [other], 4: [one]}).startswith("stdout line 1")
