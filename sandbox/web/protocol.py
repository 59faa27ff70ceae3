"""The messages between the page and the server, over one WebSocket.

The page sends JSON objects with a ``type``:

- ``{"type": "action", "action": "step"}``: a control (see :data:`ACTIONS`);
- ``{"type": "pause"}``: stop a running control now;
- ``{"type": "breakpoint", "pane": 0, "address": "0x400010"}``: set or delete a breakpoint;
- ``{"type": "memory", "pane": 0, "address": "0x400020"}``: show memory around an address.

The server answers with ``hello`` once (the controls and their keys, so the page builds its
buttons from this table), then a ``state`` after each message (see
:meth:`sandbox.web.session.Session.state`); for a control, ``running`` when it starts and
``progress`` at most a few times a second while it runs (never one message per system call);
and ``error`` with one line when a message cannot be done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VERSION = 1


@dataclass(frozen=True)
class Control:
    """A button of the page: what it does, its label, its keys and a few words on it."""

    action: str
    label: str
    keys: tuple[str, ...]
    title: str
    reverse: bool = False


CONTROLS = (
    Control("step", "Step", ("s", "ArrowRight"), "run one instruction (a system call instruction is served)"),
    Control("next", "Next", ("n",), "run one instruction; a call runs until it returns"),
    Control("syscall", "Syscall", ("x", "ArrowDown"),
            "continue to the next system call: its entry, then its return"),
    Control("continue", "Continue", ("c",), "run until a breakpoint or the end"),
    Control("reverse-step", "Reverse step", ("S", "ArrowLeft"), "go back one instruction", reverse=True),
    Control("reverse-syscall", "Reverse syscall", ("X", "ArrowUp"),
            "go back to the previous system call (or breakpoint)", reverse=True),
    Control("restart", "Restart", ("r",), "start the program again (breakpoints are kept)"),
)
ACTIONS = frozenset(c.action for c in CONTROLS)
PAUSE_KEYS = ("p", "Escape")


class ProtocolError(ValueError):
    """A message the server cannot act on: said back to the page in one line."""


def hello(session_info: dict[str, Any]) -> dict[str, Any]:
    """The first message: the protocol version, the controls, and what is being shown."""
    return {
        "type": "hello", "version": VERSION,
        "controls": [{"action": c.action, "label": c.label, "keys": list(c.keys), "title": c.title,
                      "reverse": c.reverse} for c in CONTROLS],
        "pause_keys": list(PAUSE_KEYS),
        **session_info,
    }


def parse(message: Any, panes: int) -> dict[str, Any]:
    """Check one message from the page; returns it with its address parsed to an int."""
    if not isinstance(message, dict):
        raise ProtocolError("a message is a JSON object")
    kind = message.get("type")
    if kind == "action":
        if message.get("action") not in ACTIONS:
            raise ProtocolError(f"unknown action {message.get('action')!r}")
        return {"type": "action", "action": message["action"]}
    if kind == "pause":
        return {"type": "pause"}
    if kind in ("breakpoint", "memory"):
        pane = message.get("pane", 0)
        if not isinstance(pane, int) or isinstance(pane, bool) or not 0 <= pane < panes:
            raise ProtocolError(f"no pane {pane!r}")
        return {"type": kind, "pane": pane, "address": parse_address(message.get("address"))}
    raise ProtocolError(f"unknown message type {kind!r}")


def parse_address(value: Any) -> int:
    """An address given as a number or as text (``0x400020``, ``4194336``)."""
    if isinstance(value, bool):
        raise ProtocolError("an address is a number")
    if isinstance(value, int):
        address = value
    elif isinstance(value, str):
        try:
            address = int(value.strip(), 0)
        except ValueError:
            raise ProtocolError(f"{value.strip()[:40]!r} is not an address") from None
    else:
        raise ProtocolError("an address is a number")
    if not 0 <= address < 1 << 64:
        raise ProtocolError(f"{address:#x} is not an address")
    return address
