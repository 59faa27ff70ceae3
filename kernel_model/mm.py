"""The guest's address space: mappings (VMAs), brk, and mmap/munmap/mprotect/madvise/brk.

The kernel model decides *where* things go and keeps the Linux view of every mapping (its
protection, flags, backing file, and name for ``/proc/self/maps``); the guest memory object
it is given does the mapping itself.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from kernel_model.fsnodes import Handle, s_isreg
from kernel_model.linux_errno import Errno
from kernel_model.registry import Fd, Int, Off, Ptr, Size, ULong, syscall
from kernel_model.seam import PROT_EXEC, PROT_READ, PROT_WRITE, GuestMemory, KernelError, SyscallRequest

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel

MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_SHARED_VALIDATE = 0x03
MAP_TYPE = 0x0F
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_GROWSDOWN = 0x100
MAP_STACK = 0x20000
MAP_FIXED_NOREPLACE = 0x100000

PROT_GROWSDOWN = 0x01000000
PROT_GROWSUP = 0x02000000

MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED = 0, 1, 2, 3, 4
MADV_FREE = 8
_KNOWN_ADVICE = {0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 100, 101}


@dataclass(frozen=True)
class Vma:
    """One mapping: ``[start, end)`` with its protection and what backs it."""

    start: int
    end: int
    prot: int
    shared: bool = False
    name: str = ""  # "[heap]", "[stack]", a file's guest path, or "" for anonymous
    offset: int = 0  # file offset of ``start``
    dev: int = 0
    ino: int = 0
    file: Handle | None = None

    @property
    def size(self) -> int:
        """Length in bytes."""
        return self.end - self.start

    def maps_line(self) -> str:
        """This mapping as a line of ``/proc/self/maps``."""
        perms = (
            ("r" if self.prot & PROT_READ else "-")
            + ("w" if self.prot & PROT_WRITE else "-")
            + ("x" if self.prot & PROT_EXEC else "-")
            + ("s" if self.shared else "p")
        )
        major, minor = (self.dev >> 8) & 0xFFF, (self.dev & 0xFF) | ((self.dev >> 12) & ~0xFF)
        head = f"{self.start:08x}-{self.end:08x} {perms} {self.offset:08x} {major:02x}:{minor:02x} {self.ino}"
        return f"{head:<72} {self.name}".rstrip() if self.name else head


class MemoryPool:
    """The memory every process's address space draws from: the sandbox's ``max_memory`` holds
    for the whole process tree, so a fork loop cannot multiply it.

    Each live address space is in :attr:`spaces`; one leaves when its process ends or execs.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.spaces: list["AddressSpace"] = []
        self.refusals = 0  # requests refused with ENOMEM because of ``limit``, in every process

    @property
    def used(self) -> int:
        """The bytes mapped by every live address space together."""
        return sum(s.mapped_bytes for s in self.spaces)

    def check(self, more: int, space: "AddressSpace") -> None:
        """ENOMEM (counted as a refusal) when ``more`` bytes would take the tree past the limit."""
        if self.limit is not None and self.used + more > self.limit:
            self.refusals += 1
            space.limit_refusals += 1
            raise KernelError(Errno.ENOMEM, "memory limit of the sandbox reached")


