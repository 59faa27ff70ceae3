"""The CPU side of one guest process: a Unicorn engine, its memory, and the trap hook.

Guest code runs in Unicorn's JIT with no per-instruction Python. Python is entered only
when the guest traps into the kernel (``syscall``, ``svc #0``) or faults. On a trap, the
number, the six argument registers and the pc are read in one batch into a buffer (by the
native trampoline of :mod:`sandbox.trampoline` where the host has one, else from Python), a
:class:`SyscallRequest` goes to the backend, and the result (or ``-errno``) and the arch's
clobbered registers are written back in one batch.
"""

from __future__ import annotations

import ctypes
import enum
import struct
import sys
import threading
import time
import weakref
from time import perf_counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Protocol, Sequence

import unicorn
from unicorn import arm64_const as ua64
from unicorn import x86_const as ux
from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib

from kernel_model.compat import GDT_ENTRY_TLS_ENTRIES, GDT_ENTRY_TLS_MIN
from kernel_model.kernel import Kernel, KernelConfig
from kernel_model.linux_errno import Errno
from kernel_model.lifecycle import ThreadExit
from kernel_model.sched import Blocked, Yield
from kernel_model.mm import file_fault
from kernel_model.seam import (
    PROT_EXEC, PROT_READ, PROT_WRITE, Backend, Exec, KernelArch, KernelError, ProcessExit, SyscallRequest,
)
from kernel_model.signals import DESCRIPTIONS, ProcessStop, SignalDelivery, SignalReturn, signal_number
from sandbox import sigframe, trampoline
from sandbox.arch import Arch, Fault
from sandbox.arch.base import Counters, DescriptorTable
from sandbox.arch.syscalls import syscall_table, unknown_name
from sandbox.errors import SandboxError
from sandbox.faults import SI_CODES, fault_siginfo
from sandbox.limits import budget_exit
from sandbox.memory import UnicornMemory
from sandbox.records import CallLog

if TYPE_CHECKING:
    import capstone

    from sandbox.system import System

# fork copies memory in chunks this big, and leaves the all-zero ones to fresh zero pages
_COPY_CHUNK = 1 << 16
_ZERO_CHUNK = bytes(_COPY_CHUNK)

# The batch register calls of the trap path, called without the binding's per-call argument
# conversion (it costs more than the call itself): the arguments are ctypes objects made once.
_REG_BATCH = ctypes.CFUNCTYPE(ctypes.c_int)
_READ_BATCH = _REG_BATCH(("uc_reg_read_batch", uclib))
_WRITE_BATCH = _REG_BATCH(("uc_reg_write_batch", uclib))
# the same two functions as addresses, for the trampoline
_REG_BATCH_ADDRESS = (
    ctypes.cast(uclib.uc_reg_read_batch, ctypes.c_void_p).value,
    ctypes.cast(uclib.uc_reg_write_batch, ctypes.c_void_p).value,
)

_HOOK_INSN_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
# x86 rdtsc and rdtscp hooks: (uc, user data) -> skip the instruction's own answer?
_HOOK_RDTSC_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_CSR_TIME = 0xC01  # riscv's time CSR, what rdtime reads
_HOOK_INTR_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
_HOOK_MEM_INVALID_CB = ctypes.CFUNCTYPE(
    ctypes.c_bool, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_int, ctypes.c_int64, ctypes.c_void_p
)
_HOOK_CODE_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p)
# bool fill(uc, vaddr, access, uc_tlb_entry *entry, user_data): the entry seen as two words,
# the physical page and the permissions (a uc_tlb_entry is a uint64 and a uint32, padded to 16).
_HOOK_TLB_FILL_CB = ctypes.CFUNCTYPE(
    ctypes.c_bool, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int, ctypes.POINTER(ctypes.c_uint64), ctypes.c_void_p
)
# The permission each kind of access needs.
_ACCESS_PERM_OF = {
    unicorn.UC_MEM_READ: unicorn.UC_PROT_READ,
    unicorn.UC_MEM_WRITE: unicorn.UC_PROT_WRITE,
    unicorn.UC_MEM_FETCH: unicorn.UC_PROT_EXEC,
}
# The guest's page size: Unicorn's arm and aarch64 default to 1 KiB pages, four TLB entries
# (and four fills) for each page of the guest.
GUEST_PAGE = 4096
# The engine's buffer of generated code (see _configure_engine): QEMU flushes it when full.
TCG_BUFFER = 128 << 20
# The TLB holds 256 entries at first; QEMU doubles it at a flush when it was well used. A run
# whose fills show it thrashing is flushed so that it can grow, up to this many entries.
TLB_MAX_ENTRIES = 1 << 16
_HOOK_MEM_CB = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_int, ctypes.c_int64, ctypes.c_void_p
)
# The memory hooks a debugger may ask for, by the access they watch.
_MEM_HOOK_TYPES = {
    "read": unicorn.UC_HOOK_MEM_READ,
    "write": unicorn.UC_HOOK_MEM_WRITE,
    "access": unicorn.UC_HOOK_MEM_READ | unicorn.UC_HOOK_MEM_WRITE,
}
# The instruction hooks of x86 ``in`` and ``out`` have signatures of their own.
_INSN_HOOK_TYPES = {
    "plain": ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p),
    "in": ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_void_p),
    "out": ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p),
}
# An instruction budget is spent in slices of at most this many instructions: Unicorn says
# nothing of how far a stopped run got, so a run stopped for another reason (a host signal,
# a debugger) is charged nothing, and the budget is off by at most one slice per such stop.
INSN_SLICE = 1 << 24
# What a fault whose signal runs a handler costs a budget (the run it stopped does not say).
FAULT_CHARGE = 1 << 10

_MEM_ACCESS = {
    unicorn.UC_MEM_READ_UNMAPPED: "read", unicorn.UC_MEM_WRITE_UNMAPPED: "write",
    unicorn.UC_MEM_FETCH_UNMAPPED: "execute", unicorn.UC_MEM_READ_PROT: "read",
    unicorn.UC_MEM_WRITE_PROT: "write", unicorn.UC_MEM_FETCH_PROT: "execute",
}
# What a Unicorn error after a guest instruction means to a Linux process.
_UC_ERROR_FAULTS = {
    unicorn.UC_ERR_READ_UNMAPPED: Fault("SIGSEGV", "read of unmapped memory"),
    unicorn.UC_ERR_WRITE_UNMAPPED: Fault("SIGSEGV", "write to unmapped memory"),
    unicorn.UC_ERR_FETCH_UNMAPPED: Fault("SIGSEGV", "jump to unmapped memory"),
    unicorn.UC_ERR_READ_PROT: Fault("SIGSEGV", "read of memory without read permission"),
    unicorn.UC_ERR_WRITE_PROT: Fault("SIGSEGV", "write to read-only memory"),
    unicorn.UC_ERR_FETCH_PROT: Fault("SIGSEGV", "execution of non-executable memory"),
    unicorn.UC_ERR_INSN_INVALID: Fault("SIGILL", "invalid instruction"),
    unicorn.UC_ERR_READ_UNALIGNED: Fault("SIGBUS", "misaligned read"),
    unicorn.UC_ERR_WRITE_UNALIGNED: Fault("SIGBUS", "misaligned write"),
    unicorn.UC_ERR_FETCH_UNALIGNED: Fault("SIGBUS", "misaligned instruction fetch"),
    unicorn.UC_ERR_EXCEPTION: Fault("SIGILL", "unhandled CPU exception"),
}


# _emulate's answer when a fault's signal entered the guest's handler: the run goes on.
_HANDLER_ENTERED: "Stop" = object()  # type: ignore[assignment]


_PROT_ERRORS = frozenset({unicorn.UC_ERR_READ_PROT, unicorn.UC_ERR_WRITE_PROT, unicorn.UC_ERR_FETCH_PROT})
_PROT_NEEDED = {"read": PROT_READ, "write": PROT_WRITE, "execute": PROT_EXEC}


class Stop(enum.Enum):
    """Why :meth:`Machine.run` returned."""

    EXITED = "exited"  # the process ended (exit, exit_group, or a fatal signal)
    SYSCALL_ENTRY = "syscall-entry"  # a syscall trapped and was not served yet
    SYSCALL_EXIT = "syscall-exit"  # a syscall was served; the guest has not resumed
    COUNT = "count"  # the instruction budget of this run was used (single-stepping)
    REACHED = "reached"  # execution reached the address run() was given as ``until``
    STOPPED = "stopped"  # someone asked it to stop (a breakpoint, a watchdog)
    # The current task cannot go on (it waits, it yielded, it ended, it exec'd): the system of
    # tasks (sandbox.system) picks another. Never returned to a caller of Machine.run.
    SWITCH = "switch"


@dataclass
class FaultReport:
    """A guest crash as Linux would see it: the signal, where, and what was accessed."""

    signal: str
    what: str
    pc: int
    instruction: str = ""
    address: int | None = None
    access: str | None = None
    registers: dict[str, int] = field(default_factory=dict)
    code: str = ""  # the si_code the arch names for it (see sandbox.faults); empty: the usual one
    # x86's trap number and error code, which a handler finds in its sigcontext (trapno, err)
    trap: tuple[int, int] = (0, 0)

    @property
    def signo(self) -> int:
        """The signal's number."""
        return signal_number(self.signal)

    def line(self) -> str:
        """The one-line report: signal, pc with its instruction, and the access."""
        where = f"pc={self.pc:#x}" + (f" ({self.instruction})" if self.instruction else "")
        text = f"{self.signal} ({DESCRIPTIONS.get(self.signal, self.signal)}): {self.what} at {where}"
        if self.address is not None:
            text += f", {self.access or 'access'} address {self.address:#x}"
        return text


