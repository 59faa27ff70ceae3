#!/usr/bin/env python3
"""Fetch the pinned Debian 12 packages the acceptance tests run, and unpack what they need.

Every package comes from ``debian-packages.txt`` beside this script (package, Debian arch,
version, sha256, and where it goes), is downloaded with ``apt-get download PKG:ARCH=VERSION``
into ``.cache/debs/``, is checked against its sha256, and is unpacked under ``.cache/``:

- ``static`` packages give one statically linked program each, copied out of the .deb:
  ``.cache/busybox/busybox.ARCH`` and ``.cache/static/{bash,zsh,sash}.ARCH``, ARCH being the
  sandbox's name (x86_64, aarch64, arm, i386);
  each busybox is also ``.cache/applets/ARCH/busybox`` with its applets' names beside it;
- ``rootfs-arm64`` packages are unpacked together into ``.cache/rootfs-arm64/``, a root
  filesystem for dynamically linked arm64 programs (``--rootfs``, ``qemu-aarch64 -L``).

Prerequisite (once, as root): apt must know every arch in the manifest, e.g.
``dpkg --add-architecture arm64 && dpkg --add-architecture armhf && dpkg --add-architecture i386
&& apt-get update`` on an amd64 host (``.ci/run`` does this).

Debian replaces a package in bookworm when it publishes a point or security release, and the
mirror then no longer has the pinned version: ``--repin`` rewrites the manifest with the
versions and checksums apt offers now, so the change shows in ``git diff``.

Only the standard library is used: it runs with the system's python3, before any venv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MANIFEST = HERE / "debian-packages.txt"
CACHE = ROOT / ".cache"
DEBS = CACHE / "debs"
ROOTFS_ARM64 = CACHE / "rootfs-arm64"

# Debian's arch names, and the sandbox's for the same machine.
SANDBOX_ARCH = {"amd64": "x86_64", "arm64": "aarch64", "armhf": "arm", "i386": "i386"}

# For each "static" package: the program inside the .deb, and where it goes (ARCH is the
# sandbox's arch name). busybox keeps the path the older tests already use.
STATIC_PROGRAMS = {
    "busybox-static": ("bin/busybox", "busybox/busybox.{arch}"),
    "bash-static": ("bin/bash-static", "static/bash.{arch}"),
    "zsh-static": ("bin/zsh-static", "static/zsh.{arch}"),
    "sash": ("bin/sash", "static/sash.{arch}"),
}
DESTINATIONS = ("static", "rootfs-arm64")

# .cache/applets/ARCH/ holds busybox under these names (symlinks to one hard link of it), so
# that bash, zsh and sash scripts find external commands that are the guest's own arch, in a
# directory the sandbox can be shown, instead of whatever the host has on PATH.
APPLETS = (
    "basename", "cat", "cut", "echo", "env", "expr", "false", "grep", "head", "id", "ls",
    "printf", "sed", "seq", "sh", "sleep", "sort", "tail", "tar", "tr", "true", "uniq", "wc",
)


class FetchError(Exception):
    """Something the user has to fix; reported as one line."""


@dataclass(frozen=True)
class Pin:
    """One line of the manifest."""

    package: str
    arch: str
    version: str
    sha256: str
    into: str

    @property
    def spec(self) -> str:
        """What apt-get download takes."""
        return f"{self.package}:{self.arch}={self.version}"

    @property
    def deb(self) -> Path:
        """Where the downloaded file is kept (apt's own file name, with ':' quoted as apt does)."""
        version = self.version.replace(":", "%3a")
        return DEBS / f"{self.package}_{version}_{self.arch}.deb"

    def line(self) -> str:
        """The manifest line for this pin."""
        return f"{self.package} {self.arch} {self.version} {self.sha256} {self.into}"


def read_manifest(path: Path = MANIFEST) -> tuple[list[str], list[Pin]]:
    """The manifest's lines as they are (to rewrite it) and its pins."""
    lines = path.read_text().splitlines()
    pins = []
    for number, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) != 5 or words[4] not in DESTINATIONS or words[1] not in SANDBOX_ARCH:
            raise FetchError(f"{path.name}:{number}: expected 'package arch version sha256 {'|'.join(DESTINATIONS)}'")
        if words[4] == "static" and words[0] not in STATIC_PROGRAMS:
            raise FetchError(f"{path.name}:{number}: {words[0]} is not a static program this script knows")
        pins.append(Pin(*words))
    return lines, pins


def sha256_of(path: Path) -> str:
    """The sha256 of a file, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run(command: list[str], cwd: Path | None = None) -> str:
    """Run a command; its output is shown only when it fails, as the one-line error's tail."""
    try:
        r = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise FetchError(f"{command[0]} is not installed (this script needs Debian's apt and dpkg)") from None
    if r.returncode != 0:
        last = (r.stderr.strip() or r.stdout.strip()).splitlines()
        raise FetchError(f"{' '.join(command)} failed: {last[-1] if last else 'exit status ' + str(r.returncode)}")
    return r.stdout


