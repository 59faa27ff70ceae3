"""The native trampoline of the trap hook, and the Python path that replaces it elsewhere.

The trampoline's machine code is checked on every host, x86_64 and aarch64 alike, by running
it inside Unicorn with stand-ins for the three functions it calls; the Python path is checked
by running the same guests with the trampoline switched off.
"""

from __future__ import annotations

import ctypes

import pytest
import unicorn
from unicorn import arm64_const as a64
from unicorn import x86_const as x86

from sandbox import Sandbox, trampoline

CODE_AT, BLOCK_AT, STACK_TOP, END = 0x10000, 0x20000, 0x40000, 0x30000
READ, CALLBACK, WRITE = 0x31000, 0x32000, 0x33000  # where the stand-ins are
UC_HANDLE, INTNO = 0xABCDEF, 0x80

HOSTS = {
    # arch, mode, argument registers, return register, callee-saved registers, stack pointer,
    # link register (None: the return address is on the stack), "return" instruction
    "x86_64": (unicorn.UC_ARCH_X86, unicorn.UC_MODE_64, (x86.UC_X86_REG_RDI, x86.UC_X86_REG_RSI,
               x86.UC_X86_REG_RDX, x86.UC_X86_REG_RCX), x86.UC_X86_REG_RAX,
               (x86.UC_X86_REG_RBX, x86.UC_X86_REG_RBP, x86.UC_X86_REG_R12, x86.UC_X86_REG_R13,
                x86.UC_X86_REG_R14, x86.UC_X86_REG_R15), x86.UC_X86_REG_RSP, None, b"\xc3"),
    "aarch64": (unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM, (a64.UC_ARM64_REG_X0, a64.UC_ARM64_REG_X1,
                a64.UC_ARM64_REG_X2, a64.UC_ARM64_REG_X3), a64.UC_ARM64_REG_X0,
                tuple(getattr(a64, f"UC_ARM64_REG_X{i}") for i in range(19, 30)), a64.UC_ARM64_REG_SP,
                a64.UC_ARM64_REG_X30, bytes.fromhex("c0035fd6")),
}


def run_trampoline(host: str, entry: str, callback_result: int) -> tuple[list[tuple], dict[int, int], int]:
    """Run one entry point of ``host``'s trampoline in Unicorn; the calls it made, the
    callee-saved registers afterwards, and the stack pointer afterwards."""
    arch, mode, args, ret, saved, sp, lr, ret_insn = HOSTS[host]
    code, insn_offset = trampoline.CODE[host]
    uc = unicorn.Uc(arch, mode)
    for base in (CODE_AT, BLOCK_AT, STACK_TOP - 0x8000, END):
        uc.mem_map(base, 0x8000)
    uc.mem_write(CODE_AT, code)
    for stand_in in (READ, CALLBACK, WRITE):
        uc.mem_write(stand_in, ret_insn)
    block = trampoline.TrapBlock(read=READ, read_ids=0x111, read_ptrs=0x222, read_count=9, callback=CALLBACK,
                                 write=WRITE, write_ids=0x333, write_ptrs=0x444, write_count=3)
    uc.mem_write(BLOCK_AT, bytes(block))
    for i, reg in enumerate(saved):
        uc.reg_write(reg, 0x5000 + i)
    if lr is None:  # called from a 16-byte aligned stack: the return address just below it
        uc.mem_write(STACK_TOP - 24, END.to_bytes(8, "little"))
        uc.reg_write(sp, STACK_TOP - 24)
    else:
        uc.reg_write(sp, STACK_TOP - 16)
        uc.reg_write(lr, END)
    if entry == "intr":
        uc.reg_write(args[0], UC_HANDLE)
        uc.reg_write(args[1], INTNO)
        uc.reg_write(args[2], BLOCK_AT)
        start = CODE_AT
    else:
        uc.reg_write(args[0], UC_HANDLE)
        uc.reg_write(args[1], BLOCK_AT)
        start = CODE_AT + insn_offset
    calls = []
    names = {READ: "read", CALLBACK: "callback", WRITE: "write"}

    def on_code(u, address, size, data):
        name = names[address]
        values = [u.reg_read(r) for r in args]
        # each call finds the stack aligned as the ABI requires (x86_64: 8 past 16 after the call)
        aligned = u.reg_read(sp) % 16 == (8 if lr is None else 0)
        calls.append((name, aligned, *(values[:2] if name == "callback" else values)))
        u.reg_write(ret, callback_result if name == "callback" else 0)

    for stand_in in (READ, CALLBACK, WRITE):
        uc.hook_add(unicorn.UC_HOOK_CODE, on_code, begin=stand_in, end=stand_in)
    uc.emu_start(start, END)
    return calls, {reg: uc.reg_read(reg) for reg in saved}, uc.reg_read(sp)


