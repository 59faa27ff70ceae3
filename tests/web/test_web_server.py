"""The server: the token, 127.0.0.1 only, the WebSocket protocol, the page's files, and a
continue over a million system calls that sends a handful of messages."""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import pytest

aiohttp = pytest.importorskip("aiohttp", reason="the web extra is not installed: pip install -e '.[web]'")

from sandbox import Sandbox  # noqa: E402
from sandbox.web.server import WebServer, static_text  # noqa: E402
from sandbox.web.session import ProgramView, Session  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HELLO = str(ROOT / "examples" / "hello" / "hello.aarch64.s")


@asynccontextmanager
async def serving(session: Session) -> AsyncIterator[WebServer]:
    server = WebServer(session)
    runner = await server.start(0)
    try:
        yield server
    finally:
        await runner.cleanup()
        server.close()


async def receive(ws, kind: str, seen: list | None = None) -> dict:
    """The next message of ``kind`` (others are kept in ``seen``)."""
    while True:
        msg = json.loads((await ws.receive(timeout=120)).data)
        if seen is not None:
            seen.append(msg)
        if msg["type"] == kind:
            return msg


def run(coro) -> None:
    asyncio.run(coro)


def test_a_request_without_the_token_is_refused():
    async def main() -> None:
        async with serving(Session([ProgramView(Sandbox("aarch64"), HELLO)])) as server:
            base = f"http://127.0.0.1:{server.port}"
            async with aiohttp.ClientSession() as http:
                for path in ("/", "/static/app.js", "/static/app.css", "/ws", "/?token=wrong", "/favicon.ico"):
                    async with http.get(base + path) as r:
                        assert r.status == 403, path
                async with http.get(server.url) as r:
                    assert r.status == 200
                    page = await r.text()
                    assert server.token in page and "{{TOKEN}}" not in page
                    assert r.headers["Cache-Control"] == "no-store"
                async with http.get(f"{base}/static/app.js?token={server.token}") as r:
                    assert r.status == 200 and r.content_type == "text/javascript"
                # a page elsewhere that reaches the port through another host name is refused
                async with http.get(server.url, headers={"Host": f"evil.example:{server.port}"}) as r:
                    assert r.status == 403
                with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                    await http.ws_connect(f"{base}/ws")
                assert e.value.status == 403

    run(main())


def test_the_server_listens_on_the_loopback_only():
    async def main() -> None:
        async with serving(Session([ProgramView(Sandbox("aarch64"), HELLO)])) as server:
            assert server.address == ("127.0.0.1", server.port)
            assert server.url.startswith(f"http://127.0.0.1:{server.port}/?token=")

    run(main())


def test_the_socket_says_hello_then_steps_and_reports_errors():
    async def main() -> None:
        async with serving(Session([ProgramView(Sandbox("aarch64"), HELLO)])) as server:
            async with aiohttp.ClientSession() as http:
                ws = await http.ws_connect(f"ws://127.0.0.1:{server.port}/ws?token={server.token}")
                hello = await receive(ws, "hello")
                assert [c["action"] for c in hello["controls"]] == [
                    "step", "next", "syscall", "continue", "reverse-step", "reverse-syscall", "restart"]
                assert hello["programs"] == [{"path": HELLO, "arch": "aarch64"}]
                first = await receive(ws, "state")
                assert first["panes"][0]["status"]["pc"] == "0x400000"
                await ws.send_json({"type": "action", "action": "syscall"})
                state = await receive(ws, "state")
                assert state["panes"][0]["card"]["number_line"] == "x8 = 64 (write)"
                await ws.send_json({"type": "memory", "pane": 0, "address": "0x400024"})
                state = await receive(ws, "state")
                assert state["panes"][0]["memory"]["address"] == "0x400024"
                await ws.send_json({"type": "breakpoint", "pane": 0, "address": "0x400018"})
                state = await receive(ws, "state")
                assert state["panes"][0]["breakpoints"] == ["0x400018"]
                for bad, words in ((["not", "an", "object"], "JSON object"), ({"type": "action", "action": "fly"}, "unknown action"),
                                   ({"type": "memory", "pane": 3, "address": 1}, "no pane"),
                                   ({"type": "memory", "pane": 0, "address": "here"}, "not an address")):
                    await ws.send_json(bad)
                    error = await receive(ws, "error")
                    assert words in error["message"]
                await ws.send_str("{")
                assert "Expecting" in (await receive(ws, "error"))["message"]
                await ws.close()

    run(main())


