"""``sandbox web`` on the command line: the URL first, 403 without the token, one-line errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("aiohttp", reason="the web extra is not installed: pip install -e '.[web]'")

ROOT = Path(__file__).resolve().parents[2]
HELLO = "examples/hello/hello.aarch64.s"


def cli(*args: str, code: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "sandbox", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


def test_the_url_comes_first_and_the_page_needs_its_token():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "sandbox", "web", "--no-browser", HELLO], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = p.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200 and b"syscall-sandbox" in r.read()
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url.split("?")[0], timeout=10)
        assert e.value.code == 403
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    assert p.returncode == 0
    assert out == ""  # nothing after the URL: the guest's output is on the page
    assert err.strip().splitlines()[-1] == "sandbox: web view stopped"


@pytest.mark.parametrize("args, words, status", [
    (["web", "--no-browser", "missing.s"], "missing.s: No such file or directory", 127),
    (["web", "--no-browser", "--compare", HELLO], "--compare needs two programs", 2),
    (["web", "--no-browser", "--port", "70000", HELLO], "--port 70000: expected 0-65535", 2),
    (["web", "--no-browser", "--history", "-1", HELLO], "--history must be 0 or more", 2),
])
def test_errors_are_one_line(args, words, status):
    r = cli(*args)
    assert r.returncode == status
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and words in r.stderr and "Traceback" not in r.stderr


def test_without_the_web_extra_it_says_what_to_install():
    code = ("import sys; sys.modules['aiohttp'] = None\n"
            "from sandbox.cli import main\n"
            f"sys.exit(main(['web', '--no-browser', {HELLO!r}]))")
    r = cli(code=code)
    assert r.returncode == 2
    assert r.stderr == "sandbox: sandbox web needs the web extra: pip install 'syscall-sandbox[web]'\n"


def test_help_describes_the_command():
    r = cli("web", "--help")
    assert r.returncode == 0
    for option in ("--port", "--no-browser", "--compare", "--history", "--stdin"):
        assert option in r.stdout
    listing = cli("--help")
    assert "web" in listing.stdout
