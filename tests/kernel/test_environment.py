"""The guest's environment: a small known set by default, never the host's secrets."""

from __future__ import annotations

import pytest

from sandbox.environment import DEFAULT_PATH, default_environment, guest_environment
from sandbox.errors import SandboxError

HOST = {"PATH": "/home/me/.local/bin:/usr/bin", "HOME": "/home/me", "TERM": "xterm", "LANG": "C.UTF-8",
        "LC_TIME": "en_GB.UTF-8", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "GITHUB_TOKEN": "ghp_x", "EDITOR": "vi"}


def test_the_default_keeps_how_to_talk_to_the_user_and_nothing_else():
    env = default_environment(HOST, cwd="/")
    assert env == {"PATH": DEFAULT_PATH, "HOME": "/home/me", "TERM": "xterm", "LANG": "C.UTF-8",
                   "LC_TIME": "en_GB.UTF-8", "PWD": "/"}


def test_a_host_variable_passes_by_name_and_a_value_is_set():
    env = guest_environment(["EDITOR", "MISSING", "X=1", "TERM=dumb"], host=HOST, cwd="/")
    assert env["EDITOR"] == "vi" and "MISSING" not in env and env["X"] == "1" and env["TERM"] == "dumb"
    assert "GITHUB_TOKEN" not in env


def test_everything_or_nothing_on_request():
    assert guest_environment([], inherit_all=True, host=HOST) == HOST
    assert guest_environment(["A=b"], clear=True, host=HOST) == {"A": "b"}


@pytest.mark.parametrize("bad", ["=x", "", "A\0B=1"])
def test_a_bad_setting_is_one_line(bad):
    with pytest.raises(SandboxError, match="NAME=VALUE"):
        guest_environment([bad], host=HOST)
