"""Guest loads, stores and jumps stay exact while the engine's TLB caches pages.

The engine runs Unicorn's virtual TLB and answers each fill with the page's protection (see
``Machine._install_tlb_fill``). Every call that changes what a page is (munmap, mprotect, brk,
a new mapping at the same address) must be seen by the very next access: each test touches a
page first, so that the TLB holds it, then changes it through the guest's own system calls,
then touches it again.
"""

from __future__ import annotations

import pytest

from sandbox import Sandbox, Stop

ARCHES = ["x86_64", "aarch64", "i386", "arm", "riscv64"]
PAGE = 4096
PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4
RW, RX, RWX = PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC, PROT_READ | PROT_WRITE | PROT_EXEC
MAP_PRIVATE_ANONYMOUS = 0x22

# Three entry points, each ending at a label: store an 8-byte value at an address, load it
# back, and call a function at an address (its result comes back in the return register).
# Registers: A the address, V/W the value (W its high half on 32-bit arches), R the result.
ACCESS = {
    "x86_64": (
        "store: mov [rdi], rsi\nstored: nop\nload: mov rax, [rdi]\nloaded: nop\n"
        "call_it: call rdi\ncalled: nop\n",
        dict(A="rdi", V="rsi", R="rax"),
    ),
    "aarch64": (
        "store: str x1, [x0]\nstored: nop\nload: ldr x2, [x0]\nloaded: nop\n"
        "call_it: mov x9, x0\nblr x9\ncalled: nop\n",
        dict(A="x0", V="x1", R="x2", C="x0"),
    ),
    "i386": (
        "store: mov [edi], esi\nmov [edi+4], edx\nstored: nop\nload: mov eax, [edi]\nmov edx, [edi+4]\nloaded: nop\n"
        "call_it: call edi\ncalled: nop\n",
        dict(A="edi", V="esi", W="edx", R="eax", H="edx"),
    ),
    "arm": (
        "store: str r1, [r0]\nstr r2, [r0, #4]\nstored: nop\nload: ldr r3, [r0]\nldr r4, [r0, #4]\nloaded: nop\n"
        "call_it: mov r5, r0\nblx r5\ncalled: nop\n",
        dict(A="r0", V="r1", W="r2", R="r3", H="r4", C="r0"),
    ),
    "riscv64": (
        "store: sd a1, 0(a0)\nstored: nop\nload: ld a2, 0(a0)\nloaded: nop\n"
        "call_it: mv t0, a0\njalr ra, 0(t0)\ncalled: nop\n",
        dict(A="a0", V="a1", R="a2", C="a0"),
    ),
}
# Eight bytes of code that return 5 (a NOP-padded "return 5"), as one little-endian word.
RETURN_5 = {
    "x86_64": bytes.fromhex("b805000000c39090"),  # mov eax, 5; ret
    "i386": bytes.fromhex("b805000000c39090"),
    "aarch64": bytes.fromhex("a00080d2c0035fd6"),  # mov x0, #5; ret
    "arm": bytes.fromhex("0500a0e31eff2fe1"),  # mov r0, #5; bx lr
    "riscv64": bytes.fromhex("1305500067800000"),  # li a0, 5; ret
}
MMAP = {"x86_64": "mmap", "aarch64": "mmap", "riscv64": "mmap", "i386": "mmap2", "arm": "mmap2"}


class Guest:
    """A process with the ACCESS code loaded, driven one access at a time."""

    def __init__(self, arch: str) -> None:
        self.arch = arch
        self.sb = Sandbox(arch)
        self.machine = self.sb.load_asm(ACCESS[arch][0] + "exit: nop\n")
        self.regs = ACCESS[arch][1]
        self.mask = (1 << self.machine.arch.bits) - 1

    def call(self, name: str, *args: int) -> int:
        """A system call made by the guest (through the trap path); its result."""
        record = self.sb.syscall(name, *args)
        assert record.errno is None, (name, record)
        return record.ret & self.mask

    def mmap(self, size: int, prot: int) -> int:
        return self.call(MMAP[self.arch], 0, size, prot, MAP_PRIVATE_ANONYMOUS, self.mask, 0)

    def _run(self, start: str, end: str, **regs: int) -> Stop:
        m = self.machine
        for key, value in regs.items():
            m.set_reg(self.regs[key], value)
        m.pc = m.symbols[start]
        return m.run_until(m.symbols[end])

    def store(self, address: int, value: int) -> Stop:
        if "W" in self.regs:
            return self._run("store", "stored", A=address, V=value & 0xFFFFFFFF, W=value >> 32)
        return self._run("store", "stored", A=address, V=value)

    def load(self, address: int) -> int | None:
        """The word at ``address``, or None when the load faulted."""
        if self._run("load", "loaded", A=address) is not Stop.REACHED:
            return None
        m = self.machine
        low = m.reg(self.regs["R"])
        return low | (m.reg(self.regs["H"]) << 32) if "H" in self.regs else low

    def call_code(self, address: int) -> int | None:
        """What the function at ``address`` returned, or None when the call faulted."""
        if self._run("call_it", "called", A=address) is not Stop.REACHED:
            return None
        return self.machine.reg(self.regs.get("C", self.regs["R"])) & 0xFFFFFFFF

    def fault(self) -> tuple[str, str, int | None]:
        f = self.machine.fault
        assert f is not None, "the access did not fault"
        return f.signal, f.what, f.address


