"""riscv64: ``ecall``, number in a7, arguments in a0-a5, result in a0; nothing else clobbered.

Keystone has no RISC-V: riscv64 code is assembled by the project's own assembler
(:mod:`sandbox.arch.riscv_encoder`, RV64IM and GNU as's pseudo-instructions).
"""

from __future__ import annotations

import unicorn
from unicorn import riscv_const as ur

from kernel_model.clock import RISCV_TIMEBASE_HZ
from sandbox.arch.base import Arch, Counters, Fault, Trap, ascii_directive
from sandbox.arch.riscv_encoder import ABI_NAMES
from sandbox.arch.riscv_frames import RISCV_FRAME, RISCV_SIGRETURN

_REGISTERS = {name: getattr(ur, f"UC_RISCV_REG_X{i}") for i, name in enumerate(ABI_NAMES)}
_REGISTERS.update({f"x{i}": getattr(ur, f"UC_RISCV_REG_X{i}") for i in range(32)})
_REGISTERS.update(fp=ur.UC_RISCV_REG_X8, pc=ur.UC_RISCV_REG_PC, mstatus=ur.UC_RISCV_REG_MSTATUS, priv=ur.UC_RISCV_REG_PRIV)
# the FP state, for signal frames
_REGISTERS.update({f"f{i}": getattr(ur, f"UC_RISCV_REG_F{i}") for i in range(32)}, fcsr=ur.UC_RISCV_REG_FCSR)
_FS_INITIAL = 0x2000  # mstatus.FS: the FPU is usable, as Linux leaves it for a new process
_USER_MODE = 0  # Unicorn starts in machine mode, where privileged instructions would work

ARCH = Arch(
    name="riscv64",
    aliases=("riscv", "rv64", "rv64gc"),
    bits=64,
    big_endian=False,
    uc_arch=unicorn.UC_ARCH_RISCV,
    uc_mode=unicorn.UC_MODE_RISCV64,
    capstone_names=("CS_ARCH_RISCV", "CS_MODE_RISCV64|CS_MODE_RISCVC"),
    keystone_names=None,
    registers=_REGISTERS,
    pc="pc",
    sp="sp",
    number_reg="a7",
    arg_regs=("a0", "a1", "a2", "a3", "a4", "a5"),
    ret_reg="a0",
    # The interrupt hook runs after `ecall`: the pc it sees is the next instruction's.
    trap=Trap(mnemonic="ecall", hook="intr", length=4, intno=8, pc_offset=-4),
    clobbers=(),
    elf_machine=243,  # EM_RISCV
    syscall_table="riscv64",
    uname_machine="riscv64",
    # The interrupt hook sees the pc after the faulting instruction.
    faults={
        2: Fault("SIGILL", "illegal instruction", pc_offset=-4),
        3: Fault("SIGTRAP", "breakpoint (ebreak)", pc_offset=-4),
    },
    # Unicorn rejects ebreak (and c.ebreak) as invalid; Linux delivers SIGTRAP.
    invalid_instructions=(
        (b"\x73\x00\x10\x00", Fault("SIGTRAP", "breakpoint (ebreak)")),
        (b"\x02\x90", Fault("SIGTRAP", "breakpoint (c.ebreak)")),
    ),
    initial_registers=(("mstatus", _FS_INITIAL), ("priv", _USER_MODE)),
    comment_markers=("#",),
    debugger_registers=ABI_NAMES[1:] + ("pc",),
    # Sv39: a 256 GiB user address space.
    stack_top=0x3FFFFFF000,
    mmap_top=0x3FF7FFF000,
    task_size=0x4000000000,
    code_base=0x400000,
    pie_base=0x2AAAAAA000,  # ELF_ET_DYN_BASE: two thirds of TASK_SIZE
    insn_align=4,
    thread_pointer="tp",
    hwcap=0x112D,  # the letters I M A F D C
    stub_immediate=lambda reg, value: f"li {reg}, {value:#x}",
    stub_address=lambda reg, label: f"la {reg}, {label}",
    stub_data=ascii_directive,
    stub_store=lambda reg, label: f"la t0, {label}; sd {reg}, 0(t0)",
    stub_jump=lambda label: f"j {label}",
    stub_load=lambda reg, label: f"la t0, {label}; ld {reg}, 0(t0)",
    encoder="sandbox.arch.riscv_encoder:RiscvEncoder",
    align_is_log2=True,  # GAS on this arch reads `.align n` as 2**n bytes
    signal_frame=RISCV_FRAME,
    sigreturn_trampoline=RISCV_SIGRETURN,  # the vDSO's __vdso_rt_sigreturn
    # Linux's scounteren lets user code read only the time CSR (rdtime); cycle and instret
    # are SIGILL unless perf events allow them.
    counters=Counters("csr", RISCV_TIMEBASE_HZ),
)
