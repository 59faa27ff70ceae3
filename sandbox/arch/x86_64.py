"""x86_64: ``syscall``, number in rax, arguments in rdi rsi rdx r10 r8 r9, result in rax.

The ``syscall`` instruction itself overwrites rcx with the return address and r11 with rflags,
so the kernel never preserves them; Unicorn's hook does not, so the trap path writes them.
"""

from __future__ import annotations

import unicorn
from unicorn import x86_const as ux

from kernel_model.clock import TSC_HZ
from sandbox.arch.base import Arch, Clobber, Counters, Fault, InsnFault, Trap, ascii_directive
from sandbox.arch.signal_frames import X86_64_FRAME
from sandbox.arch.gdb import GdbFeature, GdbRegister, GdbTarget, registers_like

_GPRS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp") + tuple(f"r{i}" for i in range(8, 16))
_REGISTERS = {name: getattr(ux, f"UC_X86_REG_{name.upper()}") for name in _GPRS}
_REGISTERS.update(
    rip=ux.UC_X86_REG_RIP,
    eflags=ux.UC_X86_REG_EFLAGS,
    rflags=ux.UC_X86_REG_EFLAGS,
    cs=ux.UC_X86_REG_CS,
    ss=ux.UC_X86_REG_SS,
    ds=ux.UC_X86_REG_DS,
    es=ux.UC_X86_REG_ES,
    fs=ux.UC_X86_REG_FS,
    gs=ux.UC_X86_REG_GS,
    fs_base=ux.UC_X86_REG_FS_BASE,
    gs_base=ux.UC_X86_REG_GS_BASE,
    eax=ux.UC_X86_REG_EAX,
    ebx=ux.UC_X86_REG_EBX,
    ecx=ux.UC_X86_REG_ECX,
    edx=ux.UC_X86_REG_EDX,
    esi=ux.UC_X86_REG_ESI,
    edi=ux.UC_X86_REG_EDI,
    # x87 and SSE state, for signal frames
    fpcw=ux.UC_X86_REG_FPCW,
    fpsw=ux.UC_X86_REG_FPSW,
    fptag=ux.UC_X86_REG_FPTAG,
    fop=ux.UC_X86_REG_FOP,
    fip=ux.UC_X86_REG_FIP,
    fdp=ux.UC_X86_REG_FDP,
    mxcsr=ux.UC_X86_REG_MXCSR,
    # the x87 control registers under the names gdb gives them
    fctrl=ux.UC_X86_REG_FPCW,
    fstat=ux.UC_X86_REG_FPSW,
    ftag=ux.UC_X86_REG_FPTAG,
    fiseg=ux.UC_X86_REG_FCS,
    fioff=ux.UC_X86_REG_FIP,
    foseg=ux.UC_X86_REG_FDS,
    fooff=ux.UC_X86_REG_FDP,
)
_REGISTERS.update({f"st{i}": getattr(ux, f"UC_X86_REG_FP{i}") for i in range(8)})

