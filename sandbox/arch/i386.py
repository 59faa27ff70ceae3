"""i386: ``int 0x80``, number in eax, arguments in ebx ecx edx esi edi ebp, result in eax.

The 32-bit x86 ABI: ``int 0x80`` changes nothing but eax. A 64-bit argument (``loff_t``)
takes two consecutive registers, low half first, with no alignment. Calls with more than
six words of arguments (``mmap``, the ``socketcall`` family) take a pointer to them instead.
"""

from __future__ import annotations

import capstone
import unicorn
from unicorn import x86_const as ux

from sandbox.arch.base import Arch, Trap, ascii_directive, keystone_constant
from sandbox.arch.x86_64 import HLT, X86_FAULTS

_GPRS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp")
_REGISTERS = {name: getattr(ux, f"UC_X86_REG_{name.upper()}") for name in _GPRS}
_REGISTERS.update(
    eip=ux.UC_X86_REG_EIP,
    eflags=ux.UC_X86_REG_EFLAGS,
    cs=ux.UC_X86_REG_CS,
    ss=ux.UC_X86_REG_SS,
    ds=ux.UC_X86_REG_DS,
    es=ux.UC_X86_REG_ES,
    fs=ux.UC_X86_REG_FS,
    gs=ux.UC_X86_REG_GS,
)

ARCH = Arch(
    name="i386",
    aliases=("x86", "i686", "i586", "ia32"),
    bits=32,
    big_endian=False,
    uc_arch=unicorn.UC_ARCH_X86,
    uc_mode=unicorn.UC_MODE_32,
    cs_arch=capstone.CS_ARCH_X86,
    cs_mode=capstone.CS_MODE_32,
    ks_arch=keystone_constant("KS_ARCH_X86"),
    ks_mode=keystone_constant("KS_MODE_32"),
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
    halt=HLT,
)
