"""A native trampoline for the trap hook, so that a system call crosses from C into Python once.

Serving a call needs the number and arguments from the guest's registers and the result
written back. Done from Python, that is three crossings per call: Unicorn calling the Python
hook, and the hook calling ``uc_reg_read_batch`` and ``uc_reg_write_batch`` through ctypes,
each of which costs more than the call's whole modelled work. The trampoline is the hook
instead: a few dozen bytes of host machine code that read the registers into the engine's
buffers, call the Python callback once, and write the result registers back when the
callback returns non-zero. Everything it needs is in a :class:`TrapBlock`, its user data.

The same page holds a native answer to Unicorn's TLB fills (see ``Machine._install_tlb_fill``):
``fill(uc, vaddr, access, entry, block)`` looks the page's protection up in the byte-per-page
table of :class:`sandbox.memory.PageTable` and writes the entry, at C speed: a sweep over new
memory fills one entry per page, and a Python hook doing it cost 0.3 us a page. Every few
hundred fills it calls ``block.grow`` (Python), which lets the TLB grow.

It exists for the hosts whose calling convention is written here (x86_64 and aarch64, System
V and AAPCS64: Linux and the BSDs). Anywhere else, or when the host will not make memory
executable, :func:`entry_points` returns None and the engine makes the same calls from
Python. The code is checked by calling it once, with Python callbacks standing in for
Unicorn's functions, before any engine uses it.

The machine code, with the listing it was assembled from (``block`` is the TrapBlock):

x86_64, System V: ``intr(uc, intno, block)`` and ``insn(uc, block)``::

    intr:  endbr64                      f30f1efa
           mov [rdx+80], esi            897250      block.intno = intno
           mov rsi, rdx                 4889d6      then as insn(uc, block)
    insn:  endbr64                      f30f1efa
           push rbx                     53          (keeps the stack 16-byte aligned)
           push r12                     4154
           sub rsp, 8                   4883ec08
           mov rbx, rsi                 4889f3      rbx = block
           mov r12, rdi                 4989fc      r12 = uc
           mov rsi, [rbx+8]             488b7308    read(uc, read_ids, read_ptrs, read_count)
           mov rdx, [rbx+16]            488b5310
           mov ecx, [rbx+24]            8b4b18
           call [rbx]                   ff13
           mov rdi, r12                 4c89e7      callback(uc, intno)
           mov esi, [rbx+80]            8b7350
           call [rbx+32]                ff5320
           test eax, eax                85c0
           jz done                      7411
           mov rdi, r12                 4c89e7      write(uc, write_ids, write_ptrs, write_count)
           mov rsi, [rbx+56]            488b7338
           mov rdx, [rbx+64]            488b5340
           mov ecx, [rbx+72]            8b4b48
           call [rbx+48]                ff5330
    done:  add rsp, 8                   4883c408
           pop r12                      415c
           pop rbx                      5b
           ret                          c3

and ``fill(uc, vaddr, access, entry, block)`` (a :class:`FillBlock`)::

           endbr64                            f30f1efa
           mov rax, rsi                       4889f0      chunk = vaddr >> 30
           shr rax, 30                        48c1e81e
           cmp rax, [r8+8]                    493b4008    beyond the table: unmapped
           jae unmapped                       731f
           mov r9, [r8]                       4d8b08
           mov r9, [r9+rax*8]                 4d8b0cc1    the chunk's bytes, or NULL
           test r9, r9                        4d85c9
           je unmapped                        7413
           mov rax, rsi                       4889f0      page within the chunk
           shr rax, 12                        48c1e80c
           and eax, 0x3ffff                   25ffff0300
           movzx eax, byte [r9+rax]           410fb60401  its protection
           jmp have                           eb02
    unmapped: xor eax, eax                    31c0
    have:  lea r10d, [rdx-16]                 448d52f0    access - UC_MEM_READ: 0, 1, 2
           mov r11d, r10d                     4589d3      -> the permission it needs: 1, 2, 4
           shr r11d, 1                        41d1eb
           lea r10d, [r10+r11+1]              478d541a01
           or eax, r10d                       4409d0
           mov [rcx], rsi                     488931      entry->paddr = vaddr
           mov [rcx+8], eax                   894108      entry->perms
           mov rax, [r8+16]                   498b4010    block.fills += 1
           add rax, 1                         4883c001
           mov [r8+16], rax                   49894010
           cmp rax, [r8+24]                   493b4018    time to let the TLB grow?
           jae grow                           7306
           mov eax, 1                         b801000000  true: the entry is filled
           ret                                c3
    grow:  sub rsp, 8                         4883ec08
           call [r8+32]                       41ff5020    block.grow(uc)
           add rsp, 8                         4883c408
           mov eax, 1                         b801000000
           ret                                c3

aarch64, AAPCS64: the same two entry points::

    intr:  str w1, [x2, #80]            415000b9
           mov x1, x2                   e10302aa
    insn:  stp x29, x30, [sp, #-32]!    fd7bbea9
           mov x29, sp                  fd030091
           stp x19, x20, [sp, #16]      f35301a9
           mov x19, x0                  f30300aa    x19 = uc
           mov x20, x1                  f40301aa    x20 = block
           ldr x1, [x20, #8]            810640f9    read(uc, ...)
           ldr x2, [x20, #16]           820a40f9
           ldr w3, [x20, #24]           831a40b9
           ldr x9, [x20]                890240f9
           blr x9                       20013fd6
           mov x0, x19                  e00313aa    callback(uc, intno)
           ldr w1, [x20, #80]           815240b9
           ldr x9, [x20, #32]           891240f9
           blr x9                       20013fd6
           cbz w0, done                 e0000034
           mov x0, x19                  e00313aa    write(uc, ...)
           ldr x1, [x20, #56]           811e40f9
           ldr x2, [x20, #64]           822240f9
           ldr w3, [x20, #72]           834a40b9
           ldr x9, [x20, #48]           891a40f9
           blr x9                       20013fd6
    done:  ldp x19, x20, [sp, #16]      f35341a9
           ldp x29, x30, [sp], #32      fd7bc2a8
           ret                          c0035fd6

and the fill, as the x86_64 one::

           lsr x9, x1, #30              29fc5ed3
           ldr x10, [x4, #8]            8a0440f9
           cmp x9, x10                  3f010aeb
           b.hs unmapped                e2000054
           ldr x10, [x4]                8a0040f9
           ldr x10, [x10, x9, lsl #3]   4a7969f8
           cbz x10, unmapped            8a0000b4
           ubfx x9, x1, #12, #18        29744cd3
           ldrb w9, [x10, x9]           49696938
           b have                       02000014
    unmapped: mov w9, #0                09008052
    have:  sub w10, w2, #16             4a400051
           lsr w11, w10, #1             4b7d0153
           add w10, w10, w11            4a010b0b
           add w10, w10, #1             4a050011
           orr w9, w9, w10              29010a2a
           str x1, [x3]                 610000f9
           str w9, [x3, #8]             690800b9
           ldr x10, [x4, #16]           8a0840f9
           add x10, x10, #1             4a050091
           str x10, [x4, #16]           8a0800f9
           ldr x11, [x4, #24]           8b0c40f9
           cmp x10, x11                 5f010beb
           b.hs grow                    62000054
           mov w0, #1                   20008052
           ret                          c0035fd6
    grow:  stp x29, x30, [sp, #-16]!    fd7bbfa9
           mov x29, sp                  fd030091
           ldr x9, [x4, #32]            891040f9
           blr x9                       20013fd6
           ldp x29, x30, [sp], #16      fd7bc1a8
           mov w0, #1                   20008052
           ret                          c0035fd6

A third piece answers aarch64 guests' ``mrs`` hook (Unicorn calls it for every read of a
system register, ``mrs x0, tpidr_el0`` included, which C code does on every TLS access):
``sysreg(uc, reg, cp_reg, block)`` (a :class:`SysregBlock`) passes only the generic timer's
registers (op0 3, op1 3, CRn 14: cntvct_el0, cntfrq_el0, ...) on to ``block.callback`` with
the same arguments, a tail call, and answers 0 (let the instruction run) for any other, so
that Python runs only for the counters (see ``Machine._install_counters``). x86_64::

           endbr64                      f30f1efa
           cmp dword [rdx+8], 3         837a0803    cp_reg->op0
           jne other                    750d
           cmp dword [rdx+12], 3        837a0c03    cp_reg->op1
           jne other                    7507
           cmp dword [rdx], 14          833a0e      cp_reg->crn
           jne other                    7502
           jmp [rcx]                    ff21        block.callback(uc, reg, cp_reg, block)
    other: xor eax, eax                 31c0
           ret                          c3

aarch64 (x16: an indirect branch that may land on a ``bti c``)::

           ldr w9, [x2, #8]             490840b9
           cmp w9, #3                   3f0d0071
           b.ne other                   21010054
           ldr w9, [x2, #12]            490c40b9
           cmp w9, #3                   3f0d0071
           b.ne other                   c1000054
           ldr w9, [x2]                 490040b9
           cmp w9, #14                  3f390071
           b.ne other                   61000054
           ldr x16, [x3]                700040f9
           br x16                       00021fd6
    other: mov w0, #0                   00008052
           ret                          c0035fd6
"""