def download(pins: list[Pin]) -> None:
    """Make sure each pin's .deb is in the cache and has its sha256."""
    DEBS.mkdir(parents=True, exist_ok=True)
    wanted = [p for p in pins if not (p.deb.is_file() and sha256_of(p.deb) == p.sha256)]
    if wanted:
        print(f"downloading {len(wanted)} package(s) with apt-get", flush=True)
        # apt drops to its _apt user to download, which cannot write into a directory only its
        # owner may; running the download as the caller avoids a warning and changes nothing else.
        run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=" + _user(), *[p.spec for p in wanted]], cwd=DEBS)
    for p in pins:
        if not p.deb.is_file():
            raise FetchError(f"apt-get did not produce {p.deb.name}")
        got = sha256_of(p.deb)
        if got != p.sha256:
            p.deb.unlink()
            raise FetchError(f"{p.deb.name}: sha256 {got} is not the pinned {p.sha256} (removed it)")


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def unpack_static(pins: list[Pin]) -> list[Path]:
    """Copy each static program out of its .deb; returns the files written."""
    written = []
    for p in pins:
        inside, dest = STATIC_PROGRAMS[p.package]
        target = CACHE / dest.format(arch=SANDBOX_ARCH[p.arch])
        with tempfile.TemporaryDirectory() as tmp:
            run(["dpkg-deb", "-x", str(p.deb), tmp])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(tmp) / inside, target)
        written.append(target)
        if p.package == "busybox-static":
            link_applets(target, CACHE / "applets" / SANDBOX_ARCH[p.arch])
    return written


def link_applets(busybox: Path, folder: Path) -> None:
    """Make ``folder`` a PATH directory of busybox applets (see APPLETS)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.link(busybox, folder / "busybox")
    for name in APPLETS:
        (folder / name).symlink_to("busybox")


def unpack_rootfs(pins: list[Pin], rootfs: Path) -> bool:
    """Unpack the packages into a fresh ``rootfs`` unless it already holds exactly these pins.

    Returns whether it unpacked. A stamp file records the pins, so a change of the manifest
    rebuilds the tree from nothing rather than unpacking over an older one.
    """
    stamp = rootfs / ".pins"
    want = "".join(p.line() + "\n" for p in sorted(pins, key=lambda p: p.package))
    if stamp.is_file() and stamp.read_text() == want:
        return False
    partial = rootfs.with_name(rootfs.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for p in pins:
        run(["dpkg-deb", "-x", str(p.deb), str(partial)])
    # Nothing the tests run reads documentation, manual pages or translations (the guests run
    # in the C locale); leaving them out keeps the tree at a third of its size.
    for unread in ("doc", "man", "info", "locale", "lintian"):
        shutil.rmtree(partial / "usr" / "share" / unread, ignore_errors=True)
    (partial / ".pins").write_text(want)
    shutil.rmtree(rootfs, ignore_errors=True)
    partial.rename(rootfs)
    return True


def repin(lines: list[str], pins: list[Pin]) -> list[str]:
    """The manifest with each pin moved to apt's candidate version and its sha256."""
    current = {}
    for p in pins:
        out = run(["apt-cache", "show", "--no-all-versions", f"{p.package}:{p.arch}"])
        fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line and not line.startswith(" "))
        current[(p.package, p.arch)] = Pin(p.package, p.arch, fields["Version"], fields["SHA256"], p.into)
    result = []
    for line in lines:
        words = line.split("#", 1)[0].split()
        if len(words) == 5 and (words[0], words[1]) in current:
            new = current[(words[0], words[1])]
            if new.version != words[2]:
                print(f"{words[0]}:{words[1]}: {words[2]} -> {new.version}")
            line = new.line()
        result.append(line)
    return result


def main(argv: list[str] | None = None) -> int:
    """Parse the options, fetch, check and unpack; one line and exit 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", metavar="PKG[,PKG]", help="only these packages (default: the whole manifest)")
    parser.add_argument("--arches", metavar="ARCH[,ARCH]", help="only these Debian arches (amd64, arm64, armhf, i386)")
    parser.add_argument("--repin", action="store_true", help="rewrite the manifest with apt's current versions and checksums")
    args = parser.parse_args(argv)
    try:
        lines, pins = read_manifest()
        if args.only:
            names = set(args.only.split(","))
            pins = [p for p in pins if p.package in names]
        if args.arches:
            arches = set(args.arches.split(","))
            pins = [p for p in pins if p.arch in arches]
        if not pins:
            raise FetchError("no package in the manifest matches --only/--arches")
        if args.repin:
            MANIFEST.write_text("\n".join(repin(lines, pins)) + "\n")
            lines, pins = read_manifest()
        download(pins)
        for path in unpack_static([p for p in pins if p.into == "static"]):
            print(f"{path.relative_to(ROOT)}  {path.stat().st_size} bytes")
        rootfs = [p for p in pins if p.into == "rootfs-arm64"]
        if rootfs:
            if args.only or args.arches:
                raise FetchError("the arm64 rootfs is unpacked from all its packages at once: drop --only/--arches")
            fresh = unpack_rootfs(rootfs, ROOTFS_ARM64)
            print(f"{ROOTFS_ARM64.relative_to(ROOT)}/  {len(rootfs)} packages{' (unpacked)' if fresh else ' (up to date)'}")
        total = sum(p.deb.stat().st_size for p in pins)
        print(f"{len(pins)} packages, {total / 1e6:.1f} MB of .deb files in {DEBS.relative_to(ROOT)}/")
    except FetchError as e:
        print(f"{Path(sys.argv[0]).name}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