def test_a_continue_over_a_million_system_calls_sends_a_handful_of_messages(tmp_path):
    calls = 1_000_000
    loop = tmp_path / "loop.x86_64.s"
    loop.write_text(f"_start: mov r12, {calls}\nagain: mov eax, 39\nsyscall\ndec r12\njnz again\n"
                    "mov eax, 60\nxor edi, edi\nsyscall\n")

    async def main() -> None:
        view = ProgramView(Sandbox("x86_64", timeout=None), str(loop), history=100)
        async with serving(Session([view])) as server:
            async with aiohttp.ClientSession() as http:
                ws = await http.ws_connect(f"ws://127.0.0.1:{server.port}/ws?token={server.token}")
                await receive(ws, "state")
                await ws.send_json({"type": "action", "action": "continue"})
                seen: list = []
                state = await receive(ws, "state", seen)
                await ws.close()
        p = state["panes"][0]
        assert p["status"]["ended"] and p["trace"]["total"] == calls + 1
        assert len(p["trace"]["lines"]) == 300 and p["trace"]["lines"][-2] == "getpid()                                = 1000"
        progress = [m for m in seen if m["type"] == "progress"]
        # a few a second, whatever the number of calls
        assert len(seen) <= 4 * max(progress[-1]["seconds"] if progress else 0, 1) + 8
        assert all(b["syscalls"][0] >= a["syscalls"][0] for a, b in zip(progress, progress[1:]))
        assert len(json.dumps(state)) < 200_000

    run(main())


def test_a_pause_stops_a_running_continue_and_a_second_control_waits(tmp_path):
    loop = tmp_path / "spin.x86_64.s"
    loop.write_text("_start: mov eax, 39\nsyscall\njmp _start\n")

    async def main() -> None:
        async with serving(Session([ProgramView(Sandbox("x86_64", timeout=None), str(loop), history=10)])) as server:
            async with aiohttp.ClientSession() as http:
                ws = await http.ws_connect(f"ws://127.0.0.1:{server.port}/ws?token={server.token}")
                await receive(ws, "state")
                await ws.send_json({"type": "action", "action": "continue"})
                progress = await receive(ws, "progress")
                await ws.send_json({"type": "action", "action": "step"})
                assert "still running" in (await receive(ws, "error"))["message"]
                await ws.send_json({"type": "pause"})
                state = await receive(ws, "state")
                await ws.close()
        status = state["panes"][0]["status"]
        assert status["reason"] == "interrupted" and status["text"] == "paused" and not status["ended"]
        assert status["syscalls"] >= progress["syscalls"][0]

    run(main())


def test_the_page_is_three_files_that_fetch_nothing_from_elsewhere():
    page = static_text("index.html")
    script = static_text("app.js")
    style = static_text("app.css")
    for text in (page, script, style):
        assert not re.search(r"https?://", text)  # no CDN, no fonts, works offline
        assert "@import" not in text
    assert re.findall(r'(?:src|href)="([^"]+)"', page) == ["data:,", "/static/app.css?token={{TOKEN}}",
                                                           "/static/app.js?token={{TOKEN}}"]
    assert "innerHTML" not in script  # the guest's strings are only ever text


def test_the_page_files_are_package_data():
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = data["tool"]["setuptools"]["package-data"]["sandbox.web"]
    names = {p.name for p in (ROOT / "sandbox" / "web" / "static").iterdir()}
    assert names == {"index.html", "app.js", "app.css"}
    assert all(any(Path(n).match(pat.split("/")[-1]) for pat in patterns) for n in names)