from __future__ import annotations

import ctypes
import mmap
import platform
import sys

# (machine code, offset of the insn entry) per host machine, as listed above
CODE: dict[str, tuple[bytes, int]] = {
    "x86_64": (bytes.fromhex(
        "f30f1efa8972504889d6f30f1efa53415448" "83ec084889f34989fc488b7308488b53108b"
        "4b18ff134c89e78b7350ff532085c074114c" "89e7488b7338488b53408b4b48ff53304883"
        "c408415c5bc3"
    ), 10),
    "aarch64": (bytes.fromhex(
        "415000b9e10302aafd7bbea9fd030091f353" "01a9f30300aaf40301aa810640f9820a40f9"
        "831a40b9890240f920013fd6e00313aa8152" "40b9891240f920013fd6e0000034e00313aa"
        "811e40f9822240f9834a40b9891a40f92001" "3fd6f35341a9fd7bc2a8c0035fd6"
    ), 8),
}
# The TLB fill per host machine (see above), placed at FILL_OFFSET in the same page.
FILL: dict[str, bytes] = {
    "x86_64": bytes.fromhex(
        "f30f1efa4889f048c1e81e493b4008731f4d8b084d8b0cc14d85c974134889f048c1e80c25ffff0300410fb60401eb0231c0"
        "448d52f04589d341d1eb478d541a014409d0488931894108498b40104883c00149894010493b40187306b801000000c34883"
        "ec0841ff50204883c408b801000000c3"
    ),
    "aarch64": bytes.fromhex(
        "29fc5ed38a0440f93f010aebe20000548a0040f94a7969f88a0000b429744cd34969693802000014090080524a4000514b7d"
        "01534a010b0b4a05001129010a2a610000f9690800b98a0840f94a0500918a0800f98b0c40f95f010beb6200005420008052"
        "c0035fd6fd7bbfa9fd030091891040f920013fd6fd7bc1a820008052c0035fd6"
    ),
}
FILL_OFFSET = 256
# The system-register filter per host machine (see above), placed at SYSREG_OFFSET.
SYSREG: dict[str, bytes] = {
    "x86_64": bytes.fromhex("f30f1efa837a0803750d837a0c037507833a0e7502ff2131c0c3"),
    "aarch64": bytes.fromhex(
        "490840b93f0d007121010054490c40b93f0d0071c1000054490040b93f39007161000054700040f900021fd600008052c0035fd6"
    ),
}
SYSREG_OFFSET = 448
_HOST_NAMES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}

