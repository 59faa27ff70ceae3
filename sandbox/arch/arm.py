"""arm (32-bit EABI, little-endian): ``svc #0``, number in r7, arguments in r0-r5, result in r0.

EABI passes a 64-bit argument (``loff_t``) in an even/odd register pair, skipping a register
if needed: ``pread64(fd, buf, count, offset)`` uses r0, r1, r2 and then r4/r5, not r3/r4.
The thread pointer is the user read-only register TPIDRURO (``mrc p15, 0, rN, c13, c0, 3``),
set by the private call ``set_tls``. A program entered at an odd address runs Thumb code.
"""

from __future__ import annotations

import unicorn
from unicorn import arm_const as ua

from sandbox.arch.arm_frames import ARM_FRAME, ARM_SIGRETURN
from sandbox.arch.base import Arch, Fault, InstructionSetBit, Trap, ascii_directive

_GPRS = tuple(f"r{i}" for i in range(13)) + ("sp", "lr", "pc")
_REGISTERS = {f"r{i}": getattr(ua, f"UC_ARM_REG_R{i}") for i in range(13)}
_REGISTERS.update(
    r13=ua.UC_ARM_REG_SP, sp=ua.UC_ARM_REG_SP,
    r14=ua.UC_ARM_REG_LR, lr=ua.UC_ARM_REG_LR,
    r15=ua.UC_ARM_REG_PC, pc=ua.UC_ARM_REG_PC,
    sb=ua.UC_ARM_REG_R9, sl=ua.UC_ARM_REG_R10, fp=ua.UC_ARM_REG_R11, ip=ua.UC_ARM_REG_R12,
    cpsr=ua.UC_ARM_REG_CPSR,
    tpidruro=ua.UC_ARM_REG_C13_C0_3,
    fpexc=ua.UC_ARM_REG_FPEXC,
    cpacr=ua.UC_ARM_REG_C1_C0_2,
    # the VFP state, for signal frames
    fpscr=ua.UC_ARM_REG_FPSCR,
)
_REGISTERS.update({f"d{i}": getattr(ua, f"UC_ARM_REG_D{i}") for i in range(32)})
_USER_MODE = 0x10  # CPSR.M for user mode: Unicorn starts in supervisor mode

ARCH = Arch(
    name="arm",
    aliases=("armv7", "armv7l", "armhf", "armel", "arm32", "aarch32"),
    bits=32,
    big_endian=False,
    uc_arch=unicorn.UC_ARCH_ARM,
    uc_mode=unicorn.UC_MODE_ARM,
    uc_cpu=ua.UC_CPU_ARM_CORTEX_A15,
    capstone_names=("CS_ARCH_ARM", "CS_MODE_ARM"),
    keystone_names=("KS_ARCH_ARM", "KS_MODE_ARM"),
    registers=_REGISTERS,
    pc="pc",
    sp="sp",
    number_reg="r7",
    arg_regs=("r0", "r1", "r2", "r3", "r4", "r5"),
    ret_reg="r0",
    # The interrupt hook runs after `svc`: 4 bytes back in ARM state, 2 in Thumb state.
    trap=Trap(mnemonic="svc #0", hook="intr", length=4, intno=2, pc_offset=-4),
    thumb=InstructionSetBit(register="cpsr", mask=0x20, trap_length=2, capstone_mode="CS_MODE_THUMB"),
    clobbers=(),
    flags_reg="cpsr",
    elf_machine=40,  # EM_ARM
    elf_flags=0x05000000,  # EF_ARM_EABI_VER5: qemu-arm reads the syscall number from r7 only for EABI
    syscall_table="arm",
    uname_machine="armv7l",
    faults={
        1: Fault("SIGILL", "undefined instruction"),
        3: Fault("SIGSEGV", "prefetch abort"),
        4: Fault("SIGSEGV", "data abort"),
        7: Fault("SIGTRAP", "breakpoint (bkpt)"),
        11: Fault("SIGILL", "hypervisor call from user mode"),
        13: Fault("SIGILL", "secure monitor call from user mode"),
    },
    comment_markers=("@", "//"),
    debugger_registers=_GPRS + ("cpsr", "tpidruro"),
    # TASK_SIZE of a 3 GiB/1 GiB arm kernel is 0xbf000000 (16 MiB below for modules).
    stack_top=0xBEFFF000,
    mmap_top=0xB6FFF000,
    task_size=0xBF000000,
    code_base=0x400000,
    pie_base=0x7F555000,  # ELF_ET_DYN_BASE: two thirds of TASK_SIZE, page-aligned
    insn_align=4,
    thread_pointer="tpidruro",
    platform="v7l",
    # HALF THUMB FAST_MULT VFP EDSP NEON VFPv3 TLS VFPv4 IDIVA IDIVT VFPD32 LPAE: a Cortex-A15
    hwcap=0x1FB0D6,
    # Enable the FPU (CPACR cp10/cp11 full access, FPEXC.EN) as the kernel does, then drop to user mode.
    initial_registers=(("cpacr", 0xF00000), ("fpexc", 0x40000000), ("cpsr", _USER_MODE)),
    pair_aligned_args=True,
    stub_immediate=lambda reg, value: f"movw {reg}, #{value & 0xFFFF:#x}"
    + (f"; movt {reg}, #{value >> 16:#x}" if value >> 16 else ""),
    # A pc-relative add reaches only 1 KiB or so: load the address from a word after the code.
    stub_address=lambda reg, label: f"ldr {reg}, {label}_addr",
    stub_pointer=lambda label: f".word {label}",
    stub_data=ascii_directive,
    stub_store=lambda reg, label: f"ldr r8, {label}_addr; str {reg}, [r8]",
    stub_jump=lambda label: f"b {label}",
    stub_load=lambda reg, label: f"ldr r8, {label}_addr; ldr {reg}, [r8]",
    encoder="sandbox.arch.arm_encoder:ArmEncoder",
    align_is_log2=True,  # GAS on this arch reads `.align n` as 2**n bytes
    signal_frame=ARM_FRAME,
    sigreturn_trampoline=ARM_SIGRETURN,  # the signal page's sigreturn_codes
)
