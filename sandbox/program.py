"""What a file given to ``sandbox run`` is: assembly source, an ELF executable, or raw code.

Each refusal is one precise line: a missing file, a directory, a script, an ELF for another
arch, a ``.s`` file whose arch cannot be told.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from sandbox.arch import ARCHES, Arch, get_arch
from sandbox.elf import ElfInfo, inspect_elf, is_elf
from sandbox.errors import ExecFormatError, ProgramNotFoundError, SandboxError, UnknownArchError

ASSEMBLY_SUFFIXES = (".s", ".S", ".asm")
RAW_SUFFIXES = (".bin", ".raw")
_ARCH_COMMENT = re.compile(r"(?:#|//|;|@)\s*arch:\s*([A-Za-z0-9_-]+)")


@dataclass
class ProgramFile:
    """A file's contents and what kind of program it holds."""

    path: str
    kind: str  # "asm", "elf" or "raw"
    data: bytes
    arch: Arch
    elf: ElfInfo | None = None

    @property
    def text(self) -> str:
        """The source text of an assembly file."""
        return self.data.decode("utf-8", "replace")


def read_program(path: str, arch: str | Arch | None = None) -> ProgramFile:
    """Read ``path`` and tell what it is; ``arch`` is used when the file does not say it."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ProgramNotFoundError(f"{path}: No such file or directory") from None
    except IsADirectoryError:
        raise ExecFormatError(f"{path}: Is a directory") from None
    except PermissionError:
        raise ExecFormatError(f"{path}: Permission denied") from None
    except OSError as e:
        raise ExecFormatError(f"{path}: {e.strerror}") from None
    wanted = get_arch(arch) if arch is not None else None

    if is_elf(data):
        info = inspect_elf(data, path)
        if wanted is not None and wanted is not info.arch:
            raise SandboxError(f"{path} is a {info.arch.name} ELF file; --arch {wanted.name} contradicts it")
        return ProgramFile(path, "elf", data, info.arch, info)
    if data.startswith(b"#!"):
        interpreter = data[2:].split(b"\n", 1)[0].strip().decode("utf-8", "replace")
        raise ExecFormatError(
            f"{path}: a script for {interpreter or 'an interpreter'}; the sandbox runs machine code, "
            "so run the interpreter's binary with the script as its argument"
        )
    if path.endswith(ASSEMBLY_SUFFIXES):
        said = arch_named_by(path, data)
        if said is not None and wanted is not None and said is not wanted:
            raise SandboxError(f"{path} says it is {said.name} code; --arch {wanted.name} contradicts it")
        chosen = said or wanted
        if chosen is None:
            raise SandboxError(
                f"{path}: cannot tell the arch; name the file NAME.<arch>.s, put a comment "
                f"'arch: <arch>' at the top, or pass --arch ({', '.join(ARCHES)})"
            )
        return ProgramFile(path, "asm", data, chosen)
    if path.endswith(RAW_SUFFIXES):
        if wanted is None:
            raise SandboxError(f"{path}: raw machine code needs --arch ({', '.join(ARCHES)})")
        return ProgramFile(path, "raw", data, wanted)
    raise ExecFormatError(f"{path}: not an ELF executable, assembly source (.s) or raw code (.bin)")


def arch_named_by(path: str, data: bytes) -> Arch | None:
    """The arch an assembly file names: ``hello.aarch64.s``, or a comment ``arch: aarch64``."""
    stem = os.path.basename(path).rsplit(".", 1)[0]
    if "." in stem:
        try:
            return get_arch(stem.rsplit(".", 1)[1])
        except UnknownArchError:
            pass
    head = data[:2000].decode("utf-8", "replace")
    m = _ARCH_COMMENT.search(head)
    if m:
        return get_arch(m.group(1))
    return None
