"""aarch64: ``svc #0``, number in x8, arguments in x0-x5, result in x0; nothing else clobbered."""

from __future__ import annotations

import unicorn
from unicorn import arm64_const as ua

from kernel_model.clock import CNTFRQ_HZ
from sandbox.arch.base import Arch, Counters, Fault, Trap, ascii_directive
from sandbox.arch.signal_frames import AARCH64_FRAME, AARCH64_SIGRETURN
from sandbox.arch.gdb import GdbFeature, GdbRegister, GdbTarget, registers_like

_REGISTERS = {f"x{i}": getattr(ua, f"UC_ARM64_REG_X{i}") for i in range(31)}
_REGISTERS.update(
    {f"w{i}": getattr(ua, f"UC_ARM64_REG_W{i}") for i in range(31)},
    fp=ua.UC_ARM64_REG_X29,
    lr=ua.UC_ARM64_REG_X30,
    sp=ua.UC_ARM64_REG_SP,
    pc=ua.UC_ARM64_REG_PC,
    nzcv=ua.UC_ARM64_REG_NZCV,
    pstate=ua.UC_ARM64_REG_PSTATE,
    tpidr_el0=ua.UC_ARM64_REG_TPIDR_EL0,
    fpcr=ua.UC_ARM64_REG_FPCR,
    fpsr=ua.UC_ARM64_REG_FPSR,
    cpsr=ua.UC_ARM64_REG_NZCV,  # what a user-mode process sees of PSTATE: the flags, at EL0
    tpidr=ua.UC_ARM64_REG_TPIDR_EL0,
)
_REGISTERS.update({f"v{i}": getattr(ua, f"UC_ARM64_REG_Q{i}") for i in range(32)})

# gdb's aarch64 GNU/Linux target: the core registers, the FP/SIMD registers, and TPIDR_EL0.
_FPU_TYPES = (
    '<vector id="v2d" type="ieee_double" count="2"/><vector id="v2u" type="uint64" count="2"/>'
    '<vector id="v2i" type="int64" count="2"/><vector id="v4f" type="ieee_single" count="4"/>'
    '<vector id="v4u" type="uint32" count="4"/><vector id="v4i" type="int32" count="4"/>'
    '<vector id="v8u" type="uint16" count="8"/><vector id="v8i" type="int16" count="8"/>'
    '<vector id="v16u" type="uint8" count="16"/><vector id="v16i" type="int8" count="16"/>'
    '<union id="vnd"><field name="f" type="v2d"/><field name="u" type="v2u"/><field name="s" type="v2i"/></union>'
    '<union id="vns"><field name="f" type="v4f"/><field name="u" type="v4u"/><field name="s" type="v4i"/></union>'
    '<union id="vnh"><field name="u" type="v8u"/><field name="s" type="v8i"/></union>'
    '<union id="vnb"><field name="u" type="v16u"/><field name="s" type="v16i"/></union>'
    '<union id="vnq"><field name="u" type="uint128"/><field name="s" type="int128"/></union>'
    '<union id="aarch64v"><field name="d" type="vnd"/><field name="s" type="vns"/><field name="h" type="vnh"/>'
    '<field name="b" type="vnb"/><field name="q" type="vnq"/></union>'
)
GDB_TARGET = GdbTarget(
    architecture="aarch64",
    features=(
        GdbFeature(
            "org.gnu.gdb.aarch64.core",
            registers_like([f"x{i}" for i in range(31)], 64, "int")
            + (GdbRegister("sp", 64, "data_ptr", source="sp"), GdbRegister("pc", 64, "code_ptr", source="pc"),
               GdbRegister("cpsr", 32, "int", source="cpsr")),
        ),
        GdbFeature(
            "org.gnu.gdb.aarch64.fpu",
            registers_like([f"v{i}" for i in range(32)], 128, "aarch64v")
            + registers_like(["fpsr", "fpcr"], 32, "int"),
            types=_FPU_TYPES,
        ),
        GdbFeature("org.gnu.gdb.aarch64.tls", (GdbRegister("tpidr", 64, "data_ptr", source="tpidr"),)),
    ),
)
_REGISTERS.update({f"q{i}": getattr(ua, f"UC_ARM64_REG_Q{i}") for i in range(32)})


