"""Reading a call's arguments out of guest memory at the moment of the call, as strace does.

Input data (a path, a ``write`` buffer, a ``timespec``) is read when the call enters; output
data (what ``read`` filled in, a ``stat``) when it returns, and only if it succeeded. What is
read for each argument follows from its kind in the prototype table, never from the call's
name: one reader per kind.

Captured values are plain data (:class:`CString`, :class:`Buffer`, :class:`Struct`, lists,
ints), or :data:`UNREADABLE` when the address could not be read (it is then shown as a number).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from kernel_model.prototypes import IN, INOUT, OUT, Effective, Prototype, effective
from kernel_model.seam import GuestFault, GuestMemory, KernelArch
from kernel_model.struct_layouts import struct_layout

PATH_MAX = 4096
SIGSET_BYTES = 8  # the kernel's sigset_t: 64 signals
TASK_COMM_LEN = 16  # a thread's name, with its NUL
FRAME_MASK = "(frame mask)"  # what rt_sigreturn restores: read from its signal frame, not a register


class _Unreadable:
    """The address an argument points to could not be read."""

    def __repr__(self) -> str:
        return "UNREADABLE"


UNREADABLE = _Unreadable()


@dataclass(frozen=True)
class CString:
    """A NUL-terminated string; ``complete`` is False when no NUL came within the limit read."""

    data: bytes
    complete: bool = True


@dataclass(frozen=True)
class Buffer:
    """Bytes of a buffer argument: ``data`` is the head that was read, ``size`` the whole length."""

    data: bytes
    size: int

    @property
    def complete(self) -> bool:
        """Whether all of the buffer was read."""
        return len(self.data) >= self.size


@dataclass(frozen=True)
class Struct:
    """A struct's fields by name (padding left out)."""

    name: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IoVec:
    """One ``struct iovec``: where, how long, and (when read) its data."""

    base: int
    length: int
    data: Buffer | None = None


@dataclass(frozen=True)
class Dirents:
    """What ``getdents64`` returned: the entries' names and types, in order."""

    entries: tuple[tuple[str, int], ...]


