"""The seam between the CPU side (``sandbox``) and the Linux side (``kernel_model``).

One request type goes from the trap hook to a backend; a backend answers with a plain value,
raises :class:`KernelError` carrying a Linux errno, or raises :class:`ProcessExit`. Only the
hook turns that answer into registers. Nothing here knows about Unicorn: the kernel model is
driven in its unit tests by a fake memory made of a ``bytearray``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from kernel_model.linux_errno import Errno

PROT_NONE = 0
PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4


class GuestFault(Exception):
    """A guest address the kernel was asked to touch is not mapped with the needed access.

    The dispatcher turns it into ``EFAULT``, as ``copy_from_user``/``copy_to_user`` do.
    """

    def __init__(self, address: int, size: int, access: str) -> None:
        super().__init__(f"{access} of {size} bytes at {address:#x} faults")
        self.address = address
        self.size = size
        self.access = access


class KernelError(Exception):
    """A system call failed with a Linux errno; the hook writes ``-errno`` back to the guest."""

    def __init__(self, errno: Errno, detail: str = "") -> None:
        super().__init__(f"{errno.name}{': ' + detail if detail else ''}")
        self.errno = errno
        self.detail = detail


class ProcessExit(Exception):
    """The guest process ended: by ``exit``/``exit_group`` (``status``) or by a signal."""

    def __init__(self, status: int = 0, signal: int | None = None, reason: str = "") -> None:
        super().__init__(reason or (f"killed by signal {signal}" if signal else f"exit {status}"))
        self.status = status & 0xFF
        self.signal = signal
        self.reason = reason

    @property
    def wait_status(self) -> int:
        """The status as a shell shows it: the exit code, or 128 + the signal number."""
        return 128 + self.signal if self.signal else self.status

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # copied (a debugger's snapshot of a process table) as what it is, not rebuilt from
        # its message as an exception would be
        return _rebuilt, (type(self), self.args, self.__dict__)


def _rebuilt(cls: type, args: tuple, state: dict) -> BaseException:
    ex = cls.__new__(cls)
    ex.args = args
    ex.__dict__.update(state)
    return ex


@runtime_checkable
class GuestMemory(Protocol):
    """Guest memory as the kernel sees it. Every method raises :class:`GuestFault` on a bad address.

    Protections are Linux ``PROT_*`` bits. ``read`` needs ``PROT_READ`` and ``write`` needs
    ``PROT_WRITE`` on every byte touched, the way the kernel's user-copy routines behave.
    """

    page_size: int

    def read(self, address: int, size: int) -> bytes:
        """Read ``size`` bytes."""

    def write(self, address: int, data: bytes) -> None:
        """Write ``data``."""

    def accessible(self, address: int, size: int, prot: int) -> int:
        """How many bytes from ``address`` (at most ``size``) are mapped with ``prot``; never raises.

        The kernel copies to and from user memory until the first fault, so a read into a
        buffer whose tail is unmapped transfers the head; this is how a handler finds the head.
        """

    def load(self, address: int, data: bytes) -> None:
        """Write ``data`` whatever the protection (the kernel filling pages it maps)."""

    def read_cstr(self, address: int, limit: int) -> bytes:
        """Read a NUL-terminated string, without the NUL.

        Reads at most ``limit`` bytes; a result of length ``limit`` means no NUL was found
        within them (the caller decides whether that is ``ENAMETOOLONG`` or a truncation).
        """

    def map(self, address: int, size: int, prot: int) -> None:
        """Map fresh zeroed pages; the range must be page-aligned and currently unmapped."""

    def unmap(self, address: int, size: int) -> None:
        """Unmap a page-aligned range that is currently mapped."""

    def protect(self, address: int, size: int, prot: int) -> None:
        """Change the protection of a page-aligned range that is currently mapped."""


@dataclass(frozen=True)
class KernelArch:
    """What the kernel model needs to know about the guest arch (built from ``sandbox.arch``)."""

    name: str  # e.g. "x86_64", "aarch64": the key of the kernel model's struct-layout table
    bits: int  # 32 or 64: the width of a register, a pointer and a C long
    uname_machine: str  # what uname(2) reports in ``machine``
    big_endian: bool = False
    page_size: int = 4096
    # On a 32-bit arch a 64-bit argument (loff_t) takes two registers; true when the pair must
    # start on an even register (arm EABI), false when it takes the next two (i386).
    pair_aligned_args: bool = False

    @property
    def word_size(self) -> int:
        """Bytes in a register, a pointer and a C ``long``."""
        return self.bits // 8

    @property
    def word_mask(self) -> int:
        """All ones over a register's width."""
        return (1 << self.bits) - 1