class SyscallObserver(Protocol):
    """Something that watches every served call (a tracer): told at entry, and at exit.

    ``syscall_exit`` gets the value written back (or ``-errno``) and the errno, or
    ``(None, None)`` when the call ended the process. The entry call comes before the backend
    runs, so an observer can read the call's input buffers as they were. An observer whose
    ``reads_registers`` is False is told of the exit before the result reaches the registers
    (it is written with the trap's other registers, in one batch); without the attribute,
    the registers hold the result when it is told.
    """

    reads_registers: bool

    def syscall_entry(self, request: SyscallRequest) -> None:
        """A call is about to be served."""

    def syscall_exit(self, request: SyscallRequest, value: int | None, errno: Errno | None) -> None:
        """The call was served (``value`` None: it did not return a value, or ended the process)."""


def kernel_arch(arch: Arch) -> KernelArch:
    """The part of an arch description the kernel model needs."""
    return KernelArch(
        name=arch.name, bits=arch.bits, uname_machine=arch.uname_machine, big_endian=arch.big_endian,
        pair_aligned_args=arch.pair_aligned_args,
    )


class Machine:
    """One guest process: CPU, memory, kernel, and the hooks that connect them.

    A machine holds a Unicorn engine (guest memory and generated code, megabytes of host
    memory) and the kernel's host files. :meth:`close` (or ``with Machine(...)``) releases
    them at once; otherwise they go when the last reference to the machine does (its hooks
    refer to it weakly, so no reference cycle keeps an engine alive until the garbage
    collector runs). Nothing may use a closed machine.
    """

    def __init__(
        self, arch: Arch, config: KernelConfig | None = None, backend: Backend | None = None, *,
        kernel: Kernel | None = None,
    ) -> None:
        self.arch = arch
        # The trampoline's page is mapped before the first engine: mapped later, it would sit
        # in the space a closed engine leaves, and the next engine's code buffer would go
        # lower, too far from libunicorn for direct calls (generated code then runs 2x slower).
        trampoline.entry_points()
        self.uc = unicorn.Uc(arch.uc_arch, arch.uc_mode) if arch.uc_cpu is None else unicorn.Uc(
            arch.uc_arch, arch.uc_mode, arch.uc_cpu
        )
        _configure_engine(self.uc)
        self.memory = UnicornMemory(self.uc)
        # A machine is one address space. The first one of a run makes the kernel; the others
        # (a forked process's, an exec'd vfork child's) share it.
        self.owns_kernel = kernel is None
        self.kernel = kernel if kernel is not None else Kernel(
            kernel_arch(arch), self.memory, config, mmap_top=arch.mmap_top, task_size=arch.task_size
        )
        self.backend: Backend = backend or self.kernel
        self.table = syscall_table(arch)
        # The calls served, when something records them (see CallLog); None: nothing is kept.
        self.log: CallLog | None = None
        self.exit: ProcessExit | None = None
        self.fault: FaultReport | None = None
        self.symbols: Mapping[str, int] = {}  # read from the program only when first used
        self.symbol_spans: Mapping[str, tuple[int, int]] = {}  # [start, end): a symbol's size or section
        self.program_path = ""
        self.started = time.perf_counter()
        # Debuggers set these; None keeps the trap path free of any check beyond one test.
        self.stop_at_syscall_entry: Callable[[SyscallRequest], bool] | None = None
        self.stop_at_syscall_exit: Callable[[SyscallRequest], bool] | None = None
        self.pending: SyscallRequest | None = None
        self._pending_regs: Sequence[int] = ()  # the registers the pending call trapped with
        self._restarting: SyscallRequest | None = None  # a pending call made again after its wait
        self.task_change: BaseException | None = None  # what the last call did to its task (Exec...)
        self.exec_request: tuple | None = None  # the program an execve starts once its call is over
        self.calls_left: int | None = None  # calls before the task gives way (see sandbox.system)
        # (pid, tid) of the task the CPU runs, for the call log
        self.task_ids: tuple[int, int] = (self.kernel.current.process.pid, self.kernel.current.tid)
        self._serving_regs: Sequence[int] = ()  # the registers of the call being served
        # A tracer sets this to see each call at entry and exit (see SyscallObserver).
        self.observer: SyscallObserver | None = None
        self.last_request: SyscallRequest | None = None
        # Buffers the guest's captured output goes to; a debugger's snapshot rolls them back.
        self.captured: list[bytearray] = []
        self._stop_reason: Stop | None = None
        self._hook_error: BaseException | None = None
        self._callbacks: list[object] = []  # ctypes callbacks must outlive the engine's use
        self._debug_hooks: dict[int, tuple[uc_hook_h, object, int | None, int | None]] = {}
        self._counting = False  # whether the last emu_start counted instructions
        self._uch = self.uc._uch
        self._pc_id = arch.reg_id(arch.pc)
        # a value of the register's own width, whatever the host's byte order
        self._pc_buf = ctypes.c_uint64() if arch.bits == 64 else ctypes.c_uint32()
        self._pc_ref = ctypes.byref(self._pc_buf)
        for name, value in arch.initial_registers:
            self.set_reg(name, value)
        if arch.descriptor_table is not None:
            self._map_descriptor_table(arch.descriptor_table)
        # Instructions the guest may still run (None: no budget); see INSN_SLICE.
        self.insn_budget: int | None = None
        self._insn_budget_given: int | None = None
        self.budget_used_up = False
        # Another thread may stop or kill the guest (a watchdog): the lock keeps it from
        # touching an engine that close() is releasing.
        self._lock = threading.Lock()
        self._closed = False
        self._killed: ProcessExit | None = None
        # A fault a hook or a Unicorn error reported in the run that just stopped, and how far
        # past its instruction the pc saved for a handler is: taken in _emulate (see _fault).
        self._fault_pending: tuple[FaultReport, int] | None = None
        self._fault_retry = False  # the fault was the kernel's to resolve: the guest goes on
        self._build_trap()
        self._install_hooks()
        # the registers of a fresh CPU, which execve starts the new program from
        self.fresh_context = self.uc.context_save()
        from sandbox.system import System

        # the processes and threads of the run, and which of them the CPU runs (the first
        # machine makes it; a later one joins it)
        self.system: System | None = System(self) if self.owns_kernel else None
        self._release = weakref.finalize(
            self, _release_engine, self.kernel if self.owns_kernel else None, self.memory, self._callbacks
        )
        self._release.atexit = False  # at exit Unicorn's own finalizer closes the engine

    @property
    def running(self) -> "Machine":
        """The machine whose task the CPU runs now: this one, or with several processes the
        current one's (a forked child's, an exec'd vfork child's)."""
        system = self.system
        if system is None:
            return self
        return system.running.cpu.machine

    # -- registers -------------------------------------------------------------------------

    def reg(self, name: str) -> int:
        """A register's value by name."""
        return self.uc.reg_read(self.arch.reg_id(name))

    def set_reg(self, name: str, value: int) -> None:
        """Set a register by name."""
        self.uc.reg_write(self.arch.reg_id(name), value & ((1 << 64) - 1))

    @property
    def pc(self) -> int:
        """The program counter."""
        # read through the C API: the binding's reg_read costs several times more, and a
        # debugger stepping one instruction at a time reads the pc on every step
        uclib.uc_reg_read(self._uch, self._pc_id, self._pc_ref)
        return self._pc_buf.value

    @pc.setter
    def pc(self, value: int) -> None:
        self.set_reg(self.arch.pc, value)

    @property
    def thumb_bit(self) -> int:
        """1 in arm's Thumb state, else 0 (on every other arch: a pc's own bit 0 means nothing)."""
        thumb = self.arch.thumb
        if thumb is None:
            return 0
        return 1 if self.reg(thumb.register) & thumb.mask else 0

    @property
    def resume_address(self) -> int:
        """Where execution continues: the pc, with bit 0 set in arm's Thumb state."""
        pc = self.pc
        thumb = self.arch.thumb
        if thumb is not None and self.reg(thumb.register) & thumb.mask:
            pc |= 1
        return pc

    def _map_descriptor_table(self, table: "DescriptorTable") -> None:
        # Kernel memory, outside the process's address space: mapped in Unicorn only, so the
        # kernel model's copies from user memory cannot reach it.
        size = max(self.memory.page_size, table.entries * 8)
        self.uc.mem_map(table.address, size, unicorn.UC_PROT_READ)
        for index, descriptor in table.flat:
            self.uc.mem_write(table.address + 8 * index, descriptor)
        self.uc.reg_write(self.arch.reg_id("gdtr"), (0, table.address, table.entries * 8 - 1, 0))
        for register, selector in table.selectors:
            self.set_reg(register, selector)

    # -- the trap path ---------------------------------------------------------------------

    def _build_trap(self) -> None:
        arch = self.arch
        read_names = [arch.number_reg, *arch.arg_regs, arch.pc]
        sources = [c.source for c in arch.clobbers if c.source != "next_pc"]
        read_names += sources
        if arch.thumb is not None:
            read_names.append(arch.thumb.register)
        n_read = len(read_names)
        # Unicorn reads and writes a register through a pointer to a value of the register's
        # own width: 32-bit slots for a 32-bit arch, whatever the host's byte order.
        slot = ctypes.c_uint64 if arch.bits == 64 else ctypes.c_uint32
        size = ctypes.sizeof(slot)
        self._read_ids = (ctypes.c_int * n_read)(*(arch.reg_id(r) for r in read_names))
        self._read_vals = (slot * n_read)()
        # all the values in one call, as a tuple (slicing the ctypes array makes a list, slower)
        self._unpack_read = struct.Struct(f"={n_read}{'Q' if arch.bits == 64 else 'I'}").unpack_from
        self._read_ptrs = (ctypes.c_void_p * n_read)(
            *(ctypes.addressof(self._read_vals) + size * i for i in range(n_read))
        )
        write_names = [arch.ret_reg] + [c.register for c in arch.clobbers]
        n_write = len(write_names)
        self._write_ids = (ctypes.c_int * n_write)(*(arch.reg_id(r) for r in write_names))
        self._write_vals = (slot * n_write)()
        self._write_ptrs = (ctypes.c_void_p * n_write)(
            *(ctypes.addressof(self._write_vals) + size * i for i in range(n_write))
        )
        self._word_mask = arch.word_mask
        # For each clobbered register: which read value feeds it, plus what to add.
        pc_index = 1 + len(arch.arg_regs)
        self._clobber_plan = tuple(
            (
                1 + i,
                pc_index if c.source == "next_pc" else read_names.index(c.source),
                arch.trap.pc_offset + arch.trap.length if c.source == "next_pc" else 0,
            )
            for i, c in enumerate(arch.clobbers)
        )
        self._n_read = ctypes.c_int(n_read)
        self._n_write = ctypes.c_int(n_write)
        self._names = self.table.by_number()
        self._arch_name = arch.name
        self._pc_index = pc_index
        self._trap_pc_offset = arch.trap.pc_offset
        # Thumb state: the trap is shorter, so its address is nearer the pc the hook sees.
        self._thumb_mask = arch.thumb.mask if arch.thumb is not None else 0
        self._thumb_adjust = arch.trap.length - arch.thumb.trap_length if arch.thumb is not None else 0
        self._cpu = MachineCpu(self)

    def _trap(self) -> bool:
        """Serve the system call the guest just trapped with: the hot path.

        The registers are in the read buffer already (the trampoline or the Python hook read
        them). Returns whether the write buffer holds the result registers for the caller to
        write back; False when they were written already or must not be.
        """
        if self.exit is not None:  # the rest of a block after a fatal instruction hook
            return False
        v = self._unpack_read(self._read_vals)
        nr = v[0]
        pc_index = self._pc_index
        pc = v[pc_index] + self._trap_pc_offset
        if self._thumb_mask and v[-1] & self._thumb_mask:
            pc += self._thumb_adjust
        req = SyscallRequest(
            self._arch_name, nr, self._names.get(nr) or unknown_name(nr), v[1:pc_index], self.memory, pc, self._cpu
        )
        if self.stop_at_syscall_entry is not None and self.stop_at_syscall_entry(req):
            self.pending = req
            self._pending_regs = v
            self._request_stop(Stop.SYSCALL_ENTRY)
            return False
        return self._serve(req, v)

    def _serve(self, req: SyscallRequest, v: Sequence[int]) -> bool:
        """Dispatch one request and put its result in the write buffer; shared by the hook and
        resume. Returns whether the caller still has to write the buffer back (see _trap)."""
        self.last_request = req
        self._serving_regs = v
        observer = self.observer
        if observer is not None and req is not self._restarting:
            observer.syscall_entry(req)
        self._restarting = None
        try:
            value = self.backend.dispatch(req)
            err: Errno | None = None
        except KernelError as e:
            err = e.errno
            value = -int(err)
        except SignalDelivery as delivery:
            self._deliver_signal(req, v, delivery)
            return False
        except SignalReturn as back:
            self._return_from_signal(req, back.rt)
            return False
        except ProcessExit as ex:
            self.exit = _detached(ex)
            self._log_outside(req, None, None)
            self._request_stop(Stop.EXITED)
            return False
        except Blocked as blocked:
            # The call waits: the task is parked with it pending, and it is made again (not
            # logged twice) when the wait ends.
            self.kernel.current.block(blocked.wait)
            self.pending, self._pending_regs, self._restarting = req, v, req
            self._request_stop(Stop.SWITCH)
            return False
        except Yield as y:
            value, err = y.result, None
            self.task_change = y
            self._request_stop(Stop.SWITCH)
        except (Exec, ThreadExit) as change:
            self._log_outside(req, 0 if isinstance(change, Exec) else None, None)
            self.task_change = change
            self._request_stop(Stop.SWITCH)
            return False
        except ProcessStop as change:
            # the process stops as the call (a kill of itself) returns 0; it goes on from there
            self.kernel.current.finish_call()
            self._write_result(v, 0)
            self._log_outside(req, 0, None)
            self.task_change = change
            self._request_stop(Stop.SWITCH)
            return False
        kernel = self.kernel
        kernel.current.finish_call()
        left = self.calls_left
        if left is not None:
            # another process's task could run: this one gives way after so many calls
            self.calls_left = left - 1
            if left <= 1:
                self._request_stop(Stop.SWITCH)
        signals = kernel.signals
        if signals.pending & ~signals.blocked:
            # another task posted a signal meanwhile (a child's SIGCHLD, a kill): it comes
            # as this call returns, as Linux delivers on the way back to user mode
            if self._deliver_posted(req, v, value):
                return False
        wv = self._write_vals
        mask = self._word_mask
        wv[0] = value & mask
        for idx, src, add in self._clobber_plan:
            wv[idx] = (v[src] + add) & mask
        log = self.log
        if log is not None:
            log.append((req.pc, req.nr, req.name, req.args, value, err, req.note, perf_counter() - self.started,
                        self.task_ids))
            if len(log) > log.high:
                log.trim()
        dropped = signals.dropped
        if self.stop_at_syscall_exit is None and not dropped:
            if observer is None:
                return True
            if not getattr(observer, "reads_registers", True):
                observer.syscall_exit(req, value, err)
                return True
        # who looks at the call's end may read the registers: they must hold the result now
        _WRITE_BATCH(self._uch, self._write_ids, self._write_ptrs, self._n_write)
        if observer is not None:
            observer.syscall_exit(req, value, err)
        if dropped:
            signals.report_dropped()  # a tracer shows them after the call, as strace -f does
        if self.stop_at_syscall_exit is not None and self.stop_at_syscall_exit(req):
            self._request_stop(Stop.SYSCALL_EXIT)
        return False

    def _deliver_posted(self, req: SyscallRequest, v: Sequence[int], value: int) -> bool:
        """Deliver the signals pending for the current task as a call returns ``value``; True
        when that did something to the task (a handler runs, it ended or stopped), so the
        caller writes no result itself."""
        try:
            self.kernel.signals.deliver_pending("a signal", value)
        except SignalDelivery as delivery:
            self._deliver_signal(req, v, delivery)
            return True
        except ProcessExit as ex:
            self.exit = _detached(ex)
            self._log_outside(req, value, self._errno_of(value & self._word_mask))
            self._request_stop(Stop.EXITED)
            return True
        except ProcessStop as change:
            self._write_result(v, value)
            self._log_outside(req, value, self._errno_of(value & self._word_mask))
            self.task_change = change
            self._request_stop(Stop.SWITCH)
            return True
        return False

    def _write_result(self, v: Sequence[int], value: int) -> None:
        # the return register and the clobbered ones, written now (off the hot path)
        wv = self._write_vals
        mask = self._word_mask
        wv[0] = value & mask
        for idx, src, add in self._clobber_plan:
            wv[idx] = (v[src] + add) & mask
        _WRITE_BATCH(self._uch, self._write_ids, self._write_ptrs, self._n_write)

    def _deliver_signal(self, req: SyscallRequest, v: Sequence[int], delivery: SignalDelivery) -> None:
        """The call returns its result, then the guest's signal handler runs (not the hot path)."""
        self.kernel.current.finish_call()
        value = delivery.result
        err = Errno(-value) if value is not None and -4096 < value < 0 else None
        if value is not None:
            wv = self._write_vals
            wv[0] = value & 0xFFFFFFFFFFFFFFFF
            for idx, src, add in self._clobber_plan:
                wv[idx] = (v[src] + add) & 0xFFFFFFFFFFFFFFFF
            uclib.uc_reg_write_batch(self._uch, self._write_ids, self._write_ptrs, self._n_write)
        self._log_outside(req, value, err)
        self._enter_handler(delivery)
        self._served_with_signal(req)

    def _log_outside(self, req: SyscallRequest, value: int | None, err: Errno | None) -> None:
        # The log entry of a call served off the hot path, and its observer's exit.
        log = self.log
        if log is not None:
            log.append((req.pc, req.nr, req.name, req.args, value, err, req.note, perf_counter() - self.started,
                        self.task_ids))
            if len(log) > log.high:
                log.trim()
        if self.observer is not None:
            self.observer.syscall_exit(req, value, err)

    def _enter_handler(self, delivery: SignalDelivery) -> None:
        try:
            sigframe.enter_handler(self, delivery)
        except ProcessExit as ex:
            self.exit = _detached(ex)
            self._request_stop(Stop.EXITED)

    def _return_from_signal(self, req: SyscallRequest, rt: bool) -> None:
        """rt_sigreturn (or sigreturn): the registers come back from the signal frame, not from a result."""
        try:
            value = sigframe.return_from_handler(self, rt)
        except SignalDelivery as delivery:  # a pending signal the restored mask lets in
            # the call did return (the restored value) before the next handler was entered
            self._log_outside(req, self.reg(self.arch.ret_reg), None)
            self._enter_handler(delivery)
            self._served_with_signal(req)
            return
        except ProcessExit as ex:
            self.exit = _detached(ex)
            self._request_stop(Stop.EXITED)
            value = None
        self._log_outside(req, value, self._errno_of(value))
        self._served_with_signal(req)

    def _served_with_signal(self, req: SyscallRequest) -> None:
        # A debugger's exit predicate sees these calls too: what it keeps (a stop, a
        # checkpoint for reverse execution) must follow every change a call makes to the CPU.
        if self.exit is None and self.stop_at_syscall_exit is not None and self.stop_at_syscall_exit(req):
            self._request_stop(Stop.SYSCALL_EXIT)

    def _errno_of(self, value: int | None) -> Errno | None:
        # The restored return register may hold the interrupted call's -errno: log it as one.
        if value is None or not value >> (self.arch.bits - 1):
            return None
        try:
            return Errno((1 << self.arch.bits) - value) if (1 << self.arch.bits) - value < 4096 else None
        except ValueError:
            return None

    def _request_stop(self, reason: Stop) -> None:
        # A switch gives way to any other stop (the system notices what the task did anyway).
        current = self._stop_reason
        if current is None or current is Stop.SWITCH or reason is Stop.EXITED:
            self._stop_reason = reason
        uclib.uc_emu_stop(self._uch)

    def _run_machines(self) -> "list[Machine]":
        # this machine and, for the first one, every other machine of its run
        system = self.system
        if system is None or system.first is not self:
            return [self]
        return [self, *system.machines]

    def request_stop(self) -> None:
        """Ask a running guest to stop at the next instruction boundary (thread-safe); on the
        first machine of a run, whichever of its machines runs."""
        for m in self._run_machines():
            with m._lock:
                if not m._closed:
                    m._request_stop(Stop.STOPPED)

    def forget_stop(self) -> None:
        """Drop a stop another thread requested that no run has taken yet (thread-safe)."""
        for m in self._run_machines():
            with m._lock:
                if m._stop_reason is Stop.STOPPED:
                    m._stop_reason = None

    def kill(self, exit: ProcessExit) -> None:
        """End the process with ``exit`` from any thread, as SIGKILL does: the guest stops at
        the next instruction boundary, or inside the host wait it is in (a sleep, a read). On
        the first machine of a run, the whole run ends."""
        for m in self._run_machines():
            with m._lock:
                if m._closed:
                    continue
                if m._killed is None:
                    m._killed = exit
                uclib.uc_emu_stop(m._uch)
        self.kernel.waits.end(exit)

    def _guarded(self, fn: Callable[..., None]) -> Callable[..., None]:
        # A hook must never swallow an exception: keep it, stop the engine, re-raise after.
        # It refers to the machine weakly, so that the hooks keep no reference cycle alive.
        machine = weakref.ref(self)
        uch = self._uch

        def call(*args: object) -> None:
            try:
                fn(*args)
            except BaseException as e:  # noqa: BLE001 - re-raised by run()
                m = machine()
                if m is not None and m._hook_error is None:
                    m._hook_error = e
                uclib.uc_emu_stop(uch)

        return call

    def _hook_failed(self, error: BaseException) -> None:
        if self._hook_error is None:
            self._hook_error = error
        uclib.uc_emu_stop(self._uch)

    def _add_hook(
        self, htype: int, cfunc_type: type, fn: Callable[..., object], *extra: int, begin: int = 1, end: int = 0
    ) -> uc_hook_h:
        # an exception raised where the hook cannot catch it is still this machine's (_unraisable)
        fn.__dict__["sandbox_machine"] = weakref.ref(self)
        cb = cfunc_type(fn)
        handle = uc_hook_h()
        status = uclib.uc_hook_add(
            self._uch, ctypes.byref(handle), htype, ctypes.cast(cb, ctypes.c_void_p), None,
            ctypes.c_uint64(begin), ctypes.c_uint64(end), *(ctypes.c_int(e) for e in extra),
        )
        if status != unicorn.UC_ERR_OK:
            raise unicorn.UcError(status)
        self._callbacks.append(cb)
        return handle

    def _callback_address(self, cfunc_type: type, fn: Callable[..., object]) -> int:
        # A C function pointer to ``fn``, kept alive as long as the engine may call it.
        fn.__dict__["sandbox_machine"] = weakref.ref(self)
        cb = cfunc_type(fn)
        self._callbacks.append(cb)
        return ctypes.cast(cb, ctypes.c_void_p).value  # type: ignore[return-value]

    def _add_native_hook(self, htype: int, address: int, user_data: int, *extra: int) -> uc_hook_h:
        handle = uc_hook_h()
        status = uclib.uc_hook_add(
            self._uch, ctypes.byref(handle), htype, ctypes.c_void_p(address), ctypes.c_void_p(user_data),
            ctypes.c_uint64(1), ctypes.c_uint64(0), *(ctypes.c_int(e) for e in extra),
        )
        if status != unicorn.UC_ERR_OK:
            raise unicorn.UcError(status)
        return handle

    # -- extension points for debuggers (sandbox.debug) ------------------------------------
    # None of these is installed by a plain run: each exists only while a debugger holds it,
    # and covers only the range it asked for.

    def add_code_hook(self, fn: Callable[[int], None], begin: int, end: int) -> int:
        """Call ``fn(address)`` before each instruction in ``[begin, end]``; returns a handle.

        An exception raised by ``fn`` stops the run and is raised by :meth:`run`.
        """
        guarded = self._guarded(fn)
        handle = self._add_hook(
            unicorn.UC_HOOK_CODE, _HOOK_CODE_CB, lambda h, address, size, ud: guarded(address), begin=begin, end=end
        )
        self._debug_hooks[handle.value] = (handle, self._callbacks.pop(), begin, end)
        # Unicorn decides at translation time which instructions call code hooks: code
        # translated before this hook existed must be translated again.
        self.uc.ctl_remove_cache(begin, end + 1)
        return handle.value

    def add_memory_hook(self, fn: Callable[[bool, int, int, int], None], begin: int, end: int, access: str) -> int:
        """Call ``fn(is_write, address, size, value)`` on guest reads/writes in ``[begin, end]``.

        ``access`` is ``"read"``, ``"write"`` or ``"access"`` (both). On aarch64 any memory
        hook slows all generated code, so a debugger holds one only while a watchpoint exists.
        """
        guarded = self._guarded(fn)
        write = unicorn.UC_MEM_WRITE

        def on_access(h: object, kind: int, address: int, size: int, value: int, ud: object) -> None:
            guarded(kind == write, address, size, value)

        handle = self._add_hook(_MEM_HOOK_TYPES[access], _HOOK_MEM_CB, on_access, begin=begin, end=end)
        self._debug_hooks[handle.value] = (handle, self._callbacks.pop(), None, None)
        self.uc.ctl_flush_tb()
        return handle.value

    def remove_hook(self, handle: int) -> None:
        """Remove a hook added by :meth:`add_code_hook` or :meth:`add_memory_hook`."""
        hook, _callback, begin, end = self._debug_hooks.pop(handle)
        uclib.uc_hook_del(self._uch, hook)
        # Translated code keeps calling into the hook machinery until translated again.
        if begin is None:
            self.uc.ctl_flush_tb()
        else:
            self.uc.ctl_remove_cache(begin, end + 1)

    def _install_hooks(self) -> None:
        arch = self.arch
        # The hooks refer to the machine weakly: no reference cycle through them (see the
        # class docstring). The trap callbacks are the hot path: one Python frame each before
        # _trap, with the _guarded handling written out (_trap is looked up per call, so it
        # can be replaced).
        machine = weakref.ref(self)
        on_exc = self._guarded(lambda intno: machine()._cpu_exception(intno))  # type: ignore[union-attr]
        insn_hook = arch.trap.hook == "insn"
        syscall_intno = arch.trap.intno
        if insn_hook:
            self._add_hook(unicorn.UC_HOOK_INTR, _HOOK_INTR_CB, lambda h, intno, ud: on_exc(intno))
        trap_type, trap_extra = (unicorn.UC_HOOK_INSN, (arch.trap.insn_id,)) if insn_hook else (unicorn.UC_HOOK_INTR, ())
        entries = trampoline.entry_points()
        if entries is not None:
            # The trampoline reads the registers, calls on_trap, and writes the result back
            # when on_trap returns 1: one crossing into Python per call.
            def on_trap(h: object, intno: int) -> int:
                m = machine()
                try:
                    if insn_hook or intno == syscall_intno:
                        return m._trap()  # type: ignore[union-attr, return-value]
                    on_exc(intno)
                except BaseException as e:  # noqa: BLE001 - re-raised by run()
                    m._hook_failed(e)  # type: ignore[union-attr]
                return 0

            self._trap_block = trampoline.TrapBlock(
                read=_REG_BATCH_ADDRESS[0], read_ids=ctypes.addressof(self._read_ids),
                read_ptrs=ctypes.addressof(self._read_ptrs), read_count=self._n_read.value,
                callback=self._callback_address(trampoline.CALLBACK, on_trap),
                write=_REG_BATCH_ADDRESS[1], write_ids=ctypes.addressof(self._write_ids),
                write_ptrs=ctypes.addressof(self._write_ptrs), write_count=self._n_write.value,
            )
            self._add_native_hook(
                trap_type, entries.insn if insn_hook else entries.intr, ctypes.addressof(self._trap_block), *trap_extra
            )
        else:
            # The same calls from Python: three crossings per call.
            read_args = (self._uch, self._read_ids, self._read_ptrs, self._n_read)
            write_args = (self._uch, self._write_ids, self._write_ptrs, self._n_write)

            def on_syscall(h: object, ud: object) -> None:
                m = machine()
                try:
                    _READ_BATCH(*read_args)
                    if m._trap():  # type: ignore[union-attr]
                        _WRITE_BATCH(*write_args)
                except BaseException as e:  # noqa: BLE001 - re-raised by run()
                    m._hook_failed(e)  # type: ignore[union-attr]

            def on_intr(h: object, intno: int, ud: object) -> None:
                if intno == syscall_intno:
                    on_syscall(h, ud)
                else:
                    on_exc(intno)

            if insn_hook:
                self._add_hook(trap_type, _HOOK_INSN_CB, on_syscall, *trap_extra)
            else:
                self._add_hook(trap_type, _HOOK_INTR_CB, on_intr)
        # Instructions a user-mode process may not execute, which Unicorn (running the guest
        # with kernel privileges) would execute quietly; each hook runs only for its own
        # instruction, so it costs nothing elsewhere.
        for insn in arch.faulting_insns:
            report = self._guarded(lambda fault=insn.fault: machine()._instruction_fault(fault))  # type: ignore[union-attr, misc]
            callback: Callable[..., object] = {
                "plain": lambda h, ud, report=report: report(),
                "in": lambda h, port, size, ud, report=report: report() or 0,
                "out": lambda h, port, size, value, ud, report=report: report(),
            }[insn.signature]
            self._add_hook(unicorn.UC_HOOK_INSN, _INSN_HOOK_TYPES[insn.signature], callback, insn.insn_id)

        if arch.counters is not None:
            self._install_counters(machine, arch.counters)
        self._install_tlb_fill(machine)

        # No memory hook here: on aarch64 a UC_HOOK_MEM_INVALID hook alone makes Unicorn's
        # generated code several times slower. A fault's address is found afterwards instead,
        # by replaying the one faulting instruction with such a hook (see _faulting_access).

    def _install_counters(self, machine: "weakref.ref[Machine]", counters: Counters) -> None:
        # The counters a process reads without a system call count the kernel model's clock
        # (the virtual one with --virtual-time), not the host's: Unicorn would answer rdtsc
        # from the host's TSC and cntvct_el0 from the host's clock, and has no riscv time CSR.
        # Each hook runs for its own instructions only (riscv's is the exception path).
        clock = self.kernel.clock
        hz = counters.hz
        if counters.kind == "x86":
            low, high, aux = (self.arch.reg_id(r) for r in counters.registers)
            uc = self.uc

            def read(with_aux: bool) -> int:
                count = clock.counter(hz)
                uc.reg_write(low, count & 0xFFFFFFFF)
                uc.reg_write(high, (count >> 32) & 0xFFFFFFFF)
                if with_aux:
                    uc.reg_write(aux, 0)  # TSC_AUX: Linux keeps the cpu number there; cpu 0
                return 1  # the instruction's own answer is skipped

            for insn_id, with_aux in ((ux.UC_X86_INS_RDTSC, False), (ux.UC_X86_INS_RDTSCP, True)):
                def on_rdtsc(h: object, ud: object, with_aux: bool = with_aux) -> int:
                    try:
                        return read(with_aux)
                    except BaseException as e:  # noqa: BLE001 - re-raised by run()
                        machine()._hook_failed(e)  # type: ignore[union-attr]
                        return 1

                self._add_hook(unicorn.UC_HOOK_INSN, _HOOK_RDTSC_CB, on_rdtsc, insn_id)
        elif counters.kind == "sysreg":
            def on_sysreg(h: object, reg: int, cp: int, ud: object) -> int:
                try:
                    return machine()._timer_register(reg, trampoline.CpReg.from_address(cp))  # type: ignore[union-attr]
                except BaseException as e:  # noqa: BLE001 - re-raised by run()
                    machine()._hook_failed(e)  # type: ignore[union-attr]
                    return 1

            entries = trampoline.entry_points()
            if entries is not None:
                # The native filter calls Python for the generic timer's registers only.
                self._sysreg_block = trampoline.SysregBlock(
                    callback=self._callback_address(trampoline.SYSREG_ENTRY, on_sysreg)
                )
                self._add_native_hook(
                    unicorn.UC_HOOK_INSN, entries.sysreg, ctypes.addressof(self._sysreg_block), ua64.UC_ARM64_INS_MRS
                )
            else:
                def on_any_sysreg(h: object, reg: int, cp: int, ud: object) -> int:
                    r = trampoline.CpReg.from_address(cp)
                    return on_sysreg(h, reg, cp, ud) if (r.op0, r.op1, r.crn) == (3, 3, 14) else 0

                self._add_hook(unicorn.UC_HOOK_INSN, trampoline.SYSREG_ENTRY, on_any_sysreg, ua64.UC_ARM64_INS_MRS)

    def _timer_register(self, reg: int, cp: "trampoline.CpReg") -> int:
        """An aarch64 read of a generic timer register (op0 3, op1 3, CRn 14) from user code:
        the counter and its frequency as Linux lets EL0 read them, SIGILL for the rest (the
        physical counter, the timers), whose reads trap to a Linux kernel that answers none.
        Returns 1: the instruction's own read is skipped."""
        counters = self.arch.counters
        assert counters is not None
        if (cp.crm, cp.op2) == (0, 0):  # cntfrq_el0
            value = counters.hz
        elif (cp.crm, cp.op2) in ((0, 2), (0, 6)):  # cntvct_el0, cntvctss_el0
            value = self.kernel.clock.counter(counters.hz)
        else:
            self._instruction_fault(Fault("SIGILL", "read of a generic timer register user code may not read"))
            return 1
        if reg != ua64.UC_ARM64_REG_XZR:
            self.uc.reg_write(reg, value)
        return 1

    def _counter_csr(self, pc: int) -> bool:
        """riscv: whether the illegal instruction before ``pc`` (the exception hook sees the pc
        after it) reads the ``time`` CSR (``rdtime``: csrrs/csrrc with x0, csrrsi/csrrci with
        0); then its destination register gets the counter and the guest goes on at ``pc``.
        ``cycle`` and ``instret`` stay illegal, as Linux leaves them (scounteren)."""
        counters = self.arch.counters
        if counters is None or counters.kind != "csr":
            return False
        try:
            insn = int.from_bytes(self.memory.peek(pc - 4, 4), "little")
        except Exception:  # noqa: BLE001 - nothing mapped there: not a CSR read
            return False
        funct3 = (insn >> 12) & 7
        if insn & 0x7F != 0x73 or funct3 not in (2, 3, 6, 7) or (insn >> 15) & 0x1F or insn >> 20 != _CSR_TIME:
            return False
        rd = (insn >> 7) & 0x1F
        value = self.kernel.clock.counter(counters.hz)
        if rd:
            self.uc.reg_write(self.arch.reg_id(f"x{rd}"), value)
        return True

    def _install_tlb_fill(self, machine: "weakref.ref[Machine]") -> None:
        # Stores: Unicorn 2.1.4 treats every page as executable when the guest has no paging,
        # so a TLB entry never loses TLB_NOTDIRTY and every store takes the slow helper (4-8
        # times slower). With the virtual TLB, a fill asks this hook for the page: data pages
        # get no execute permission, and their first store makes the entry a fast one.
        #
        # The answer is the page itself (guest addresses are Unicorn's physical addresses, so
        # Unicorn's own flushes on mapping and unmapping stay exact) with the page's
        # protection plus whatever this access needs: the fill never fails, and Unicorn's
        # checks of its regions still report an unmapped page or a protection fault exactly as
        # without this hook. A page that may execute keeps execute in every entry, so a store
        # to code is still seen by the slow path (self-modifying code).
        self.uc.ctl_set_tlb_mode(unicorn.UC_TLB_VIRTUAL)
        memory = self.memory
        flush = memory.flush_tlb
        entries = trampoline.entry_points()
        if entries is not None:
            # The native fill reads the memory's page table; only the growth is Python's.
            pages = memory.track_pages(self.arch.task_size)
            size = 256

            def on_grow(uc: object) -> None:
                nonlocal size
                block.fills = 0
                if size >= TLB_MAX_ENTRIES:
                    block.threshold = 1 << 63
                    return
                size *= 2
                block.threshold = size * 3 // 4
                flush()  # QEMU resizes the TLB only when it is flushed (see below)

            block = self._fill_block = trampoline.FillBlock(
                table=pages.address, chunks=pages.chunks, fills=0, threshold=size * 3 // 4,
                grow=self._callback_address(trampoline.GROW, on_grow),
            )
            self._add_native_hook(unicorn.UC_HOOK_TLB_FILL, entries.fill, ctypes.addressof(block))
            return
        cache = memory.tlb_range
        perms = _ACCESS_PERM_OF
        # Fills since the last flush of ours, and the TLB's size as far as we know: a sweep of
        # new pages fills three quarters of it in that many fills, enough for QEMU to double it.
        fills, size = 0, 256

        def on_fill(h: object, vaddr: int, access: int, entry: "ctypes._Pointer[ctypes.c_uint64]", ud: object) -> bool:
            nonlocal fills, size
            try:
                if not cache[0] <= vaddr < cache[1]:
                    cache[:] = memory.prot.around(vaddr)
                entry[0] = vaddr
                entry[1] = cache[2] | perms[access]
                fills += 1
                if fills * 4 > size * 3 and size < TLB_MAX_ENTRIES:
                    # QEMU resizes the TLB only when it is flushed (a fill may flush: its
                    # callers look their entry up again afterwards)
                    fills = 0
                    size *= 2
                    flush()
                return True
            except BaseException as e:  # noqa: BLE001 - re-raised by run()
                m = machine()
                if m is not None:
                    m._hook_failed(e)
                return False

        self._add_hook(unicorn.UC_HOOK_TLB_FILL, _HOOK_TLB_FILL_CB, on_fill)

    def _instruction_fault(self, fault: Fault) -> None:
        # The hook sees the pc of the instruction itself, before it runs.
        pc = self.pc + fault.pc_offset
        self.fault = self._report(fault, pc)
        self.exit = ProcessExit(signal=fault_signal(fault), reason=self.fault.line())
        # The stop takes effect only at the end of the translated block: the instructions
        # after this one still run, but the process is dead (see _trap and _crash).
        self._request_stop(Stop.EXITED)

    def _cpu_exception(self, intno: int) -> None:
        if self.exit is not None:  # the rest of a block after a fatal instruction hook
            self._request_stop(Stop.EXITED)
            return
        fault = self.arch.faults.get(intno, Fault("SIGILL", f"unexpected CPU exception {intno}"))
        if fault.signal == "SIGILL" and self._counter_csr(self.pc):
            return
        pc = self.pc + fault.pc_offset
        # arm's Thumb code is 2-byte aligned, whatever the arch's usual alignment
        align = 2 if self.arch.thumb is not None and self.resume_address & 1 else self.arch.insn_align
        if pc % align:
            # A jump to a misaligned address: Linux reports the pc alignment fault as SIGBUS,
            # whatever the CPU made of the bytes there.
            fault = Fault("SIGBUS", "misaligned instruction address (pc alignment fault)", code="BUS_ADRALN")
        # The exception left the translated block: no instruction after it runs before the
        # stop. The fault's signal is taken once emu_start has returned (see _emulate).
        report = self._report(fault, pc)
        if self.arch.name in ("x86_64", "i386"):
            # an `int n` without a user gate is #GP with the gate's selector as error code
            report.trap = (intno, 0) if intno < 32 else (13, intno << 3 | 2)
        self._fault_pending = (report, fault.resume_offset)
        uclib.uc_emu_stop(self._uch)

    def _fault(self, report: FaultReport, resume_offset: int = 0) -> bool:
        """The signal of a CPU fault, as Linux's force_sig_fault sends it: the guest's handler
        runs (True; its frame saves the registers of the faulting instruction, and the pc
        ``resume_offset`` bytes past it), or the process ends with the report (False)."""
        code, addr = fault_siginfo(self.arch.name, report, lambda a: self.memory.accessible(a, 1, 0) == 1)
        try:
            self.kernel.signals.force_fault(report.signo, SI_CODES.get(code, 0x80), addr)
        except SignalDelivery as delivery:
            delivery.trap = report.trap
            self._enter_fault_handler(delivery, report.pc + resume_offset)
            if self.exit is None:
                return True
            return False
        except ProcessExit as ex:  # not raised today: a fault signal with a handler runs it
            self.exit = _detached(ex)
            return False
        self.fault = report
        self.exit = ProcessExit(signal=report.signo, reason=report.line())
        return False

    def _enter_fault_handler(self, delivery: SignalDelivery, pc: int) -> None:
        # the frame code takes the pc as a trap hook sees it (see deliver_outside_trap)
        trap = self.arch.trap
        adjust = trap.length + trap.pc_offset
        thumb = self.thumb_bit
        self.pc = (pc - adjust) | thumb
        self._enter_handler(delivery)
        if self.exit is None:
            self.pc = (self.pc + adjust) | self.thumb_bit

    # -- tasks: what sandbox.system asks of a machine --------------------------------------

    def child_registers(self, stack: int, tls: "int | tuple[int, bytes] | None") -> "tuple[unicorn.UcContext, int]":
        """The registers of a task clone makes: the current ones as the call returns 0, with
        ``stack`` as the stack pointer (when not 0) and ``tls`` as the thread pointer, and the
        pc past the trap it starts from (written when it first runs: Unicorn 2.1 cannot write
        arm's pc into a saved context). On i386 ``tls`` is (GDT entry, descriptor), which
        :meth:`child_tls` takes."""
        v = self._serving_regs
        ctx = self.uc.context_save()
        mask = self._word_mask
        ids = self._write_ids
        ctx.reg_write(ids[0], 0)
        for idx, src, add in self._clobber_plan:
            ctx.reg_write(ids[idx], (v[src] + add) & mask)
        thumb = 1 if self._thumb_mask and v[-1] & self._thumb_mask else 0
        trap = self.arch.trap
        length = self.arch.thumb.trap_length if thumb and self.arch.thumb is not None else trap.length
        trap_pc = v[self._pc_index] + trap.pc_offset + (self._thumb_adjust if thumb else 0)
        if stack:
            ctx.reg_write(self.arch.reg_id(self.arch.sp), stack & mask)
        if isinstance(tls, int) and self.arch.thread_pointer is not None:
            ctx.reg_write(self.arch.reg_id(self.arch.thread_pointer), tls & mask)
        return ctx, (trap_pc + length) | thumb

    def child_tls(self, tls: "int | tuple[int, bytes] | None") -> bytes | None:
        """i386: the TLS entries of the descriptor table a new task starts with (this task's,
        with the one clone's CLONE_SETTLS gave); None on the other arches."""
        current = self.save_tls()
        if current is None:
            return None
        if isinstance(tls, tuple):
            entry, descriptor = tls
            at = 8 * (entry - GDT_ENTRY_TLS_MIN)
            current = current[:at] + descriptor + current[at + 8:]
        return current

    def save_tls(self) -> bytes | None:
        """i386: the task's TLS entries of the descriptor table (the rest is the process's)."""
        table = self.arch.descriptor_table
        if table is None:
            return None
        return bytes(self.uc.mem_read(table.address + 8 * GDT_ENTRY_TLS_MIN, 8 * GDT_ENTRY_TLS_ENTRIES))

    def restore_tls(self, tls: bytes) -> None:
        """i386: put a task's TLS entries back, and reload the segment registers using them."""
        table = self.arch.descriptor_table
        if table is None:
            return
        self.uc.mem_write(table.address + 8 * GDT_ENTRY_TLS_MIN, tls)
        for register in table.segment_registers:
            selector = self.reg(register)
            if GDT_ENTRY_TLS_MIN <= selector >> 3 < GDT_ENTRY_TLS_MIN + GDT_ENTRY_TLS_ENTRIES and selector & 3 == 3:
                self.set_reg(register, selector)

    def copy_memory_from(self, other: "Machine") -> None:
        """Make this address space a copy of ``other``'s: what fork does.

        Every mapping with its protection and bytes; chunks that are all zero are left to the
        fresh mapping's zero pages, so untouched memory costs a read and no copy. This machine
        may be a spare one a process that ended left (see :meth:`reset_for_reuse`): a mapping
        it has exactly as ``other`` has is kept, and only the chunks that differ are written,
        so the code it translated for the same program (a shell forking again) stays
        translated; a changed chunk of executable memory drops its translations.
        """
        src, dst = other.uc, self.uc
        wanted = list(other.memory.prot)
        same = set(wanted)
        for start, end, prot in list(self.memory.prot):
            if (start, end, prot) not in same:
                self.memory.unmap(start, end - start)
        kept = set(self.memory.prot)
        for start, end, prot in wanted:
            reused = (start, end, prot) in kept
            if not reused:
                self.memory.map(start, end - start, prot)
            pos = start
            while pos < end:
                n = min(_COPY_CHUNK, end - pos)
                data = src.mem_read(pos, n)
                if reused:
                    if dst.mem_read(pos, n) != data:
                        dst.mem_write(pos, bytes(data))
                        if prot & PROT_EXEC:
                            dst.ctl_remove_cache(pos, pos + n)
                elif data != (_ZERO_CHUNK if n == _COPY_CHUNK else bytes(n)):
                    dst.mem_write(pos, bytes(data))
                pos += n
        table = self.arch.descriptor_table
        if table is not None:
            dst.mem_write(table.address, bytes(src.mem_read(table.address, table.entries * 8)))
        self.program_path = other.program_path
        self.symbols = other.symbols
        self.symbol_spans = other.symbol_spans

    @property
    def reusable(self) -> bool:
        """Whether a new process may take this machine over once its own has ended: nothing
        but the run's own hooks is in it (a debugger's breakpoints and stops are not)."""
        return (not self._closed and not self._debug_hooks and self.stop_at_syscall_entry is None
                and self.stop_at_syscall_exit is None)

    def reset_for_reuse(self) -> None:
        """Forget the process that ran here (its registers, its call, how it ended), keeping
        its mappings and translated code for the next fork to reuse what is the same."""
        self.uc.context_restore(self.fresh_context)
        self.pending = self._restarting = None
        self._pending_regs = ()
        self.task_change = self.exec_request = None
        self.exit = None
        self.fault = None
        self._killed = None
        self._stop_reason = None
        self._hook_error = None
        self.last_request = None
        self.budget_used_up = False

    def empty_for_exec(self) -> None:
        """Unmap everything and put a fresh CPU's registers back: what execve leaves of the old
        program in a process's own address space."""
        for start, end, _prot in list(self.memory.prot):
            self.memory.unmap(start, end - start)
        self.uc.ctl_flush_tb()
        table = self.arch.descriptor_table
        if table is not None:
            self.uc.mem_write(table.address, bytes(table.entries * 8))
            for index, descriptor in table.flat:
                self.uc.mem_write(table.address + 8 * index, descriptor)
        self.uc.context_restore(self.fresh_context)
        self.pending = self._restarting = None
        self.exit = None
        self.fault = None
        self.symbols = {}
        self.symbol_spans = {}

    def interrupt_pending(self, restart: bool) -> None:
        """A signal came while the pending call waited: the call ends with EINTR, or (with
        SA_RESTART, for a call that may be restarted) its registers are left to make it
        again once the handler returns. The pc is left where the task goes on."""
        req = self.pending
        if req is None:
            return
        regs = self._pending_regs
        thumb = self.thumb_bit
        trap = self.arch.trap
        length = self.arch.thumb.trap_length if thumb and self.arch.thumb is not None else trap.length
        self.pending = self._restarting = None
        if restart:
            req.note = "interrupted by a signal; made again after its handler (SA_RESTART)"
            self._log_outside(req, None, None)
            self.pc = req.pc | thumb
            return
        self._write_result(regs, -int(Errno.EINTR))
        self._log_outside(req, -int(Errno.EINTR), Errno.EINTR)
        self.pc = (req.pc + length) | thumb

    def deliver_outside_trap(self, delivery: SignalDelivery) -> None:
        """Enter a signal handler for a task that is not in a call (it is being switched in):
        the frame saves the pc it was going on from."""
        trap = self.arch.trap
        adjust = trap.length + trap.pc_offset
        # the signal frame code expects the pc as a trap hook sees it; put it back after
        self.pc = (self.pc - adjust) | self.thumb_bit
        self._enter_handler(delivery)
        if self.exit is None:
            self.pc = (self.pc + adjust) | self.thumb_bit

    # -- running ---------------------------------------------------------------------------

    def run(self, count: int = 0, timeout_us: int = 0, until: int | None = None) -> Stop:
        """Run the guest until its first process ends, or a stop (see :meth:`run_task`).

        With several tasks the CPU goes from one to the next as the scheduler says
        (:mod:`sandbox.system`); with one, this is that task's run.
        """
        system = self.system
        if system is None:
            return self.run_task(count, timeout_us, until)
        return system.run(count, timeout_us, until)

    def run_task(self, count: int = 0, timeout_us: int = 0, until: int | None = None) -> Stop:
        """Run the current task from the current pc until it exits, faults, cannot go on
        (``Stop.SWITCH``), or a stop is requested.

        ``count`` limits the number of instructions (for single-stepping); ``until`` is an
        address to stop at. An exception raised inside a hook (a bug, or KeyboardInterrupt)
        stops the run and is raised here. With an instruction budget (:meth:`set_insn_budget`)
        a run without ``count`` spends it, and ends the process when it is used up.
        """
        if self._closed:
            raise SandboxError("this process was closed; start a new one")
        if self.exit is not None:
            return Stop.EXITED
        if self._take_kill():
            return Stop.EXITED
        if self.pending is not None:
            req, self.pending = self.pending, None
            self._serve_outside(req)
            if self._stop_reason is not None:
                return self._take_stop()
        budgeted = self.insn_budget is not None
        remaining = count  # with a count too (a time slice), both are spent
        while True:
            slice_ = min(self.insn_budget, INSN_SLICE, remaining or INSN_SLICE) if budgeted else count  # type: ignore[type-var]
            stop = self._emulate(slice_, timeout_us, until)
            if stop is _HANDLER_ENTERED:
                # A fault's signal runs the guest's handler. How far the slice got is not known:
                # a budget is charged a little for it, so that a fault repeated for ever ends.
                if budgeted:
                    self.insn_budget -= FAULT_CHARGE  # type: ignore[operator]
                    if self.insn_budget <= 0:  # type: ignore[operator]
                        self.budget_used_up = True
                        self.exit = budget_exit(self._insn_budget_given or 0)
                        return Stop.EXITED
                if count:
                    return Stop.COUNT
                continue
            if stop is not None:
                return stop
            # Unicorn returned of its own accord: the count is used up, or a halting
            # instruction ran. With a budget, the two cannot be told apart (a byte before the
            # pc that looks like x86 ``hlt`` may end a longer instruction), so it is the count.
            if budgeted:
                self.insn_budget -= slice_  # type: ignore[operator]
                if self.insn_budget <= 0:  # type: ignore[operator]
                    self.budget_used_up = True
                    self.exit = budget_exit(self._insn_budget_given or 0)
                    return Stop.EXITED
                if count:
                    remaining -= slice_
                    if remaining <= 0:
                        return Stop.COUNT
                continue
            if count:
                return Stop.COUNT
            halt = self._halt_fault()
            if halt is not None:
                if self._fault(halt):
                    continue
                return Stop.EXITED
            if self._after_hint():
                continue
            return Stop.STOPPED

    def _emulate(self, count: int, timeout_us: int, until: int | None) -> Stop | None:
        """One ``emu_start``; the stop it came to, or None when Unicorn returned by itself."""
        if count and not self._counting:
            # Unicorn counts instructions with a code hook of its own, which only code
            # translated after it was added calls: translate again what was translated without.
            self.uc.ctl_flush_tb()
        self._counting = bool(count)
        previous_hook = sys.unraisablehook
        if previous_hook is not _unraisable:
            _outer_unraisable[0] = previous_hook
            sys.unraisablehook = _unraisable
        try:
            self.uc.emu_start(self.resume_address, self._never if until is None else until, timeout_us, count)
        except unicorn.UcError as e:
            if self._hook_error is None:
                self._crash(e)
        finally:
            sys.unraisablehook = previous_hook
        if self._hook_error is not None:
            err, self._hook_error = self._hook_error, None
            self._fault_pending = None
            raise err
        if self._take_kill():
            self._fault_pending = None
            return Stop.EXITED
        if self._fault_retry:
            self._fault_retry = False
            if self._stop_reason is not None:
                return self._take_stop()
            return _HANDLER_ENTERED
        pending = self._fault_pending
        if pending is not None:
            self._fault_pending = None
            if not self._fault(*pending):
                self._stop_reason = None
                return Stop.EXITED
            if self._stop_reason is not None:
                return self._take_stop()
            return _HANDLER_ENTERED
        if self._stop_reason is not None:
            return self._take_stop()
        if self.exit is not None:  # a crash
            return Stop.EXITED
        if until is not None and self.pc == until:
            return Stop.REACHED
        return None

    def _take_kill(self) -> bool:
        """Whether another thread killed the process (see :meth:`kill`); it has exited then."""
        killed = self._killed
        if killed is None:
            return False
        if self.exit is None:
            self.exit = ProcessExit(killed.status, killed.signal, killed.reason)
        self._stop_reason = None
        return True

    def set_insn_budget(self, instructions: int | None) -> None:
        """Let runs execute at most ``instructions`` more instructions (None: any number).

        When the budget is used up the process ends with SIGXCPU, as at RLIMIT_CPU. Counting
        makes Unicorn call a counter before every instruction: generated code runs several
        times slower while a budget is set.
        """
        self.insn_budget = instructions
        self._insn_budget_given = instructions

    def _after_hint(self) -> bool:
        """Whether the instruction before the pc is one Unicorn stops at but Linux lets user
        code run as a hint (aarch64 ``wfi``): then the run just goes on."""
        pc = self.pc
        for insn in self.arch.hints:
            try:
                if self.memory.peek(pc - len(insn), len(insn)) == insn:
                    return True
            except Exception:  # noqa: BLE001 - nothing mapped before the pc: not a hint
                continue
        return False

    def serve_pending(self) -> Stop | None:
        """Serve the syscall an entry stop left pending, without running any further.

        Returns the stop serving caused (``EXITED``, or ``SYSCALL_EXIT`` when the exit
        predicate asked for one), or None. A debugger stepping over the trap uses this.
        """
        if self.pending is None:
            return None
        req, self.pending = self.pending, None
        self._serve_outside(req)
        return self._take_stop() if self._stop_reason is not None else None

    def run_until(self, address: int) -> Stop:
        """Run until execution reaches ``address`` (or the guest exits or faults)."""
        return self.run(until=address)

    @property
    def _never(self) -> int:
        # An address execution never reaches, so emu_start runs until something stops it.
        return self.arch.word_mask

    def _take_stop(self) -> Stop:
        reason, self._stop_reason = self._stop_reason, None
        assert reason is not None
        return reason

    def _serve_outside(self, req: SyscallRequest) -> None:
        # Resuming from a syscall-entry stop: serve it now, as the hook would have, with the
        # pc where the hook sees it (signal delivery reads and moves it there), then moved
        # past the trap as Unicorn moves it when the hook returns.
        trap = self.arch.trap
        thumb = self.thumb_bit  # arm's Thumb state: a 2-byte trap, and pc writes keep bit 0
        length = self.arch.thumb.trap_length if thumb and self.arch.thumb is not None else trap.length
        self.pc = (req.pc - trap.pc_offset - (trap.length - length)) | thumb
        if self._serve(req, self._pending_regs):
            _WRITE_BATCH(self._uch, self._write_ids, self._write_ptrs, self._n_write)
        if self.exit is None and self.pending is not req:  # a call that waits again stays at its trap
            self.pc = (self.pc + trap.length + trap.pc_offset) | thumb

    def _halt_fault(self) -> FaultReport | None:
        if self.arch.halt is None:
            return None
        insn, fault = self.arch.halt
        pc = self.pc
        try:
            before = self.memory.peek(pc + fault.pc_offset, len(insn))
        except Exception:  # noqa: BLE001 - an unmapped pc simply is not a halt
            return None
        if before != insn:
            return None
        report = self._report(fault, pc + fault.pc_offset)
        report.trap = (13, 0)  # hlt in user mode: a general protection fault
        return report

    def _crash(self, error: unicorn.UcError) -> None:
        if self.exit is not None:  # the rest of a block after a fatal instruction hook
            return
        fault = _UC_ERROR_FAULTS.get(error.errno)
        if fault is None:
            raise error
        pc = self.pc
        if error.errno == unicorn.UC_ERR_INSN_INVALID:
            fault = self._invalid_instruction_fault(pc) or fault
        report = self._report(fault, pc)
        if error.errno in (unicorn.UC_ERR_FETCH_UNMAPPED, unicorn.UC_ERR_FETCH_PROT):
            report.access, report.address, report.instruction = "execute", pc, ""
        elif fault.signal == "SIGSEGV":
            access = self._faulting_access(pc)
            if access is not None:
                report.access, report.address = access
                if self._below_stack(access[1]):
                    report.what += " just below the stack (a stack overflow)"
        if report.address is not None and self.arch.name in ("x86_64", "i386"):
            # a page fault (#PF, 14); its error code: protection (not absent), write, user, fetch
            pf = 4 | (1 if error.errno in _PROT_ERRORS else 0) | {"write": 2, "execute": 16}.get(report.access or "", 0)
            report.trap = (14, pf)
        if error.errno in _PROT_ERRORS and report.address is not None:
            # a page of a file mapping past the file's end (see kernel_model.mm.hide_past_eof)
            past = file_fault(self.kernel.mm, report.address, _PROT_NEEDED.get(report.access or "", PROT_READ))
            if past == "filled":  # the file grew: the access is made again, and succeeds
                self._fault_pending = None
                self._fault_retry = True
                return
            if past == "SIGBUS":
                report.signal, report.code = "SIGBUS", "BUS_ADRERR"
                report.what = f"{report.access or 'access'} of a page past the end of the mapped file"
        self._fault_pending = (report, fault.resume_offset)

    def _below_stack(self, address: int) -> bool:
        # Within Linux's stack guard gap (256 pages) under the stack: what deep recursion hits.
        stack = next((v for v in self.kernel.mm.vmas if v.name == "[stack]"), None)
        return stack is not None and stack.start - (256 << 12) <= address < stack.start

    def _invalid_instruction_fault(self, pc: int) -> Fault | None:
        for insn, fault in self.arch.invalid_instructions:
            try:
                if self.memory.peek(pc, len(insn)) == insn:
                    return fault
            except Exception:  # noqa: BLE001 - bytes past the end of a mapping: not this one
                continue
        return None

    def _faulting_access(self, pc: int) -> tuple[str, int] | None:
        """Replay the faulting instruction under a memory hook to learn the address it touched.

        Unicorn's faults are precise, so the registers still hold the state before the
        instruction and replaying it faults again the same way.
        """
        seen: list[tuple[str, int]] = []

        def on_bad_access(h: object, access: int, address: int, size: int, value: int, ud: object) -> bool:
            seen.append((_MEM_ACCESS.get(access, "access"), address))
            return False

        cb = _HOOK_MEM_INVALID_CB(on_bad_access)
        # The fill for the faulting access gave its TLB entry that access (see
        # _install_tlb_fill): without a flush the replay would hit it and not fault.
        self.memory.flush_tlb()
        handle = uc_hook_h()
        uclib.uc_hook_add(
            self._uch, ctypes.byref(handle), unicorn.UC_HOOK_MEM_INVALID, ctypes.cast(cb, ctypes.c_void_p), None,
            ctypes.c_uint64(1), ctypes.c_uint64(0),
        )
        saved = self.uc.context_save()
        try:
            self.uc.emu_start(pc | self.thumb_bit, self._never, 0, 1)
        except unicorn.UcError:
            pass
        finally:
            uclib.uc_hook_del(self._uch, handle)
            self.uc.context_restore(saved)
        return seen[0] if seen else None

    def _report(self, fault: Fault, pc: int) -> FaultReport:
        return FaultReport(
            signal=fault.signal, what=fault.what, pc=pc, instruction=self.disassemble_one(pc),
            registers=self.registers(), code=fault.code,
        )

    # -- inspection ------------------------------------------------------------------------

    def registers(self, names: tuple[str, ...] | None = None) -> dict[str, int]:
        """The values of the named registers (the debugger's set by default)."""
        names = names or self.arch.debugger_registers
        return {n: self.reg(n) for n in names}

    def disassemble(self, address: int, count: int = 1) -> list[tuple[int, bytes, str]]:
        """Up to ``count`` instructions at ``address``: (address, bytes, text).

        On arm the instruction set is the one the CPU is in now (ARM or Thumb).
        """
        cs = _capstone(self.arch, thumb=bool(self.thumb_bit))
        out = []
        pos = address
        for _ in range(count):
            try:
                code = self.memory.peek(pos, 16)
            except Exception:  # noqa: BLE001 - an unmapped tail: take what there is
                code = b""
                for size in (8, 4, 2):
                    try:
                        code = self.memory.peek(pos, size)
                        break
                    except Exception:  # noqa: BLE001
                        continue
            insn = next(cs.disasm(code, pos, 1), None)
            if insn is None:
                break
            out.append((insn.address, bytes(insn.bytes), f"{insn.mnemonic} {insn.op_str}".strip()))
            pos += insn.size
        return out

    def disassemble_one(self, address: int) -> str:
        """The text of the instruction at ``address`` ("" if it cannot be decoded)."""
        got = self.disassemble(address, 1)
        return got[0][2] if got else ""

    def close(self) -> None:
        """Release the engine and the kernel's host resources now (again: nothing happens)."""
        with self._lock:  # a watchdog must not stop an engine being released
            if self._closed:
                return
            self._closed = True
        system = self.system
        if system is not None and system.first is self:
            system.close_machines()
        self.uc = _ClosedEngine()  # type: ignore[assignment]
        self._release()

    def __enter__(self) -> "Machine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unraisable(unraisable: "sys.UnraisableHookArgs") -> None:
    """While a machine runs, an exception a hook could not catch is that machine's hook error.

    A host signal's Python handler runs at the first bytecode of whatever Python code runs
    next, which may be the first line of a hook, before its ``try``: ctypes would print that
    exception (Ctrl-C's KeyboardInterrupt) and lose it. Anything else goes to the previous hook.
    """
    owner = getattr(unraisable.object, "sandbox_machine", None)
    machine = owner() if owner is not None else None
    if machine is None or unraisable.exc_value is None:
        _previous_unraisable(unraisable)
        return
    machine._hook_failed(unraisable.exc_value)


