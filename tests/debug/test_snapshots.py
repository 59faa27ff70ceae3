"""Snapshot and restore: CPU, memory, and every part of the kernel model's state."""

from __future__ import annotations

import gc
import os

import pytest

from sandbox import Sandbox

ARCHES = ["x86_64", "aarch64"]
O_RDWR, O_CREAT = 0o2, 0o100
SEEK_CUR = 1
PROT_RW, MAP_PRIVATE_ANON = 3, 0x22

# A store to a labelled word, so memory changes between two snapshots.
STORE = {
    "x86_64": "mov rax, 0x1122334455667788; mov qword ptr [rip + word], rax; mov rbx, 7; done: nop; word: .quad 0",
    "aarch64": "movz x0, #0x7788; movk x0, #0x5566, lsl #16; movk x0, #0x3344, lsl #32; movk x0, #0x1122, lsl #48;"
    " adr x1, word; str x0, [x1]; mov x19, #7; done: nop; word: .quad 0",
}


def loaded(arch: str, text: str = "nop; nop", **kw) -> Sandbox:
    sb = Sandbox(arch, **kw)
    sb.load_asm(text)
    return sb


@pytest.mark.parametrize("arch", ARCHES)
def test_registers_and_memory_come_back(arch):
    sb = loaded(arch, STORE[arch])
    snap = sb.snapshot()
    before = sb.registers()
    sb.run_until(pc="done")
    assert sb.read_memory("word", 8) == bytes.fromhex("8877665544332211")
    sb.restore(snap)
    assert sb.registers() == before
    assert sb.read_memory("word", 8) == bytes(8)
    sb.run_until(pc="done")  # and it runs the same way again
    assert sb.read_memory("word", 8) == bytes.fromhex("8877665544332211")


@pytest.mark.parametrize("arch", ARCHES)
def test_fd_table_offsets_memfs_cwd_umask_come_back(arch):
    sb = loaded(arch)
    fd = sb.syscall("openat", -100, "/tmp/notes", O_RDWR | O_CREAT, 0o644).ret
    assert sb.syscall("write", fd, b"hello", 5).ret == 5
    old_umask = sb.syscall("umask", 0o022).ret
    snap = sb.snapshot()

    sb.syscall("write", fd, b" world", 6)
    sb.syscall("close", fd)
    sb.syscall("unlinkat", -100, "/tmp/notes", 0)
    sb.syscall("mkdirat", -100, "/tmp/newdir", 0o755)
    sb.syscall("chdir", "/tmp/newdir")
    sb.syscall("umask", 0o077)

    sb.restore(snap)
    assert sb.syscall("lseek", fd, 0, SEEK_CUR).ret == 5  # the open file and its offset
    buf = bytearray(16)
    assert sb.syscall("pread64", fd, buf, 16, 0).ret == 5
    assert bytes(buf[:5]) == b"hello"  # the in-memory file's contents
    assert sb.syscall("faccessat", -100, "/tmp/newdir", 0).errno == "ENOENT"
    cwd = bytearray(256)
    sb.syscall("getcwd", cwd, 256)
    assert not bytes(cwd).startswith(b"/tmp/newdir")
    assert sb.syscall("umask", 0o022).ret == 0o022 and old_umask == 0o022


@pytest.mark.parametrize("arch", ARCHES)
def test_mappings_and_brk_come_back(arch):
    sb = loaded(arch)
    machine = sb.machine
    snap = sb.snapshot()
    vmas, ranges = machine.kernel.mm.vmas, list(machine.memory.prot)
    brk = sb.syscall("brk", 0).ret
    addr = sb.syscall("mmap", 0, 8192, PROT_RW, MAP_PRIVATE_ANON, -1, 0).ret
    sb.write_memory(addr, b"data")
    sb.syscall("brk", brk + 0x10000)
    assert machine.kernel.mm.find(addr) is not None

    sb.restore(snap)
    assert machine.kernel.mm.vmas == vmas and list(machine.memory.prot) == ranges
    assert machine.kernel.mm.find(addr) is None
    assert sb.syscall("brk", 0).ret == brk
    with pytest.raises(Exception, match="cannot access memory"):
        sb.read_memory(addr, 4)


@pytest.mark.parametrize("arch", ARCHES)
def test_captured_output_and_the_log_roll_back_and_forward(arch):
    sb = loaded(arch)
    sb.syscall("write", 1, b"one\n", 4)
    first = sb.snapshot()
    sb.syscall("write", 1, b"two\n", 4)
    second = sb.snapshot()
    sb.syscall("write", 2, b"err\n", 4)
    sb.restore(first)
    assert (sb.stdout, sb.stderr, len(sb.machine.log)) == (b"one\n", b"", 1)
    sb.restore(second)  # a later snapshot, after going back
    assert (sb.stdout, len(sb.machine.log)) == (b"one\ntwo\n", 2)
    assert [r.name for r in sb.result().syscalls] == ["write", "write"]


