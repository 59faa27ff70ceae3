"""The arena of the escape attempts: a granted directory with traps in it, and the host around it.

Every test gets ``arena``: ``granted/`` (what the policy grants), with symlinks pointing out
of it; ``outside/`` and ``sibling/`` next to it, holding files the guest must never reach. At
the end of every test the arena checks that nothing outside ``granted/`` changed, byte for
byte, mode for mode, timestamp for timestamp. Each attempt is one real system call made by a
generated stub through the trap path, on each arch.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from kernel_model.host import Policy, policy_from_dict
from sandbox import Sandbox
from sandbox.records import SyscallRecord

ARCHES = ["x86_64", "aarch64"]
PROGRAMS = Path(__file__).resolve().parents[1] / "programs"
SECRET = b"SECRET: the guest must never see this\n"


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Everything about the files under ``root`` (but ``skip``) that a change would alter."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        if skip is not None and (here == skip or skip in here.parents):
            dirnames[:] = []
            continue
        for name in sorted(dirnames + filenames):
            path = here / name
            if skip is not None and path == skip:
                continue
            st = path.lstat()
            if path.is_symlink():
                what = ("link", os.readlink(path))
            elif path.is_file():
                what = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                what = ("dir",)
            out[str(path.relative_to(root))] = what + (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_nlink)
    return out


@dataclass
class Arena:
    """The directories of one test, and sandboxes confined to ``granted``."""

    root: Path
    granted: Path
    outside: Path
    sibling: Path
    arch: str

    def policy(self, access: str = "rw", **extra_paths: str) -> Policy:
        """A policy granting ``granted`` (``ro`` or ``rw``) plus ``extra_paths`` (names under granted)."""
        paths = {str(self.granted): access}
        paths.update({str(self.granted / name): value for name, value in extra_paths.items()})
        return policy_from_dict({"paths": paths}, "test-policy")

    def sandbox(self, access: str = "rw", policy: Policy | None = None, **kw: object) -> Sandbox:
        """A host-mode sandbox whose cwd is ``granted``."""
        return Sandbox(self.arch, kernel="host", cwd=str(self.granted), policy=policy or self.policy(access), **kw)


def refused(rec: SyscallRecord, errno: str, *rule_words: str) -> None:
    """The call failed with ``errno`` and its record names the rule that refused it."""
    assert rec.errno == errno, f"{rec} (note: {rec.note})"
    assert rec.note and rec.note.startswith("denied"), f"no denial recorded: {rec}"
    for word in rule_words:
        assert word in rec.note, f"{word!r} not in {rec.note!r}"


def failed(rec: SyscallRecord, *errnos: str) -> None:
    """The call failed with one of ``errnos`` (a refusal the host itself makes, or a missing object)."""
    assert rec.errno in errnos, f"{rec} (note: {rec.note})"