@runtime_checkable
class CpuControl(Protocol):
    """The few CPU effects a system call has beyond its return value, done by the CPU side.

    ``arch_prctl(ARCH_SET_FS)`` moves x86_64's thread pointer (the FS base); the kernel model
    asks for it through this, never touching an emulator itself.
    """

    def get_thread_pointer(self) -> int:
        """The thread pointer register (x86_64 FS base, aarch64 TPIDR_EL0)."""

    def set_thread_pointer(self, value: int) -> None:
        """Set the thread pointer register."""

    def get_stack_pointer(self) -> int:
        """The stack pointer (whether the guest runs on its alternate signal stack)."""

    def get_segment_descriptor(self, index: int) -> bytes:
        """i386: the 8-byte descriptor in entry ``index`` of the descriptor table (GDT)."""

    def set_segment_descriptor(self, index: int, descriptor: bytes) -> None:
        """i386: write entry ``index`` of the GDT; a segment register using it is reloaded."""

    def clone_task(self, share_memory: bool, stack: int, tls: int | None) -> tuple[object, "GuestMemory"]:
        """The CPU side of a new task made by clone/fork: a context that is this task's
        registers as the call returns, with 0 as the result, ``stack`` as the stack pointer
        when not 0 and ``tls`` as the thread pointer when given; in this address space
        (``share_memory``) or in a copy of it. Returns the context and the task's memory."""

    def check_program(self, image: bytes) -> None:
        """Raise ``KernelError(ENOEXEC)`` when ``image`` (an ELF) is not a program this CPU
        runs (another machine's, a broken header): execve asks before anything changes."""

    def start_program(self, image: bytes, path: str, argv: list[bytes], envp: list[bytes], name: str) -> None:
        """Load ``image`` (an ELF) into a new address space for the current process, build its
        stack and point the current task at its entry (execve, past its point of no return).
        The CPU side may do it once the call has returned (:class:`Exec`)."""


class Exec(Exception):
    """execve succeeded: the registers are the new program's, the call writes no result."""


class SyscallRequest:
    """One trapped system call: what the hook read from the registers.

    ``args`` are the six raw, unsigned argument registers. ``note`` is free for the backend to
    explain its answer (``"unimplemented"``, ``"denied by rule ..."``); the trace shows it.
    ``cpu`` is how a handler reaches the CPU effects of :class:`CpuControl` (None in unit
    tests that have no CPU).
    """

    __slots__ = ("arch", "nr", "name", "args", "memory", "pc", "note", "cpu")

    def __init__(
        self,
        arch: str,
        nr: int,
        name: str,
        args: tuple[int, ...],
        memory: GuestMemory,
        pc: int = 0,
        cpu: CpuControl | None = None,
    ) -> None:
        self.arch = arch
        self.nr = nr
        self.name = name
        self.args = args
        self.memory = memory
        self.pc = pc
        self.note: str | None = None
        self.cpu = cpu

    def __repr__(self) -> str:
        args = ", ".join(hex(a) for a in self.args)
        return f"SyscallRequest({self.arch} {self.name}#{self.nr}({args}) @ {self.pc:#x})"


class Backend(Protocol):
    """Anything that answers system calls: the kernel model, the host backend, a policy in front."""

    def dispatch(self, request: SyscallRequest) -> int:
        """Serve one call: return its value, or raise :class:`KernelError` / :class:`ProcessExit`."""
