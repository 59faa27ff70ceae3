"""The 32-bit ABI on the fake memory: struct layouts, register pairs, and the calls only 32-bit arches have."""

from __future__ import annotations

import struct

import pytest
from fakes import KernelHarness

from kernel_model.fsnodes import StatInfo
from kernel_model.linux_errno import Errno
from kernel_model.process import Identity
from kernel_model.registry import REGISTRY, CallingConvention
from kernel_model.seam import KernelArch, KernelError
from kernel_model.structs import structs_for

I386 = KernelArch("i386", 32, "i686")
ARM = KernelArch("arm", 32, "armv7l", pair_aligned_args=True)


def test_struct_stat64_layouts_match_the_kernel_headers():
    i386 = structs_for(I386).stat64
    arm = structs_for(ARM).stat64
    assert (i386.size, arm.size) == (96, 104)  # packed on i386; 8-byte aligned long longs on arm EABI

    def offset(layout, name):
        pos = 0
        for field, fmt in layout.fields:
            if field == name:
                return pos
            pos += struct.calcsize("<" + fmt)
        raise KeyError(name)

    assert [offset(i386, f) for f in ("st_mode", "st_size", "st_blocks", "st_atime", "st_ino")] == [16, 44, 56, 64, 88]
    assert [offset(arm, f) for f in ("st_mode", "st_size", "st_blocks", "st_atime", "st_ino")] == [16, 48, 64, 72, 96]
    assert structs_for(I386).stat.size == 64 and structs_for(I386).timespec.size == 8


def test_register_pairs_follow_the_arch_convention():
    pread = REGISTRY["pread64"]
    # i386: fd, buf, count, then offset low/high in the next two registers
    assert pread.decode((3, 0x1000, 8, 0x10, 0x1, 0), CallingConvention(32)) == (3, 0x1000, 8, 0x1_0000_0010)
    # arm EABI: the pair starts on an even register (r4/r5), r3 is padding
    arm = CallingConvention(32, pair_aligned=True)
    assert pread.decode((3, 0x1000, 8, 0xBAD, 0x10, 0x1), arm) == (3, 0x1000, 8, 0x1_0000_0010)
    # a big-endian ABI puts the high half first
    assert pread.decode((3, 0x1000, 8, 0, 0x1, 0x10), CallingConvention(32, True, True))[3] == 0x1_0000_0010
    # preadv's pos_l/pos_h are two words wherever they fall, never aligned or swapped
    preadv = REGISTRY["preadv"]
    assert preadv.decode((3, 0x1000, 1, 0x10, 0x1, 0), arm)[3] == 0x1_0000_0010
    # 64-bit: one register, signed
    assert pread.decode((3, 0x1000, 8, 0xFFFFFFFFFFFFFFFF, 0, 0), 64)[3] == -1


@pytest.fixture
def file_kh(hostdir):
    kh = KernelHarness(ARM, cwd=str(hostdir))
    return kh, kh.call("openat", -100, kh.put("data.txt"), 0, 0)


def test_pread64_on_arm_reads_at_the_paired_offset(file_kh):
    kh, fd = file_kh
    buf = kh.buffer(8)
    assert kh.call("pread64", fd, buf, 5, 0, 6, 0) == 5
    assert kh.read(buf, 5) == b"world"


def test_llseek_combines_the_halves_and_stores_the_result(file_kh):
    kh, fd = file_kh
    result = kh.buffer(8)
    assert kh.call("_llseek", fd, 0, 6, result, 0) == 0
    assert struct.unpack("<q", kh.read(result, 8))[0] == 6
    assert kh.call("_llseek", fd, 1, 0, result, 0) == 0  # 4 GiB: fine for _llseek
    assert struct.unpack("<q", kh.read(result, 8))[0] == 1 << 32
    assert kh.errno("_llseek", fd, 0, 0, result, 7) is Errno.EINVAL
    assert kh.errno("_llseek", 99, 0, 0, result, 0) is Errno.EBADF
    assert kh.errno("_llseek", fd, 0, 3, 16, 0) is Errno.EFAULT
    assert kh.call("lseek", fd, 0, 1) == 3  # the position moved even though the result faulted


