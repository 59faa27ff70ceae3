"""Run a command in a private user and mount namespace where foreign ELF files run under qemu-user.

qemu-user emulates one process: when its guest calls ``execve`` on another guest-arch program
(busybox re-running itself for an applet, ``posix_spawn``, Python's ``subprocess``), qemu passes
the call to the host kernel, which cannot run the file unless binfmt_misc sends it to qemu.
Without that the oracle is wrong, silently: busybox sh then finds the host's own ``tar`` on
PATH. Since Linux 6.7 an unprivileged user namespace can mount its own binfmt_misc, so this
script registers qemu-user there for each arch the host cannot run itself, and nothing outside
the namespace changes (the host's binfmt_misc, if any, is untouched).

With ``--rootfs DIR`` it also shows DIR's ``/bin`` and ``/usr/bin`` (read-only, as one overlay)
at ``/bin`` and ``/usr/bin``, so that an ``execve("/bin/echo")`` inside the guest runs the
rootfs's program and not the host's; qemu itself finds the rootfs's libraries through
``QEMU_LD_PREFIX``, which the caller sets.

Usage: ``python3 qemu_namespace.py [--rootfs DIR] -- COMMAND [ARGS...]``. Exit status 125 and
one line on stderr when the namespace cannot be built; otherwise the command's own.
Only the standard library: it runs before any venv exists, under any python3.
"""

from __future__ import annotations

import ctypes
import os
import platform
import shutil
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 0x1
MS_REC = 0x4000
MS_PRIVATE = 0x40000
BINFMT = "/proc/sys/fs/binfmt_misc"
CANNOT = 125

# e_machine and ELF class of each arch qemu-user may have to run for a child.
ELF_MACHINES = {"x86_64": (62, 2), "aarch64": (183, 2), "i386": (3, 1), "arm": (40, 1), "riscv64": (243, 2)}
# What the host kernel runs by itself, so registering qemu for it would replace Linux.
NATIVE = {"x86_64": {"x86_64", "i386"}, "aarch64": {"aarch64"}}

_libc = ctypes.CDLL(None, use_errno=True)


class NamespaceError(Exception):
    """The namespace could not be built on this host."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise NamespaceError(f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags, data.encode() if data else None),
        f"mount {fstype or source} on {target}",
    )


def _escape(data: bytes) -> str:
    return "".join(f"\\x{b:02x}" for b in data)


def binfmt_rule(arch: str, qemu: str) -> str:
    """The binfmt_misc registration that hands ``arch``'s executables (ET_EXEC and ET_DYN) to ``qemu``.

    Flags: F opens qemu now, so later mounts cannot hide it; P keeps the guest's argv[0],
    which qemu then reads from the auxiliary vector (AT_FLAGS), as Debian's qemu-user-binfmt does.
    """
    machine, elf_class = ELF_MACHINES[arch]
    # ident: magic, class, little-endian data, version; OS ABI and padding are not compared
    magic = b"\x7fELF" + bytes([elf_class, 1, 1]) + bytes(9) + b"\x02\x00" + machine.to_bytes(2, "little")
    mask = b"\xff" * 7 + bytes(9) + b"\xfe\xff" + b"\xff\xff"
    return f":sandbox-qemu-{arch}:M::{_escape(magic)}:{_escape(mask)}:{qemu}:FP"


def enter(rootfs: str | None) -> None:
    """Become a process in the new namespaces, with qemu registered and the rootfs shown."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{uid} {uid} 1")  # the same uid and gid inside: the guest sees who it is outside
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{gid} {gid} 1")
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    _mount("binfmt_misc", BINFMT, "binfmt_misc", 0)
    native = NATIVE.get(platform.machine(), set())
    for arch in ELF_MACHINES:
        qemu = shutil.which(f"qemu-{arch}")
        if arch in native or qemu is None:
            continue
        with open(f"{BINFMT}/register", "w") as f:
            f.write(binfmt_rule(arch, os.path.realpath(qemu)))
    if rootfs:
        layers = [os.path.join(rootfs, d) for d in ("bin", "usr/bin") if os.path.isdir(os.path.join(rootfs, d))]
        for target in ("/usr/bin", "/bin"):
            if os.path.islink(target) or not os.path.isdir(target):
                continue  # a merged-/usr host: /bin is /usr/bin
            # two lower layers and no upper one: a read-only union, allowed in a user namespace
            _mount("overlay", target, "overlay", MS_RDONLY, "lowerdir=" + ":".join(layers))


def main(argv: list[str]) -> int:
    """Parse ``[--rootfs DIR] -- COMMAND...``, build the namespace, and exec the command."""
    rootfs = None
    if argv[:1] == ["--rootfs"]:
        rootfs, argv = argv[1], argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: qemu_namespace.py [--rootfs DIR] -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    command = shutil.which(argv[0]) or argv[0]
    try:
        # opened before the mounts, which may hide where it lives (/usr/bin)
        fd = os.open(command, os.O_RDONLY)
        enter(rootfs)
    except (NamespaceError, OSError) as e:
        print(f"qemu_namespace: cannot build the namespace: {e}", file=sys.stderr)
        return CANNOT
    os.execve(fd, argv, os.environ)
    return CANNOT  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