@pytest.mark.parametrize("arch", ARCHES)
def test_stdin_position_rolls_back(arch):
    sb = loaded(arch, stdin=b"abcdef")
    buf = bytearray(3)
    sb.syscall("read", 0, buf, 3)
    snap = sb.snapshot()
    sb.syscall("read", 0, buf, 3)
    assert bytes(buf) == b"def"
    sb.restore(snap)
    sb.syscall("read", 0, buf, 3)
    assert bytes(buf) == b"def"


def test_virtual_clock_and_seeded_random_roll_back():
    sb = loaded("x86_64", virtual_time=True, seed=7)
    ts = bytearray(16)
    sb.syscall("clock_gettime", 1, ts, 0)
    snap = sb.snapshot()
    rnd1 = bytearray(8)
    sb.syscall("getrandom", rnd1, 8, 0)
    sb.syscall("nanosleep", b"\x05" + bytes(15), 0)  # 5 seconds
    later = bytearray(16)
    sb.syscall("clock_gettime", 1, later, 0)
    sb.restore(snap)
    rnd2 = bytearray(8)
    sb.syscall("getrandom", rnd2, 8, 0)
    again = bytearray(16)
    sb.syscall("clock_gettime", 1, again, 0)
    assert rnd1 == rnd2

    def ns(ts: bytearray) -> int:
        return int.from_bytes(ts[:8], "little") * 10**9 + int.from_bytes(ts[8:], "little")

    assert ns(again) < 5 * 10**9 <= ns(later)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd to count host descriptors")
def test_a_host_file_closed_by_the_guest_stays_usable_in_a_snapshot(tmp_path):
    (tmp_path / "data.txt").write_bytes(b"host bytes")
    sb = loaded("x86_64", cwd=str(tmp_path))
    fd = sb.syscall("openat", -100, "data.txt", 0, 0).ret
    snap = sb.snapshot()
    sb.syscall("close", fd)
    sb.restore(snap)
    buf = bytearray(10)
    assert sb.syscall("read", fd, buf, 10).ret == 10 and bytes(buf) == b"host bytes"
    # the host descriptor closes once neither the guest nor a snapshot holds it
    open_before = len(os.listdir("/proc/self/fd"))
    sb.syscall("close", fd)
    del snap
    sb.debugger.snapshots._last = None
    # a snapshot's copy of the process table has cycles (a process and its threads, a parent
    # and its children): it goes with the next collection, not at once
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) < open_before


def test_unchanged_memory_is_shared_between_snapshots():
    sb = loaded("x86_64", STORE["x86_64"])
    a = sb.snapshot()
    sb.run_until(pc="done")  # one store to the code page
    b = sb.snapshot()
    ablocks, bblocks = a.blocks(), b.blocks()
    shared = [addr for addr in ablocks if ablocks[addr] is bblocks.get(addr)]
    assert len(shared) >= len(ablocks) - 1 and len(ablocks) > 100


def test_restoring_twice_gives_the_same_state():
    sb = loaded("aarch64", STORE["aarch64"])
    start = sb.reg("pc")
    snap = sb.snapshot()
    sb.run_until(pc="done")
    sb.restore(snap)
    sb.run_until(pc="done")
    sb.restore(snap)
    assert sb.read_memory("word", 8) == bytes(8) and sb.reg("pc") == start


@pytest.mark.parametrize("arch", ARCHES)
def test_a_traced_process_can_be_recorded_and_rewound(arch):
    # The tracer watches signal deliveries through a callback on the kernel's signal state: a
    # snapshot keeps that callback live instead of copying the tracer (and the engine) with it.
    sb = Sandbox(arch, trace=True)
    sb.load_file(f"examples/hello/hello.{arch}.s")
    sb.record()
    sb.catch_syscall("write")
    assert sb.cont().reason == "syscall-entry"
    assert sb.cont().reason == "syscall-return"
    assert sb.stdout == b"Hello world\n"
    assert sb.reverse_step().reverse
    assert sb.stdout == b""
    sb.delete()
    assert sb.cont().exit_status == 0
    assert sb.stdout == b"Hello world\n"
    assert [r.name for r in sb.result().syscalls][-2:] == ["write", "exit"]
