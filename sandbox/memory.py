"""Guest memory backed by a Unicorn engine, with Linux's access checks.

Unicorn's own ``mem_read``/``mem_write`` ignore page protections, but the kernel's user-copy
routines do not: a ``read()`` into a read-only page is ``EFAULT``. So this class keeps the
protection of every mapped range (it is the only path that maps, unmaps or protects) and checks
it before each copy.

The same map answers the engine's TLB fills (see :meth:`UnicornMemory.tlb_range`): the engine
runs Unicorn's virtual TLB, so a data page gets a TLB entry without execute permission and its
stores take the fast path after the first one. Every change of protection here flushes what
the TLB may hold of the old one.
"""

from __future__ import annotations

import bisect
import ctypes
import mmap
import struct

import unicorn
from unicorn.unicorn_py3.unicorn import uclib

from kernel_model.linux_errno import Errno
from kernel_model.seam import PROT_EXEC, PROT_READ, PROT_WRITE, GuestFault, KernelError

_UC_PERMS = {PROT_READ: unicorn.UC_PROT_READ, PROT_WRITE: unicorn.UC_PROT_WRITE, PROT_EXEC: unicorn.UC_PROT_EXEC}
# The TLB fill answers with the map's Linux bits as they are: they are Unicorn's bits too.
assert all(bit == uc_bit for bit, uc_bit in _UC_PERMS.items())
# uc_ctl(UC_CTL_TLB_FLUSH), written for the raw call (the binding has no method for it)
_CTL_TLB_FLUSH = (unicorn.UC_CTL_IO_WRITE << 30) | unicorn.UC_CTL_TLB_FLUSH


def uc_perms(prot: int) -> int:
    """Linux PROT_* bits as Unicorn UC_PROT_* bits."""
    out = 0
    for bit, uc_bit in _UC_PERMS.items():
        if prot & bit:
            out |= uc_bit
    return out


