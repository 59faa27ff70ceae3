"""Snapshots of a whole guest process: CPU, memory, and the kernel model's state.

A :class:`Snapshot` holds

- the Unicorn CPU context (every register, FP/SIMD included) and the pc to resume at;
- every mapped range with its protection, and its bytes in blocks. Blocks that did not
  change since the machine's previous snapshot are shared with it, so a snapshot at every
  system call costs the blocks that changed, not the whole address space;
- a deep copy of the kernel model's state: descriptors and their offsets, open file
  descriptions, the in-memory filesystems' contents, the VMAs and brk, cwd, umask, the clock,
  the random generator, how much of a captured stdin was read;
- the syscall log and the captured stdout/stderr, as marks in append-only ropes (a
  snapshot keeps only what was appended since the previous one).

Restoring puts all of that back. It cannot take back what left the process: bytes written to
the host's own stdout/stderr, bytes read from the host's stdin, and changes made to host files
through a writable mount (the kernel model keeps no copy of host files). A host file the guest
had open stays usable in a snapshot even after the guest closes it (see
:class:`kernel_model.filesystems.SharedHostFd`).
"""

from __future__ import annotations

import copy
import ctypes
from dataclasses import dataclass
from typing import Any, Sequence

import unicorn
from unicorn.unicorn_py3.unicorn import uclib

from sandbox.engine import FaultReport, Machine
from sandbox.memory import ProtectionMap, uc_perms

# Memory is kept in blocks of this size; an unchanged block is shared with the previous
# snapshot. Smaller blocks share more but cost more Python per snapshot.
BLOCK = 16384
_ZERO_BLOCK = bytes(BLOCK)
# Kernel attributes that never change after start-up: shared by snapshots, never copied.
_SHARED_KERNEL_ATTRS = ("arch", "structs", "abi", "_handlers", "uname", "identity")


class Mark:
    """A point in an append-only sequence (bytes or a list), sharing its prefix with earlier marks."""

    __slots__ = ("parent", "tail", "length")

    def __init__(self, parent: "Mark | None", tail: Sequence[Any], length: int) -> None:
        self.parent = parent
        self.tail = tail
        self.length = length

    def pieces(self) -> list[Sequence[Any]]:
        """The appended pieces, oldest first."""
        out = []
        mark: Mark | None = self
        while mark is not None:
            out.append(mark.tail)
            mark = mark.parent
        out.reverse()
        return out


def _mark(previous: Mark | None, seq: bytearray | list) -> Mark:
    # The sequence only grows between two marks of the same machine (the engine appends to
    # the log, the captured streams are appended to), so only the new tail is kept.
    frozen = bytes if isinstance(seq, bytearray) else tuple
    n = len(seq)
    if previous is not None and previous.length <= n:
        if previous.length == n:
            return previous
        return Mark(previous, frozen(seq[previous.length :]), n)
    return Mark(None, frozen(seq), n)


def _put_back(seq: bytearray | list, mark: Mark) -> None:
    pieces = mark.pieces()
    if isinstance(seq, bytearray):
        seq[:] = b"".join(pieces)  # type: ignore[arg-type]
    else:
        seq[:] = [entry for piece in pieces for entry in piece]


@dataclass(eq=False)
class Snapshot:
    """The state of a guest process at one moment; restore it with :meth:`Snapshotter.restore`."""

    context: unicorn.UcContext
    pc: int
    ranges: tuple[tuple[int, int, int], ...]
    blocks: dict[int, bytes]
    kernel_state: dict[str, Any]
    log: Mark
    captured: tuple[Mark, ...]
    exit: Any
    fault: FaultReport | None
    pending: Any
    pending_regs: Any
    last_request: Any

    @property
    def mapped_bytes(self) -> int:
        """How much memory was mapped."""
        return sum(end - start for start, end, _ in self.ranges)


class _RawMemory:
    """Bulk reads and writes of guest memory straight through Unicorn's C API.

    The Python binding copies through a ctypes string buffer and costs ~40 times as much for
    a megabyte-sized range; a snapshot reads every mapped byte, so this matters.
    """

    def __init__(self, uc: unicorn.Uc) -> None:
        self._uch = uc._uch
        self._buf = bytearray(0)

    def read(self, address: int, size: int) -> bytearray:
        """The bytes at ``address``, in a scratch buffer reused by the next call."""
        if len(self._buf) < size:
            self._buf = bytearray(size)
        view = (ctypes.c_char * size).from_buffer(self._buf)
        status = uclib.uc_mem_read(self._uch, ctypes.c_uint64(address), view, ctypes.c_size_t(size))
        del view
        if status != unicorn.UC_ERR_OK:
            raise unicorn.UcError(status)
        return self._buf

    def write(self, address: int, data: bytes) -> None:
        """Write ``data`` at ``address``."""
        status = uclib.uc_mem_write(self._uch, ctypes.c_uint64(address), data, ctypes.c_size_t(len(data)))
        if status != unicorn.UC_ERR_OK:
            raise unicorn.UcError(status)