# The C types of the three functions the trampoline calls, and of its entry points.
REG_BATCH = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
INSN_ENTRY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
INTR_ENTRY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
FILL_ENTRY = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int, ctypes.c_void_p,
                              ctypes.c_void_p)
GROW = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
# Unicorn's uc_cb_insn_sys_t: (uc, register, cp_reg, user data) -> skip the instruction?
SYSREG_ENTRY = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


class CpReg(ctypes.Structure):
    """Unicorn's uc_arm64_cp_reg: a system register's encoding and value."""

    _fields_ = [("crn", ctypes.c_uint32), ("crm", ctypes.c_uint32), ("op0", ctypes.c_uint32),
                ("op1", ctypes.c_uint32), ("op2", ctypes.c_uint32), ("val", ctypes.c_uint64)]


class SysregBlock(ctypes.Structure):
    """What the system-register filter reads: the callback it passes the timer's registers to."""

    _fields_ = [("callback", ctypes.c_void_p)]  # 0: SYSREG_ENTRY


class TrapBlock(ctypes.Structure):
    """What the trampoline reads: the functions it calls and their arguments (offsets fixed
    by the machine code above, one 8-byte word each)."""

    _fields_ = [
        ("read", ctypes.c_void_p),  # 0: uc_reg_read_batch
        ("read_ids", ctypes.c_void_p),  # 8
        ("read_ptrs", ctypes.c_void_p),  # 16
        ("read_count", ctypes.c_int64),  # 24
        ("callback", ctypes.c_void_p),  # 32: the Python callback, (uc, intno) -> write?
        ("unused", ctypes.c_int64),  # 40
        ("write", ctypes.c_void_p),  # 48: uc_reg_write_batch
        ("write_ids", ctypes.c_void_p),  # 56
        ("write_ptrs", ctypes.c_void_p),  # 64
        ("write_count", ctypes.c_int64),  # 72
        ("intno", ctypes.c_int64),  # 80: written by the intr entry
    ]