@pytest.mark.parametrize("host", list(HOSTS))
@pytest.mark.parametrize("entry", ["insn", "intr"])
def test_the_trampoline_reads_calls_back_and_writes(host, entry):
    calls, saved, sp = run_trampoline(host, entry, 1)
    intno = INTNO if entry == "intr" else 0
    assert calls == [
        ("read", True, UC_HANDLE, 0x111, 0x222, 9),
        ("callback", True, UC_HANDLE, intno),
        ("write", True, UC_HANDLE, 0x333, 0x444, 3),
    ]
    assert saved == {reg: 0x5000 + i for i, reg in enumerate(HOSTS[host][4])}
    assert sp == STACK_TOP - 16  # back as the caller had it


@pytest.mark.parametrize("host", list(HOSTS))
def test_the_trampoline_writes_nothing_when_the_callback_says_so(host):
    calls, _, _ = run_trampoline(host, "intr", 0)
    assert [c[0] for c in calls] == ["read", "callback"]


def test_the_block_has_the_layout_the_code_reads():
    offsets = {name: getattr(trampoline.TrapBlock, name).offset for name, _ in trampoline.TrapBlock._fields_}
    assert offsets == {"read": 0, "read_ids": 8, "read_ptrs": 16, "read_count": 24, "callback": 32, "unused": 40,
                       "write": 48, "write_ids": 56, "write_ptrs": 64, "write_count": 72, "intno": 80}
    assert ctypes.sizeof(trampoline.TrapBlock) == 88


# -- the same guests with and without it ---------------------------------------------------

GUESTS = {
    "x86_64": "mov eax, 39; syscall; mov eax, 1; mov edi, 42; syscall; mov eax, 60; mov edi, 3; syscall",
    "aarch64": "mov x8, #172; svc #0; mov x8, #64; mov x0, #42; svc #0; mov x8, #93; mov x0, #3; svc #0",
    "i386": "mov eax, 20; int 0x80; mov eax, 4; mov ebx, 42; int 0x80; mov eax, 1; mov ebx, 3; int 0x80",
    "arm": "mov r7, #20; svc #0; mov r7, #4; mov r0, #42; svc #0; mov r7, #1; mov r0, #3; svc #0",
    "riscv64": "li a7, 172; ecall; li a7, 64; li a0, 42; ecall; li a7, 93; li a0, 3; ecall",
}


def outcome(arch: str) -> tuple:
    r = Sandbox(arch).run_asm(GUESTS[arch])
    return r.exit_status, [(c.name, c.ret, c.errno) for c in r.syscalls]


@pytest.mark.parametrize("arch", list(GUESTS))
def test_without_the_trampoline_calls_are_served_the_same(arch, monkeypatch):
    with_it = outcome(arch)
    monkeypatch.setattr(trampoline, "_entries", [None])
    assert outcome(arch) == with_it == (3, [("getpid", 1000, None), ("write", -9, "EBADF"), ("exit", None, None)])


# -- the native TLB fill -------------------------------------------------------------------

FILL_AT, TABLE_AT, CHUNK_AT, ENTRY_AT, GROW = 0x10000, 0x50000, 0x100000, 0x60000, 0x34000
FILL_ARGS = {  # vaddr, access, entry, block argument registers; the return register
    "x86_64": ((x86.UC_X86_REG_RSI, x86.UC_X86_REG_RDX, x86.UC_X86_REG_RCX, x86.UC_X86_REG_R8), x86.UC_X86_REG_RAX),
    "aarch64": ((a64.UC_ARM64_REG_X1, a64.UC_ARM64_REG_X2, a64.UC_ARM64_REG_X3, a64.UC_ARM64_REG_X4),
                a64.UC_ARM64_REG_X0),
}


