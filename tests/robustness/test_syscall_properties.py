"""Property tests: every implemented system call, with arbitrary argument registers and
arbitrary guest memory, answers with a value or a Linux errno and never raises anything
else; the fd table and the memory map stay consistent after every call, the kernel writes
guest memory only where the guest could (and fills pages only where it maps them), a
success never looks like an errno, and the same call in the same state gives the same answer.

The number of examples is bounded for CI; a longer campaign is

    SANDBOX_FUZZ_EXAMPLES=2000 python -m pytest tests/robustness/test_syscall_properties.py -s

which prints how many calls were made and how they ended.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes import X86_64, KernelHarness
from kernel_model.clock import Clock
from kernel_model.fsnodes import StreamHandle
from kernel_model.kernel import stream_reader
from kernel_model.linux_errno import Errno
from kernel_model.registry import REGISTRY
from kernel_model.seam import PROT_WRITE, KernelError, ProcessExit, SyscallRequest
from kernel_model.sched import Blocked, Yield
from kernel_model.signals import ProcessStop, SignalDelivery, SignalReturn
from sandbox.arch import get_arch
from sandbox.arch.syscalls import syscall_table
from sandbox.engine import kernel_arch

EXAMPLES = int(os.environ.get("SANDBOX_FUZZ_EXAMPLES", "25"))
# The bounded run (CI's) makes the same calls every time; a campaign explores new ones.
DERANDOMIZE = "SANDBOX_FUZZ_EXAMPLES" not in os.environ
SCRATCH = KernelHarness.SCRATCH
MASK = (1 << 64) - 1

# Values that reach the interesting branches far more often than uniform 64-bit noise.
_special = st.sampled_from(
    [0, 1, 2, 3, 4, 5, 8, 64, 100, 4095, 4096, 65536, -1, -100, -4096, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
     1 << 31, 1 << 32, 1 << 47, 1 << 63, MASK, SCRATCH, SCRATCH + 1, SCRATCH + 0x8000, SCRATCH + 0xFFF0]
)
_pointer = st.integers(SCRATCH, SCRATCH + 0x10000)
_register = st.one_of(_special, _pointer, st.integers(0, 1 << 16), st.integers(-(1 << 63), MASK))


@pytest.fixture(scope="module")
def guest_cwd(tmp_path_factory):
    """A small read-only host directory shared by every example (the guest cannot write it)."""
    cwd = tmp_path_factory.mktemp("ro")
    (cwd / "file.txt").write_bytes(b"some content\n")
    (cwd / "dir").mkdir()
    return cwd


def _harness(arch, cwd) -> KernelHarness:
    out = bytearray()

    def sink(data: bytes) -> int:
        out.extend(data)
        return len(data)

    return KernelHarness(
        arch,
        cwd=str(cwd),
        stdin=StreamHandle(stream_reader(b"input line\n" * 4), None),
        stdout=StreamHandle(None, sink),
        stderr=StreamHandle(None, sink),
        clock=Clock(virtual=True),
        random_seed=0,
        max_memory=64 << 20,
        max_fds=64,
        max_output=4096,
    )


def check_invariants(kh: KernelHarness) -> None:
    """The kernel's books balance: fds and mappings are consistent with each other and memory."""
    k = kh.kernel
    refs: dict[int, int] = {}
    for fd, slot in k.fds.items():
        assert 0 <= fd < k.fds.limit
        refs[id(slot.file)] = refs.get(id(slot.file), 0) + 1
        assert slot.file.pos >= 0
    for fd, slot in k.fds.items():
        assert slot.file.refs >= refs[id(slot.file)], (fd, slot.file.refs)
    vmas = k.mm.vmas
    page = k.mm.page
    for a, b in zip(vmas, vmas[1:]):
        assert a.end <= b.start
    for v in vmas:
        assert v.start % page == 0 and v.end % page == 0 and v.start < v.end <= k.mm.task_size
        # mapped in memory, with the protection the kernel's books say
        assert kh.memory.accessible(v.start, v.size, v.prot) == v.size, v
    # ...and nothing mapped in memory that the books do not know of
    assert sum(len(r[1]) for r in kh.memory._regions) == k.mm.mapped_bytes
    assert k.mm.brk_end >= k.mm.brk_start
    if k.mm.limit is not None:
        assert k.mm.mapped_bytes <= k.mm.limit
    if k.output_limit is not None:
        assert k.output_limit.used <= k.output_limit.limit


OUTCOMES: Counter[str] = Counter()