def _previous_unraisable(unraisable: "sys.UnraisableHookArgs") -> None:
    _outer_unraisable[0](unraisable)


# the hook that was in place when a machine started running
_outer_unraisable: list[Callable[["sys.UnraisableHookArgs"], object]] = [sys.__unraisablehook__]


def _configure_engine(uc: unicorn.Uc) -> None:
    """What must be set before the engine is first used: its code buffer and page size.

    The code buffer is TCG_BUFFER bytes instead of Unicorn's 1 GiB: generated code calls
    Unicorn's helpers directly only within 2 GiB of libunicorn, and with 1 GiB buffers a second
    live engine (or anything mapped where a closed one was) lands beyond that, where its code
    runs about twice as slowly.

    Only arm and aarch64 let the page size be chosen (their default is 1 KiB, four TLB entries
    for each page of the guest); the others refuse, and already have 4 KiB pages.
    """
    uc.ctl_set_tcg_buffer_size(TCG_BUFFER)
    try:
        uc.ctl_set_page_size(GUEST_PAGE)
    except unicorn.UcError:
        if uc.ctl_get_page_size() != GUEST_PAGE:
            raise


def _detached(ex: ProcessExit) -> ProcessExit:
    """``ex`` without its traceback and context, which hold frames that hold the machine: kept
    as ``Machine.exit``, it must not make a reference cycle that keeps the engine alive."""
    ex.__traceback__ = ex.__context__ = ex.__cause__ = None
    return ex


