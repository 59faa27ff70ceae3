"""mmap, munmap, mprotect, brk, madvise: placement, protections, and their errors."""

from __future__ import annotations

import struct

from fakes import KernelHarness
from kernel_model.abi import AT_FDCWD
from kernel_model.linux_errno import Errno
from kernel_model.seam import PROT_EXEC, PROT_READ, PROT_WRITE

MAP_PRIVATE, MAP_SHARED, MAP_FIXED, MAP_ANON, MAP_FIXED_NOREPLACE = 0x2, 0x1, 0x10, 0x20, 0x100000
RW = PROT_READ | PROT_WRITE


def anon(kh, size, prot=RW, flags=MAP_PRIVATE | MAP_ANON, addr=0):
    return kh.call("mmap", addr, size, prot, flags, -1, 0)


def test_anonymous_mapping_is_zeroed_page_aligned_and_usable():
    kh = KernelHarness()
    a = anon(kh, 10000)
    assert a > 0 and a % 4096 == 0
    assert kh.memory.read(a, 12288) == bytes(12288)
    kh.memory.write(a + 5, b"x")
    vma = kh.kernel.mm.find(a)
    assert vma is not None and vma.size == 12288 and vma.prot == RW


def test_mappings_go_top_down_without_overlap():
    kh = KernelHarness()
    a = anon(kh, 4096)
    b = anon(kh, 8192)
    assert b + 8192 <= a
    assert kh.kernel.mm.find(b + 8191) is not kh.kernel.mm.find(a)


def test_mmap_argument_errors():
    kh = KernelHarness()
    assert kh.errno("mmap", 0, 0, RW, MAP_PRIVATE | MAP_ANON, -1, 0) is Errno.EINVAL
    assert kh.errno("mmap", 0, 4096, RW, MAP_ANON, -1, 0) is Errno.EINVAL  # neither private nor shared
    assert kh.errno("mmap", 0, 4096, RW, MAP_PRIVATE | MAP_ANON, -1, 1) is Errno.EINVAL  # unaligned offset
    assert kh.errno("mmap", 0x1001, 4096, RW, MAP_PRIVATE | MAP_ANON | MAP_FIXED, -1, 0) is Errno.EINVAL
    assert kh.errno("mmap", 0, 4096, RW, MAP_PRIVATE, 99, 0) is Errno.EBADF
    assert kh.errno("mmap", 0, 1 << 62, RW, MAP_PRIVATE | MAP_ANON, -1, 0) is Errno.ENOMEM


def test_map_fixed_replaces_and_noreplace_refuses():
    kh = KernelHarness()
    a = anon(kh, 3 * 4096)
    kh.memory.write(a, b"old")
    b = anon(kh, 4096, addr=a + 4096, flags=MAP_PRIVATE | MAP_ANON | MAP_FIXED)
    assert b == a + 4096
    assert kh.memory.read(a, 3) == b"old"
    assert kh.errno("mmap", a, 4096, RW, MAP_PRIVATE | MAP_ANON | MAP_FIXED_NOREPLACE, -1, 0) is Errno.EEXIST
    assert len(kh.kernel.mm.overlapping(a, a + 3 * 4096)) == 3


def test_hint_is_used_when_free():
    kh = KernelHarness()
    assert anon(kh, 4096, addr=0x20000000) == 0x20000000


def test_munmap_then_access_faults_and_holes_are_fine():
    kh = KernelHarness()
    a = anon(kh, 3 * 4096)
    assert kh.call("munmap", a + 4096, 4096) == 0
    assert kh.memory.accessible(a, 3 * 4096, PROT_READ) == 4096
    assert kh.call("munmap", a, 3 * 4096) == 0
    assert kh.errno("munmap", a + 1, 4096) is Errno.EINVAL
    assert kh.errno("munmap", a, 0) is Errno.EINVAL