class AddressSpace:
    """The VMAs of one process and the policy that places new mappings."""

    def __init__(
        self,
        memory: GuestMemory,
        *,
        mmap_top: int,
        task_size: int,
        mmap_floor: int = 0x10000,
        limit: int | None = None,
        pool: MemoryPool | None = None,
    ) -> None:
        self.memory = memory
        self.page = memory.page_size
        self.mmap_top = mmap_top
        self.task_size = task_size
        self.mmap_floor = mmap_floor
        self.limit = limit  # total mapped bytes allowed (RLIMIT_AS-like), None for no limit
        self.limit_refusals = 0  # mappings refused with ENOMEM because of ``limit``
        self._vmas: list[Vma] = []
        self._starts: list[int] = []
        self.brk_start = 0
        self.brk_end = 0
        # Where the loader put argv's and envp's strings (for /proc/self/cmdline and environ).
        self.arg_start = self.arg_end = self.env_start = self.env_end = 0
        self.pool = pool if pool is not None else MemoryPool(None)
        self.pool.spaces.append(self)

    def copy(self, memory: GuestMemory) -> "AddressSpace":
        """The same mappings and break over ``memory`` (a fork's copy of the address space; the
        CPU side copies the bytes). ENOMEM when the copy would take the tree past its limit."""
        self.pool.check(self.mapped_bytes, self)
        twin = AddressSpace.__new__(AddressSpace)
        twin.__dict__.update(self.__dict__)
        twin.memory = memory
        twin._vmas = list(self._vmas)
        twin._starts = list(self._starts)
        twin.limit_refusals = 0
        self.pool.spaces.append(twin)
        return twin

    def fresh(self, memory: GuestMemory) -> "AddressSpace":
        """An empty address space over ``memory`` with this one's layout and limit (execve);
        this one leaves the pool."""
        self.release()
        return AddressSpace(memory, mmap_top=self.mmap_top, task_size=self.task_size, mmap_floor=self.mmap_floor,
                            limit=self.limit, pool=self.pool)

    def release(self) -> None:
        """Its process ended (or exec'd): its mappings no longer count against the pool."""
        if self in self.pool.spaces:
            self.pool.spaces.remove(self)

    # -- queries ---------------------------------------------------------------------------

    @property
    def vmas(self) -> list[Vma]:
        """All mappings, lowest address first."""
        return list(self._vmas)

    @property
    def mapped_bytes(self) -> int:
        """The total size of every mapping."""
        return sum(v.size for v in self._vmas)

    def find(self, address: int) -> Vma | None:
        """The mapping holding ``address``, if any."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and self._vmas[i].end > address:
            return self._vmas[i]
        return None

    def overlapping(self, start: int, end: int) -> list[Vma]:
        """The mappings that share at least a byte with ``[start, end)``."""
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        out = []
        for v in self._vmas[i:]:
            if v.start >= end:
                break
            if v.end > start:
                out.append(v)
        return out

    def is_free(self, start: int, end: int) -> bool:
        """Whether nothing is mapped in ``[start, end)``."""
        return not self.overlapping(start, end)

    def fully_mapped(self, start: int, end: int) -> bool:
        """Whether every byte of ``[start, end)`` is mapped."""
        pos = start
        for v in self.overlapping(start, end):
            if v.start > pos:
                return False
            pos = v.end
        return pos >= end

    # -- changes ---------------------------------------------------------------------------

    def round_up(self, value: int) -> int:
        """``value`` rounded up to a page."""
        return (value + self.page - 1) & ~(self.page - 1)

    def _insert(self, vma: Vma) -> None:
        i = bisect.bisect_left(self._starts, vma.start)
        self._vmas.insert(i, vma)
        self._starts.insert(i, vma.start)

    def _remove(self, vma: Vma) -> None:
        i = self._vmas.index(vma)
        del self._vmas[i]
        del self._starts[i]

    def _split(self, start: int, end: int) -> list[Vma]:
        """Cut the VMAs at ``start`` and ``end``; return the pieces inside ``[start, end)``."""
        inside = []
        for v in self.overlapping(start, end):
            self._remove(v)
            pieces = []
            if v.start < start:
                pieces.append(replace(v, end=start))
            mid_start, mid_end = max(v.start, start), min(v.end, end)
            mid = replace(v, start=mid_start, end=mid_end, offset=v.offset + (mid_start - v.start))
            pieces.append(mid)
            if v.end > end:
                pieces.append(replace(v, start=end, offset=v.offset + (end - v.start)))
            for p in pieces:
                self._insert(p)
            inside.append(mid)
        return inside

    def map(self, start: int, size: int, prot: int, **attrs: object) -> Vma:
        """Map ``[start, start+size)`` (page-aligned, free) and record it."""
        if self.limit is not None and self.mapped_bytes + size > self.limit:
            self.limit_refusals += 1
            self.pool.refusals += 1
            raise KernelError(Errno.ENOMEM, "memory limit reached")
        self.pool.check(size, self)
        self.memory.map(start, size, prot)
        vma = Vma(start, start + size, prot, **attrs)  # type: ignore[arg-type]
        self._insert(vma)
        return vma

    def unmap(self, start: int, size: int) -> None:
        """Unmap whatever is mapped in the page-aligned range (holes are fine)."""
        for v in self._split(start, start + size):
            self.memory.unmap(v.start, v.size)
            self._remove(v)

    def protect(self, start: int, size: int, prot: int) -> None:
        """Change the protection of a fully mapped page-aligned range."""
        for v in self._split(start, start + size):
            self.memory.protect(v.start, v.size, prot)
            self._remove(v)
            new = replace(v, prot=prot)
            self._insert(new)
            hide_past_eof(self, new)

    def find_free(self, size: int, hint: int = 0) -> int:
        """An address for ``size`` bytes: the hint when it is free, else top-down below mmap_top."""
        if hint:
            hint &= ~(self.page - 1)
            if hint >= self.mmap_floor and hint + size <= self.task_size and self.is_free(hint, hint + size):
                return hint
        end = self.mmap_top
        for v in reversed(self._vmas):
            if v.start >= end:
                continue
            if v.end <= end - size and end - size >= self.mmap_floor:
                return end - size
            end = min(end, v.start)
        if end - size >= self.mmap_floor:
            return end - size
        raise KernelError(Errno.ENOMEM)

    def set_brk(self, start: int) -> None:
        """Place the program break (the loader calls this after the highest segment)."""
        self.brk_start = self.brk_end = start


# -- system calls --------------------------------------------------------------------------


def _check_prot(prot: int) -> None:
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN | PROT_GROWSUP):
        raise KernelError(Errno.EINVAL)


@syscall("mmap", partial="MAP_SHARED file mappings are private copies (writes are not written back); pages past the end of a file read as zeros where Linux raises SIGBUS")
def sys_mmap(k: "Kernel", req: SyscallRequest, addr: Ptr, length: Size, prot: Int, flags: Int, fd: Fd, offset: Off) -> int:
    mm = k.mm
    if offset & (mm.page - 1):
        raise KernelError(Errno.EINVAL)
    return do_mmap(k, addr, length, prot, flags, fd, offset)


def do_mmap(k: "Kernel", addr: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
    """The body of mmap/mmap2 once the offset is in bytes."""
    mm = k.mm
    if length == 0:
        raise KernelError(Errno.EINVAL)
    size = mm.round_up(length)
    if size == 0 or size > mm.task_size:
        raise KernelError(Errno.ENOMEM)
    mtype = flags & MAP_TYPE
    if mtype not in (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE):
        raise KernelError(Errno.EINVAL)
    _check_prot(prot)
    prot &= PROT_READ | PROT_WRITE | PROT_EXEC
    attrs: dict[str, object] = {"shared": mtype != MAP_PRIVATE}
    if not flags & MAP_ANONYMOUS:
        of = k.fds.get(fd)
        # do_mmap's order: write access for a shared writable mapping, read access, then
        # whether the file can be mapped at all.
        if mtype != MAP_PRIVATE and prot & PROT_WRITE and not of.writable:
            raise KernelError(Errno.EACCES)
        if not of.readable:
            raise KernelError(Errno.EACCES)
        st = of.handle.stat()
        if of.handle.is_directory or not of.handle.seekable or not s_isreg(st.mode):
            # Of the character devices only /dev/zero has an mmap: fresh zero pages, read
            # from nowhere (a terabyte of it costs nothing until touched).
            if not getattr(of.handle, "maps_as_zeros", False):
                raise KernelError(Errno.ENODEV)
        attrs.update(name=of.path, offset=offset, dev=st.dev, ino=st.ino, file=of.handle)
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
        if addr & (mm.page - 1):
            raise KernelError(Errno.EINVAL)
        if addr + size > mm.task_size or addr < mm.mmap_floor:
            raise KernelError(Errno.ENOMEM if addr + size > mm.task_size else Errno.EPERM)
        if not mm.is_free(addr, addr + size):
            if flags & MAP_FIXED_NOREPLACE and not flags & MAP_FIXED:
                raise KernelError(Errno.EEXIST)
            mm.unmap(addr, size)
        start = addr
    else:
        start = mm.find_free(size, addr)
    mm.map(start, size, prot, **attrs)  # the memory limit is checked before anything is read
    handle = attrs.get("file")
    if handle is not None and not getattr(handle, "maps_as_zeros", False):
        try:
            _fill_from_file(mm, start, size, handle, offset)  # type: ignore[arg-type]
        except BaseException:
            mm.unmap(start, size)
            raise
        vma = mm.find(start)
        if vma is not None:
            hide_past_eof(mm, vma)
    return start


def hide_past_eof(mm: AddressSpace, vma: Vma) -> None:
    """Leave the pages of a file mapping that lie wholly past the file's end inaccessible in
    guest memory (the mapping keeps its protection): on Linux an access there is SIGBUS, so
    here it faults, and the CPU side asks :func:`file_fault` what the fault is."""
    handle = vma.file
    if handle is None or getattr(handle, "maps_as_zeros", False) or not vma.prot:
        return
    try:
        size = handle.stat().size
    except Exception:  # noqa: BLE001 - a file that cannot say its size: left as mapped
        return
    first = max(vma.start, vma.start + mm.round_up(size) - vma.offset)
    if first < vma.end:
        mm.memory.protect(first, vma.end - first, 0)


def file_fault(mm: AddressSpace, address: int, prot: int) -> str | None:
    """What a fault at ``address`` (an access needing ``prot``) is, when a page
    :func:`hide_past_eof` hid is the cause: ``"SIGBUS"`` (the page is still past the file's
    end: BUS_ADRERR), ``"filled"`` (the file has grown: the page now holds its part of the
    file and may be accessed again), or None (an ordinary fault)."""
    vma = mm.find(address)
    handle = vma.file if vma is not None else None
    if vma is None or handle is None or getattr(handle, "maps_as_zeros", False) or vma.prot & prot != prot:
        return None
    page = address & ~(mm.page - 1)
    position = vma.offset + page - vma.start
    if position >= mm.round_up(handle.stat().size):
        return "SIGBUS"
    mm.memory.protect(page, mm.page, vma.prot)
    data = handle.pread(mm.page, position)
    if data:
        mm.memory.load(page, data)
    return "filled"


# A mapped file is read in pieces of this size, so no second copy of a big file is ever held.
_FILL_CHUNK = 1 << 22


def _fill_from_file(mm: AddressSpace, start: int, size: int, handle: "Handle", offset: int) -> None:
    done = 0
    while done < size:
        data = handle.pread(min(_FILL_CHUNK, size - done), offset + done)
        if not data:
            break
        mm.memory.load(start + done, data)
        done += len(data)


@syscall("munmap")
def sys_munmap(k: "Kernel", req: SyscallRequest, addr: Ptr, length: Size) -> int:
    mm = k.mm
    if addr & (mm.page - 1) or length == 0 or addr + length > mm.task_size:
        raise KernelError(Errno.EINVAL)
    mm.unmap(addr, mm.round_up(length))
    return 0


@syscall("mprotect")
def sys_mprotect(k: "Kernel", req: SyscallRequest, addr: Ptr, length: Size, prot: ULong) -> int:
    mm = k.mm
    if addr & (mm.page - 1):
        raise KernelError(Errno.EINVAL)
    _check_prot(prot)
    size = mm.round_up(length)
    if size == 0:
        return 0
    if addr + size > mm.task_size or not mm.fully_mapped(addr, addr + size):
        raise KernelError(Errno.ENOMEM)
    mm.protect(addr, size, prot & (PROT_READ | PROT_WRITE | PROT_EXEC))
    return 0


@syscall("brk")
def sys_brk(k: "Kernel", req: SyscallRequest, addr: Ptr) -> int:
    mm = k.mm
    if addr < mm.brk_start:
        return mm.brk_end
    old_top = mm.round_up(mm.brk_end)
    new_top = mm.round_up(addr)
    if new_top > old_top:
        if not mm.is_free(old_top, new_top) or new_top > mm.task_size:
            return mm.brk_end
        try:
            mm.map(old_top, new_top - old_top, PROT_READ | PROT_WRITE, name="[heap]")
        except KernelError:
            return mm.brk_end
    elif new_top < old_top:
        mm.unmap(new_top, old_top - new_top)
    mm.brk_end = addr
    return addr


@syscall("madvise", partial="advice is accepted; MADV_DONTNEED/MADV_FREE zero private anonymous pages")
def sys_madvise(k: "Kernel", req: SyscallRequest, addr: Ptr, length: Size, advice: Int) -> int:
    mm = k.mm
    if addr & (mm.page - 1) or advice not in _KNOWN_ADVICE:
        raise KernelError(Errno.EINVAL)
    size = mm.round_up(length)
    if size == 0:
        return 0
    if not mm.fully_mapped(addr, addr + size):
        raise KernelError(Errno.ENOMEM)
    if advice in (MADV_DONTNEED, MADV_FREE):
        for v in mm.overlapping(addr, addr + size):
            lo, hi = max(v.start, addr), min(v.end, addr + size)
            if v.file is None and not v.shared:
                mm.memory.load(lo, bytes(hi - lo))
            elif v.file is not None and not v.shared and advice == MADV_DONTNEED:
                data = v.file.pread(hi - lo, v.offset + (lo - v.start))
                mm.memory.load(lo, data + bytes(hi - lo - len(data)))
    return 0
