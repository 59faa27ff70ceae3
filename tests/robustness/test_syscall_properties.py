"""Property tests: every implemented system call, with arbitrary argument registers and
arbitrary guest memory, answers with a value or a Linux errno and never raises anything
else; the fd table and the memory map stay consistent after every call.

The number of examples is bounded for CI; ``SANDBOX_FUZZ_EXAMPLES=20000 python -m pytest
tests/robustness`` runs a longer campaign.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes import AARCH64, X86_64, KernelHarness
from kernel_model.clock import Clock
from kernel_model.fsnodes import StreamHandle
from kernel_model.kernel import stream_reader
from kernel_model.linux_errno import Errno
from kernel_model.registry import REGISTRY
from kernel_model.seam import KernelError, ProcessExit, SyscallRequest
from kernel_model.signals import SignalDelivery, SignalReturn

EXAMPLES = int(os.environ.get("SANDBOX_FUZZ_EXAMPLES", "25"))
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
        assert kh.memory.accessible(v.start, v.size, 0) == v.size
    assert k.mm.brk_end >= k.mm.brk_start
    if k.mm.limit is not None:
        assert k.mm.mapped_bytes <= k.mm.limit


def call_once(kh: KernelHarness, name: str, args: tuple[int, ...]) -> None:
    raw = tuple(a & MASK for a in args)
    req = SyscallRequest(kh.kernel.arch.name, 0, name, raw, kh.memory)
    try:
        value = kh.kernel.dispatch(req)
    except KernelError as e:
        assert isinstance(e.errno, Errno)
    except ProcessExit as e:
        assert 0 <= e.status <= 255
    except (SignalDelivery, SignalReturn):
        pass  # the CPU side's part of a signal: running a handler, or returning from one
    else:
        assert isinstance(value, int)


NAMES = sorted(REGISTRY)


@pytest.mark.parametrize("arch", [X86_64, AARCH64], ids=["x86_64", "aarch64"])
@pytest.mark.parametrize("name", NAMES)
def test_any_arguments_give_a_value_or_an_errno(name, arch, guest_cwd):
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(args=st.tuples(*[_register] * 6), memory=st.binary(min_size=0, max_size=512))
    def run(args, memory):
        kh = _harness(arch, guest_cwd)
        kh.memory.write(SCRATCH, memory)
        call_once(kh, name, args)
        check_invariants(kh)

    run()


@settings(max_examples=max(EXAMPLES * 4, 50), deadline=None, suppress_health_check=list(HealthCheck), database=None)
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