class Capture:
    """Reads the memory behind a call's arguments, at entry and at exit.

    ``string_limit`` is strace's ``-s``: how many bytes of a string or buffer are kept.
    """

    def __init__(self, arch: KernelArch, memory: GuestMemory, string_limit: int = 32) -> None:
        self.arch = arch
        self.memory = memory
        self.string_limit = string_limit
        self._order = "big" if arch.big_endian else "little"
        self._word = arch.word_size

    # -- one call ---------------------------------------------------------------------------

    def at_entry(self, proto: Prototype, values: dict[str, int]) -> dict[str, Any]:
        """The input data of each argument, read before the call runs."""
        out: dict[str, Any] = {}
        for p in proto.params:
            eff = effective(p, values, self.arch.name, proto.name)
            if eff is None or eff.kind not in _READERS:
                continue
            # An iovec array is itself an input even when the data it points to is an output:
            # it is shown (with addresses) even if the call fails.
            if eff.direction in (IN, INOUT) or eff.kind == "iovec":
                out[p.name] = self._read(eff, values[p.name], values, None)
        return out

    def at_exit(self, proto: Prototype, values: dict[str, int], ret: int | None, failed: bool,
                captured: dict[str, Any]) -> None:
        """Add the output data of each argument to ``captured`` (outputs exist only on success,
        except the few the kernel writes when a call fails)."""
        if ret is None:
            return
        for p in proto.params:
            if failed != p.on_error:
                continue
            eff = effective(p, values, self.arch.name, proto.name)
            if eff is None or eff.direction not in (OUT, INOUT) or eff.kind not in _READERS:
                continue
            if eff.direction == INOUT and p.name in captured:
                captured[p.name + "@entry"] = captured[p.name]
            captured[p.name] = self._read(eff, values[p.name], values, ret)

    # -- readers ----------------------------------------------------------------------------

    def _read(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> Any:
        if address == 0:
            return None  # NULL: shown as such
        try:
            return _READERS[eff.kind](self, eff, address, values, ret)
        except GuestFault:
            return UNREADABLE

    def _length(self, eff: Effective, values: dict[str, int], ret: int | None) -> int:
        """How many bytes (or elements) the argument has: an output holds what the call returned."""
        if eff.length is None:
            return 0
        if eff.length == "ret":
            return max(ret or 0, 0)
        declared = int(eff.length) if eff.length.isdigit() else values.get(eff.length, 0) & ((1 << 62) - 1)
        if ret is not None and eff.direction == OUT:
            return max(min(ret, declared), 0)
        return declared

    def cstring(self, address: int, limit: int) -> CString:
        """A NUL-terminated string of at most ``limit`` bytes."""
        data = self.memory.read_cstr(address, limit + 1)
        if len(data) > limit:
            return CString(data[:limit], complete=False)
        return CString(data)

    def _path(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> CString:
        return self.cstring(address, PATH_MAX)

    def _string(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> CString:
        return self.cstring(address, self.string_limit)

    def _cstring_out(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> CString:
        size = values.get(eff.length or "", PATH_MAX) if eff.length else PATH_MAX
        return self.cstring(address, min(size, PATH_MAX))

    def _buffer(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> Buffer:
        size = self._length(eff, values, ret)
        head = min(size, self.string_limit)
        return Buffer(self.memory.read(address, head) if head else b"", size)

    def _number(self, address: int, size: int, signed: bool) -> int:
        return int.from_bytes(self.memory.read(address, size), self._order, signed=signed)

    def _int_ptr(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> int:
        return self._number(address, 4, eff.kind == "int_ptr")

    def _word_ptr(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> int:
        return self._number(address, 8 if eff.kind == "off_ptr" else self._word, eff.kind in ("off_ptr", "time_ptr"))

    def _fd_pair(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> list[int]:
        return [self._number(address, 4, True), self._number(address + 4, 4, True)]

    def _uid_array(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> list[int]:
        count = min(self._length(eff, values, ret), self.string_limit)
        return [self._number(address + 4 * i, 4, False) for i in range(count)]

    def _sigset(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> Any:
        size = values.get(eff.length, SIGSET_BYTES) if eff.length else SIGSET_BYTES
        if not self._word <= size <= SIGSET_BYTES:
            return UNREADABLE  # a size the kernel refuses: strace shows the address
        bits = int.from_bytes(self.memory.read(address, size), self._order)
        return [i + 1 for i in range(size * 8) if bits >> i & 1]

    def _ptr_ptr(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> int:
        return self._number(address, self._word, False)

    def _cpuset(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> list[int]:
        size = min(self._length(eff, values, ret), 1024)
        bits = int.from_bytes(self.memory.read(address, size), self._order)
        return [i for i in range(size * 8) if bits >> i & 1]

    def _pollfds(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> list[Struct]:
        count = min(max(values.get(eff.length or "", 0), 0), self.string_limit)
        raw = self.memory.read(address, 8 * count)
        out = []
        for i in range(count):
            fd = int.from_bytes(raw[8 * i:8 * i + 4], self._order, signed=True)
            events = int.from_bytes(raw[8 * i + 4:8 * i + 6], self._order)
            revents = int.from_bytes(raw[8 * i + 6:8 * i + 8], self._order)
            out.append(Struct("pollfd", {"fd": fd, "events": events, "revents": revents}))
        return out

    def _comm(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> CString:
        return self.cstring(address, TASK_COMM_LEN - 1)

    def _struct(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> Any:
        layout = struct_layout(eff.struct or "", self.arch)
        if layout is None:
            return UNREADABLE  # not described: shown as its address
        count = self._length(eff, values, None) if eff.length else 0
        if count:
            return [Struct(layout.name, layout.unpack(self.memory.read(address + i * layout.size, layout.size)))
                    for i in range(min(count, self.string_limit))]
        return Struct(layout.name, layout.unpack(self.memory.read(address, layout.size)))

    def _iovec(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> list[IoVec]:
        count = max(values.get(eff.length or "", 0), 0)
        word = self._word
        out: list[IoVec] = []
        # Input data is all there at entry; output data is what the call returned, at exit.
        with_data = eff.direction == IN or ret is not None
        budget = ret if eff.direction != IN else None
        for i in range(min(count, self.string_limit)):
            raw = self.memory.read(address + i * 2 * word, 2 * word)
            base = int.from_bytes(raw[:word], self._order)
            length = int.from_bytes(raw[word:], self._order)
            data: Buffer | None = None
            if with_data:
                shown = length if budget is None else max(min(length, budget), 0)
                try:
                    head = min(shown, self.string_limit)
                    data = Buffer(self.memory.read(base, head) if head else b"", shown)
                except GuestFault:
                    data = None
                if budget is not None:
                    budget -= shown
            out.append(IoVec(base, length, data))
        return out

    def _dirents(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> Dirents:
        # Walk the records by their length field: d_reclen follows d_ino and d_off.
        data = self.memory.read(address, max(ret or 0, 0))
        header = 16 if eff.struct != "linux_dirent" else 2 * self._word
        entries = []
        pos = 0
        while pos + header + 3 <= len(data):
            reclen = int.from_bytes(data[pos + header:pos + header + 2], self._order)
            if reclen == 0:
                break
            if eff.struct == "linux_dirent":
                name, dtype = data[pos + header + 2:pos + reclen - 1], data[pos + reclen - 1]
            else:
                name, dtype = data[pos + header + 3:pos + reclen], data[pos + header + 2]
            entries.append((name.split(b"\0", 1)[0].decode("utf-8", "replace"), dtype))
            pos += reclen
        return Dirents(tuple(entries))

    def _argv(self, eff: Effective, address: int, values: dict[str, int], ret: int | None) -> list[Any]:
        out: list[Any] = []
        word = self._word
        for i in range(4096):
            ptr = self._number(address + i * word, word, False)
            if ptr == 0:
                break
            if eff.kind == "envp":
                out.append(None)  # only counted
                continue
            try:
                out.append(self.cstring(ptr, self.string_limit))
            except GuestFault:
                out.append(UNREADABLE)
        return out


_READERS: dict[str, Callable[..., Any]] = {
    "path": Capture._path, "string": Capture._string, "cstring_out": Capture._cstring_out,
    "buffer": Capture._buffer, "hexbuffer": Capture._buffer, "int_ptr": Capture._int_ptr,
    "uint_ptr": Capture._int_ptr, "ulong_ptr": Capture._word_ptr, "off_ptr": Capture._word_ptr,
    "time_ptr": Capture._word_ptr, "fd_pair": Capture._fd_pair, "uid_array": Capture._uid_array,
    "sigset": Capture._sigset, "struct": Capture._struct, "iovec": Capture._iovec,
    "dirents": Capture._dirents, "argv": Capture._argv, "envp": Capture._argv, "ptr_ptr": Capture._ptr_ptr,
    "cpuset": Capture._cpuset, "pollfds": Capture._pollfds, "comm": Capture._comm, "timestamps": Capture._struct,
}
