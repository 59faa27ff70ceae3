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
import ctypes.util
from dataclasses import dataclass
from typing import Any, Sequence

import unicorn
from unicorn.unicorn_py3.unicorn import uclib

from sandbox.engine import FaultReport, Machine
from sandbox.memory import ProtectionMap, uc_perms
from sandbox.records import CallLog

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
    """The state of a guest process at one moment; restore it with :meth:`Snapshotter.restore`.

    ``memory`` holds, for each of ``ranges``, its bytes as a tuple of blocks of :data:`BLOCK`
    bytes (the last one may be shorter).
    """

    context: unicorn.UcContext
    pc: int
    ranges: tuple[tuple[int, int, int], ...]
    memory: tuple[tuple[bytes, ...], ...]
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

    def blocks(self) -> dict[int, bytes]:
        """Every block by its address."""
        return {start + i * BLOCK: block for (start, _, _), blocks in zip(self.ranges, self.memory)
                for i, block in enumerate(blocks)}


def _load_memcmp() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        memcmp = libc.memcmp
    except (OSError, AttributeError, TypeError):
        return None
    memcmp.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
    memcmp.restype = ctypes.c_int
    return memcmp


_MEMCMP = _load_memcmp()


class _Buffer:
    """A bytearray with its address, for reading guest memory into and comparing with memcmp."""

    def __init__(self, size: int) -> None:
        self.data = bytearray(size)
        self.view = (ctypes.c_char * size).from_buffer(self.data)
        self.address = ctypes.addressof(self.view)
        self.size = size

    def differs(self, other: "_Buffer | bytes", offset: int, length: int, other_offset: int = 0) -> bool:
        """Whether ``length`` bytes at ``offset`` differ from ``other`` at ``other_offset``."""
        if _MEMCMP is not None:
            if isinstance(other, _Buffer):
                return _MEMCMP(self.address + offset, other.address + other_offset, length) != 0
            return _MEMCMP(self.address + offset, other, length) != 0
        theirs = other.data if isinstance(other, _Buffer) else other
        return self.data[offset : offset + length] != theirs[other_offset : other_offset + length]


class _RawMemory:
    """Bulk reads and writes of guest memory straight through Unicorn's C API.

    The Python binding copies through a ctypes string buffer and costs ~40 times as much for
    a megabyte-sized range; a snapshot reads every mapped byte, so this matters.
    """

    def __init__(self, uc: unicorn.Uc) -> None:
        self._uch = uc._uch

    def read_into(self, address: int, buf: _Buffer) -> None:
        """Fill ``buf`` with the bytes at ``address``."""
        status = uclib.uc_mem_read(self._uch, ctypes.c_uint64(address), buf.view, ctypes.c_size_t(buf.size))
        if status != unicorn.UC_ERR_OK:
            raise unicorn.UcError(status)

    def write(self, address: int, data: bytes) -> None:
        """Write ``data`` at ``address``."""
        status = uclib.uc_mem_write(self._uch, ctypes.c_uint64(address), data, ctypes.c_size_t(len(data)))
        if status != unicorn.UC_ERR_OK:
            raise unicorn.UcError(status)


def _changed_blocks(now: _Buffer, before: _Buffer, lo: int, hi: int, out: list[int]) -> None:
    # Halve the span until the blocks that differ are found: a handful of memcmp calls when
    # little changed, instead of one comparison per block.
    if not now.differs(before, lo * BLOCK, min(hi * BLOCK, now.size) - lo * BLOCK, lo * BLOCK):
        return
    if hi - lo == 1:
        out.append(lo)
        return
    mid = (lo + hi) // 2
    _changed_blocks(now, before, lo, mid, out)
    _changed_blocks(now, before, mid, hi, out)


def _freeze(buf: _Buffer, index: int) -> bytes:
    chunk = bytes(buf.data[index * BLOCK : min((index + 1) * BLOCK, buf.size)])
    return _ZERO_BLOCK if chunk == _ZERO_BLOCK else chunk


