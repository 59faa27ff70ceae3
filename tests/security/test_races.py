"""Renames racing the sandbox's checks: a host thread keeps swapping a directory of the grant for
a symlink pointing out while the guest opens a file through it, again and again. Whatever
interleaving happens, the guest reads the inside file or gets an error, never the outside one,
with openat2 and with the portable walk."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from kernel_model.host.beneath import Openat2

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ROUNDS = 300


@pytest.fixture(params=["openat2", "walk"])
def resolution(request, monkeypatch):
    if request.param == "openat2" and not Openat2.available:
        pytest.skip("the host has no openat2")
    if request.param == "walk":
        monkeypatch.setattr(Openat2, "available", False)
    return request.param


class Swapper(threading.Thread):
    """Swap ``granted/swap`` between a real directory and a symlink to ``outside`` until stopped."""

    def __init__(self, granted: Path, outside: Path) -> None:
        super().__init__(daemon=True)
        self.swap = granted / "swap"
        self.parked = granted / ".swap-real"
        self.outside = outside
        self.stop = threading.Event()
        self.swaps = 0

    def run(self) -> None:
        while not self.stop.is_set():
            os.rename(self.swap, self.parked)
            os.symlink(self.outside, self.swap)
            os.unlink(self.swap)
            os.rename(self.parked, self.swap)
            self.swaps += 1


def test_a_component_swapped_for_a_symlink_during_the_walk_never_leads_out(arena, resolution):
    (arena.granted / "swap").mkdir()
    (arena.granted / "swap" / "secret.txt").write_bytes(b"inside\n")  # outside/secret.txt is SECRET
    cat = EXAMPLES / "cat" / f"cat.{arena.arch}.s"
    outcomes: set[str | None] = set()
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # let the swapper run between the sandbox's steps
    swapper = Swapper(arena.granted, arena.outside)
    swapper.start()
    try:
        # Run until the swapper has raced the guest enough, however the threads were scheduled.
        for _ in range(20):
            # In this process (wall="none"): the race is against the first wall's walk, with the
            # swapper interleaved by the interpreter's switch interval.
            r = arena.sandbox(wall="none").run_file(str(cat), ["cat"] + ["swap/secret.txt"] * ROUNDS)
            assert b"SECRET" not in r.stdout
            opened = r.calls("openat")
            assert len(opened) == ROUNDS
            good = sum(1 for rec in opened if rec.ret is not None and rec.ret >= 0)
            assert r.stdout == b"inside\n" * good
            outcomes |= {rec.errno for rec in opened}
            if swapper.swaps >= 50 and None in outcomes and len(outcomes) > 1:
                break
    finally:
        swapper.stop.set()
        swapper.join()
        sys.setswitchinterval(before)
    assert swapper.swaps >= 50 and None in outcomes and len(outcomes) > 1, (swapper.swaps, outcomes)
    # A lost race is an error for that open (EINVAL: the link read back was a directory again).
    assert outcomes <= {None, "ENOENT", "ELOOP", "ENOTDIR", "EINVAL"}, outcomes