# gdb's amd64 GNU/Linux target: the core and SSE registers, orig_rax (without which gdb will
# not "catch syscall"), and the segment bases.
_EFLAGS_TYPE = '<flags id="i386_eflags" size="4">' + "".join(
    f'<field name="{n}" start="{b}" end="{b}"/>'
    for n, b in (("CF", 0), ("", 1), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7), ("TF", 8), ("IF", 9),
                 ("DF", 10), ("OF", 11), ("NT", 14), ("RF", 16), ("VM", 17), ("AC", 18), ("VIF", 19),
                 ("VIP", 20), ("ID", 21))
) + "</flags>"
_SSE_TYPES = (
    '<vector id="v4f" type="ieee_single" count="4"/><vector id="v2d" type="ieee_double" count="2"/>'
    '<vector id="v16i8" type="int8" count="16"/><vector id="v8i16" type="int16" count="8"/>'
    '<vector id="v4i32" type="int32" count="4"/><vector id="v2i64" type="int64" count="2"/>'
    '<union id="vec128"><field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/>'
    '<field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/>'
    '<field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/>'
    '<field name="uint128" type="uint128"/></union>'
    '<flags id="i386_mxcsr" size="4">' + "".join(
        f'<field name="{n}" start="{b}" end="{b}"/>'
        for n, b in (("IE", 0), ("DE", 1), ("ZE", 2), ("OE", 3), ("UE", 4), ("PE", 5), ("DAZ", 6), ("IM", 7),
                     ("DM", 8), ("ZM", 9), ("OM", 10), ("UM", 11), ("PM", 12), ("FZ", 15))
    ) + "</flags>"
)
GDB_TARGET = GdbTarget(
    architecture="i386:x86-64",
    features=(
        GdbFeature(
            "org.gnu.gdb.i386.core",
            registers_like(["rax", "rbx", "rcx", "rdx", "rsi", "rdi"], 64, "int64")
            + registers_like(["rbp", "rsp"], 64, "data_ptr")
            + registers_like([f"r{i}" for i in range(8, 16)], 64, "int64")
            + (GdbRegister("rip", 64, "code_ptr", source="rip"), GdbRegister("eflags", 32, "i386_eflags", source="eflags"))
            + registers_like(["cs", "ss", "ds", "es", "fs", "gs"], 32, "int32")
            + registers_like([f"st{i}" for i in range(8)], 80, "i387_ext")
            + registers_like(["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"], 32, "int",
                             group="float"),
            types=_EFLAGS_TYPE,
        ),
        GdbFeature(
            "org.gnu.gdb.i386.sse",
            registers_like([f"xmm{i}" for i in range(16)], 128, "vec128")
            + (GdbRegister("mxcsr", 32, "i386_mxcsr", source="mxcsr", group="vector"),),
            types=_SSE_TYPES,
        ),
        GdbFeature("org.gnu.gdb.i386.linux", (GdbRegister("orig_rax", 64, "int", role="syscall"),)),
        GdbFeature("org.gnu.gdb.i386.segments", registers_like(["fs_base", "gs_base"], 64, "int")),
    ),
)
_REGISTERS.update({f"fp{i}": getattr(ux, f"UC_X86_REG_FP{i}") for i in range(8)})
_REGISTERS.update({f"xmm{i}": getattr(ux, f"UC_X86_REG_XMM{i}") for i in range(16)})

# CPU exceptions as Linux reports them, shared with i386.
X86_FAULTS = {
    0: Fault("SIGFPE", "integer division by zero"),
    1: Fault("SIGTRAP", "debug exception", code="TRAP_TRACE"),
    # do_int3_user and do_trap: a plain force_sig, so SI_KERNEL and no address; the saved rip
    # is after the trapping instruction
    3: Fault("SIGTRAP", "breakpoint (int3)", pc_offset=-1, code="SI_KERNEL", resume_offset=1),
    4: Fault("SIGSEGV", "overflow trap (into)", pc_offset=-1, code="SI_KERNEL", resume_offset=1),
    5: Fault("SIGSEGV", "bound range exceeded", code="SI_KERNEL"),
    6: Fault("SIGILL", "invalid opcode", code="ILL_ILLOPN"),
    13: Fault("SIGSEGV", "general protection fault", code="SI_KERNEL"),
    14: Fault("SIGSEGV", "page fault"),
    16: Fault("SIGFPE", "x87 floating-point exception", code="FPE_FLTINV"),
    17: Fault("SIGBUS", "alignment check", code="BUS_ADRALN"),
    19: Fault("SIGFPE", "SIMD floating-point exception", code="FPE_FLTINV"),
    # `int n` reaches only the gates Linux opens to user mode (3, 4, and 0x80 where it is the
    # system call gate); any other vector is a general protection fault. The hook sees the pc
    # after the 2-byte `int`.
    **{n: Fault("SIGSEGV", f"int {n:#x}: no user-mode interrupt gate (general protection fault)", pc_offset=-2,
                code="SI_KERNEL")
       for n in range(32, 256)},
}
# Port I/O needs IOPL 3, which Linux never gives a process (without iopl/ioperm): a general
# protection fault. Shared with i386.
PORT_IO = (
    InsnFault(ux.UC_X86_INS_IN, "in", Fault("SIGSEGV", "privileged instruction (port input)", code="SI_KERNEL")),
    InsnFault(ux.UC_X86_INS_OUT, "out", Fault("SIGSEGV", "privileged instruction (port output)", code="SI_KERNEL")),
)
HLT = (b"\xf4", Fault("SIGSEGV", "privileged instruction (hlt)", pc_offset=-1, code="SI_KERNEL"))