def test_lseek_past_2_gib_is_eoverflow_on_32_bit(file_kh):
    kh, fd = file_kh
    assert kh.errno("lseek", fd, 0x7FFFFFFF, 0) is None
    assert kh.call("lseek", fd, 1, 1) == -int(Errno.EOVERFLOW)  # 2 GiB does not fit a 32-bit off_t
    result = kh.buffer(8)
    kh.call("_llseek", fd, 0, 0, result, 1)
    assert struct.unpack("<q", kh.read(result, 8))[0] == 0x80000000  # ...but the position moved


def test_fstat64_and_the_old_stat(file_kh):
    kh, fd = file_kh
    buf = kh.buffer(104)
    assert kh.call("fstat64", fd, buf) == 0
    st = structs_for(ARM).stat64.unpack(kh.read(buf, 104))
    assert st["st_size"] == 12 and st["st_mode"] & 0o170000 == 0o100000
    assert st["st_ino_low"] == st["st_ino"] & 0xFFFFFFFF
    old = kh.buffer(64)
    assert kh.call("fstat", fd, old) == 0
    assert structs_for(ARM).stat.unpack(kh.read(old, 64))["st_size"] == 12
    path = kh.put("data.txt")
    assert kh.call("stat64", path, buf) == 0 and kh.call("fstatat64", -100, path, buf, 0) == 0
    assert kh.errno("fstatat64", -100, path, buf, 0x8000) is Errno.EINVAL


def test_the_old_stat_overflows_like_cp_new_stat():
    kh = KernelHarness(I386)
    layout = kh.kernel.structs.stat
    from kernel_model.files import pack_stat

    big = StatInfo(mode=0o100644, size=1 << 31, ino=5)
    with pytest.raises(KernelError) as e:
        pack_stat(kh.kernel, big)
    assert e.value.errno is Errno.EOVERFLOW
    with pytest.raises(KernelError):
        pack_stat(kh.kernel, StatInfo(mode=0o100644, ino=1 << 32))
    st = layout.unpack(pack_stat(kh.kernel, StatInfo(mode=0o100644, uid=70000, gid=5)))
    assert (st["st_uid"], st["st_gid"]) == (65534, 5)  # a 16-bit field shows the overflow id
    st64 = kh.kernel.structs.stat64.unpack(pack_stat(kh.kernel, big, kh.kernel.structs.stat64))
    assert st64["st_size"] == 1 << 31


def test_16_bit_and_32_bit_ids():
    kh = KernelHarness(I386, identity=Identity(uid=70000, gid=1000))
    assert kh.call("getuid16") == 65534 and kh.call("getuid32") == 70000
    assert kh.call("getgid16") == 1000 and kh.call("getegid32") == 1000
    # on i386 and arm the plain name is the 16-bit call
    assert kh.kernel.abi.served_by["getuid"] == "getuid16"


def test_mmap2_counts_4096_byte_units_and_old_mmap_reads_a_struct(hostdir):
    kh = KernelHarness(I386, cwd=str(hostdir))
    fd = kh.call("openat", -100, kh.put("data.txt"), 0, 0)
    addr = kh.call("mmap2", 0, 4096, 1, 2, fd, 0)
    assert kh.read(addr, 5) == b"Hello"
    args = kh.put(struct.pack("<6I", 0, 4096, 3, 0x22, 0xFFFFFFFF, 0))
    anon = kh.call("old_mmap", args)
    assert anon > 0 and kh.kernel.mm.find(anon).size == 4096
    assert kh.errno("old_mmap", kh.put(struct.pack("<6I", 0, 4096, 1, 2, fd, 12))) is Errno.EINVAL
    assert kh.errno("old_mmap", 8) is Errno.EFAULT