class FillBlock(ctypes.Structure):
    """What the TLB fill reads and counts (offsets fixed by its machine code)."""

    _fields_ = [
        ("table", ctypes.c_void_p),  # 0: a PageTable's top level: one pointer per 1 GiB chunk
        ("chunks", ctypes.c_uint64),  # 8: how many
        ("fills", ctypes.c_uint64),  # 16: fills since grow was last called
        ("threshold", ctypes.c_uint64),  # 24: the count at which grow is called
        ("grow", ctypes.c_void_p),  # 32: GROW, called with the engine
    ]


class EntryPoints:
    """The trampoline's entry points and the TLB fill, as addresses (and the memory that holds them)."""

    def __init__(self, memory: mmap.mmap, base: int, insn_offset: int) -> None:
        self._memory = memory  # kept mapped for the life of the process
        self.intr = base
        self.insn = base + insn_offset
        self.fill = base + FILL_OFFSET
        self.sysreg = base + SYSREG_OFFSET


_entries: list[EntryPoints | None] = []


def entry_points() -> EntryPoints | None:
    """The trampoline for this host, made and checked once per process; None when there is none."""
    if not _entries:
        _entries.append(_make())
    return _entries[0]


def _make() -> EntryPoints | None:
    host = _HOST_NAMES.get(platform.machine().lower())
    if host is None or host not in CODE or sys.platform.startswith(("win", "cygwin", "darwin")):
        return None
    code, insn_offset = CODE[host]
    try:
        memory = mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                           prot=mmap.PROT_READ | mmap.PROT_WRITE)
        memory.write(code)
        memory.seek(FILL_OFFSET)
        memory.write(FILL[host])
        memory.seek(SYSREG_OFFSET)
        memory.write(SYSREG[host])
        base = ctypes.addressof(ctypes.c_char.from_buffer(memory))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        if libc.mprotect(base, mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
            return None  # the host will not execute memory it was given (W^X policies)
    except (OSError, ValueError, AttributeError):
        return None
    entries = EntryPoints(memory, base, insn_offset)
    return entries if _works(entries) and _fills(entries) and _filters(entries) else None


def _works(entries: EntryPoints) -> bool:
    """Call both entry points with Python stand-ins for Unicorn and see that each step happened."""
    seen: list[tuple] = []
    uc = 0x1234

    def read(h: int, ids: int, ptrs: int, count: int) -> int:
        seen.append(("read", h, ids, ptrs, count))
        return 0

    def callback(h: int, intno: int) -> int:
        seen.append(("callback", h, intno))
        return intno != 3  # write after the first call below, not after the second

    def write(h: int, ids: int, ptrs: int, count: int) -> int:
        seen.append(("write", h, ids, ptrs, count))
        return 0

    functions = [REG_BATCH(read), CALLBACK(callback), REG_BATCH(write)]
    block = TrapBlock(
        read=ctypes.cast(functions[0], ctypes.c_void_p).value, read_ids=0x10, read_ptrs=0x20, read_count=9,
        callback=ctypes.cast(functions[1], ctypes.c_void_p).value,
        write=ctypes.cast(functions[2], ctypes.c_void_p).value, write_ids=0x30, write_ptrs=0x40, write_count=3,
    )
    INSN_ENTRY(entries.insn)(uc, ctypes.addressof(block))
    INTR_ENTRY(entries.intr)(uc, 3, ctypes.addressof(block))
    return seen == [
        ("read", uc, 0x10, 0x20, 9), ("callback", uc, 0), ("write", uc, 0x30, 0x40, 3),
        ("read", uc, 0x10, 0x20, 9), ("callback", uc, 3),
    ]


def _fills(entries: EntryPoints) -> bool:
    """Fill three pages through the native fill, with a table holding one of them."""
    chunk = (ctypes.c_uint8 * (1 << 18))()
    chunk[5] = 3  # page 5 of the chunk at 1 GiB: read-write
    top = (ctypes.c_void_p * 2)(None, ctypes.addressof(chunk))
    grown: list[int] = []
    grow = GROW(lambda uc: grown.append(uc))
    block = FillBlock(table=ctypes.addressof(top), chunks=2, fills=0, threshold=3,
                      grow=ctypes.cast(grow, ctypes.c_void_p).value)
    entry = (ctypes.c_uint64 * 2)()
    fill = FILL_ENTRY(entries.fill)
    seen = []
    for vaddr, access in (((1 << 30) + 5 * 4096, 16), ((1 << 30) + 6 * 4096, 18), (5 << 30, 17)):
        ok = fill(0x1234, vaddr, access, ctypes.addressof(entry), ctypes.addressof(block))
        seen.append((ok, entry[0], entry[1] & 0xFFFFFFFF))
    return seen == [
        (True, (1 << 30) + 5 * 4096, 3), (True, (1 << 30) + 6 * 4096, 4), (True, 5 << 30, 2),
    ] and grown == [0x1234] and block.fills == 3


def _filters(entries: EntryPoints) -> bool:
    """Ask the system-register filter about a timer register and two others."""
    seen: list[tuple] = []

    def callback(uc: int, reg: int, cp: int, block: int) -> int:
        r = CpReg.from_address(cp)
        seen.append((uc, reg, r.crn, r.op2, block))
        return 7

    function = SYSREG_ENTRY(callback)
    block = SysregBlock(callback=ctypes.cast(function, ctypes.c_void_p).value)
    sysreg = SYSREG_ENTRY(entries.sysreg)
    # cntvct_el0, tpidr_el0, an EL1 register
    regs = [(reg, CpReg(crn=crn, crm=0, op0=3, op1=op1, op2=2)) for reg, crn, op1 in ((5, 14, 3), (6, 13, 3), (7, 14, 0))]
    answers = [sysreg(0x1234, reg, ctypes.addressof(cp), ctypes.addressof(block)) for reg, cp in regs]
    return answers == [7, 0, 0] and seen == [(0x1234, 5, 14, 2, ctypes.addressof(block))]