ARCH = Arch(
    name="x86_64",
    aliases=("amd64", "x64", "x86-64"),
    bits=64,
    big_endian=False,
    uc_arch=unicorn.UC_ARCH_X86,
    uc_mode=unicorn.UC_MODE_64,
    capstone_names=("CS_ARCH_X86", "CS_MODE_64"),
    keystone_names=("KS_ARCH_X86", "KS_MODE_64"),
    registers=_REGISTERS,
    pc="rip",
    sp="rsp",
    number_reg="rax",
    arg_regs=("rdi", "rsi", "rdx", "r10", "r8", "r9"),
    ret_reg="rax",
    trap=Trap(mnemonic="syscall", hook="insn", length=2, insn_id=ux.UC_X86_INS_SYSCALL),
    clobbers=(Clobber("rcx", "next_pc"), Clobber("r11", "eflags")),
    flags_reg="eflags",
    elf_machine=62,  # EM_X86_64
    syscall_table="x86_64",
    uname_machine="x86_64",
    faults={
        **X86_FAULTS,
        0x80: Fault("SIGSEGV", "int 0x80 (the i386 system call gate is not modelled for x86_64)", pc_offset=-2),
    },
    comment_markers=("#", "//"),
    debugger_registers=_GPRS + ("rip", "eflags", "cs", "ss", "ds", "es", "fs", "gs", "fs_base", "gs_base"),
    stack_top=0x7FFFFFFFF000,
    mmap_top=0x7FFFF7FFF000,
    task_size=0x7FFFFFFFF000,
    code_base=0x400000,
    pie_base=0x555555554000,
    thread_pointer="fs_base",
    platform="x86_64",
    hwcap=0x178BFBFF,  # CPUID.1:EDX of a typical x86_64 CPU, as the kernel reports it
    hwcap2=0x2,  # HWCAP2_FSGSBASE
    stub_immediate=lambda reg, value: f"mov {reg}, {value:#x}",
    stub_address=lambda reg, label: f"lea {reg}, [rip + {label}]",
    stub_data=ascii_directive,
    # sysenter is invalid in 64-bit mode (AMD), and SIGILL is what a 64-bit process gets for
    # it (as under qemu-user).
    faulting_insns=PORT_IO + (
        InsnFault(ux.UC_X86_INS_SYSENTER, "plain", Fault("SIGILL", "sysenter (no system call instruction in 64-bit mode)")),
    ),
    signal_frame=X86_64_FRAME,  # no sigreturn trampoline: x86_64 handlers need SA_RESTORER
    gdb=GDB_TARGET,
    stub_store=lambda reg, label: f"mov qword ptr [rip + {label}], {reg}",
    stub_jump=lambda label: f"jmp {label}",
    stub_load=lambda reg, label: f"mov {reg}, qword ptr [rip + {label}]",
    encoder="sandbox.arch.x86_encoder:X86_64Encoder",
    halt=HLT,
    counters=Counters("x86", TSC_HZ, ("rax", "rdx", "rcx")),
)