class ProtectionMap:
    """Non-overlapping ``[start, end)`` ranges, each with a protection, kept sorted."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ranges: list[tuple[int, int, int]] = []

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._ranges))

    def set(self, start: int, end: int, prot: int | None) -> None:
        """Give ``[start, end)`` the protection ``prot`` (None: unmapped)."""
        lo = bisect.bisect_right(self._starts, start) - 1
        if lo < 0 or self._ranges[lo][1] <= start:
            lo += 1  # the first range that can overlap
        hi = bisect.bisect_left(self._starts, end)  # ranges from here on start after the change
        touched = self._ranges[lo:hi]
        new = [(s, start, p) for s, e, p in touched if s < start]
        if prot is not None:
            new.append((start, end, prot))
        new += [(end, e, p) for s, e, p in touched if e > end]
        self._ranges[lo:hi] = new
        self._starts[lo:hi] = [r[0] for r in new]

    def run(self, address: int, size: int, prot: int) -> int:
        """How many bytes from ``address`` (at most ``size``) lie in ranges that include ``prot``."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i < 0:
            return 0
        pos = address
        end = address + size
        while i < len(self._ranges) and pos < end:
            s, e, p = self._ranges[i]
            if s > pos or e <= pos or p & prot != prot:
                break
            pos = e
            i += 1
        return min(pos, end) - address

    def is_mapped(self, address: int) -> bool:
        """Whether ``address`` is in any range."""
        return self.run(address, 1, 0) == 1

    def around(self, address: int) -> tuple[int, int, int]:
        """``(start, end, prot)`` of the range holding ``address``, or of the hole around it
        (prot 0) up to the neighbouring ranges."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0:
            s, e, p = self._ranges[i]
            if address < e:
                return s, e, p
            start = e
        else:
            start = 0
        end = self._starts[i + 1] if i + 1 < len(self._starts) else 1 << 64
        return start, end, 0


class PageTable:
    """Each mapped page's protection as one byte, for the engine's native TLB fill.

    A top level of one pointer per 1 GiB of the address space (a zero page until written), and
    for each chunk a mapping is in, 256 KiB: one byte per 4 KiB page, its Linux PROT_* bits
    (which are Unicorn's too), 0 where nothing is mapped.
    """

    CHUNK_BITS = 30
    PAGE_BITS = 12

    def __init__(self, address_space: int) -> None:
        self.chunks = max(1, -(-address_space >> self.CHUNK_BITS))
        self._top = _anonymous(self.chunks * 8)  # zero pages until touched
        self.address = ctypes.addressof(ctypes.c_char.from_buffer(self._top))
        self._tables: dict[int, tuple[mmap.mmap, int]] = {}

    def set(self, start: int, end: int, prot: int) -> None:
        """Give the pages of ``[start, end)`` the protection ``prot`` (0: unmapped)."""
        pages_per_chunk = 1 << (self.CHUNK_BITS - self.PAGE_BITS)
        page, last = start >> self.PAGE_BITS, (end - 1) >> self.PAGE_BITS
        while page <= last:
            chunk = page // pages_per_chunk
            if chunk >= self.chunks:
                return  # beyond the address space: the fill answers those as unmapped
            stop = min(last + 1, (chunk + 1) * pages_per_chunk)
            table = self._tables.get(chunk)
            if table is None:
                if not prot:
                    page = stop
                    continue
                buffer = _anonymous(pages_per_chunk)
                table = self._tables[chunk] = (buffer, ctypes.addressof(ctypes.c_char.from_buffer(buffer)))
                struct.pack_into("=Q", self._top, chunk * 8, table[1])
            ctypes.memset(table[1] + page - chunk * pages_per_chunk, prot & 7, stop - page)
            page = stop

    def clear(self) -> None:
        """Every page unmapped."""
        for buffer, address in self._tables.values():
            ctypes.memset(address, 0, len(buffer))

    def close(self) -> None:
        """Give the table's memory back now (nothing may read it afterwards).

        Promptly, not when the garbage collector gets to the kernel's cycles: anything mapped
        where a closed engine's code buffer was pushes the next engine's buffer further from
        libunicorn, beyond the reach of direct calls, and its generated code runs slower.
        """
        for buffer, _ in self._tables.values():
            buffer.close()
        self._tables.clear()
        self._top.close()


def _anonymous(size: int) -> mmap.mmap:
    # private anonymous memory (mmap.mmap(-1, ...) alone makes it shared)
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


class UnicornMemory:
    """The :class:`kernel_model.seam.GuestMemory` of a Unicorn engine."""

    def __init__(self, uc: unicorn.Uc, page_size: int = 4096) -> None:
        self._uc = uc
        self.page_size = page_size
        # The range the last TLB fill was answered from, [start, end, prot], changed in place
        # (the engine's fill hook holds this list): emptied whenever a protection changes.
        self.tlb_range = [0, 0, 0]
        self._prot = ProtectionMap()
        # each page's protection for a native TLB fill, when the engine has one (track_pages)
        self.pages: PageTable | None = None

    def track_pages(self, address_space: int) -> PageTable:
        """Keep a :class:`PageTable` of the pages below ``address_space`` from now on."""
        self.pages = PageTable(address_space)
        for start, end, prot in self._prot:
            self.pages.set(start, end, prot)
        return self.pages

    @property
    def prot(self) -> ProtectionMap:
        """The protection of every mapped range."""
        return self._prot

    @prot.setter
    def prot(self, value: ProtectionMap) -> None:
        # a debugger putting a snapshot's whole layout back
        self._prot = value
        self.tlb_range[1] = 0
        if self.pages is not None:
            self.pages.clear()
            for start, end, prot in value:
                self.pages.set(start, end, prot)
        self.flush_tlb()

    def flush_tlb(self) -> None:
        """Drop every TLB entry, so that each page's next access asks for its protection again."""
        uclib.uc_ctl(self._uc._uch, _CTL_TLB_FLUSH)

    # -- mapping ---------------------------------------------------------------------------

    def map(self, address: int, size: int, prot: int) -> None:
        """Map fresh zeroed pages with Linux ``prot`` (ENOMEM when Unicorn cannot)."""
        try:
            self._uc.mem_map(address, size, uc_perms(prot))
        except unicorn.UcError as e:
            if e.errno == unicorn.UC_ERR_NOMEM:
                raise KernelError(Errno.ENOMEM) from None
            raise
        self._prot.set(address, address + size, prot)
        if self.pages is not None:
            self.pages.set(address, address + size, prot)
        # Unicorn flushes the whole TLB itself when it maps
        self.tlb_range[1] = 0

    def unmap(self, address: int, size: int) -> None:
        """Unmap a mapped page-aligned range."""
        self._uc.mem_unmap(address, size)
        # Unicorn drops the TLB entries of the unmapped pages (guest addresses are its
        # physical addresses too) and their translated code
        self._prot.set(address, address + size, None)
        if self.pages is not None:
            self.pages.set(address, address + size, 0)
        self.tlb_range[1] = 0

    def protect(self, address: int, size: int, prot: int) -> None:
        """Change a mapped range's protection."""
        self._uc.mem_protect(address, size, uc_perms(prot))
        self._prot.set(address, address + size, prot)
        if self.pages is not None:
            self.pages.set(address, address + size, prot)
        self.tlb_range[1] = 0
        # Unicorn flushes the TLB only when the write permission changes: entries could keep
        # reads of a page now PROT_NONE, or execution rights it lost.
        self.flush_tlb()
        if not prot & PROT_EXEC:
            # code translated from these pages must not run again from Unicorn's cache
            self._uc.ctl_remove_cache(address, address + size)

    # -- copying ---------------------------------------------------------------------------

    def accessible(self, address: int, size: int, prot: int) -> int:
        """How many bytes from ``address`` are mapped with ``prot`` (at most ``size``)."""
        return self._prot.run(address, size, prot)

    def read(self, address: int, size: int) -> bytes:
        """Read guest memory as the kernel does (needs PROT_READ)."""
        if size == 0:
            return b""
        if self._prot.run(address, size, PROT_READ) < size:
            raise GuestFault(address, size, "read")
        return bytes(self._uc.mem_read(address, size))

    def write(self, address: int, data: bytes) -> None:
        """Write guest memory as the kernel does (needs PROT_WRITE)."""
        if not data:
            return
        if self._prot.run(address, len(data), PROT_WRITE) < len(data):
            raise GuestFault(address, len(data), "write")
        self._uc.mem_write(address, bytes(data))

    def load(self, address: int, data: bytes) -> None:
        """Write mapped memory whatever its protection (the kernel filling pages)."""
        if not data:
            return
        if self._prot.run(address, len(data), 0) < len(data):
            raise GuestFault(address, len(data), "write")
        self._uc.mem_write(address, bytes(data))

    def peek(self, address: int, size: int) -> bytes:
        """Read whatever the protection (a debugger looking at memory); GuestFault if unmapped."""
        if self._prot.run(address, size, 0) < size:
            raise GuestFault(address, size, "read")
        return bytes(self._uc.mem_read(address, size))

    def read_cstr(self, address: int, limit: int) -> bytes:
        """A NUL-terminated string (without the NUL); ``limit`` bytes if no NUL came first."""
        out = bytearray()
        pos = address
        while len(out) < limit:
            # read up to the end of the page, so a string ending just before a hole works
            chunk_len = min(self.page_size - (pos % self.page_size), limit - len(out))
            chunk = self.read(pos, chunk_len)
            nul = chunk.find(b"\0")
            if nul >= 0:
                out += chunk[:nul]
                return bytes(out)
            out += chunk
            pos += chunk_len
        return bytes(out[:limit])
