"""A fake guest memory made of bytearrays, and a kernel built on it: no emulator involved."""

from __future__ import annotations

import bisect
from typing import Any

from kernel_model.kernel import Kernel, KernelConfig
from kernel_model.linux_errno import Errno
from kernel_model.registry import REGISTRY
from kernel_model.sched import Blocked
from kernel_model.seam import PROT_READ, PROT_WRITE, GuestFault, KernelArch, KernelError, ProcessExit, SyscallRequest

X86_64 = KernelArch("x86_64", 64, "x86_64")
AARCH64 = KernelArch("aarch64", 64, "aarch64")


class FakeMemory:
    """Guest memory as page-aligned bytearray regions with Linux protections."""

    page_size = 4096

    def __init__(self) -> None:
        self._regions: list[list[Any]] = []  # [start, bytearray, prot], sorted, non-overlapping

    def _find(self, address: int) -> list[Any] | None:
        starts = [r[0] for r in self._regions]
        i = bisect.bisect_right(starts, address) - 1
        if i >= 0:
            start, data, _ = self._regions[i]
            if address < start + len(data):
                return self._regions[i]
        return None

    def copy(self) -> "FakeMemory":
        """A copy of every region (what a fork gives the child)."""
        twin = FakeMemory()
        twin._regions = [[start, bytearray(data), prot] for start, data, prot in self._regions]
        return twin

    def map(self, address: int, size: int, prot: int) -> None:
        assert address % self.page_size == 0 and size % self.page_size == 0, (hex(address), size)
        for page in range(address, address + size, self.page_size):
            assert self._find(page) is None, f"{page:#x} already mapped"
        self._regions.append([address, bytearray(size), prot])
        self._regions.sort(key=lambda r: r[0])

    def _split_at(self, address: int) -> None:
        r = self._find(address)
        if r is None or r[0] == address:
            return
        start, data, prot = r
        cut = address - start
        r[1] = data[:cut]
        self._regions.append([address, data[cut:], prot])
        self._regions.sort(key=lambda x: x[0])

    def unmap(self, address: int, size: int) -> None:
        self._split_at(address)
        self._split_at(address + size)
        self._regions = [r for r in self._regions if not (address <= r[0] < address + size)]

    def protect(self, address: int, size: int, prot: int) -> None:
        self._split_at(address)
        self._split_at(address + size)
        for r in self._regions:
            if address <= r[0] < address + size:
                r[2] = prot

    def accessible(self, address: int, size: int, prot: int) -> int:
        pos = address
        while pos < address + size:
            r = self._find(pos)
            if r is None or r[2] & prot != prot:
                break
            pos = r[0] + len(r[1])
        return min(pos, address + size) - address

    def _copy(self, address: int, size: int, prot: int, access: str) -> None:
        if self.accessible(address, size, prot) < size:
            raise GuestFault(address, size, access)

    def read(self, address: int, size: int) -> bytes:
        self._copy(address, size, PROT_READ, "read")
        return self.peek(address, size)

    def peek(self, address: int, size: int) -> bytes:
        """Read regardless of protection (for test assertions)."""
        out = bytearray()
        pos = address
        while len(out) < size:
            r = self._find(pos)
            if r is None:
                raise GuestFault(pos, size, "read")
            off = pos - r[0]
            chunk = r[1][off : off + size - len(out)]
            out += chunk
            pos += len(chunk)
        return bytes(out)

    def write(self, address: int, data: bytes) -> None:
        self._copy(address, len(data), PROT_WRITE, "write")
        self.load(address, data)

    def load(self, address: int, data: bytes) -> None:
        self._copy(address, len(data), 0, "write")
        pos = address
        done = 0
        while done < len(data):
            r = self._find(pos)
            assert r is not None
            off = pos - r[0]
            n = min(len(r[1]) - off, len(data) - done)
            r[1][off : off + n] = data[done : done + n]
            done += n
            pos += n

    def read_cstr(self, address: int, limit: int) -> bytes:
        out = bytearray()
        while len(out) < limit:
            b = self.read(address + len(out), 1)
            if b == b"\0":
                return bytes(out)
            out += b
        return bytes(out)