def test_mprotect_changes_what_copies_may_do():
    kh = KernelHarness()
    a = anon(kh, 8192)
    assert kh.call("mprotect", a, 4096, PROT_READ) == 0
    assert kh.kernel.mm.find(a).prot == PROT_READ
    assert kh.kernel.mm.find(a + 4096).prot == RW
    assert kh.errno("read", 0, a, 1) in (Errno.EFAULT, None)
    assert kh.errno("mprotect", a + 1, 4096, PROT_READ) is Errno.EINVAL
    assert kh.errno("mprotect", a, 4096, 0x80) is Errno.EINVAL
    kh.call("munmap", a + 4096, 4096)
    assert kh.errno("mprotect", a, 8192, PROT_READ) is Errno.ENOMEM


def test_brk_grows_shrinks_and_reports_failure_as_the_old_break():
    kh = KernelHarness()
    kh.kernel.mm.set_brk(0x600000)
    assert kh.call("brk", 0) == 0x600000
    assert kh.call("brk", 0x600000 + 10000) == 0x600000 + 10000
    kh.memory.write(0x600000 + 9999, b"z")
    assert kh.call("brk", 0x601000) == 0x601000
    assert kh.memory.accessible(0x601000, 1, PROT_READ) == 0
    assert kh.call("brk", 0x100) == 0x601000  # below the start: unchanged
    kh.call("mmap", 0x700000, 4096, RW, MAP_PRIVATE | MAP_ANON | MAP_FIXED, -1, 0)
    assert kh.call("brk", 0x800000) == 0x601000  # would collide: unchanged
    assert kh.kernel.mm.find(0x600000).name == "[heap]"


def test_private_file_mapping_copies_the_file(kh):
    fd = kh.call("openat", AT_FDCWD, kh.put("data.txt"), 0, 0)
    a = kh.call("mmap", 0, 4096, PROT_READ, MAP_PRIVATE, fd, 0)
    assert a > 0
    assert kh.memory.read(a, 13) == b"Hello world\n\0"
    vma = kh.kernel.mm.find(a)
    assert vma.name.endswith("data.txt") and vma.offset == 0
    assert "data.txt" in vma.maps_line()


def test_file_mapping_errors(kh):
    fd = kh.call("openat", AT_FDCWD, kh.put("data.txt"), 0, 0)
    assert kh.errno("mmap", 0, 4096, RW, MAP_SHARED, fd, 0) is Errno.EACCES
    dirfd = kh.call("openat", AT_FDCWD, kh.put("sub"), 0, 0)
    assert kh.errno("mmap", 0, 4096, PROT_READ, MAP_PRIVATE, dirfd, 0) is Errno.ENODEV
    assert kh.errno("mmap", 0, 4096, PROT_READ, MAP_PRIVATE, 0, 0) is Errno.ENODEV  # stdin: a stream
    # do_mmap asks for read access before asking whether the file can be mapped at all
    assert kh.errno("mmap", 0, 4096, PROT_READ, MAP_PRIVATE, 1, 0) is Errno.EACCES


def test_madvise_dontneed_zeroes_anonymous_memory():
    kh = KernelHarness()
    a = anon(kh, 4096)
    kh.memory.write(a, b"data")
    assert kh.call("madvise", a, 4096, 4) == 0
    assert kh.memory.read(a, 4) == bytes(4)
    assert kh.errno("madvise", a, 4096, 12345) is Errno.EINVAL


def test_memory_limit_is_enomem():
    kh = KernelHarness(max_memory=0x10000 + 8192)
    assert anon(kh, 8192) > 0
    assert kh.errno("mmap", 0, 4096, RW, MAP_PRIVATE | MAP_ANON, -1, 0) is Errno.ENOMEM


def test_exec_only_prot_is_recorded():
    kh = KernelHarness()
    a = anon(kh, 4096, prot=PROT_EXEC)
    assert kh.kernel.mm.find(a).maps_line().split()[1] == "--xp"
    assert struct.calcsize("<Q") == 8
