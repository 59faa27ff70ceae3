"""The counters user code reads without a system call (x86 rdtsc/rdtscp, aarch64 cntvct_el0 and
cntfrq_el0, riscv rdtime) count the kernel model's monotonic clock, not the host's: they agree
with clock_gettime(CLOCK_MONOTONIC) at the arch's counter frequency, never go back, and with
virtual time they are the same on every run."""

from __future__ import annotations

import struct

import pytest

from kernel_model.clock import CNTFRQ_HZ, NSEC, RISCV_TIMEBASE_HZ, TSC_HZ
from sandbox import Sandbox, Stop, get_arch

# (the instruction, how its count is read back from the registers)
READS = {
    "x86_64": ("rdtsc", lambda m: m.reg("rax") | m.reg("rdx") << 32),
    "i386": ("rdtsc", lambda m: m.reg("eax") | m.reg("edx") << 32),
    "aarch64": ("mrs x0, cntvct_el0", lambda m: m.reg("x0")),
    "riscv64": ("rdtime a0", lambda m: m.reg("a0")),
}
HZ = {"x86_64": TSC_HZ, "i386": TSC_HZ, "aarch64": CNTFRQ_HZ, "riscv64": RISCV_TIMEBASE_HZ}
CLOCK_MONOTONIC = 1


def _reads(arch: str, n: int, **options: object) -> tuple[list[int], list[int]]:
    """``n`` counter reads with a clock_gettime(CLOCK_MONOTONIC) after each but the last."""
    insn, value = READS[arch]
    sb = Sandbox(arch, **options)
    m = sb.load_asm("\n".join([insn] * n) + "\n")
    counts, clocks = [], []
    for i in range(n):
        assert m.run(count=1) is Stop.COUNT and m.exit is None
        counts.append(value(m))
        if i < n - 1:
            buf = bytearray(16 if get_arch(arch).bits == 64 else 8)
            assert sb.syscall("clock_gettime", CLOCK_MONOTONIC, buf).ret == 0
            sec, nsec = struct.unpack("<qq" if len(buf) == 16 else "<ii", buf)
            clocks.append(sec * NSEC + nsec)
    return counts, clocks


@pytest.mark.parametrize("virtual", [False, True], ids=["host-clock", "virtual-time"])
@pytest.mark.parametrize("arch", list(READS))
def test_the_counter_is_the_monotonic_clock_scaled(arch, virtual):
    counts, clocks = _reads(arch, 3, virtual_time=virtual)
    assert counts == sorted(counts) and len(set(counts)) == 3
    for i, ns in enumerate(clocks):
        assert counts[i] <= ns * HZ[arch] // NSEC <= counts[i + 1]
    assert get_arch(arch).counters.hz == HZ[arch]


@pytest.mark.parametrize("arch", list(READS))
def test_virtual_time_gives_the_same_counts_on_every_run(arch):
    assert _reads(arch, 3, virtual_time=True) == _reads(arch, 3, virtual_time=True)


def test_x86_64_rdtscp_writes_the_cpu_number_to_ecx():
    sb = Sandbox("x86_64", virtual_time=True)
    m = sb.load_asm("mov rcx, -1\nmov rax, -1\nmov rdx, -1\nrdtscp\n")
    m.run(count=4)
    assert m.reg("rcx") == 0  # TSC_AUX: cpu 0
    assert m.reg("rdx") == 0 and 0 < m.reg("rax") < 1 << 32  # the upper halves are cleared


def test_aarch64_cntfrq_el0_is_the_counter_frequency():
    sb = Sandbox("aarch64")
    m = sb.load_asm("mrs x3, cntfrq_el0\nmrs xzr, cntvct_el0\n")
    assert m.run(count=2) is Stop.COUNT and m.exit is None
    assert m.reg("x3") == CNTFRQ_HZ == 62_500_000


def test_aarch64_other_system_registers_read_as_before():
    sb = Sandbox("aarch64")
    m = sb.load_asm("msr tpidr_el0, x1\nmrs x2, tpidr_el0\n")
    m.set_reg("x1", 0x1234)
    assert m.run(count=2) is Stop.COUNT
    assert m.reg("x2") == 0x1234


@pytest.mark.parametrize("register", ["cntpct_el0", "cntv_ctl_el0"])
def test_aarch64_the_physical_counter_and_the_timers_are_sigill(register):
    r = Sandbox("aarch64").run_asm(f"mrs x0, {register}\n")
    assert r.signal == "SIGILL"


def test_riscv64_rdtime_runs_and_the_program_goes_on():
    sb = Sandbox("riscv64")
    r = sb.run_asm("rdtime a0\nrdtime zero\n" + sb.stub("write", 1, b"ok\n", 3))
    assert (r.signal, r.stdout, r.exit_status) == (None, b"ok\n", 0)


def test_riscv64_an_illegal_instruction_that_is_no_time_read_is_still_sigill():
    # csrrw of the read-only time CSR: illegal
    r = Sandbox("riscv64").run_asm(".word 0xc0159573\n")
    assert r.signal == "SIGILL"


def test_aarch64_without_the_native_filter_the_python_hook_answers(monkeypatch):
    from sandbox import trampoline

    monkeypatch.setattr(trampoline, "_entries", [None])  # a host without the trampoline
    sb = Sandbox("aarch64", virtual_time=True)
    m = sb.load_asm("msr tpidr_el0, x5\nmrs x1, tpidr_el0\nmrs x2, cntvct_el0\nmrs x3, cntfrq_el0\n")
    m.set_reg("x5", 77)
    assert m.run(count=4) is Stop.COUNT
    assert (m.reg("x1"), m.reg("x3")) == (77, CNTFRQ_HZ) and m.reg("x2") > 0


def test_the_native_filter_passes_on_only_the_generic_timer():
    from sandbox import trampoline

    entries = trampoline.entry_points()
    if entries is None:
        pytest.skip("no trampoline on this host")
    assert trampoline._filters(entries)