def _inside(ranges: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether [start, end) is covered by the sorted, non-overlapping ``ranges``."""
    if start >= end:
        return True  # nothing written
    pos = start
    for lo, hi in ranges:
        if hi <= pos:
            continue
        if lo > pos:
            return False
        pos = hi
        if pos >= end:
            return True
    return pos >= end


def call_once(kh: KernelHarness, name: str, args: tuple[int, ...]) -> str:
    """Make the call, check what it did, and say how it ended ("ok", "EBADF", "exit", "signal")."""
    mask = (1 << kh.kernel.arch.bits) - 1
    raw = tuple(a & mask for a in args)
    req = SyscallRequest(kh.kernel.arch.name, 0, name, raw, kh.memory)
    before = kh.kernel.mm.vmas
    writable = [(v.start, v.end) for v in before if v.prot & PROT_WRITE]
    mapped_before = [(v.start, v.end) for v in before]
    writes: list[tuple[int, int]] = []
    loads: list[tuple[int, int]] = []
    memory = kh.memory
    write, load = memory.write, memory.load

    in_write = []

    def watched_write(address: int, data: bytes) -> None:
        in_write.append(True)  # the fake memory's write does its copy with load
        try:
            write(address, data)
        finally:
            in_write.pop()
        if data:
            writes.append((address, address + len(data)))

    def watched_load(address: int, data: bytes) -> None:
        load(address, data)
        if not in_write and data:
            loads.append((address, address + len(data)))

    memory.write, memory.load = watched_write, watched_load  # type: ignore[method-assign]
    try:
        value = kh.kernel.dispatch(req)
    except KernelError as e:
        assert isinstance(e.errno, Errno)
        outcome = e.errno.name
    except ProcessExit as e:
        assert 0 <= e.status <= 255
        outcome = "exit"
    except (SignalDelivery, SignalReturn):
        outcome = "signal"  # the CPU side's part of a signal: running a handler, or returning from one
    except Blocked:
        outcome = "wait"  # the task waits (ppoll of nothing, a read of an empty pipe); made again later
        kh.kernel.current.finish_call()  # nothing makes it again here: forget what it kept
    except Yield:
        outcome = "yield"
    except ProcessStop:
        outcome = "stop"
    else:
        assert isinstance(value, int) and -(1 << 63) <= value < (1 << 64), value
        # A success the guest would read as -errno is a bug in the handler.
        assert not -4095 <= value <= -1, f"{name} returned {value}, which reads as an errno"
        outcome = "ok"
    finally:
        del memory.write, memory.load
    # The kernel copies to user memory only where the guest may write...
    for start, end in writes:
        assert _inside(writable, start, end), f"{name} wrote {start:#x}..{end:#x} outside writable memory"
    # ...and fills pages (whatever their protection) only where it has just mapped them, or
    # where madvise drops their contents.
    mapped_after = [(v.start, v.end) for v in kh.kernel.mm.vmas]
    for start, end in loads:
        assert _inside(mapped_after, start, end), f"{name} filled {start:#x}..{end:#x} outside any mapping"
        if name != "madvise":
            assert not any(lo < end and start < hi for lo, hi in mapped_before), f"{name} overwrote mapped memory"
    OUTCOMES[outcome] += 1
    return outcome


ARCHES = {name: kernel_arch(get_arch(name)) for name in ("x86_64", "aarch64", "i386", "arm", "riscv64")}
# The implemented calls each arch's table has (the 32-bit ABIs have calls of their own).
ARCH_NAMES = {
    arch: sorted(n for n in REGISTRY if syscall_table(get_arch(arch)).number(n) is not None) for arch in ARCHES
}
NAMES = ARCH_NAMES["x86_64"]
CASES = [(arch, name) for arch, names in ARCH_NAMES.items() for name in names]


@pytest.mark.parametrize(("arch_name", "name"), CASES, ids=[f"{n}-{a}" for a, n in CASES])
def test_any_arguments_give_a_value_or_an_errno(arch_name, name, guest_cwd):
    arch = ARCHES[arch_name]

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
          derandomize=DERANDOMIZE)
    @given(args=st.tuples(*[_register] * 6), memory=st.binary(min_size=0, max_size=512))
    def run(args, memory):
        kh = _harness(arch, guest_cwd)
        kh.memory.write(SCRATCH, memory)
        call_once(kh, name, args)
        check_invariants(kh)

    run()


@settings(max_examples=max(EXAMPLES * 4, 50), deadline=None, suppress_health_check=list(HealthCheck), database=None,
          derandomize=DERANDOMIZE)
@given(
    calls=st.lists(st.tuples(st.sampled_from(NAMES), st.tuples(*[_register] * 6)), min_size=1, max_size=12),
    memory=st.binary(max_size=256),
)
def test_sequences_of_calls_keep_the_books_balanced(calls, memory, guest_cwd):
    kh = _harness(X86_64, guest_cwd)
    kh.memory.write(SCRATCH, memory)
    for name, args in calls:
        if name in ("exit", "exit_group"):
            continue
        call_once(kh, name, args)
        check_invariants(kh)


@settings(max_examples=max(EXAMPLES * 4, 50), deadline=None, suppress_health_check=list(HealthCheck), database=None,
          derandomize=DERANDOMIZE)
@given(
    case=st.sampled_from(CASES),
    args=st.tuples(*[_register] * 6),
    memory=st.binary(max_size=256),
)
def test_the_same_call_in_the_same_state_gives_the_same_answer(case, args, memory, guest_cwd):
    arch, name = ARCHES[case[0]], case[1]
    # Seeded randomness and virtual time make the model reproducible: a test's trace is the
    # same on every run and every host.
    answers = []
    for _ in range(2):
        kh = _harness(arch, guest_cwd)
        kh.memory.write(SCRATCH, memory)
        outcome = call_once(kh, name, args)
        answers.append((outcome, kh.memory.peek(SCRATCH, 0x10000), [v.maps_line() for v in kh.kernel.mm.vmas]))
    assert answers[0] == answers[1]


def test_report_how_many_calls_were_made():
    # Runs last in this module: how the calls ended, for a campaign's summary.
    print(f"\nproperties: {sum(OUTCOMES.values())} calls; {OUTCOMES.most_common(12)}")
    assert sum(OUTCOMES.values()) > 0
