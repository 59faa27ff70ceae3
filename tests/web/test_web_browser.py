"""The page in a real headless Chromium (Debian's chromium and chromium-driver), driven by
Selenium, against ``sandbox web`` started as a user starts it.

Skipped, with the reason, when chromium, its driver or selenium is missing; ``.ci/run``
installs them. ``SANDBOX_WEB_SCREENSHOT=docs/web-view.png`` also saves the page at the return
of a ``read`` (the README's screenshot).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import pytest

pytest.importorskip("aiohttp", reason="the web extra is not installed: pip install -e '.[web]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install selenium")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)
HEADLESS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--window-size=1400,1000")


@pytest.fixture(scope="module")
def browser() -> Iterator["webdriver.Chrome"]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in HEADLESS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="sandbox-web-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """Start ``sandbox web --no-browser ARGS``; returns the URL it prints first."""
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> str:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        p = subprocess.Popen([sys.executable, "-m", "sandbox", "web", "--no-browser", *args], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(p)
        url = p.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), p.stderr.read()
        return url

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        for stream in (p.stdout, p.stderr):
            stream.close()


class Page:
    """The page as a user sees it: keys, buttons, and what the panels say."""

    def __init__(self, driver: "webdriver.Chrome", url: str) -> None:
        self.d = driver
        driver.get(url)
        self.updates = 0
        self.wait_update()

    def _count(self) -> int:
        return int(self.d.find_element(By.TAG_NAME, "body").get_attribute("data-updates") or 0)

    def wait_update(self) -> None:
        WebDriverWait(self.d, 60).until(lambda d: self._count() > self.updates)
        self.updates = self._count()

    def press(self, key: str) -> None:
        self.d.find_element(By.TAG_NAME, "body").send_keys(key)
        self.wait_update()

    def click(self, action: str) -> None:
        self.d.find_element(By.CSS_SELECTOR, f'#controls button[data-action="{action}"]').click()
        self.wait_update()

    def pane(self, i: int = 0):
        return self.d.find_elements(By.CSS_SELECTOR, "#panes .pane")[i]

    def text(self, selector: str, i: int = 0) -> str:
        return self.pane(i).find_element(By.CSS_SELECTOR, selector).text

    def card(self, i: int = 0):
        return self.pane(i).find_element(By.CSS_SELECTOR, ".card")

    def arg(self, name: str, i: int = 0) -> list[str]:
        row = self.card(i).find_element(By.CSS_SELECTOR, f'.arg-row[data-name="{name}"]')
        return [td.text for td in row.find_elements(By.TAG_NAME, "td")]

    def register(self, name: str, i: int = 0):
        return self.pane(i).find_element(By.CSS_SELECTOR, f'.registers tr[data-reg="{name}"]')

    def step_until_card(self, name: str, phase: str, key: str = "s", limit: int = 20) -> None:
        for _ in range(limit):
            card = self.card()
            if card.get_attribute("data-name") == name and card.get_attribute("data-phase") == phase:
                return
            self.press(key)
        raise AssertionError(f"no {phase} card for {name} after {limit} presses of {key!r}")


def test_aarch64_hello_step_to_the_write_see_its_card_reverse_and_run_to_the_end(browser, serve):
    page = Page(browser, serve("examples/hello/hello.aarch64.s"))
    assert page.text(".arch-name") == "aarch64"
    assert page.pane().find_element(By.CSS_SELECTOR, ".code tr.current").get_attribute("data-address") == "0x400000"
    page.step_until_card("write", "trap")
    assert page.text(".card .number-line") == "x8 = 64 (write)"
    assert page.arg("fd")[:2] == ["x0", "fd"] and page.arg("fd")[-1] == "1"
    buf = page.arg("buf")
    assert buf[:2] == ["x1", "buf"] and '"Hello world\\n"' in buf[-1]
    assert page.arg("count")[0] == "x2" and page.arg("count")[-1] == "12"
    assert "Hello world" in page.text(".memory")

    page.press("s")  # the svc itself
    result = page.card().find_element(By.CSS_SELECTOR, ".result")
    assert result.get_attribute("data-value") == "12" and result.text.startswith("x0 = 12")
    x0 = page.register("x0")
    assert "changed" in x0.get_attribute("class") and x0.find_element(By.CSS_SELECTOR, ".dec").text == "12"
    assert page.text(".stdout") == "Hello world"
    assert page.text(".trace").startswith('write(1, "Hello world\\n", 12)')

    page.press("S")  # reverse step: back before the trap
    x0 = page.register("x0")
    assert x0.find_element(By.CSS_SELECTOR, ".dec").text == "1" and "changed" in x0.get_attribute("class")
    assert page.text(".stdout") == ""
    assert page.card().get_attribute("data-phase") == "trap"

    page.press("c")
    assert page.text(".exit") == "exited with status 0"
    assert page.text(".stdout") == "Hello world"
    assert page.pane().get_attribute("data-ended") == "1"


def test_x86_64_hello_with_the_buttons_and_the_arrow_keys(browser, serve):
    page = Page(browser, serve("examples/hello/hello.x86_64.s"))
    page.press(Keys.ARROW_DOWN)  # to the next system call: the write's entry
    assert page.card().get_attribute("data-phase") == "entry"
    assert page.text(".card .number-line") == "rax = 1 (write)"
    assert page.arg("fd")[:2] == ["rdi", "fd"] and page.arg("fd")[-1] == "1"
    assert '"Hello world\\n"' in page.arg("buf")[-1]
    assert "rcx (the return address), r11 (eflags)" in page.text(".card .result")
    page.click("syscall")  # and its return
    result = page.card().find_element(By.CSS_SELECTOR, ".result")
    assert result.get_attribute("data-value") == "12"
    assert "changed" in page.register("rcx").get_attribute("class")
    page.press(Keys.ARROW_UP)  # back to the previous system call: the write's entry again
    assert page.card().get_attribute("data-phase") == "entry" and page.text(".stdout") == ""
    page.click("reverse-step")  # and before its trap
    assert page.card().get_attribute("data-phase") == "trap"
    assert page.register("rax").find_element(By.CSS_SELECTOR, ".dec").text == "1"
    page.click("continue")
    assert page.text(".exit") == "exited with status 0"
    page.click("restart")
    assert page.text(".stdout") == "" and page.text(".exit") == ""


def test_compare_advances_both_arches_call_by_call_and_marks_the_differences(browser, serve):
    page = Page(browser, serve("--compare", "examples/hello/hello.x86_64.s", "examples/hello/hello.aarch64.s"))
    assert [page.text(".arch-name", i) for i in (0, 1)] == ["x86_64", "aarch64"]
    page.press(Keys.ARROW_DOWN)
    diff = browser.find_element(By.ID, "diff")
    number = diff.find_element(By.CSS_SELECTOR, 'tr[data-what="number"]')
    assert [td.text for td in number.find_elements(By.TAG_NAME, "td")] == ["rax = 1 (write)", "x8 = 64 (write)"]
    assert "number-differs" in number.get_attribute("class")
    fd = diff.find_element(By.CSS_SELECTOR, 'tr[data-what="fd"]')
    assert "register-differs" in fd.get_attribute("class") and "value-differs" not in fd.get_attribute("class")
    name = diff.find_element(By.CSS_SELECTOR, 'tr[data-what="system call"]')
    assert "same" in name.get_attribute("class")
    page.press(Keys.ARROW_DOWN)
    result = diff.find_element(By.CSS_SELECTOR, 'tr[data-what="result"]')
    assert [td.text for td in result.find_elements(By.TAG_NAME, "td")] == ["rax = 12", "x0 = 12"]
    for _ in range(2):
        page.press(Keys.ARROW_DOWN)
    assert [page.text(".exit", i) for i in (0, 1)] == ["exited with status 0"] * 2


def test_the_page_without_its_token_is_refused(browser, serve):
    url = serve("examples/hello/hello.aarch64.s")
    browser.get(url.split("?")[0])
    assert "403" in browser.find_element(By.TAG_NAME, "body").text


@pytest.mark.skipif(not os.environ.get("SANDBOX_WEB_SCREENSHOT"), reason="set SANDBOX_WEB_SCREENSHOT=FILE.png to save one")
def test_screenshot(browser, serve):
    page = Page(browser, serve("examples/cat/cat.aarch64.s", "examples/hello/README.md"))
    page.step_until_card("read", "return", key=Keys.ARROW_DOWN)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, min(height + 160, 2400))
    out = Path(os.environ["SANDBOX_WEB_SCREENSHOT"])
    assert browser.save_screenshot(str(out if out.is_absolute() else ROOT / out))
