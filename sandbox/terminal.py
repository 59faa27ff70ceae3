"""Colour on a terminal, and only there: never when the output is piped or ``NO_COLOR`` is set.

https://no-color.org: any non-empty ``NO_COLOR`` turns colour off; ``TERM=dumb`` does too.
"""

from __future__ import annotations

import os
from typing import IO

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34", "magenta": "35",
          "cyan": "36"}


def wants_colour(stream: IO[str] | None) -> bool:
    """Whether text written to ``stream`` should be coloured."""
    if stream is None or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


class Palette:
    """Wraps text in ANSI colours when enabled, and leaves it alone when not."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, *styles: str) -> str:
        """``text`` in the given styles (``"bold"``, ``"red"``...)."""
        if not self.enabled or not text:  # the usual case, a trace to a file or a pipe: first
            return text
        styles = tuple(s for s in styles if s)
        if not styles:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"

    @staticmethod
    def for_stream(stream: IO[str] | None) -> "Palette":
        """The palette for output going to ``stream``."""
        return Palette(wants_colour(stream))