class FakeCpu:
    """A CPU that only has a thread pointer (what arch_prctl reaches)."""

    def __init__(self) -> None:
        self.thread_pointer = 0

    def get_thread_pointer(self) -> int:
        return self.thread_pointer

    def set_thread_pointer(self, value: int) -> None:
        self.thread_pointer = value

    stack_pointer = 0x7FFFFFFF0000

    def get_stack_pointer(self) -> int:
        return self.stack_pointer

    descriptors: dict[int, bytes] = {}

    def get_segment_descriptor(self, index: int) -> bytes:
        return self.descriptors.get(index, bytes(8))

    def set_segment_descriptor(self, index: int, descriptor: bytes) -> None:
        self.descriptors = {**self.descriptors, index: bytes(descriptor)}

    # What clone and execve ask of the CPU side: here a context is a dict of what was asked.
    memory: "FakeMemory | None" = None
    programs: list = []

    def clone_task(self, share_memory: bool, stack: int, tls: int | None) -> tuple[object, "FakeMemory"]:
        assert self.memory is not None, "the harness gives its CPU the memory"
        memory = self.memory if share_memory else self.memory.copy()
        return {"stack": stack, "tls": tls, "shared": share_memory}, memory

    def check_program(self, image: bytes) -> None:
        if image[4:5] not in (b"\x01", b"\x02"):
            from kernel_model.linux_errno import Errno
            from kernel_model.seam import KernelError

            raise KernelError(Errno.ENOEXEC)

    def start_program(self, image: bytes, path: str, argv: list[bytes], envp: list[bytes], name: str) -> None:
        self.programs = [*self.programs, (path, argv, envp, name)]


class KernelHarness:
    """A kernel on a fake memory, with a scratch area and a way to call handlers by name."""

    SCRATCH = 0x10000000

    def __init__(self, arch: KernelArch = X86_64, config: KernelConfig | None = None, **config_kw: Any) -> None:
        self.memory = FakeMemory()
        self.kernel = Kernel(
            arch, self.memory, config or KernelConfig(**config_kw), mmap_top=0x7FFFF7FFF000, task_size=0x7FFFFFFFF000
        )
        self.kernel.mm.map(self.SCRATCH, 0x10000, PROT_READ | PROT_WRITE, name="scratch")
        self._next = self.SCRATCH
        self.cpu = FakeCpu()
        self.cpu.memory = self.memory

    def task(self, tid: int):  # type: ignore[no-untyped-def]
        """The task ``tid`` (to make the next calls as it: :meth:`as_task`)."""
        return self.kernel.processes.tasks[tid]

    def as_task(self, tid: int) -> None:
        """Make the next calls as the task ``tid`` (its process's memory becomes the harness's)."""
        task = self.task(tid)
        self.kernel.switch_to(task)
        self.memory = task.process.memory
        self.cpu.memory = self.memory

    def end(self, ex: ProcessExit) -> None:
        """The current process ends with ``ex`` (what the CPU side does when a call raises it)."""
        self.kernel.end_process(self.kernel.process, ex)

    def put(self, data: bytes | str) -> int:
        """Place bytes (a str gets a NUL) in scratch memory; return the address."""
        raw = data.encode() + b"\0" if isinstance(data, str) else data
        address = self._next
        self.memory.write(address, raw)
        self._next += (len(raw) + 15) & ~15 or 16
        return address

    def buffer(self, size: int) -> int:
        """A zeroed scratch buffer of ``size`` bytes."""
        return self.put(bytes(size))

    def dispatch(self, req: SyscallRequest) -> int:
        """Serve a request as the CPU side does for the one task: a call that waits parks the
        task, the scheduler waits (its deadline: the virtual clock moves, or time passes), and
        the call is made again; Deadlock (a ProcessExit) when nothing could end the wait."""
        k = self.kernel
        task = k.current
        while True:
            try:
                value = k.dispatch(req)
            except Blocked as b:
                task.block(b.wait)
                while task.state == "blocked":
                    k.scheduler.idle()
                continue
            except BaseException:
                task.finish_call()
                raise
            task.finish_call()
            return value

    def call(self, name: str, *args: int) -> int:
        """Make a syscall; returns its value or -errno, like the return register would hold."""
        raw = tuple(a & 0xFFFFFFFFFFFFFFFF for a in args) + (0,) * (6 - len(args))
        req = SyscallRequest(self.kernel.arch.name, 0, name, raw, self.memory, cpu=self.cpu)
        try:
            return self.dispatch(req)
        except KernelError as e:
            return -int(e.errno)

    def errno(self, name: str, *args: int) -> Errno | None:
        """The errno a call fails with, or None when it succeeds."""
        value = self.call(name, *args)
        return Errno(-value) if -4096 < value < 0 else None

    def exit_of(self, name: str, *args: int) -> ProcessExit:
        """The ProcessExit a call raises."""
        raw = tuple(a & 0xFFFFFFFFFFFFFFFF for a in args) + (0,) * (6 - len(args))
        try:
            self.dispatch(SyscallRequest(self.kernel.arch.name, 0, name, raw, self.memory, cpu=self.cpu))
        except ProcessExit as e:
            return e
        raise AssertionError(f"{name} did not end the process")

    def read(self, address: int, size: int) -> bytes:
        """Guest memory contents."""
        return self.memory.peek(address, size)


__all__ = ["AARCH64", "X86_64", "FakeCpu", "FakeMemory", "KernelHarness", "REGISTRY"]