def test_time64_calls_use_a_64_bit_timespec():
    kh = KernelHarness(ARM)
    ts = kh.buffer(16)
    assert kh.call("clock_gettime64", 0, ts) == 0
    sec, nsec = struct.unpack("<qq", kh.read(ts, 16))
    assert sec > 1_600_000_000 and 0 <= nsec < 10**9
    assert kh.call("clock_getres_time64", 1, ts) == 0 and struct.unpack("<qq", kh.read(ts, 16)) == (0, 1)
    bad = kh.put(struct.pack("<qq", 0, 10**9))
    assert kh.errno("clock_nanosleep_time64", 1, 0, bad, 0) is Errno.EINVAL
    # a 32-bit kernel ignores the top half of tv_nsec
    ok = kh.put(struct.pack("<qq", 0, (0xFFFF << 32) | 1))
    assert kh.call("clock_nanosleep_time64", 1, 0, ok, 0) == 0
    small = kh.buffer(8)
    assert kh.call("clock_gettime", 0, small) == 0  # the old call: two 32-bit longs
    assert abs(struct.unpack("<ii", kh.read(small, 8))[0] - sec) <= 1


def test_fcntl64_lock_commands(file_kh):
    kh, fd = file_kh
    lock = kh.buffer(32)
    assert kh.call("fcntl64", fd, 12, lock) == 0  # F_GETLK64
    assert struct.unpack("<h", kh.read(lock, 2))[0] == 2  # F_UNLCK
    assert kh.errno("fcntl", fd, 12, lock) is Errno.EINVAL  # plain fcntl has no 64-bit commands


def test_arm_private_calls_set_the_thread_register_and_check_their_arguments():
    kh = KernelHarness(ARM)
    assert kh.call("set_tls", 0x12345678) == 0
    assert kh.call("get_tls") == 0x12345678
    assert kh.errno("cacheflush", 0x2000, 0x1000, 0) is Errno.EINVAL
    assert kh.errno("cacheflush", kh.SCRATCH, kh.SCRATCH + 16, 1) is Errno.EINVAL
    assert kh.call("cacheflush", kh.SCRATCH, kh.SCRATCH + 16, 0) == 0


def test_set_thread_area_fills_a_tls_descriptor_as_fill_ldt_does():
    kh = KernelHarness(I386)
    desc = kh.put(struct.pack("<iIII", -1, 0x12345678, 0xFFFFF, 0x51))  # 32-bit, in pages, usable
    assert kh.call("set_thread_area32", desc) == 0
    assert struct.unpack("<i", kh.read(desc, 4))[0] == 6  # the first free TLS entry, told back
    assert kh.cpu.get_segment_descriptor(6) == bytes.fromhex("ffff7856" "34f3df12")
    back = kh.put(struct.pack("<iIII", 6, 0, 0, 0))
    assert kh.call("get_thread_area32", back) == 0
    assert struct.unpack("<iIII", kh.read(back, 16)) == (6, 0x12345678, 0xFFFFF, 0x51)
    assert kh.call("set_thread_area32", kh.put(struct.pack("<iIII", -1, 0, 0xFFFFF, 0x51))) == 0
    assert kh.call("set_thread_area32", kh.put(struct.pack("<iIII", -1, 0, 0xFFFFF, 0x51))) == 0
    assert kh.errno("set_thread_area32", kh.put(struct.pack("<iIII", -1, 0, 0xFFFFF, 0x51))) is Errno.ESRCH
    assert kh.errno("set_thread_area32", kh.put(struct.pack("<iIII", 9, 0, 0xFFFFF, 0x51))) is Errno.EINVAL
    assert kh.errno("set_thread_area32", kh.put(struct.pack("<iIII", 6, 0, 0xFFFFF, 0x50))) is Errno.EINVAL  # 16-bit
    # an "empty" descriptor clears the entry
    assert kh.call("set_thread_area32", kh.put(struct.pack("<iIII", 6, 0, 0, 0x28))) == 0
    assert kh.cpu.get_segment_descriptor(6) == bytes(8)