def code_word(arch: str, value: int = 5) -> int:
    code = bytearray(RETURN_5[arch])
    # the immediate 5 sits in the first instruction on every arch: re-encode for another value
    index = code.index(5) if arch in ("x86_64", "i386", "arm") else None
    if index is not None:
        code[index] = value
    elif arch == "aarch64":
        code[0:4] = (0xD2800000 | (value << 5)).to_bytes(4, "little")
    else:  # riscv64 addi a0, zero, value
        code[0:4] = (0x00000513 | (value << 20)).to_bytes(4, "little")
    return int.from_bytes(code, "little")


@pytest.mark.parametrize("arch", ARCHES)
def test_a_store_to_a_page_unmapped_after_use_is_a_segfault(arch):
    g = Guest(arch)
    page = g.mmap(2 * PAGE, RW)
    assert g.store(page, 0x1122334455667788) is Stop.REACHED
    assert g.load(page) == 0x1122334455667788
    g.call("munmap", page, PAGE)
    assert g.load(page + PAGE) == 0  # the other page stays
    assert g.store(page, 1) is Stop.EXITED
    assert g.fault() == ("SIGSEGV", "write to unmapped memory", page)


@pytest.mark.parametrize("arch", ARCHES)
def test_a_page_mapped_again_at_the_same_address_is_fresh(arch):
    g = Guest(arch)
    page = g.mmap(PAGE, RW)
    g.store(page, 42)
    g.call("munmap", page, PAGE)
    again = g.mmap(PAGE, PROT_READ)
    assert again == page  # the kernel reuses the hole
    assert g.load(page) == 0
    assert g.store(page, 1) is Stop.EXITED
    assert g.fault() == ("SIGSEGV", "write to read-only memory", page)


@pytest.mark.parametrize("arch", ARCHES)
def test_mprotect_read_only_stops_stores_but_not_loads(arch):
    g = Guest(arch)
    page = g.mmap(PAGE, RW)
    g.store(page, 7)
    g.call("mprotect", page, PAGE, PROT_READ)
    assert g.load(page) == 7
    assert g.store(page, 8) is Stop.EXITED
    assert g.fault() == ("SIGSEGV", "write to read-only memory", page)


@pytest.mark.parametrize("arch", ARCHES)
def test_mprotect_none_stops_loads_of_a_page_just_read(arch):
    g = Guest(arch)
    page = g.mmap(PAGE, RW)
    g.store(page, 9)
    g.call("mprotect", page, PAGE, PROT_READ)
    assert g.load(page) == 9  # the TLB holds a readable entry now
    g.call("mprotect", page, PAGE, PROT_NONE)
    assert g.load(page) is None
    assert g.fault() == ("SIGSEGV", "read of memory without read permission", page)


@pytest.mark.parametrize("arch", ARCHES)
def test_mprotect_without_exec_stops_code_that_already_ran(arch):
    g = Guest(arch)
    page = g.mmap(PAGE, RW)
    g.store(page, code_word(arch))
    g.call("mprotect", page, PAGE, RX)
    assert g.call_code(page) == 5  # translated and cached by the engine
    g.call("mprotect", page, PAGE, RW)
    assert g.call_code(page) is None
    signal, what, address = g.fault()
    assert (signal, what, address) == ("SIGSEGV", "execution of non-executable memory", page)


@pytest.mark.parametrize("arch", ARCHES)
def test_a_data_page_made_executable_runs_what_was_stored(arch):
    g = Guest(arch)
    page = g.mmap(PAGE, RW)
    for _ in range(3):  # enough stores for the page's entry to be a fast, dirty one
        g.store(page, code_word(arch))
    assert g.call_code(page) is None  # not executable yet
    g = Guest(arch)
    page = g.mmap(PAGE, RW)
    g.store(page, code_word(arch, 3))
    g.store(page, code_word(arch))
    g.call("mprotect", page, PAGE, RWX)
    assert g.call_code(page) == 5


