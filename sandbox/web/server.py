"""The local server behind ``sandbox web``: the page, its three static files, one WebSocket.

Built on aiohttp: one well-kept library is both the HTTP server and the WebSocket end, runs
on an asyncio loop this module owns (no ASGI server to configure), and brings its own test
client. It is the ``web`` extra (``pip install 'syscall-sandbox[web]'``).

Safety: the server listens on 127.0.0.1 only, and every request must carry the random token
printed with the URL (``?token=...``): without it, or with a ``Host`` header that is not this
server's (a page elsewhere reaching it through DNS rebinding), the answer is 403.

The guest runs in one worker thread, one control at a time, so the loop stays free to take a
pause and to send progress: a few ``progress`` messages a second while a control runs, and the
state once at the stop. A continue over a million system calls sends a handful of messages.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import secrets
import socket
from importlib import resources
from typing import Any, Awaitable, Callable

from aiohttp import WSMsgType, web

from sandbox.errors import SandboxError
from sandbox.web.protocol import ProtocolError, hello, parse
from sandbox.web.session import Session

PROGRESS_EVERY = 0.25  # seconds between progress messages while a control runs
_STATIC = {"index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css"}


def static_text(name: str) -> str:
    """One of the page's files, from the installed package."""
    return resources.files("sandbox.web").joinpath("static", name).read_text(encoding="utf-8")


class WebServer:
    """Serves one :class:`Session` to any number of tabs (each sees every change)."""

    def __init__(self, session: Session, *, token: str | None = None) -> None:
        self.session = session
        self.token = token or secrets.token_urlsafe(24)
        self.sockets: set[web.WebSocketResponse] = set()
        self.port = 0
        self.address: tuple[str, int] | None = None
        self._memory_at: list[int | None] = [None] * len(session.views)
        self._busy = False
        self._tasks: set[asyncio.Task] = set()
        # One thread runs the guest: Unicorn is used from one thread, one control at a time.
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-web")
        self.messages_sent = 0
        self.app = web.Application(middlewares=[self._guard])
        self.app.add_routes([
            web.get("/", self._index),
            web.get("/static/{name}", self._static),
            web.get("/ws", self._websocket),
        ])
        self.app.on_shutdown.append(self._close_sockets)

    @property
    def url(self) -> str:
        """The page's address, with its token."""
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    # -- HTTP -------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                     ) -> web.StreamResponse:
        given = request.query.get("token", "")
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return web.Response(status=403, text="403 Forbidden: open the address sandbox web printed, with its token\n")
        host = request.headers.get("Host", "")
        if self.port and host not in (f"127.0.0.1:{self.port}", f"localhost:{self.port}"):
            return web.Response(status=403, text="403 Forbidden: this server answers for 127.0.0.1 only\n")
        response = await handler(request)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    async def _index(self, request: web.Request) -> web.Response:
        page = static_text("index.html").replace("{{TOKEN}}", self.token)
        return web.Response(text=page, content_type="text/html", headers={
            "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws://127.0.0.1:* ws://localhost:*; "
                                       "img-src 'self' data:; object-src 'none'; base-uri 'none'",
        })

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC or name == "index.html":
            raise web.HTTPNotFound()
        return web.Response(text=static_text(name), content_type=_STATIC[name])

    # -- the socket -------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=1 << 16)
        await ws.prepare(request)
        self.sockets.add(ws)
        try:
            await self._send(ws, hello(self._info()))
            await self._send(ws, await self._in_worker(self._state))
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._handle(ws, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.sockets.discard(ws)
        return ws

    def _info(self) -> dict[str, Any]:
        return {"compare": self.session.compare,
                "programs": [{"path": v.path, "arch": v.arch.name} for v in self.session.views]}

    async def _handle(self, ws: web.WebSocketResponse, text: str) -> None:
        try:
            message = parse(json.loads(text), len(self.session.views))
        except (ProtocolError, json.JSONDecodeError) as e:
            await self._send(ws, {"type": "error", "message": str(e)})
            return
        if message["type"] == "pause":
            self.session.pause()  # thread-safe: stops the running guest at once
            return
        if self._busy:
            await self._send(ws, {"type": "error", "message": "still running: pause first (p)"})
            return
        # Done in a task of its own, so that this socket's next message (a pause) is read
        # while the guest runs.
        self._busy = True
        task = asyncio.create_task(self._do(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _do(self, message: dict[str, Any]) -> None:
        try:
            if message["type"] == "action":
                await self._run_action(message["action"])
            elif message["type"] == "breakpoint":
                view = self.session.views[message["pane"]]
                await self._in_worker(view.toggle_breakpoint, message["address"])
            else:
                self._memory_at[message["pane"]] = message["address"]
            state = await self._in_worker(self._state)
        except SandboxError as e:
            await self._broadcast({"type": "error", "message": str(e)})
            state = await self._in_worker(self._state)
        except Exception as e:  # noqa: BLE001 - a bug: the page says it in one line, the server goes on
            await self._broadcast({"type": "error", "message": f"internal error: {type(e).__name__}: {e}"})
            state = await self._in_worker(self._state)
        finally:
            self._busy = False
        await self._broadcast(state)

    async def _run_action(self, action: str) -> None:
        self._memory_at = [None] * len(self.session.views)  # follow the new call's pointers
        future = asyncio.get_running_loop().run_in_executor(self._worker, self.session.perform, action)
        await self._broadcast({"type": "running", "action": action})
        while True:
            try:
                await asyncio.wait_for(asyncio.shield(future), PROGRESS_EVERY)
                return
            except asyncio.TimeoutError:
                await self._broadcast(self.session.progress())

    def _state(self) -> dict[str, Any]:
        return self.session.state(self._memory_at)

    async def _in_worker(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    async def _send(self, ws: web.WebSocketResponse, message: dict[str, Any]) -> None:
        if not ws.closed:
            self.messages_sent += 1
            await ws.send_str(json.dumps(message))

    async def _broadcast(self, message: dict[str, Any]) -> None:
        text = json.dumps(message)
        for ws in list(self.sockets):
            if not ws.closed:
                self.messages_sent += 1
                try:
                    await ws.send_str(text)
                except ConnectionError:
                    self.sockets.discard(ws)

    async def _close_sockets(self, app: web.Application) -> None:
        self.session.pause()
        for ws in list(self.sockets):
            await ws.close()

    # -- running ----------------------------------------------------------------------------

    async def start(self, port: int = 0) -> web.AppRunner:
        """Listen on 127.0.0.1:``port`` (0: a free one); returns the runner to clean up."""
        sock = bind(port)
        self.address = sock.getsockname()
        self.port = self.address[1]
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        return runner

    def close(self) -> None:
        """Stop the worker thread (after the runner is cleaned up)."""
        self.session.pause()
        self._worker.shutdown(wait=True, cancel_futures=True)


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (never another address)."""
    if not 0 <= port <= 65535:
        raise SandboxError(f"--port {port}: expected 0-65535")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(16)
    except OSError as e:
        sock.close()
        raise SandboxError(f"--port {port}: {e.strerror or e}") from None
    sock.setblocking(False)
    return sock


def serve(session: Session, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve ``session`` until interrupted; ``on_ready`` gets the URL once listening."""
    server = WebServer(session)

    async def main() -> None:
        runner = await server.start(port)
        try:
            on_ready(server.url)
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    finally:
        server.close()