class Snapshotter:
    """Takes and restores snapshots of one machine, sharing unchanged pages between them."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._raw = _RawMemory(machine.uc)
        self._last: Snapshot | None = None

    # -- taking ----------------------------------------------------------------------------

    def take(self, pc: int | None = None) -> Snapshot:
        """Snapshot the machine now. ``pc`` overrides the pc to resume at (a snapshot taken
        inside the trap hook, where x86_64's rip still points at the ``syscall``)."""
        m = self.machine
        last = self._last
        ranges = tuple(m.memory.prot)
        snap = Snapshot(
            context=m.uc.context_save(),
            pc=m.pc if pc is None else pc,
            ranges=ranges,
            blocks=self._capture_blocks(ranges, last.blocks if last is not None else {}),
            kernel_state=copy.deepcopy(m.kernel.__dict__, self._kernel_memo()),
            log=_mark(last.log if last is not None else None, m.log),
            captured=tuple(
                _mark(last.captured[i] if last is not None and i < len(last.captured) else None, buf)
                for i, buf in enumerate(m.captured)
            ),
            exit=m.exit,
            fault=m.fault,
            pending=m.pending,
            pending_regs=list(getattr(m, "_pending_regs", ())) if m.pending is not None else None,
            last_request=m.last_request,
        )
        self._last = snap
        return snap

    def _capture_blocks(self, ranges: tuple[tuple[int, int, int], ...], previous: dict[int, bytes]) -> dict[int, bytes]:
        blocks: dict[int, bytes] = {}
        for start, end, _ in ranges:
            size = end - start
            data = self._raw.read(start, size)
            for off in range(0, size, BLOCK):
                chunk = data[off : min(off + BLOCK, size)]
                old = previous.get(start + off)
                if old is not None and chunk == old:
                    blocks[start + off] = old
                elif chunk == _ZERO_BLOCK:
                    blocks[start + off] = _ZERO_BLOCK
                else:
                    blocks[start + off] = bytes(chunk)
        return blocks

    def _kernel_memo(self) -> dict[int, Any]:
        m = self.machine
        kernel = m.kernel
        # The kernel object itself and the guest memory stay the live ones: a restore puts the
        # copied state back into the same Kernel object, which everything else refers to.
        memo: dict[int, Any] = {id(kernel): kernel, id(m.memory): m.memory}
        for name in _SHARED_KERNEL_ATTRS:
            value = kernel.__dict__.get(name)
            if value is not None:
                memo[id(value)] = value
        return memo

    # -- restoring -------------------------------------------------------------------------

    def restore(self, snap: Snapshot, *, kernel: bool = True) -> None:
        """Put the machine back as it was at ``snap``.

        ``kernel=False`` restores only the CPU and memory (a debugger replaying instructions
        between two system calls, which cannot touch the kernel's state).
        """
        m = self.machine
        self._restore_memory(snap)
        m.uc.context_restore(snap.context)
        m.pc = snap.pc
        flags = m.arch.flags_reg
        if flags is not None:
            # A context saved inside the trap hook holds x86 flags in QEMU's lazy form, which
            # is only valid mid-execution; reading computes them, writing stores them plainly.
            m.set_reg(flags, m.reg(flags))
        m.exit = snap.exit
        m.fault = snap.fault
        m.pending = snap.pending
        if snap.pending_regs is not None:
            m._pending_regs = list(snap.pending_regs)  # the engine's saved trap registers
        m.last_request = snap.last_request
        if kernel:
            state = copy.deepcopy(snap.kernel_state, self._kernel_memo())
            m.kernel.__dict__.clear()
            m.kernel.__dict__.update(state)
            _put_back(m.log, snap.log)
            for buf, mark in zip(m.captured, snap.captured):
                _put_back(buf, mark)
            self._last = snap

    def _restore_memory(self, snap: Snapshot) -> None:
        m = self.machine
        uc = m.uc
        current = tuple(m.memory.prot)
        if current != snap.ranges:
            for start, end, _ in current:
                uc.mem_unmap(start, end - start)
            prot = ProtectionMap()
            for start, end, p in snap.ranges:
                uc.mem_map(start, end - start, uc_perms(p))
                self._raw.write(start, b"".join(snap.blocks[a] for a in range(start, end, BLOCK)))
                prot.set(start, end, p)
                uc.ctl_remove_cache(start, end)
            m.memory.prot = prot
            return
        for start, end, _ in snap.ranges:
            size = end - start
            data = self._raw.read(start, size)
            for off in range(0, size, BLOCK):
                block = snap.blocks[start + off]
                if data[off : off + len(block)] != block:
                    self._raw.write(start + off, block)
                    # translated code of a rewritten page must not be reused
                    uc.ctl_remove_cache(start + off, start + off + len(block))

    def same_memory(self, snap: Snapshot) -> bool:
        """Whether the machine's memory (layout and bytes) is exactly as in ``snap``."""
        m = self.machine
        if tuple(m.memory.prot) != snap.ranges:
            return False
        for start, end, _ in snap.ranges:
            data = self._raw.read(start, end - start)
            for off in range(0, end - start, BLOCK):
                block = snap.blocks[start + off]
                if data[off : off + len(block)] != block:
                    return False
        return True