class Snapshotter:
    """Takes and restores snapshots of one machine, sharing unchanged blocks between them.

    It keeps the memory as the last snapshot saw it (one buffer per range), so that the next
    snapshot finds what changed with a few ``memcmp`` calls.
    """

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        # Snapshots mark the call log by its length, so it must keep every call from now on
        # (a debugger shows them all anyway); a process that recorded none starts now.
        if machine.log is None:
            machine.log = CallLog(None)
        machine.log.limit = None
        self._raw = _RawMemory(machine.uc)
        self._last: Snapshot | None = None
        self._images: dict[tuple[int, int], _Buffer] = {}  # the memory of ``_images_of``
        self._images_of: Snapshot | None = None
        self._spare: dict[int, list[_Buffer]] = {}

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
            memory=(),
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
        snap.memory = self._capture(ranges, snap)
        self._last = snap
        return snap

    def _buffer(self, size: int) -> _Buffer:
        spare = self._spare.get(size)
        return spare.pop() if spare else _Buffer(size)

    def _capture(self, ranges: tuple[tuple[int, int, int], ...], snap: Snapshot) -> tuple[tuple[bytes, ...], ...]:
        before = self._images_of
        previous = dict(zip(((s, e) for s, e, _ in before.ranges), before.memory)) if before is not None else {}
        images: dict[tuple[int, int], _Buffer] = {}
        out = []
        for start, end, _ in ranges:
            size = end - start
            now = self._buffer(size)
            self._raw.read_into(start, now)
            old_image = self._images.get((start, end))
            old_blocks = previous.get((start, end))
            count = (size + BLOCK - 1) // BLOCK
            if old_image is not None and old_blocks is not None:
                changed: list[int] = []
                _changed_blocks(now, old_image, 0, count, changed)
                if changed:
                    blocks = list(old_blocks)
                    for i in changed:
                        blocks[i] = _freeze(now, i)
                    out.append(tuple(blocks))
                else:
                    out.append(old_blocks)
            else:
                out.append(tuple(_freeze(now, i) for i in range(count)))
            images[(start, end)] = now
        self._recycle(images)
        self._images, self._images_of = images, snap
        return tuple(out)

    def _recycle(self, keep: dict[tuple[int, int], _Buffer]) -> None:
        kept = {id(b) for b in keep.values()}
        for buf in self._images.values():
            if id(buf) not in kept:
                self._spare.setdefault(buf.size, []).append(buf)

    def _kernel_memo(self, state: dict[str, Any] | None = None) -> dict[int, Any]:
        m = self.machine
        kernel = m.kernel
        # The kernel object itself and the guest memory stay the live ones: a restore puts the
        # copied state back into the same Kernel object, which everything else refers to.
        memo: dict[int, Any] = {id(kernel): kernel, id(m.memory): m.memory}
        # The CPU side's objects are the live ones too: the system of tasks (the kernel's
        # preemption and scheduler callbacks are its methods) and every machine of the run.
        system = m.system
        if system is not None:
            memo[id(system)] = system
            for machine in (m, *system.machines):
                memo[id(machine)] = machine
                memo[id(machine.memory)] = machine.memory
        # ... and so is every process's memory, a zombie's too (whose machine may be closed)
        tables = [kernel.processes] + ([state["processes"]] if state is not None and "processes" in state else [])
        for table in tables:
            for proc in table.processes.values():
                memory = getattr(proc, "memory", None)
                if memory is not None:
                    memo[id(memory)] = memory
        for name in _SHARED_KERNEL_ATTRS:
            value = kernel.__dict__.get(name)
            if value is not None:
                memo[id(value)] = value
        # An observer of signal deliveries (a tracer's callback) belongs to whoever watches the
        # process, not to its state: copying it would copy the tracer, the machine and its engine.
        watch = getattr(kernel.__dict__.get("signals"), "watch", None)
        if watch is not None:
            memo[id(watch)] = watch
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
        # the kept image no longer matches what is in memory: the next snapshot reads it whole
        self._images_of = None
        if kernel:
            state = copy.deepcopy(snap.kernel_state, self._kernel_memo(snap.kernel_state))
            m.kernel.__dict__.clear()
            m.kernel.__dict__.update(state)
            if m.system is not None:
                m.system.restored()
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
            for (start, end, p), blocks in zip(snap.ranges, snap.memory):
                uc.mem_map(start, end - start, uc_perms(p))
                self._raw.write(start, b"".join(blocks))
                prot.set(start, end, p)
                uc.ctl_remove_cache(start, end)
            m.memory.prot = prot
            return
        for (start, end, _), blocks in zip(snap.ranges, snap.memory):
            now = self._buffer(end - start)
            self._raw.read_into(start, now)
            for i, block in enumerate(blocks):
                if now.differs(block, i * BLOCK, len(block)):
                    at = start + i * BLOCK
                    self._raw.write(at, block)
                    # translated code of a rewritten page must not be reused
                    uc.ctl_remove_cache(at, at + len(block))
            self._spare.setdefault(now.size, []).append(now)

    def same_memory(self, snap: Snapshot) -> bool:
        """Whether the machine's memory (layout and bytes) is exactly as in ``snap``."""
        m = self.machine
        if tuple(m.memory.prot) != snap.ranges:
            return False
        for (start, end, _), blocks in zip(snap.ranges, snap.memory):
            now = self._buffer(end - start)
            self._raw.read_into(start, now)
            same = not any(now.differs(block, i * BLOCK, len(block)) for i, block in enumerate(blocks))
            self._spare.setdefault(now.size, []).append(now)
            if not same:
                return False
        return True
