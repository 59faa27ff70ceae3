"""Policy files: what they say, and one clear line for everything wrong in one."""

from __future__ import annotations

import os

import pytest

from kernel_model.host import PolicyError, default_policy, load_policy, policy_from_dict
from kernel_model.world import check_call_rules as check_routes
from kernel_model.policy import flag_call_rules, flag_path_rules
from kernel_model.linux_errno import Errno


def write(tmp_path, text: str):
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return str(path)


def test_a_full_policy_reads_back(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "out").mkdir()
    path = write(tmp_path, f'''
kernel = "host"
[paths]
"{tmp_path}/src" = "ro"
"{tmp_path}/out" = "rw"
"{tmp_path}/out/keys" = "hidden"
"/scratch" = "tmpfs"
"/lib" = {{ host = "{tmp_path}/src", access = "ro" }}
[syscalls]
default = "allow"
clock_gettime = "model"
getrandom = "deny=ENOSYS"
uname = "deny"
time = "host"
[stdio]
stdin = false
[network]
allow = true
''')
    p = load_policy(path)
    assert p.kernel == "host" and p.network and p.stdio == {"stdin": False, "stdout": True, "stderr": True}
    rules = {r.guest: r for r in p.path_rules()}
    assert rules[f"{tmp_path}/out/keys"].access == "hidden"
    assert rules["/lib"].host_path == os.path.realpath(tmp_path / "src")
    assert rules["/scratch"].access == "tmpfs"
    assert p.call_rule("getrandom").errno is Errno.ENOSYS
    assert p.call_rule("uname").errno is Errno.EPERM
    assert p.call_rule("read").action == "allow"
    assert p.call_rule("time").describe() == 'syscalls.time = "host" (policy.toml)'
    check_routes(p)


def test_relative_paths_are_relative_to_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    p = policy_from_dict({"paths": {".": "ro", "data": "rw"}})
    assert [(r.guest, r.access) for r in p.path_rules()] == [(str(tmp_path), "ro"), (str(tmp_path / "data"), "rw")]


@pytest.mark.parametrize("text,message", [
    ('kernal = "host"', "policy.toml: kernal: unknown key (a policy has kernel, [paths], [syscalls], [stdio], [network]) (did you mean kernel?)"),
    ('kernel = "hots"', "policy.toml: kernel: 'hots' is not model or host"),
    ('paths = 3', "policy.toml: paths: must be a table"),
    ('[paths]\n"." = "rwx"', "policy.toml: paths.\".\": 'rwx' is not one of ro, rw, hidden, tmpfs"),
    ('[paths]\n"/nonexistent-dir-xyz" = "ro"', "policy.toml: paths.\"/nonexistent-dir-xyz\": /nonexistent-dir-xyz does not exist (a grant must be a host directory)"),
    ('[paths]\n"/proc" = "ro"', "policy.toml: paths.\"/proc\": /proc: /proc is the guest's own (it describes the guest, not the host)"),
    ('[paths]\n"/x" = { access = "ro", hots = "/" }', "policy.toml: paths.\"/x\": unknown key 'hots' (a path table has access and host)"),
    ('[paths]\n"/x" = { host = "/" }', "policy.toml: paths.\"/x\": a path table needs access = ro | rw | hidden | tmpfs"),
    ('[paths]\n"/x" = { host = "/", access = "hidden" }', "policy.toml: paths.\"/x\": host only goes with ro or rw, not hidden"),
    ('[syscalls]\nopne = "deny"', "policy.toml: syscalls.opne: opne is not a system call (did you mean open?)"),
    ('[syscalls]\nopen = "block"', "policy.toml: syscalls.open: \"block\" is not one of allow, deny, deny=ERRNO, model, host"),
    ('[syscalls]\nopen = "deny=ENOENTT"', "policy.toml: syscalls.open: \"deny=ENOENTT\": ENOENTT is not a Linux errno name (did you mean ENOENT?)"),
    ('[syscalls]\nopen = "model=EPERM"', "policy.toml: syscalls.open: \"model=EPERM\" is not one of allow, deny, deny=ERRNO, model, host"),
    ('[syscalls]\nopen = 1', "policy.toml: syscalls.open: must be a string: allow, deny, deny=ERRNO, model or host"),
    ('[stdio]\nstdn = false', "policy.toml: stdio.stdn: unknown stream (stdin, stdout, stderr)"),
    ('[stdio]\nstdin = "no"', "policy.toml: stdio.stdin: must be true or false"),
    ('[network]\nallowed = true', "policy.toml: network.allowed: unknown key (network has allow)"),
    ('[paths\n', "policy.toml: not valid TOML"),
])
def test_each_mistake_is_one_line_naming_the_key(tmp_path, text, message):
    with pytest.raises(PolicyError) as info:
        load_policy(write(tmp_path, text))
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(message), text


def test_a_missing_policy_file_is_one_line(tmp_path):
    with pytest.raises(PolicyError, match=r"nope\.toml: No such file or directory$"):
        load_policy(str(tmp_path / "nope.toml"))


def test_sending_to_the_host_a_call_it_does_not_serve_is_refused():
    with pytest.raises(PolicyError, match='syscalls.mmap = "host": mmap has no host service to choose'):
        check_routes(policy_from_dict({"syscalls": {"mmap": "host"}}, "p.toml"))
    with pytest.raises(PolicyError, match="^--forward brk: brk has no host service to choose"):
        check_routes(default_policy().with_calls(flag_call_rules(["brk"], "host", "--forward")))


def test_command_line_rules_name_their_flag(tmp_path):
    rules = flag_path_rules([str(tmp_path)], "rw", "--allow-write")
    assert rules[0].describe() == f'paths."{tmp_path}" = "rw" (--allow-write)'
    assert [r.describe() for r in flag_call_rules(["kill,tgkill=ESRCH"], "deny", "--deny")] == [
        'syscalls.kill = "deny=EPERM" (--deny)', 'syscalls.tgkill = "deny=ESRCH" (--deny)'
    ]
    with pytest.raises(PolicyError, match="^--allow-read /no/such/dir: /no/such/dir does not exist"):
        flag_path_rules(["/no/such/dir"], "ro", "--allow-read")
    with pytest.raises(PolicyError, match=r"^--forward openat=EPERM: --forward takes names only$"):
        flag_call_rules(["openat=EPERM"], "host", "--forward")


def test_the_default_grants_the_current_directory_read_only(tmp_path):
    p = default_policy(str(tmp_path))
    assert [(r.guest, r.access, r.source) for r in p.path_rules()] == [
        (os.path.realpath(tmp_path), "ro", "default: the current directory")
    ]
    assert not p.network and all(p.stdio.values())
    with_tmp = {r.guest: r.access for r in default_policy(str(tmp_path), tmp=True).path_rules()}
    assert with_tmp == {os.path.realpath(tmp_path): "ro", "/tmp": "tmpfs"}