def _immediate(reg: str, value: int) -> str:
    # movz/movk, one 16-bit piece at a time: any 64-bit value, no literal pool needed.
    value &= (1 << 64) - 1
    parts = [f"movz {reg}, #{value & 0xFFFF:#x}"]
    for shift in (16, 32, 48):
        piece = (value >> shift) & 0xFFFF
        if piece:
            parts.append(f"movk {reg}, #{piece:#x}, lsl #{shift}")
    return "; ".join(parts)


ARCH = Arch(
    name="aarch64",
    aliases=("arm64", "armv8"),
    bits=64,
    big_endian=False,
    uc_arch=unicorn.UC_ARCH_ARM64,
    uc_mode=unicorn.UC_MODE_ARM,
    capstone_names=("CS_ARCH_ARM64", "CS_MODE_ARM"),
    keystone_names=("KS_ARCH_ARM64", "KS_MODE_LITTLE_ENDIAN"),
    registers=_REGISTERS,
    pc="pc",
    sp="sp",
    number_reg="x8",
    arg_regs=("x0", "x1", "x2", "x3", "x4", "x5"),
    ret_reg="x0",
    trap=Trap(mnemonic="svc #0", hook="intr", length=4, intno=2, pc_offset=-4),
    clobbers=(),
    elf_machine=183,  # EM_AARCH64
    syscall_table="arm64",
    uname_machine="aarch64",
    faults={
        1: Fault("SIGILL", "undefined instruction"),
        3: Fault("SIGSEGV", "instruction abort"),
        # Unicorn reports unmapped and protected memory itself; what is left as a data abort
        # is the alignment fault of a misaligned exclusive or atomic access: SIGBUS on Linux.
        4: Fault("SIGBUS", "misaligned exclusive or atomic access (alignment fault)"),
        7: Fault("SIGTRAP", "breakpoint (brk)"),
        11: Fault("SIGILL", "hypervisor call from user mode"),
        13: Fault("SIGILL", "secure monitor call from user mode", pc_offset=-4),
    },
    comment_markers=("//",),
    debugger_registers=tuple(f"x{i}" for i in range(29)) + ("fp", "lr", "sp", "pc", "nzcv", "tpidr_el0"),
    stack_top=0xFFFFFFFFF000,
    mmap_top=0xFFFFF7FFF000,
    task_size=0x1000000000000,
    code_base=0x400000,
    pie_base=0xAAAAAAAAA000,
    insn_align=4,
    thread_pointer="tpidr_el0",
    platform="aarch64",
    hwcap=0xFF,  # FP ASIMD EVTSTRM AES PMULL SHA1 SHA2 CRC32
    stub_immediate=_immediate,
    stub_address=lambda reg, label: f"adr {reg}, {label}",
    stub_data=ascii_directive,
    signal_frame=AARCH64_FRAME,
    sigreturn_trampoline=AARCH64_SIGRETURN,  # what the vDSO provides when SA_RESTORER is not set
    gdb=GDB_TARGET,
    # x9 is a temporary the kernel's svc path neither reads nor changes
    stub_store=lambda reg, label: f"adr x9, {label}; str {reg}, [x9]",
    stub_jump=lambda label: f"b {label}",
    stub_load=lambda reg, label: f"adr x9, {label}; ldr {reg}, [x9]",
    encoder="sandbox.arch.arm_encoder:AArch64Encoder",
    # Linux sets SCTLR_EL1.nTWI and nTWE: wfi and wfe run in user mode as hints; Unicorn stops at wfi.
    hints=(bytes.fromhex("7f2003d5"),),  # wfi
    align_is_log2=True,
    # Linux lets EL0 read the virtual counter and its frequency (CNTKCTL_EL1.EL0VCTEN); the
    # physical counter and the timers trap, and it answers SIGILL.
    counters=Counters("sysreg", CNTFRQ_HZ),
)