@pytest.mark.parametrize("arch", ARCHES)
def test_code_rewritten_by_the_guest_runs_as_rewritten(arch):
    # Self-modifying code on a writable, executable page: after the code ran (and was
    # translated), stores to data on the same page and then to the code itself must both be
    # seen, the second by dropping the old translation.
    g = Guest(arch)
    page = g.mmap(PAGE, RWX)
    g.store(page, code_word(arch))
    assert g.call_code(page) == 5
    for i in range(20):  # data next to the code, stored many times
        g.store(page + 2048, i)
    g.store(page, code_word(arch, 6))
    assert g.call_code(page) == 6
    g.store(page, code_word(arch, 7))
    assert g.call_code(page) == 7
    assert g.load(page + 2048) == 19


@pytest.mark.parametrize("arch", ARCHES)
def test_memory_given_back_by_brk_is_gone_and_comes_back_zeroed(arch):
    g = Guest(arch)
    start = g.call("brk", 0)
    top = g.call("brk", start + 4 * PAGE)
    assert top == start + 4 * PAGE
    last = (top - 8) & ~7
    g.store(last, 0xABCD)
    assert g.load(last) == 0xABCD
    assert g.call("brk", start) == start
    assert g.load(last) is None
    signal, what, address = g.fault()
    assert (signal, what, address) == ("SIGSEGV", "read of unmapped memory", last)
    g = Guest(arch)
    start = g.call("brk", 0)
    g.call("brk", start + 4 * PAGE)
    g.store(start + PAGE, 5)
    g.call("brk", start)
    g.call("brk", start + 4 * PAGE)
    assert g.load(start + PAGE) == 0


@pytest.mark.parametrize("arch", ARCHES)
def test_page_protections_are_exact_at_4k_boundaries(arch):
    # arm and aarch64 engines use 4 KiB pages like the guest (Unicorn's default is 1 KiB)
    g = Guest(arch)
    area = g.mmap(3 * PAGE, RW)
    for offset in range(0, 3 * PAGE, 1024):
        g.store(area + offset, offset + 1)
    g.call("mprotect", area + PAGE, PAGE, PROT_READ)
    assert g.store(area + PAGE - 8, 1) is Stop.REACHED
    assert g.store(area + 2 * PAGE, 2) is Stop.REACHED
    assert [g.load(area + PAGE + o) for o in (0, 1024, 3072)] == [PAGE + 1, PAGE + 1025, PAGE + 3073]
    assert g.store(area + 2 * PAGE - 8, 3) is Stop.EXITED
    assert g.fault() == ("SIGSEGV", "write to read-only memory", area + 2 * PAGE - 8)


# A sweep over many pages, several times: the TLB misses, refills and grows (see the
# engine's TLB growth) while every value still lands where it belongs.
SWEEP = {
    "x86_64": """
        mov eax, 9
        xor edi, edi
        mov esi, {size}
        mov edx, 3
        mov r10d, 0x22
        mov r8, -1
        xor r9d, r9d
        syscall
        mov rbx, rax
        mov r12, 3
    pass:
        mov rcx, rbx
        lea rdx, [rbx + {size}]
    fill:
        mov [rcx], rcx
        add rcx, {stride}
        cmp rcx, rdx
        jne fill
        dec r12
        jnz pass
        xor r13, r13
        mov rcx, rbx
    check:
        cmp [rcx], rcx
        jne bad
        add rcx, {stride}
        inc r13
        cmp rcx, rdx
        jne check
        mov eax, 60
        xor edi, edi
        syscall
    bad:
        mov eax, 60
        mov edi, 1
        syscall
    """,
    "aarch64": """
        mov x0, #0
        mov x1, #{size}
        mov x2, #3
        mov x3, #0x22
        mov x4, #-1
        mov x5, #0
        mov x8, #222
        svc #0
        mov x19, x0
        mov x20, #3
        mov x22, #{size}
        add x21, x19, x22
    pass:
        mov x9, x19
    fill:
        str x9, [x9]
        add x9, x9, #{stride}
        cmp x9, x21
        b.ne fill
        subs x20, x20, #1
        b.ne pass
        mov x9, x19
    check:
        ldr x10, [x9]
        cmp x10, x9
        b.ne bad
        add x9, x9, #{stride}
        cmp x9, x21
        b.ne check
        mov x8, #93
        mov x0, #0
        svc #0
    bad:
        mov x8, #93
        mov x0, #1
        svc #0
    """,
}


@pytest.mark.parametrize("arch", list(SWEEP))
def test_sweeps_over_more_pages_than_the_tlb_holds_keep_every_value(arch):
    r = Sandbox(arch).run_asm(SWEEP[arch].format(size=32 << 20, stride=2048))
    assert (r.exit_status, r.signal) == (0, None)
