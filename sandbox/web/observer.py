"""What the browser view keeps of each system call: the tracer's record, and the memory the
call wrote, before and after.

:class:`CallObserver` is the :class:`~sandbox.trace.Tracer` (strings, buffers and structs read
at entry and exit, one reader per argument kind) plus, for each argument the kernel writes
through, the bytes there before the call and after it. It keeps only the last ``keep`` calls,
so a guest making millions of calls does not grow the server without bound; older calls are
counted, and shown as a count.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from kernel_model.linux_errno import Errno
from kernel_model.prototypes import INOUT, OUT, effective, prototype
from kernel_model.seam import GuestFault, SyscallRequest
from kernel_model.struct_layouts import struct_layout
from sandbox.arch import Arch
from sandbox.engine import Machine, kernel_arch
from sandbox.records import calling_convention
from sandbox.trace.tracer import Tracer

KEEP = 5_000  # calls whose memory is kept (the page shows the last few hundred)
WATCHED_BYTES = 256  # of each argument the kernel writes through
_FIXED = {"int_ptr": 4, "uint_ptr": 4, "off_ptr": 8, "fd_pair": 8, "sigset": 8}
_WORD_SIZED = frozenset({"ulong_ptr", "time_ptr", "ptr_ptr"})


@dataclass(frozen=True)
class MemoryChange:
    """The bytes at ``address`` that argument ``param`` points to, before and after the call."""

    param: str
    address: int
    before: bytes
    after: bytes

    @property
    def changed(self) -> bool:
        """Whether the call wrote different bytes there."""
        return self.before != self.after


class CallObserver(Tracer):
    """The tracer of one process, bounded, that also keeps what each call wrote to memory."""

    def __init__(self, machine: Machine, *, string_limit: int = 64, keep: int = KEEP) -> None:
        super().__init__(machine, string_limit=string_limit)
        self.keep = keep
        self.records = deque(maxlen=keep)  # type: ignore[assignment]
        self.changes: dict[int, list[MemoryChange]] = {}  # call number in the run -> what it wrote
        self._before: tuple[SyscallRequest, list[tuple[str, int, bytes]]] | None = None

    def syscall_entry(self, request: SyscallRequest) -> None:
        """Read the call's inputs (the tracer) and the bytes it may write (for the diff)."""
        super().syscall_entry(request)
        self._before = (request, self._written_ranges(request))

    def syscall_exit(self, request: SyscallRequest, value: int | None, errno: Errno | None) -> None:
        """Keep the call's record, memory and changes; forget calls older than ``keep``."""
        super().syscall_exit(request, value, errno)
        log = self.machine.log
        index = log.total - 1 if log is not None else -1
        before = self._before
        self._before = None
        if before is not None and before[0] is request and before[1]:
            changes = []
            for param, address, old in before[1]:
                new = self._peek(address, len(old))
                if new is not None:
                    changes.append(MemoryChange(param, address, old, new))
            self.changes[index] = changes
        else:
            self.changes.pop(index, None)
        stale = index - self.keep
        if stale >= 0:
            self.changes.pop(stale, None)  # the log drops old captured memory itself

    def _peek(self, address: int, size: int) -> bytes | None:
        memory = self.machine.memory
        if memory.accessible(address, size, 0) != size:
            return None
        try:
            return memory.peek(address, size)
        except GuestFault:
            return None

    def _written_ranges(self, request: SyscallRequest) -> list[tuple[str, int, bytes]]:
        """Each argument the kernel writes through: (name, address, the bytes there now)."""
        out = []
        for name, address, size, direction in pointed_ranges(self.machine.arch, request.name, request.args):
            if direction not in (OUT, INOUT):
                continue
            data = self._peek(address, min(size, WATCHED_BYTES))
            if data is not None:
                out.append((name, address, data))
        return out


def pointed_ranges(arch: Arch, name: str, args: tuple[int, ...]) -> list[tuple[str, int, int, str]]:
    """The memory each pointer argument of a call points to, as far as its kind and the other
    arguments say: (parameter, address, size in bytes, direction)."""
    proto = prototype(name, arch.name)
    values = proto.decode(args, calling_convention(arch))
    out = []
    for p in proto.params:
        if not p.is_pointer:
            continue
        eff = effective(p, values, arch.name, name)
        if eff is None:
            continue
        address = values.get(p.name, 0) & arch.word_mask
        size = _size(arch, eff.kind, eff.struct, eff.length, values)
        if address and size > 0:
            out.append((p.name, address, size, eff.direction))
    return out


def _size(arch: Arch, kind: str, struct: str | None, length: str | None, values: dict[str, int]) -> int:
    if kind in _FIXED:
        return _FIXED[kind]
    if kind in _WORD_SIZED:
        return arch.word_size
    if kind in ("path", "string", "comm"):
        return 0  # as long as its NUL: read as a string, not a range
    count = 0
    if length is not None and length != "ret":
        count = int(length) if length.isdigit() else values.get(length, 0) & ((1 << 62) - 1)
    if struct:
        layout = struct_layout(struct, kernel_arch(arch))
        if layout is None:
            return 0
        return layout.size * max(count, 1)
    return count if length not in (None, "ret") else WATCHED_BYTES