def _release_engine(kernel: Kernel | None, memory: UnicornMemory, callbacks: list[object]) -> None:
    """Close the kernel's host files and let the engine go (the machine's finalizer).

    Unicorn closes an engine when its Uc object goes. The kernel's own reference cycles may
    keep it (and its memory object) until the garbage collector runs; cutting the memory's
    link to the engine lets the engine go now.
    """
    if kernel is not None:
        kernel.close()
    callbacks.clear()
    memory._uc = _ClosedEngine()  # type: ignore[assignment]
    if memory.pages is not None:
        memory.pages.close()
        memory.pages = None


class _ClosedEngine:
    """What a closed machine has instead of an engine: any use is a clear error, not a crash."""

    def __getattr__(self, name: str) -> object:
        raise SandboxError("this process was closed; start a new one")


class MachineCpu:
    """The :class:`kernel_model.seam.CpuControl` of a machine: the CPU effects of syscalls."""

    def __init__(self, machine: Machine) -> None:
        self._machine = weakref.proxy(machine)  # the machine owns this: no reference cycle
        self._ref = weakref.ref(machine)
        self._tp = machine.arch.thread_pointer

    def _system(self) -> "tuple[Machine, System]":
        machine = self._ref()
        assert machine is not None and machine.system is not None, "a call served without its machine"
        return machine, machine.system

    def clone_task(self, share_memory: bool, stack: int, tls: "int | tuple[int, bytes] | None") -> tuple[object, object]:
        """A new task's context (see :meth:`kernel_model.seam.CpuControl.clone_task`)."""
        machine, system = self._system()
        return system.clone_task(machine, share_memory, stack, tls)

    def check_program(self, image: bytes) -> None:
        """ENOEXEC unless ``image`` is an ELF program of this machine's arch."""
        machine, system = self._system()
        system.check_program(machine, image)

    def start_program(self, image: bytes, path: str, argv: list[bytes], envp: list[bytes], name: str) -> None:
        """Start ``image`` in the current process once the execve call is over."""
        machine, system = self._system()
        system.start_program(machine, image, path, argv, envp, name)

    def get_thread_pointer(self) -> int:
        """The thread pointer register (x86_64 FS base, aarch64 TPIDR_EL0)."""
        if self._tp is None:
            raise NotImplementedError(f"{self._machine.arch.name} has no thread pointer register")
        return self._machine.reg(self._tp)

    def set_thread_pointer(self, value: int) -> None:
        """Set the thread pointer register."""
        if self._tp is None:
            raise NotImplementedError(f"{self._machine.arch.name} has no thread pointer register")
        self._machine.set_reg(self._tp, value)

    def get_stack_pointer(self) -> int:
        """The stack pointer."""
        return self._machine.reg(self._machine.arch.sp)

    def _descriptor_table(self, index: int) -> DescriptorTable:
        table = self._machine.arch.descriptor_table
        if table is None:
            raise NotImplementedError(f"{self._machine.arch.name} has no descriptor table")
        if not 0 <= index < table.entries:
            raise ValueError(f"descriptor {index} is outside the table")
        return table

    def get_segment_descriptor(self, index: int) -> bytes:
        """The 8-byte descriptor in GDT entry ``index``."""
        table = self._descriptor_table(index)
        return bytes(self._machine.uc.mem_read(table.address + 8 * index, 8))

    def set_segment_descriptor(self, index: int, descriptor: bytes) -> None:
        """Write GDT entry ``index``; reload a segment register holding its selector, as Linux does."""
        table = self._descriptor_table(index)
        self._machine.uc.mem_write(table.address + 8 * index, bytes(descriptor))
        for register in table.segment_registers:
            selector = self._machine.reg(register)
            if selector >> 3 == index and selector & 3 == 3:
                self._machine.set_reg(register, selector)


def fault_signal(fault: Fault) -> int:
    """The signal number a fault delivers."""
    return signal_number(fault.signal)


_CS_CACHE: dict[str, "capstone.Cs"] = {}


def _capstone(arch: Arch, thumb: bool = False) -> "capstone.Cs":
    key = arch.name + (":thumb" if thumb else "")
    cs = _CS_CACHE.get(key)
    if cs is None:
        import capstone  # only to disassemble: a run that does not crash never loads it

        mode = arch.thumb.cs_mode if thumb and arch.thumb is not None else arch.cs_mode
        cs = _CS_CACHE[key] = capstone.Cs(arch.cs_arch, mode)
    return cs
