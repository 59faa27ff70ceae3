"""i386: ``int 0x80``, number in eax, arguments in ebx ecx edx esi edi ebp, result in eax.

The 32-bit x86 ABI: ``int 0x80`` changes nothing but eax. A 64-bit argument (``loff_t``)
takes two consecutive registers, low half first, with no alignment. Calls with more than
six words of arguments (``mmap``, the ``socketcall`` family) take a pointer to them instead.
Thread-local storage is a segment: ``set_thread_area`` writes a descriptor into the global
descriptor table, and the program loads its selector into gs.
"""

from __future__ import annotations

import unicorn
from unicorn import x86_const as ux

from kernel_model.clock import TSC_HZ
from sandbox.arch.base import Arch, Counters, DescriptorTable, Trap, ascii_directive
from sandbox.arch.i386_frames import I386_FRAME, I386_SIGRETURN
from sandbox.arch.x86_64 import HLT, PORT_IO, X86_FAULTS

_GPRS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp")
_REGISTERS = {name: getattr(ux, f"UC_X86_REG_{name.upper()}") for name in _GPRS}
_REGISTERS.update(
    gdtr=ux.UC_X86_REG_GDTR,
    eip=ux.UC_X86_REG_EIP,
    eflags=ux.UC_X86_REG_EFLAGS,
    cs=ux.UC_X86_REG_CS,
    ss=ux.UC_X86_REG_SS,
    ds=ux.UC_X86_REG_DS,
    es=ux.UC_X86_REG_ES,
    fs=ux.UC_X86_REG_FS,
    gs=ux.UC_X86_REG_GS,
    # the x87 and SSE state, for signal frames
    fpcw=ux.UC_X86_REG_FPCW,
    fpsw=ux.UC_X86_REG_FPSW,
    fptag=ux.UC_X86_REG_FPTAG,
    fop=ux.UC_X86_REG_FOP,
    fip=ux.UC_X86_REG_FIP,
    fcs=ux.UC_X86_REG_FCS,
    fdp=ux.UC_X86_REG_FDP,
    fds=ux.UC_X86_REG_FDS,
    mxcsr=ux.UC_X86_REG_MXCSR,
)
_REGISTERS.update({f"fp{i}": getattr(ux, f"UC_X86_REG_FP{i}") for i in range(8)})
_REGISTERS.update({f"xmm{i}": getattr(ux, f"UC_X86_REG_XMM{i}") for i in range(8)})

# Linux's flat user segments: GDT entry 14 is __USER_CS (0x73), entry 15 __USER_DS (0x7b); base
# 0, limit 4 GiB, DPL 3. set_thread_area fills entries 6-8 (selectors 0x33, 0x3b, 0x43).
# Unicorn runs guest code at privilege level 0, where ss may only hold a level-0 segment, so ss
# is entry 13 (0x68: flat, 32-bit, DPL 0) where Linux has 0x7b. Loading any segment register
# recomputes the stack's width from ss's descriptor, so ss must have one that says 32-bit.
# The accessed bit is set in each, as in Linux's GDT: loading a selector whose descriptor lacks it
# makes the CPU write the bit into the table, which is read-only here (a fault at the next load).
_USER_CODE = bytes.fromhex("ffff000000fbcf00")
_USER_DATA = bytes.fromhex("ffff000000f3cf00")
_STACK_DATA = bytes.fromhex("ffff00000093cf00")

ARCH = Arch(
    name="i386",
    aliases=("x86", "i686", "i586", "ia32"),
    bits=32,
    big_endian=False,
    uc_arch=unicorn.UC_ARCH_X86,
    uc_mode=unicorn.UC_MODE_32,
    capstone_names=("CS_ARCH_X86", "CS_MODE_32"),
    keystone_names=("KS_ARCH_X86", "KS_MODE_32"),
    registers=_REGISTERS,
    pc="eip",
    sp="esp",
    number_reg="eax",
    arg_regs=("ebx", "ecx", "edx", "esi", "edi", "ebp"),
    ret_reg="eax",
    # The interrupt hook runs after `int 0x80`: the pc it sees is the next instruction's.
    trap=Trap(mnemonic="int 0x80", hook="intr", length=2, intno=0x80, pc_offset=-2),
    clobbers=(),
    flags_reg="eflags",
    elf_machine=3,  # EM_386
    syscall_table="i386",
    uname_machine="i686",
    faults=X86_FAULTS,
    comment_markers=("#", "//"),
    debugger_registers=_GPRS + ("eip", "eflags", "cs", "ss", "ds", "es", "fs", "gs"),
    # A 3 GiB/1 GiB split, as a 32-bit kernel gives a process.
    stack_top=0xBFFFF000,
    mmap_top=0xB7FFF000,
    task_size=0xC0000000,
    code_base=0x08048000,  # where i386 executables are traditionally linked
    pie_base=0x00400000,  # ELF_ET_DYN_BASE for ia32 processes
    platform="i686",
    hwcap=0x178BFBFF,  # CPUID.1:EDX, as the kernel reports it
    stub_immediate=lambda reg, value: f"mov {reg}, {value:#x}",
    stub_address=lambda reg, label: f"lea {reg}, [{label}]",
    stub_data=ascii_directive,
    stub_store=lambda reg, label: f"mov dword ptr [{label}], {reg}",
    stub_jump=lambda label: f"jmp {label}",
    stub_load=lambda reg, label: f"mov {reg}, dword ptr [{label}]",
    encoder="sandbox.arch.x86_encoder:I386Encoder",
    descriptor_table=DescriptorTable(
        address=0xFFFFF000, entries=32, flat=((13, _STACK_DATA), (14, _USER_CODE), (15, _USER_DATA)),
        selectors=(("ss", 0x68), ("cs", 0x73), ("ds", 0x7B), ("es", 0x7B)), segment_registers=("gs", "fs"),
    ),
    halt=HLT,
    counters=Counters("x86", TSC_HZ, ("eax", "edx", "ecx")),
    faulting_insns=PORT_IO,
    signal_frame=I386_FRAME,
    sigreturn_trampoline=I386_SIGRETURN,  # the vDSO's __kernel_sigreturn and __kernel_rt_sigreturn
)