def run_fill(host: str, fills: list[tuple[int, int]], pages: dict[int, int], threshold: int) -> tuple[list, list[int], int]:
    """Run the native fill of ``host`` in Unicorn for each (vaddr, access), with a table whose
    chunk 1 (1 GiB up) holds ``pages`` (page index -> prot); the entries, grow's calls, fills."""
    arch, mode, _, _, saved, sp, lr, ret_insn = HOSTS[host]
    (vaddr_reg, access_reg, entry_reg, block_reg), ret = FILL_ARGS[host]
    uc = unicorn.Uc(arch, mode)
    regions = ((FILL_AT, 0x1000), (BLOCK_AT, 0x1000), (0x30000, 0x8000), (0x50000, 0x20000), (CHUNK_AT, 1 << 18),
               (STACK_TOP - 0x8000, 0x8000))
    for base, size in regions:
        uc.mem_map(base, size)
    uc.mem_write(FILL_AT, trampoline.FILL[host])
    uc.mem_write(GROW, ret_insn)
    uc.mem_write(END, ret_insn)
    uc.mem_write(TABLE_AT, (0).to_bytes(8, "little") + CHUNK_AT.to_bytes(8, "little"))
    for page, prot in pages.items():
        uc.mem_write(CHUNK_AT + page, bytes([prot]))
    block = trampoline.FillBlock(table=TABLE_AT, chunks=2, fills=0, threshold=threshold, grow=GROW)
    uc.mem_write(BLOCK_AT, bytes(block))
    grown = []
    uc.hook_add(unicorn.UC_HOOK_CODE, lambda u, a, s, d: grown.append(u.reg_read(HOSTS[host][2][0])),
                begin=GROW, end=GROW)
    out = []
    for vaddr, access in fills:
        if lr is None:
            uc.mem_write(STACK_TOP - 24, END.to_bytes(8, "little"))
            uc.reg_write(sp, STACK_TOP - 24)
        else:
            uc.reg_write(sp, STACK_TOP - 16)
            uc.reg_write(lr, END)
        uc.reg_write(HOSTS[host][2][0], UC_HANDLE)
        for reg, value in zip((vaddr_reg, access_reg, entry_reg, block_reg), (vaddr, access, ENTRY_AT, BLOCK_AT)):
            uc.reg_write(reg, value)
        uc.emu_start(FILL_AT, END)
        entry = bytes(uc.mem_read(ENTRY_AT, 12))
        out.append((uc.reg_read(ret) & 0xFF, int.from_bytes(entry[:8], "little"), int.from_bytes(entry[8:], "little")))
    fills_count = int.from_bytes(uc.mem_read(BLOCK_AT + 16, 8), "little")
    return out, grown, fills_count


@pytest.mark.parametrize("host", list(HOSTS))
def test_the_native_fill_answers_each_page_with_its_protection_and_the_access(host):
    chunk = 1 << 30
    read, write, fetch = unicorn.UC_MEM_READ, unicorn.UC_MEM_WRITE, unicorn.UC_MEM_FETCH
    entries, grown, fills = run_fill(host, [
        (chunk + 5 * 4096, read),  # a read-write page read: both permissions
        (chunk + 6 * 4096, fetch),  # a read-execute page
        (chunk + 7 * 4096, write),  # unmapped: only the access, Unicorn reports the fault
        (3 * chunk, read),  # beyond the table
        (4096, write),  # in a chunk with no table
        (chunk + ((1 << 18) - 1) * 4096, fetch),  # the chunk's last page
    ], {5: 3, 6: 5, (1 << 18) - 1: 7}, threshold=4)
    assert entries == [
        (1, chunk + 5 * 4096, 3), (1, chunk + 6 * 4096, 5), (1, chunk + 7 * 4096, 2), (1, 3 * chunk, 1),
        (1, 4096, 2), (1, chunk + ((1 << 18) - 1) * 4096, 7),
    ]
    assert grown == [UC_HANDLE] * 3 and fills == 6  # from the fourth fill on: grow, with the engine


def test_a_page_table_holds_each_pages_protection():
    from sandbox.memory import PageTable

    table = PageTable(3 << 30)
    assert table.chunks == 3
    table.set((1 << 30) - 4096, (1 << 30) + 8192, 3)  # across two chunks
    table.set(1 << 30, (1 << 30) + 4096, 1)
    table.set(5 << 30, 6 << 30, 7)  # beyond the address space: nothing
    top = (ctypes.c_uint64 * 3).from_address(table.address)
    assert top[2] == 0
    first = (ctypes.c_uint8 * (1 << 18)).from_address(top[0])
    second = (ctypes.c_uint8 * (1 << 18)).from_address(top[1])
    assert (first[(1 << 18) - 1], second[0], second[1], second[2]) == (3, 1, 3, 0)
    table.set(0, 3 << 30, 0)
    assert (first[(1 << 18) - 1], second[1]) == (0, 0)
    table.close()
