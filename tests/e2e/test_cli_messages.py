"""What the command line tells a new user: help texts, error lines and exit statuses that say
what is true (issue 17: "What a new user trips on")."""

from __future__ import annotations

import pytest
from helpers import ROOT, sandbox_cli

from sandbox.arch import ARCHES
from sandbox.cli import main

HELLO = "examples/hello/hello.x86_64.s"


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    """``sandbox ARGV`` in this process: its status, stdout and stderr."""
    try:
        status = main(list(argv))
    except SystemExit as e:  # argparse's --help and usage errors
        status = int(e.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


# -- 1. lists of arches come from the registry ----------------------------------------------


@pytest.mark.parametrize("argv", [("explain", "--help"), ("table", "--help"), ("run", "--help"), ("diff", "--help")])
def test_help_names_every_supported_arch(argv, capsys):
    status, out, _ = run_main(capsys, *argv)
    text = " ".join(out.split())  # argparse wraps lines anywhere
    assert status == 0
    for name in ARCHES:
        assert name in text, (name, out)


def test_explain_without_an_arch_names_every_arch(capsys):
    status, _, err = run_main(capsys, "explain")
    line = one_line(err)
    assert status == 2 and all(name in line for name in ARCHES), line


@pytest.mark.parametrize("arch", list(ARCHES))
def test_every_arch_the_help_names_works(arch, capsys):
    status, out, _ = run_main(capsys, "explain", arch, "write")
    assert status == 0 and f"write on {arch}" in out


# -- 4. integers are read as integers ---------------------------------------------------------


def test_a_huge_limit_is_echoed_as_typed(capsys):
    typed = "99999999999999999999999"
    status, _, err = run_main(capsys, "run", "--max-fds", typed, HELLO)
    line = one_line(err)
    assert status == 2 and f"--max-fds {typed}:" in line and "1048576" in line, line


def test_a_limit_with_a_unit_is_echoed_as_typed(capsys):
    status, _, err = run_main(capsys, "run", "--max-fds", "10M", HELLO)
    assert status == 2 and "--max-fds 10M: must be" in one_line(err)


def test_big_counts_and_sizes_are_exact():
    from sandbox.limits import parse_count, parse_size

    assert parse_count("99999999999999999999999") == 99999999999999999999999
    assert parse_count("12345678901234567") == 12345678901234567  # beyond a float's 53 bits
    assert parse_size("9007199254740993") == 9007199254740993
    assert parse_count("2.5G") == 2_500_000_000 and parse_size("1.5K") == 1536
    with pytest.raises(ValueError, match="whole number"):
        parse_count("1.0000000001")


# -- 5. a bad trace format names the good ones ------------------------------------------------


@pytest.mark.parametrize("command", ["run", "trace"])
def test_an_unknown_trace_format_lists_the_formats(command, capsys):
    status, _, err = run_main(capsys, command, "--trace=bogus", HELLO)
    line = one_line(err)
    assert status == 2 and "--trace=bogus" in line and "ignored explicit argument" not in line, line
    for name in ("strace", "regs", "json"):
        assert name in line, line


def test_a_value_for_a_flag_says_it_takes_none(capsys):
    status, _, err = run_main(capsys, "run", "--virtual-time=yes", HELLO)
    assert status == 2 and "--virtual-time takes no value" in one_line(err)


# -- 6. the program's arguments are optional ----------------------------------------------------


@pytest.mark.parametrize("argv, missing", [
    (("run",), "program"), (("trace",), "program"), (("debug",), "program"), (("diff", "A"), "B"),
])
def test_only_what_is_required_is_called_required(argv, missing, capsys):
    status, _, err = run_main(capsys, *argv)
    line = one_line(err)
    assert status == 2 and line.split("required: ")[1].startswith(f"{missing} (see"), line
    assert "args" not in line


# -- 7. diff's statuses are diff(1)'s ---------------------------------------------------------


@pytest.mark.parametrize("other, words", [("/nonexistent", "No such file"), ("examples", "Is a directory")])
def test_diff_trouble_is_status_2(other, words):
    r = sandbox_cli("diff", HELLO, other)
    err = r.stderr.decode()
    assert r.returncode == 2 and words in one_line(err), err


def test_diff_says_the_same_and_different_as_0_and_1():
    same = sandbox_cli("diff", HELLO, HELLO)
    other = sandbox_cli("diff", "examples/raw-syscall/raw-syscall.x86_64.s", "examples/raw-syscall/raw-syscall.aarch64.s")
    assert (same.returncode, other.returncode) == (0, 1)


# -- 8. --mount says which forms it takes, and what is wrong -----------------------------------


def test_mount_help_documents_every_form(capsys):
    _, out, _ = run_main(capsys, "run", "--help")
    text = " ".join(out.split())
    for form in ("HOST:GUEST", "HOST:GUEST:rw", "HOST:GUEST:ro", "DIR"):
        assert form in text


@pytest.mark.parametrize("spec, words", [
    ("nocolon", ["no directory 'nocolon' on the host", "HOST:GUEST"]),
    ("/no/such/dir:/x", ["no directory '/no/such/dir' on the host"]),
    ("README.md", ["'README.md' is a file"]),
    ("/tmp:relative", ["must be absolute", "HOST:GUEST"]),
    ("a:b:c", ["expected HOST:GUEST"]),
])
@pytest.mark.parametrize("command", ["run", "diff"])
def test_a_bad_mount_says_what_is_wrong(command, spec, words, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    argv = ["run", "--mount", spec, HELLO] if command == "run" else ["diff", "--mount", spec, HELLO, HELLO]
    status, _, err = run_main(capsys, *argv)
    line = one_line(err)
    assert status == 2 and line.startswith(f"sandbox: --mount {spec}: "), line
    for w in words:
        assert w in line, line


def test_a_bare_directory_mount_is_shown_at_its_own_path(tmp_path):
    (tmp_path / "f.txt").write_text("seen\n")
    from sandbox.commands.options import parse_mounts

    (mount,) = parse_mounts([str(tmp_path)])
    assert (mount.host, mount.guest, mount.writable) == (str(tmp_path), str(tmp_path.resolve()), False)


# -- 9. errors in a file name the file, as compilers do ----------------------------------------


@pytest.mark.parametrize("arch, source, line, words", [
    ("x86_64", "nop\nmov rax, rbx, rcx\n", 2, "invalid operand"),
    ("aarch64", "mov x0, #1\nfoo x1\n", 2, "foo"),
    ("riscv64", "nop\naddi a0, a0, (1+\n", 2, "incomplete expression"),
    ("riscv64", "nop\nnop\n.byte \"x\n", 3, "unterminated string"),
])
def test_assembly_errors_are_file_colon_line(arch, source, line, words, tmp_path):
    path = tmp_path / f"bad.{arch}.s"
    path.write_text(source)
    for command in ("run", "trace", "debug"):
        err = sandbox_cli(command, str(path)).stderr.decode()
        assert one_line(err).startswith(f"{path}:{line}: ") and words in err, err


def test_empty_assembly_and_raw_code_name_the_file(tmp_path):
    empty_s = tmp_path / "empty.x86_64.s"
    empty_s.write_text("# nothing but a comment\n")
    empty_bin = tmp_path / "empty.bin"
    empty_bin.write_bytes(b"")
    r = sandbox_cli("run", str(empty_s))
    assert r.returncode == 2 and one_line(r.stderr.decode()) == f"{empty_s}: no instructions to assemble"
    r = sandbox_cli("run", "--arch", "x86_64", str(empty_bin))
    assert r.returncode == 2 and one_line(r.stderr.decode()).startswith(f"{empty_bin}: ")


def test_assembly_text_without_a_file_still_names_the_line():
    from sandbox import Sandbox
    from sandbox.errors import AssemblyError

    with pytest.raises(AssemblyError, match=r"^line 2: ") as caught:
        Sandbox("riscv64").run_asm("nop\nfrobnicate a0\n")
    assert caught.value.line == 2
