"""The shape of an arch description. Each arch is one frozen instance in its own module."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Mapping

from sandbox.arch.gdb import GdbTarget


@lru_cache(maxsize=None)
def keystone_constant(name: str) -> int | None:
    """A Keystone constant by name, or None when Keystone is not installed.

    Keystone is optional (it has no wheels for some hosts, e.g. aarch64 Linux and Apple
    Silicon); without it, code is assembled by the project's own stub assembler. It is
    imported only when a constant is asked for: a run that assembles nothing never loads it.
    """
    try:
        import keystone
    except ImportError:
        return None
    return getattr(keystone, name)


@lru_cache(maxsize=None)
def capstone_constant(names: str) -> int:
    """A Capstone constant by name, or several joined by ``|`` (imported only to disassemble)."""
    import capstone

    value = 0
    for name in names.split("|"):
        value |= getattr(capstone, name)
    return value


@dataclass(frozen=True)
class Trap:
    """How the syscall instruction is caught.

    ``hook`` is ``"insn"`` (a Unicorn instruction hook on ``insn_id``, x86_64's ``syscall``) or
    ``"intr"`` (the interrupt hook, with the trap's interrupt number ``intno``).
    ``pc_offset`` is added to the pc read inside the hook to get the trap instruction's own
    address (aarch64's hook sees the pc after ``svc``).
    """

    mnemonic: str  # "syscall", "svc #0"
    hook: str
    length: int  # bytes of the trap instruction
    insn_id: int = 0
    intno: int = 0
    pc_offset: int = 0


@dataclass(frozen=True)
class Clobber:
    """A register the trap overwrites besides the return register, and with what.

    ``source`` is ``"next_pc"`` (the address after the trap) or the name of a register whose
    value it receives (x86_64: ``r11`` gets ``rflags``).
    """

    register: str
    source: str


@dataclass(frozen=True)
class Fault:
    """What a CPU exception (by Unicorn interrupt number) means to a Linux process."""

    signal: str  # "SIGTRAP", "SIGILL", ...
    what: str  # a few words for the report: "breakpoint", "division by zero"
    pc_offset: int = 0  # added to the pc the hook sees to get the faulting instruction's address
    # The si_code Linux gives it, by name ("SI_KERNEL"); empty: the usual one for the signal
    # (see sandbox.faults).
    code: str = ""
    # A trap rather than a fault: the pc a handler's context saves is this many bytes past the
    # instruction (x86 int3 and into), where the guest goes on when the handler returns.
    resume_offset: int = 0


@dataclass(frozen=True)
class InstructionSetBit:
    """A second instruction set selected by a status bit (arm's Thumb: CPSR.T).

    The pc a CPU reports has bit 0 clear; execution must resume at ``pc | 1`` when the bit is
    set, a trap instruction there is ``trap_length`` bytes long, and Capstone needs the mode
    named ``capstone_mode``.
    """

    register: str
    mask: int
    trap_length: int
    capstone_mode: str

    @property
    def cs_mode(self) -> int:
        """Capstone's mode for this instruction set."""
        return capstone_constant(self.capstone_mode)


@dataclass(frozen=True)
class DescriptorTable:
    """An x86 global descriptor table the kernel keeps for a process (i386's TLS segments).

    It sits at ``address`` (kernel memory, above the process's address space) with
    ``entries`` 8-byte descriptors; ``flat`` are entries filled at start (Linux's user code
    and data segments), ``selectors`` the segment registers loaded from them at start; a write
    to an entry reloads the ``segment_registers`` that use it.
    """

    address: int
    entries: int
    flat: tuple[tuple[int, bytes], ...]
    selectors: tuple[tuple[str, int], ...]
    segment_registers: tuple[str, ...]


@dataclass(frozen=True)
class InsnFault:
    """An instruction a user-mode process may not execute, caught by a Unicorn instruction
    hook (which runs for that instruction only): its Unicorn id, the shape of the hook's
    callback (``"plain"``, or x86's ``"in"``/``"out"``), and the signal Linux delivers."""

    insn_id: int
    signature: str
    fault: Fault


@dataclass(frozen=True)
class Counters:
    """The counters Linux lets user code read without a system call (x86 ``rdtsc``, aarch64
    ``cntvct_el0``, riscv's ``time`` CSR), answered from the kernel model's monotonic clock
    counting at ``hz``, never from the host's (see ``Machine._install_counters``).

    ``kind`` says how their instructions are caught: ``"x86"`` (instruction hooks on ``rdtsc``
    and ``rdtscp``, which write the count's halves to ``registers[0:2]`` and rdtscp's
    TSC_AUX, the cpu number, to ``registers[2]``), ``"sysreg"`` (aarch64: the hook on reads of
    the generic timer's system registers; ``cntfrq_el0`` answers ``hz``) or ``"csr"`` (riscv:
    Unicorn has no ``time`` CSR and raises an illegal-instruction exception, which is
    answered instead).
    """

    kind: str
    hz: int
    registers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Arch:
    """Everything the CPU side needs to know about one arch; data, not code.

    Register names are lower-case strings; ``registers`` maps each to its Unicorn id.
    """

    name: str
    aliases: tuple[str, ...]
    bits: int
    big_endian: bool
    uc_arch: int
    uc_mode: int
    # Capstone's and Keystone's arch and mode, by constant name ("CS_ARCH_X86", "CS_MODE_64";
    # modes may be joined by "|"), so that neither library is loaded before it is needed.
    # No Keystone names: Keystone does not know the arch.
    capstone_names: tuple[str, str]
    keystone_names: tuple[str, str] | None
    registers: Mapping[str, int]
    pc: str
    sp: str
    number_reg: str
    arg_regs: tuple[str, ...]
    ret_reg: str
    trap: Trap
    clobbers: tuple[Clobber, ...]
    elf_machine: int
    syscall_table: str  # the arch's name in the ``system-calls`` package
    uname_machine: str
    faults: Mapping[int, Fault]
    comment_markers: tuple[str, ...]
    debugger_registers: tuple[str, ...]
    stack_top: int
    mmap_top: int
    task_size: int
    code_base: int
    pie_base: int  # where a position-independent program is loaded (ELF_ET_DYN_BASE, no ASLR)
    insn_align: int = 1
    platform: str | None = None  # AT_PLATFORM
    hwcap: int = 0  # AT_HWCAP
    hwcap2: int = 0  # AT_HWCAP2
    flags_reg: str | None = None
    thread_pointer: str | None = None
    stub_immediate: Callable[[str, int], str] | None = field(default=None, compare=False)
    stub_address: Callable[[str, str], str] | None = field(default=None, compare=False)
    stub_data: Callable[[str, bytes], str] | None = field(default=None, compare=False)
    uc_cpu: int | None = None
    # An instruction after which Unicorn stops without an error, though a Linux process would
    # get a signal (x86 ``hlt`` in user mode is SIGSEGV): its bytes and what it means.
    halt: tuple[bytes, Fault] | None = None
    # How a signal frame is built and read back (a sandbox.arch.signal_frames.SignalFrames);
    # None: this arch cannot run signal handlers. The trampoline is the code the vDSO (or arm's
    # signal page) has for returning from a handler installed without SA_RESTORER, mapped on
    # a page of its own when first needed (None: Linux then kills the process with SIGSEGV).
    signal_frame: object | None = field(default=None, compare=False)
    sigreturn_trampoline: bytes | None = None
    # The registers as gdb's remote protocol lays them out (None: the gdb stub refuses the arch).
    gdb: GdbTarget | None = field(default=None, compare=False)
    # Instructions Unicorn rejects as invalid though Linux delivers another signal for them
    # (riscv's ebreak is a SIGTRAP): their bytes at the pc and what they mean.
    invalid_instructions: tuple[tuple[bytes, Fault], ...] = ()
    # A store of a register to a label (``stub_store(reg, label)``), for generated programs that
    # record each call's result in memory (``stub_load`` reads one back, ``stub_jump`` jumps),
    # and a pointer-sized word holding a label's address,
    # for arches whose ``stub_address`` loads the address from such a word
    # (``{label}_addr``) because a pc-relative add cannot reach far.
    stub_store: Callable[[str, str], str] | None = field(default=None, compare=False)
    stub_jump: Callable[[str], str] | None = field(default=None, compare=False)
    stub_load: Callable[[str, str], str] | None = field(default=None, compare=False)  # a register from a label
    stub_pointer: Callable[[str], str] | None = field(default=None, compare=False)
    # The project's own assembler for this arch (``sandbox.stubasm``), as "module:attribute",
    # used where Keystone is missing or does not know the arch.
    encoder: str | None = None
    # Registers set, in this order, when a process starts (arm: enable the FPU, user mode).
    initial_registers: tuple[tuple[str, int], ...] = ()
    thumb: InstructionSetBit | None = None
    elf_flags: int = 0  # e_flags of the ELF files the sandbox writes (arm: EABI version 5)
    # 64-bit system call arguments (loff_t) on a 32-bit arch take two registers; some ABIs
    # start the pair on an even register (arm EABI, mips o32), others do not (i386).
    pair_aligned_args: bool = False
    descriptor_table: DescriptorTable | None = None
    # Privileged instructions caught by instruction hooks (Unicorn runs the guest with kernel
    # privileges, so it would execute them).
    faulting_insns: tuple[InsnFault, ...] = ()
    # Instructions after which Unicorn stops though Linux lets user code go on (they are
    # hints there, like aarch64 ``wfi``): their bytes, just before the pc.
    hints: tuple[bytes, ...] = ()
    # The counters user code reads without a system call; None: none is modelled.
    counters: Counters | None = None
    # Whether the assembler's ``.align N`` means 2**N bytes (GAS on arm, aarch64 and riscv) or N bytes (x86).
    align_is_log2: bool = False

    @property
    def word_size(self) -> int:
        """Bytes in a register."""
        return self.bits // 8

    @property
    def word_mask(self) -> int:
        """All ones over a register's width."""
        return (1 << self.bits) - 1

    def reg_id(self, name: str) -> int:
        """The Unicorn id of a register by name (KeyError for a name the arch lacks)."""
        return self.registers[name.lower()]

    @property
    def cs_arch(self) -> int:
        """Capstone's arch constant."""
        return capstone_constant(self.capstone_names[0])

    @property
    def cs_mode(self) -> int:
        """Capstone's mode constant."""
        return capstone_constant(self.capstone_names[1])

    @property
    def ks_arch(self) -> int | None:
        """Keystone's arch constant; None when Keystone is not installed or has no such arch."""
        return keystone_constant(self.keystone_names[0]) if self.keystone_names is not None else None

    @property
    def ks_mode(self) -> int | None:
        """Keystone's mode constant; None when Keystone is not installed or has no such arch."""
        return keystone_constant(self.keystone_names[1]) if self.keystone_names is not None else None


def ascii_directive(label: str, data: bytes) -> str:
    """A labelled ``.byte`` line holding ``data`` (works with every Keystone arch)."""
    body = ", ".join(str(b) for b in data) if data else "0"
    return f"{label}: .byte {body}"
