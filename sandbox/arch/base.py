"""The shape of an arch description. Each arch is one frozen instance in its own module."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from sandbox.arch.gdb import GdbTarget


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
    cs_arch: int
    cs_mode: int
    ks_arch: int | None
    ks_mode: int | None
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
    # How a signal frame is built and read back (sandbox.arch.signal_frames); None: this arch
    # cannot run signal handlers yet. The trampoline is the vDSO's rt_sigreturn, for handlers
    # installed without SA_RESTORER (None: Linux then kills the process with SIGSEGV).
    signal_frame: object | None = field(default=None, compare=False)
    sigreturn_trampoline: bytes | None = None
    # The registers as gdb's remote protocol lays them out (None: the gdb stub refuses the arch).
    gdb: GdbTarget | None = field(default=None, compare=False)

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


def ascii_directive(label: str, data: bytes) -> str:
    """A labelled ``.byte`` line holding ``data`` (works with every Keystone arch)."""
    body = ", ".join(str(b) for b in data) if data else "0"
    return f"{label}: .byte {body}"
